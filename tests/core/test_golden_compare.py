"""The golden check's comparison across machines says no to what a changed harness would
change (schedule, batch order, first updates, evaluation subset, run structure) and yes to
kernel rounding (the last digits of early losses, anything after the first updates)."""

import json

import pytest

from common import REPO
from golden_check import EARLY, disagreements

GOLDEN = REPO / "tests" / "golden" / "torch"


def _text(name):
    return (GOLDEN / name).read_text()


def _edit_row(text, row, column, fn):
    lines = text.splitlines(True)
    header = lines[0].rstrip("\n").split(",")
    cells = lines[row + 1].rstrip("\n").split(",")
    i = header.index(column)
    cells[i] = fn(cells[i])
    lines[row + 1] = ",".join(cells) + "\n"
    return "".join(lines)


def test_identical_files_agree():
    for name in ("steps.csv", "evals.csv", "summary.json"):
        assert disagreements(name, _text(name), _text(name)) == []


def test_rounding_in_early_losses_and_anything_late_agrees():
    steps = _text("steps.csv")
    got = _edit_row(steps, 3, "train_loss", lambda v: repr(float(v) * (1 + 2e-6)))
    got = _edit_row(got, 40, "train_loss", lambda v: repr(float(v) * 1.3))  # chaos, late
    got = _edit_row(got, 40, "train_acc", lambda v: "0.5")
    assert disagreements("steps.csv", steps, got) == []
    evals = _text("evals.csv")
    assert disagreements("evals.csv", evals, _edit_row(evals, 2, "acc", lambda v: "0.9")) == []


@pytest.mark.parametrize("row,column,fn", [
    (30, "lr", lambda v: repr(float(v) * 1.01)),            # the schedule, anywhere
    (50, "momentum", lambda v: "0.9"),
    (0, "train_loss", lambda v: repr(float(v) * 1.001)),     # first batch: order, augmentation, init
    (EARLY - 1, "train_loss", lambda v: repr(float(v) * 1.001)),  # the update rule
    (2, "train_acc", lambda v: "0.5"),
])
def test_changed_steps_disagree(row, column, fn):
    steps = _text("steps.csv")
    assert disagreements("steps.csv", steps, _edit_row(steps, row, column, fn))


def test_changed_evaluations_and_structure_disagree():
    evals = _text("evals.csv")
    assert disagreements("evals.csv", evals, _edit_row(evals, 0, "acc", lambda v: "0.5"))  # another subset
    assert disagreements("evals.csv", evals, _edit_row(evals, 1, "step", lambda v: "21"))
    assert disagreements("evals.csv", evals, "".join(evals.splitlines(True)[:-1]))  # a row missing
    summary = json.loads(_text("summary.json"))
    for key, value in (("status", "diverged"), ("checkpoint_step", 25), ("steps_done", 59)):
        assert disagreements("summary.json", _text("summary.json"), json.dumps({**summary, key: value}))
    assert disagreements("summary.json", _text("summary.json"), json.dumps({**summary, "new_key": 1}))
