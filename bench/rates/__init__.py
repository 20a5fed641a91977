"""Choosing rates: the LR range test and sweeps, the derivation rules, the fair-baseline tuning."""
