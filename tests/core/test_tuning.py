"""Fair baselines (bench/rates/tuning.py): the shipped grids, the tuning runs a suite expands into,
the choice on the validation split (never the test split), the judged runs and what the claims
select. Framework-free: synthetic run directories stand in for the tuning runs; the real
pipeline runs in tests/backends/torch/test_torch_full_tuning.py."""

from __future__ import annotations

import json

import pytest

from bench.errors import BenchError
from bench.grids import suites
from bench.judging import claims
from bench.rates import tuning
from bench.records import spec as S
from bench.records.rundir import RunWriter, TrainSummary, load_runs

from common import REPO
from rundirs import make_run

FM = suites.load("fashion-mnist")


def _cell(name):
    return next(c for c in FM["cells"] if c["name"] == name)


def test_the_constant_grid_is_c_fractions_and_the_range_tests_other_suggestions():
    block = tuning.parse(_cell("fm-cnn-full-constant-tuned"), "fashion-mnist")
    grid = tuning.grid_values(block)
    c = 0.2119
    assert len(grid) >= tuning.MIN_GRID
    for want in (c / 30, c / 10, c / 3, c):
        assert any(abs(g / want - 1) < 1e-4 for g in grid), want
    # the suggestions are the committed range test's, as the suite file says
    tune = REPO / "results" / "tune" / "simple-cnn-fmnist-constant-tune-torch-s0-b1854325" / "summary.json"
    if tune.is_file():
        assert block.grid_from.suggestions == json.loads(tune.read_text())["first_lr_find"]["suggestions"]
    peak = tuning.grid_values(tuning.parse(_cell("fm-cnn-full-onecycle-tuned"), "fashion-mnist"))
    assert len(peak) >= tuning.MIN_GRID and min(peak) < c < max(peak)


def test_a_grid_of_fewer_than_five_values_is_refused():
    cell = {"name": "x", "tune": {"param": "policy.lr", "grid_from": {"c": 0.1, "factors": [0.1, 0.101, 1.0]},
                                  "metrics": {"final": {"name": "final_acc"}}, "val_size": 100, "seeds": [100]}}
    with pytest.raises(BenchError, match="at least 5"):
        tuning.parse(cell, "s")
    cell["tune"]["metrics"] = {"final": {"name": "best_acc"}}
    with pytest.raises(BenchError, match="metrics.final.name"):
        tuning.parse(cell, "s")


def test_tuning_runs_hold_out_a_validation_split_and_take_the_judged_runs_steps():
    jobs = suites.expand(FM, "quick", ["torch", "keras"])
    tune = [j for j in jobs if j.role == "tune"]
    assert tune and not any(j.cell.endswith("-tuned") for j in jobs if j.role == "run")  # tuned cells wait
    for j in tune:
        s = j.spec
        assert s.eval_split == "val" and s.dataset.val_size == 5000 and s.seed in (100, 101)
        assert s.provenance["rule"] == "tune-grid" and s.provenance["tunes"] == j.tunes
    full = next(j for j in jobs if j.cell == "fm-cnn-full-constant")
    for j in tune:
        if j.tunes.startswith("fm-cnn-full"):
            assert j.spec.budget.steps == full.spec.total_steps()  # 3 epochs of the whole training split
    ms = [j for j in tune if j.tunes == "fm-cnn-full-multistep-tuned"]
    assert ms[0].spec.policy.milestones == (702, 1053)
    onecycle = [j for j in tune if j.tunes == "fm-cnn-full-onecycle-tuned"]
    assert all(j.spec.policy.min_lr == pytest.approx(j.spec.policy.max_lr / 10, rel=1e-4) for j in onecycle)
    assert len({j.spec.run_id() for j in jobs}) == len(jobs)


def test_tuning_seeds_must_not_be_judged_seeds():
    with pytest.raises(BenchError, match="need fresh seeds"):
        suites.expand(FM, "quick", ["torch"], seeds=102)  # judged seeds 0-101 would reuse 100 and 101


# -- the choice -------------------------------------------------------------------------------


def _tuning_run(out, spec, val_curve, test_acc, status="completed"):
    """A finished tuning run: val evaluations every eval_every from ``val_curve(step)``, then a
    final test evaluation at ``test_acc`` (which the choice must never read)."""
    total = spec.total_steps()
    make_run(out, spec.resolved(), spec.seed, spec.backend,
             evals=[(st, val_curve(st)) for st in range(0, total + 1, spec.eval_every)], split="val",
             final=test_acc, final_row=True, total=total, spe=100, secs_per_step=0.01, status=status)


def _fill(out, jobs, val_for, test_for=lambda v: 0.5):
    for j in jobs:
        if j.role == "tune":
            _tuning_run(out, j.spec, val_for(j.tunes, j.value), test_for(j.value))


