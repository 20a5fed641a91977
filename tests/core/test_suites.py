"""Suites expand into distinct experiments at every budget."""

import pytest

from bench import suites
from bench.errors import BenchError


@pytest.mark.parametrize("name", ["fashion-mnist", "smith-topin", "paper"])
def test_every_shipped_suite_expands_into_distinct_experiments_at_every_budget(name):
    s = suites.load(name)
    for budget in s["budgets"]:
        jobs = suites.expand(s, budget, ["torch", "keras"])  # raises on two cells that became one
        assert len({j.spec.run_id() for j in jobs}) == len(jobs)


def test_smoke_keeps_the_limited_data_cells_limited():
    jobs = suites.expand(suites.load("fashion-mnist"), "smoke", ["torch"])
    size = {j.cell: j.spec.dataset.train_size for j in jobs}
    assert size["fm-cnn-full-constant"] == 2000 and size["fm-cnn-10pct-constant"] == 200
    st = {j.cell: j.spec.dataset.train_size for j in suites.expand(suites.load("smith-topin"), "smoke", ["torch"])}
    assert st["st-cifar10-clr"] == 500 and st["st-cifar10-10k-clr"] == 100 and st["st-cifar10-40k-clr"] == 400


def test_cells_that_a_budget_makes_identical_are_refused():
    suite = {"name": "twins", "base": {"network": {"name": "simple_cnn"}, "dataset": {"name": "fashion_mnist"},
                                       "batch_size": 32, "policy": {"name": "constant", "lr": 0.1},
                                       "budget": {"steps": 10}},
             "cells": [{"name": "all-data"}, {"name": "some-data", "dataset": {"train_size": 6000}}],
             "budgets": {"smoke": {"seeds": 1, "set": ["dataset.train_size=2000"]}}}
    with pytest.raises(BenchError, match="cells 'all-data' and 'some-data' become the same experiment"):
        suites.expand(suite, "smoke", ["torch"])
