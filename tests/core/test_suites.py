"""Suites expand into distinct experiments at every budget."""

import io
import json

import pytest

from bench.errors import BenchError
from bench.grids import full, suites


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


def test_a_second_full_invocation_keeps_the_first_ones_record(tmp_path):
    # the keras half of the committed suite ran as a second bench full into the same folder:
    # its record replaced the torch half's (96 runs, 66 minutes) until the log kept them
    path = tmp_path / "full-fashion-mnist-quick.json"
    for i, backend in enumerate(("torch", "keras", "keras")):
        full._write_log(path, {"backends": [backend], "ran": [f"r{i}"], "failed": 0, "wall_s": 10.0 * i}, io.StringIO())
    log = json.loads(path.read_text())
    assert log["backends"] == ["keras"] and log["ran"] == ["r2"] and log["failed"] == 0
    assert [e["ran"] for e in log["earlier"]] == [["r0"], ["r1"]]
    assert all("earlier" not in e for e in log["earlier"])
    # a file that does not read is kept aside, named, not overwritten
    path.write_text("{not json")
    err = io.StringIO()
    full._write_log(path, {"backends": ["torch"], "ran": [], "failed": 0}, err)
    assert "earlier" not in json.loads(path.read_text())
    assert (tmp_path / "full-fashion-mnist-quick.json.unreadable").read_text() == "{not json"
    assert "did not read" in err.getvalue() and "unreadable" in err.getvalue()
    # and a second unreadable one does not replace the first
    path.write_text("[]")
    full._write_log(path, {"backends": ["torch"], "ran": [], "failed": 0}, io.StringIO())
    assert (tmp_path / "full-fashion-mnist-quick.json.unreadable").read_text() == "{not json"
    assert (tmp_path / "full-fashion-mnist-quick.json.unreadable.1").read_text() == "[]"
