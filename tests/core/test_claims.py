"""Reference-log import, claims, suites, bench full and bench report."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest
import yaml

from bench.grids import suites
from bench.judging import claims, importers

from common import REFERENCE_LOGS as LOGS
from common import REPO
from common import needs_reference_logs as needs_logs
from rundirs import make_run


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref")
    dirs = {f: importers.import_caffe_log(LOGS / f"{f}.log", out) for f in ("clr3SS5kFig1a", "lr35Fig1a", "range2SS80kRes56LR")}
    return out, dirs


@needs_logs
def test_caffe_log_import(reference):
    _, dirs = reference
    clr = json.loads((dirs["clr3SS5kFig1a"] / "summary.json").read_text())
    assert clr["kind"] == "reference" and clr["backend"] == "caffe" and clr["status"] == "completed"
    assert clr["final_test_acc"] == 0.9244 and clr["targets"]["0.9"]["step"] == 9500
    pc = json.loads((dirs["lr35Fig1a"] / "summary.json").read_text())
    assert pc["final_test_acc"] == 0.9032 and pc["targets"]["0.9"]["step"] == 71100
    # testing is about a third of the logged time, and is taken out of training time
    share = clr["eval_s"] / clr["wall_s_with_testing"]
    assert 0.3 < share < 0.45 and clr["train_s"] < clr["wall_s_with_testing"]
    spec = yaml.safe_load((dirs["clr3SS5kFig1a"] / "spec.yaml").read_text())
    assert spec["policy"] == {"name": "triangular", "min_lr": 0.1, "max_lr": 3.0, "step_size": 5000, "mode": "triangular",
                              "gamma": 1.0, "momentum": 0.9}
    assert spec["batch_size"] == 1000 and spec["optimizer"]["weight_decay"] == 1e-4 and spec["dataset"]["augment"]["flip"]
    assert spec["network"]["bn_momentum"] == pytest.approx(0.05)  # moving_average_fraction 0.95
    assert yaml.safe_load((dirs["lr35Fig1a"] / "spec.yaml").read_text())["network"]["bn_momentum"] == pytest.approx(0.001)
    rng = yaml.safe_load((dirs["range2SS80kRes56LR"] / "spec.yaml").read_text())["policy"]
    assert rng["name"] == "range-test" and rng["mode"] == "linear" and rng["start_lr"] == 0.0
    lines = (dirs["clr3SS5kFig1a"] / "evals.csv").read_text().splitlines()
    assert len(lines) == 1 + 101 and lines[1].startswith("0,")


@needs_logs
def test_st1_st2_hold_on_the_authors_logs(reference):
    out, _ = reference
    rows = {(r["id"], r["part"]): r for r in claims.verdicts([out])}
    st1, st2 = rows[("ST-1", "logs")], rows[("ST-2", "logs")]
    assert st1["verdict"] == "holds" and st1["n1"] and "0.9244 vs 0.9032" in st1["ours"]
    assert st2["verdict"] == "holds" and st2["n1"] and "median steps 9500 vs 71100" in st2["ours"]
    assert "B/A in [7.47, 7.56]" in st2["ours"]  # (71000, 71100] / (9400, 9500]: the 100-iteration cadence
    assert rows[("FM-1", "vs-c")]["verdict"] == "inconclusive"
    res = subprocess.run([sys.executable, "-m", "bench", "claims", str(out), "--strict"], cwd=REPO,
                         capture_output=True, text=True)
    assert res.returncode == 0 and "| ST-1" in res.stdout


def test_caffe_import_rejects_other_files(tmp_path):
    p = tmp_path / "x.log"
    p.write_text("hello\n")
    with pytest.raises(Exception, match="not a Caffe training log"):
        importers.import_caffe_log(p, tmp_path)
    out = subprocess.run([sys.executable, "-m", "bench", "import", "caffe-log", str(tmp_path / "none.log"), "--out",
                          str(tmp_path)], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 2 and "no such file" in out.stderr


def test_keras_csv_import(tmp_path):
    p = tmp_path / "history.csv"
    p.write_text("epoch,accuracy,loss,val_accuracy,val_loss\n0,0.5,1.2,0.6,1.0\n1,0.8,0.6,0.91,0.4\n")
    d = importers.import_keras_csv(p, tmp_path / "out")
    s = json.loads((d / "summary.json").read_text())
    assert s["backend"] == "keras-csv" and s["final_test_acc"] == 0.91 and s["targets"]["0.9"]["step"] == 2


def _fake(root, base, name, backend, seed, final, reach=None, status="completed"):
    """Evaluations every 100 steps on the evaluation subset, at 0.9 from ``reach`` on."""
    make_run(root, base, seed, backend, name=name, curve=lambda st: 0.9 if reach is not None and st >= reach else 0.1,
             every=100, split="eval", final=final, final_row=True, total=1000, spe=500, loss=0.3, status=status,
             summary={"final_test_acc": final})


def _claim(**kw):
    c = {"id": "X", "source": "t", "statement": "t", "arms": {"a": {"spec.name": "A"}, "b": {"spec.name": "B"}},
         "metric": {"name": "final_acc"}, "kind": "superiority", "margin": 0.0, "min_runs": 5}
    c.update(kw)
    return c


def _check(**kw):
    return claims.checks(claims.validate([_claim(**kw)]))[0]


def test_claim_kinds(tmp_path, base_spec):
    for i in range(5):
        _fake(tmp_path, base_spec, "A", "torch", i, 0.92 + 0.001 * i, reach=200 + i)
        _fake(tmp_path, base_spec, "B", "torch", i, 0.89 + 0.001 * i, reach=None if i < 3 else 900)
    for i in range(2):
        _fake(tmp_path, base_spec, "A", "keras", i, 0.92, reach=200)
        _fake(tmp_path, base_spec, "B", "keras", i, 0.89)
    runs = claims.load_runs([tmp_path])
    v = {r["backend"]: r for r in claims.judge(_check(), runs)}
    assert v["torch"]["verdict"] == "holds" and v["keras"]["verdict"] == "inconclusive"
    assert "too few runs" in v["keras"]["why"]
    assert claims.judge(_check(margin=0.05), runs)[1]["verdict"] == "fails"  # 0.03 better, needs 0.05
    assert claims.judge(_check(kind="non-inferiority", margin=0.005,
                               arms={"a": {"spec.name": "B"}, "b": {"spec.name": "A"}}), runs)[1]["verdict"] == "fails"
    assert claims.judge(_check(kind="equivalence", margin=0.05), runs)[1]["verdict"] == "holds"
    t = {r["backend"]: r for r in claims.judge(_check(metric={"name": "steps_to_target", "target": 0.9}), runs)}
    assert t["torch"]["verdict"] == "holds" and "reached 5/5 vs 2/5" in t["torch"]["ours"]
    # a run that never reached the target counts as slowest: B's median is not reached
    assert "vs not reached" in t["torch"]["ours"]
    rev = claims.judge(_check(metric={"name": "steps_to_target", "target": 0.9},
                              arms={"a": {"spec.name": "B"}, "b": {"spec.name": "A"}}), runs)
    assert {r["backend"]: r for r in rev}["torch"]["verdict"] == "fails"


def test_claims_file_and_strict(tmp_path, base_spec):
    for i in range(5):
        _fake(tmp_path / "r", base_spec, "A", "torch", i, 0.80)
        _fake(tmp_path / "r", base_spec, "B", "torch", i, 0.90 + 0.001 * i)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({"claims": [_claim(must_hold=True)]}))
    out = subprocess.run([sys.executable, "-m", "bench", "claims", str(tmp_path / "r"), "--claims",
                          str(tmp_path / "c.yaml"), "--strict"], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 5 and "fails" in out.stdout
    out = subprocess.run([sys.executable, "-m", "bench", "claims", str(tmp_path / "r"), "--claims",
                          str(tmp_path / "c.yaml")], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0


def test_shipped_claims_file_is_complete():
    ids = {c.id for c in claims.load_claims()}
    assert {"ST-1", "ST-2", "ST-3", "FM-1", "FM-2", "FM-3", "FM-3r"} | {f"R-{i}" for i in range(1, 9)} == ids
    for c in claims.checks(claims.load_claims()):  # every claims.md id: tests/core/test_claims_engine.py
        assert c.metric.name in claims.METRICS and c.kind in claims.KINDS


def test_suites_expand():
    for name in suites.available():
        s = suites.load(name)
        for b in s["budgets"]:
            jobs = suites.expand(s, b, ["torch"])
            assert jobs and all(j.spec.backend == "torch" for j in jobs)
    fm = suites.load("fashion-mnist")
    quick = suites.expand(fm, "quick", ["torch", "keras"])
    cells = {(j.cell, j.backend): 0 for j in quick}
    for j in quick:
        cells[(j.cell, j.backend)] += 1
    # a verdict needs 5 runs per arm on each backend
    assert cells[("fm-cnn-full-constant", "torch")] == 5 and cells[("fm-cnn-full-constant", "keras")] == 5
    assert cells[("fm-vgg-sub-constant", "torch")] == 1
    tri = next(j for j in quick if j.cell == "fm-cnn-full-triangular")
    # the quick budget ends the triangular run at a cycle boundary: 4 epochs = 2 x step_size
    assert tri.spec.total_steps() == 2 * tri.spec.policy.step_size
    assert len({j.spec.run_id() for j in quick}) == len(quick)


def test_shards_cover_the_grid_exactly_once():
    jobs = suites.expand(suites.load("fashion-mnist"), "quick", ["torch", "keras"])
    for n in (1, 2, 3, 7):
        ids = [j.spec.run_id() for i in range(1, n + 1) for j in suites.shard(jobs, f"{i}/{n}")]
        assert sorted(ids) == sorted(j.spec.run_id() for j in jobs)  # every job once, none twice
    with pytest.raises(Exception, match="1 <= i <= n"):
        suites.shard(jobs, "3/2")
    with pytest.raises(Exception, match="expects i/n"):
        suites.shard(jobs, "half")


def test_time_to_target_edge_cases():
    def decide(a, b, ratio=1.0):  # crossings seen at these steps, evaluations every 100
        a, b = np.array(a, float), np.array(b, float)
        lo = lambda x: np.where(np.isinf(x), 1400.0, x - 100)  # noqa: E731 (never: censored at 1400)
        return int(claims.decide_ratio(lo(a), a, lo(b), b, ratio))

    # overlapping arms are no evidence either way
    assert decide([1000, 1100, 1200, 1300, 1400], [1000, 1100, 1200, 1300, 1400]) == claims.INCONCLUSIVE
    assert decide([math.inf] * 5, [math.inf] * 5) == claims.INCONCLUSIVE  # neither arm got there
    assert decide([1400] * 5, [100, 200, 200, 300, 300]) == claims.FAILS
    assert decide([100, 200, 200, 300, 300], [math.inf] * 5) == claims.HOLDS
    assert decide([100, 200, 200, 300, 300], [math.inf] * 5, ratio=10.0) == claims.INCONCLUSIVE  # censored


def test_duplicate_paths_count_once(tmp_path, base_spec):
    _fake(tmp_path, base_spec, "A", "torch", 0, 0.9)
    runs = claims.load_runs([tmp_path, tmp_path / ".." / tmp_path.name])
    assert len(runs) == 1


def test_rendered_verdicts_say_what_each_claim_says(tmp_path):
    """claims.md and report.md show each claim's statement beside its id, not the id alone."""
    rows = claims.verdicts([tmp_path])
    md = claims.render(rows)
    assert "What each claim says:" in md
    for cid in ("FM-1", "ST-2", "R-7"):
        line = next(ln for ln in md.splitlines() if ln.startswith(f"- **{cid}**"))
        statement = next(r["statement"] for r in rows if r["id"] == cid)
        assert statement and statement in line
