"""Launching grids: suites as data, bench full, SLURM."""
