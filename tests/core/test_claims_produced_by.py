"""Every claim's arms are made by the suite its ``produced_by`` names: at the suite's budget
there, each arm's selector matches at least ``min_runs`` of the suite's runs per backend.
Renaming a cell, or a provenance key a selector reads, fails here instead of turning a
verdict into "0 runs" after hours of compute."""

import re

import pytest

from bench.grids import suites
from bench.judging import claims
from bench.records.rundir import Run, TrainSummary

from rundirs import make_run

BACKENDS = ["torch", "keras"]


def _made_by(check) -> tuple[str, str] | None:
    """(suite, budget) from ``bench full --suite S [--budget B]`` (default: the suite's own)."""
    m = re.search(r"bench full --suite (\S+)(?: --budget (\S+))?", check.produced_by or "")
    if not m:
        return None
    suite = suites.load(m.group(1))
    return m.group(1), m.group(2) or suite.get("default_budget", "quick")


def _runs_of(suite_name: str, budget: str, tmp_path) -> list[Run]:
    """What ``bench full`` makes at that budget, as run records: every cell as written, and each
    tuned cell at a choice (its tuning runs faked on the validation split: the first grid
    value wins), with the suite's seeds."""
    suite = suites.load(suite_name)
    jobs = suites.expand(suite, budget, BACKENDS, None)
    tune = [j for j in jobs if j.role == "tune"]
    for j in tune:
        make_run(tmp_path, j.spec.resolved(), j.seed, j.backend, split="val", final_row=True,
                 evals=[(0, 0.1), (j.spec.total_steps(60000) // 2, 0.95 if j.value == min(
                     t.value for t in tune if t.tunes == j.tunes) else 0.5)], total=j.spec.total_steps(60000))
    judged, _ = suites.judged(suite, budget, BACKENDS, None, tmp_path, tune) if tune else ([], [])
    out = []
    for j in [*[j for j in jobs if j.role != "tune"], *judged]:
        spec = j.spec.resolved()
        out.append(Run(tmp_path / j.spec.run_id(), spec,
                       TrainSummary(run_id=j.spec.run_id(), status="completed", backend=j.backend), []))
    return out


CHECKS = [c for c in claims.checks(claims.load_claims()) if not c.reference and _made_by(c)]


@pytest.mark.parametrize("check", CHECKS, ids=[c.label for c in CHECKS])
def test_each_arm_is_made_by_the_suite_named(check, tmp_path):
    suite, budget = _made_by(check)
    runs = _runs_of(suite, budget, tmp_path)
    for b in BACKENDS:
        mine = [r for r in runs if r.summary.backend == b]
        for arm, selector in check.arms.items():
            got = claims.select(mine, selector)
            assert len(got) >= check.min_runs, (
                f"{check.label} arm {arm} ({b}): {len(got)} of the runs of `bench full --suite {suite} --budget "
                f"{budget}` match {selector}; it needs {check.min_runs}")


def test_the_check_can_fail(tmp_path):
    """A selector naming a cell the suite does not have matches nothing."""
    runs = _runs_of("fashion-mnist", "quick", tmp_path)
    assert claims.select(runs, {"spec.name": "fm-cnn-full-constant"})
    assert not claims.select(runs, {"spec.name": "fm-cnn-full-constant-renamed"})