def test_the_choice_reads_the_validation_split_only(tmp_path):
    jobs = suites.expand(FM, "quick", ["torch"])
    tune = [j for j in jobs if j.role == "tune"]
    best_val = 0.0706333

    def val_for(cell, v):  # the validation split prefers best_val; reaching 0.9 sooner the nearer it is
        cross = 300 + 900 * abs(v - best_val) / best_val
        return lambda st: (0.92 + 0.03 * (v == best_val)) if st >= cross else 0.5

    # the test split prefers another value: a choice that peeked at it would pick 0.2119
    _fill(tmp_path, tune, val_for, test_for=lambda v: 0.99 if v == 0.2119 else 0.5)
    judged, choices = suites.judged(FM, "quick", ["torch"], None, tmp_path, tune)
    by = {(c.cell, c.metric_key): c for c in choices}
    for key in ("steps", "final"):
        c = by[("fm-cnn-full-constant-tuned", key)]
        assert c.chosen == best_val, (key, c.why)
        rec = json.loads(c.path.read_text())
        assert rec["chosen"] == best_val and rec["split"] == "val" and rec["tuning_seeds"] == [100, 101]
        assert len(rec["grid"]) == 6 and rec["judged_seeds"] == [0, 1, 2, 3, 4]
        assert all(len(g["runs"]) == 2 for g in rec["grid"])
    cj = [j for j in judged if j.cell == "fm-cnn-full-constant-tuned-steps"]
    assert sorted(j.seed for j in cj) == [0, 1, 2, 3, 4]
    p = cj[0].spec.provenance
    assert p["rule"] == "grid-best" and p["chosen"] == best_val and p["metric"]["name"] == "steps_to_target"
    assert p["choice_file"] == "choices/fm-cnn-full-constant-tuned-steps-torch.json" and len(p["chosen_from"]) == 6
    assert cj[0].spec.policy.lr == best_val
    ms = next(j for j in judged if j.cell == "fm-cnn-full-multistep-tuned-final")
    assert ms.spec.policy.name == "multistep" and ms.spec.policy.milestones == (702, 1053)


def test_never_reaching_the_target_counts_slowest_and_missing_runs_wait(tmp_path):
    jobs = suites.expand(FM, "quick", ["torch"])
    tune = [j for j in jobs if j.role == "tune" and j.tunes == "fm-cnn-full-constant-tuned"]
    block = tuning.parse(_cell("fm-cnn-full-constant-tuned"), "fashion-mnist")
    grid = tuning.grid_values(block)
    points = [tuning.GridPoint(v, [tmp_path / j.spec.run_id() for j in tune if j.value == v]) for v in grid]
    metric = block.metrics["steps"]
    waiting = tuning.choose("c", "torch", "steps", metric, points, block, [100, 101], 5000, tmp_path, [0])
    assert waiting.chosen is None and "not usable yet" in waiting.why
    # one value reaches 0.9 in one seed of two; another in both, later; the rest never
    for j in tune:
        if j.value == grid[0]:
            curve = (lambda st: 0.95 if st >= 200 else 0.5) if j.seed == 100 else (lambda st: 0.6)
        elif j.value == grid[1]:
            curve = lambda st: 0.95 if st >= 900 else 0.5  # noqa: E731
        else:
            curve = lambda st: 0.6  # noqa: E731
        _tuning_run(tmp_path, j.spec, curve, 0.5)
    c = tuning.choose("c", "torch", "steps", metric, points, block, [100, 101], 5000, tmp_path, [0])
    assert c.chosen == grid[1]  # the median of (200, never) is never: slower than (900, 900)


def test_the_claims_select_exactly_the_judged_runs(tmp_path):
    """FM-1..FM-3 (vs-tuned, vs-step) select the judged runs the suite makes, one tuned cell per arm."""
    jobs = suites.expand(FM, "quick", ["torch"])
    tune = [j for j in jobs if j.role == "tune"]
    _fill(tmp_path, tune, lambda cell, v: (lambda st: 0.95 if st >= 400 else 0.5))
    judged, _ = suites.judged(FM, "quick", ["torch"], None, tmp_path, tune)
    runs_dir = tmp_path / "runs"
    for j in judged:
        w = RunWriter(runs_dir / j.spec.run_id())
        w.write_spec(S.dump_yaml(j.spec.resolved()))
        w.eval((0, 0.0, "eval", 1.0, 0.5, 0.0, 0.1))
        w.eval((1404, 3.0, "test", 1.0, 0.9, 10.0, 0.5))
        w.write_summary(TrainSummary(run_id=j.spec.run_id(), status="completed", backend="torch", steps_done=1404,
                                     total_steps=1404, steps_per_epoch=468, final_test_acc=0.9))
    runs = load_runs([runs_dir, tmp_path])  # the tuning runs are there too: never selected
    want = {("FM-1", "vs-tuned"): ("fm-cnn-full-onecycle-tuned-steps", "fm-cnn-full-constant-tuned-steps"),
            ("FM-1", "vs-step"): ("fm-cnn-full-onecycle-tuned-steps", "fm-cnn-full-multistep-tuned-steps"),
            ("FM-3", "vs-tuned"): ("fm-cnn-full-onecycle-tuned-final", "fm-cnn-full-constant-tuned-final"),
            ("FM-3", "vs-step"): ("fm-cnn-full-onecycle-tuned-final", "fm-cnn-full-multistep-tuned-final")}
    checks = {(c.id, c.part): c for c in claims.checks(claims.load_claims())}
    for key, (a, b) in want.items():
        c = checks[key]
        assert {r.spec["name"] for r in claims.select(runs, c.arms["a"])} == {a}, key
        assert {r.spec["name"] for r in claims.select(runs, c.arms["b"])} == {b}, key
        assert len(claims.select(runs, c.arms["b"])) == 5
    fm2 = checks[("FM-2", "vs-tuned")]
    assert {r.spec["name"] for r in claims.select(runs, fm2.arms["a"])} == {"fm-cnn-10pct-onecycle-tuned-final"}
    assert {r.spec["name"] for r in claims.select(runs, fm2.arms["d"])} == {"fm-cnn-full-constant-tuned-final"}
    rows = {(r["id"], r["part"]): r for r in claims.verdicts([runs_dir])}
    assert rows[("FM-1", "vs-tuned")]["baseline"].startswith("tuned best: constant ")
    assert "best of 6 on the val split" in rows[("FM-1", "vs-tuned")]["baseline"]
    assert rows[("FM-1", "vs-c")]["baseline"] == "range-test pick"  # no runs of it here: the words alone
