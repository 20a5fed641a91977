"""End to end with the PyTorch backend on real Fashion-MNIST subsets."""

import csv
import json
import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

pytest.importorskip("torch")

from bench.records import spec as S  # noqa: E402
from bench.records.rundir import EVAL_COLUMNS, STEP_COLUMNS, find_runs  # noqa: E402
from bench.records.schedules import make_schedule  # noqa: E402
from bench.running import runner  # noqa: E402

from common import REPO, needs_fmnist  # noqa: E402

pytestmark = [pytest.mark.torch, needs_fmnist]


def _rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    base = {
        "name": "t", "backend": "torch", "seed": 0, "network": {"name": "simple_cnn"},
        "dataset": {"name": "fashion_mnist", "train_size": 2000, "eval_size": 500, "test_size": 2000},
        "optimizer": {"weight_decay": 5e-4},
        "policy": {"name": "one-cycle", "min_lr": 0.01, "max_lr": 0.1},
        "batch_size": 64, "budget": {"steps": 60}, "eval_every": 20, "targets": [0.5, 0.99],
    }
    s = S.build(base)
    out = tmp_path_factory.mktemp("runs")
    run_dir, summary, code = runner.run(s, out, progress=False)
    return s, run_dir, summary, code


def test_run_directory_files(short_run):
    s, run_dir, summary, code = short_run
    assert code == 0
    assert run_dir.name == s.run_id()
    assert {p.name for p in run_dir.iterdir()} == {"spec.yaml", "meta.json", "steps.csv", "evals.csv", "summary.json"}
    assert yaml.safe_load((run_dir / "spec.yaml").read_text()) == s.resolved()
    meta = json.loads((run_dir / "meta.json").read_text())
    for k in ("harness_version", "git_commit", "command", "python", "framework", "device", "threads",
              "world_size", "seed", "started_at"):
        assert k in meta, k
    assert meta["framework"]["torch"] and meta["device"]["type"] in ("cpu", "cuda")
    assert meta["data"]["train"] == 2000 and meta["data"]["eval"] == 500


def test_steps_csv_follows_the_schedule_exactly(short_run):
    s, run_dir, _, _ = short_run
    with open(run_dir / "steps.csv") as f:
        assert tuple(next(csv.reader(f))) == STEP_COLUMNS
    rows = _rows(run_dir / "steps.csv")
    assert [int(r["step"]) for r in rows] == list(range(60))
    sched = make_schedule(s.policy, 60)
    for r in rows:
        lr, mom = sched(int(r["step"]))
        assert float(r["lr"]) == lr and float(r["momentum"]) == mom  # bit-identical
        assert float(r["epoch"]) == int(r["step"]) / 31
        assert 0.0 <= float(r["train_acc"]) <= 1.0 and math.isfinite(float(r["train_loss"]))
    walls = [float(r["wall_s"]) for r in rows]
    assert all(b >= a for a, b in zip(walls, walls[1:])) and walls[0] > 0


def test_evals_and_summary(short_run):
    s, run_dir, summary, _ = short_run
    with open(run_dir / "evals.csv") as f:
        assert tuple(next(csv.reader(f))) == EVAL_COLUMNS
    ev = _rows(run_dir / "evals.csv")
    assert [(int(r["step"]), r["split"]) for r in ev] == [(0, "eval"), (20, "eval"), (40, "eval"), (60, "test")]
    first, last = float(ev[0]["acc"]), float(ev[-1]["acc"])
    assert last > first + 0.3, (first, last)  # accuracy rose well above its start (chance 0.1)
    assert summary["status"] == "completed" and summary["kind"] == "train" and summary["schema"] == 2
    assert summary["steps_done"] == 60 and summary["final_test_acc"] == last
    assert summary["best_acc"] == max(float(r["acc"]) for r in ev if r["split"] == summary["best_split"])
    assert summary["targets"]["0.99"] is None
    hit = summary["targets"]["0.5"]
    first_hit = next(r for r in ev if float(r["acc"]) >= 0.5)
    assert hit["step"] == int(first_hit["step"]) and hit["train_s"] == float(first_hit["train_wall_s"])
    assert summary["train_s"] > 0 and summary["eval_s"] > 0 and summary["images_per_s"] > 0
    assert summary["diverged_at"] is None
    assert json.loads((run_dir / "summary.json").read_text()) == summary
    assert list(find_runs([run_dir.parent])) == [run_dir]


def test_same_seed_same_run(short_run, tmp_path):
    s, run_dir, _, _ = short_run
    d2, _, _ = runner.run(s, tmp_path, progress=False)
    a = [r["train_loss"] for r in _rows(run_dir / "steps.csv")]
    b = [r["train_loss"] for r in _rows(d2 / "steps.csv")]
    assert a == b


def test_existing_run_is_not_clobbered(short_run):
    s, run_dir, _, _ = short_run
    before = (run_dir / "summary.json").read_text()
    with pytest.raises(Exception, match="already holds a completed run"):
        runner.run(s, run_dir.parent, progress=False)
    assert (run_dir / "summary.json").read_text() == before


def _write(tmp_path, sets):
    base = S.read_yaml(REPO / "bench" / "specs" / "smoke.yaml")
    data = S.apply_sets(base, sets)
    p = tmp_path / "spec.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def _bench(*args, **kw):
    return subprocess.run([sys.executable, "-m", "bench", *args], cwd=REPO, capture_output=True, text=True, **kw)


def test_divergence_is_a_result(tmp_path):
    p = _write(tmp_path, ["policy={name: constant, lr: 1.0e+6}", "budget.steps=200", "eval_every=50"])
    out = _bench("run", str(p), "--out", str(tmp_path / "r"), "--quiet")
    assert out.returncode == 3, out.stderr
    assert "Traceback" not in out.stderr
    run_dir = tmp_path / "r" / out.stdout.strip().splitlines()[-1].split("/")[-1]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "diverged" and summary["final_test_acc"] is None
    rows = _rows(run_dir / "steps.csv")
    assert int(rows[-1]["step"]) == summary["diverged_at"] == summary["steps_done"] - 1
    assert not math.isfinite(float(rows[-1]["train_loss"]))
    assert all(math.isfinite(float(r["train_loss"])) for r in rows[:-1])
    assert summary["diverged_at"] < 200


def test_sigint_records_and_exits_4(tmp_path):
    p = _write(tmp_path, ["budget.steps=100000", "eval_every=100000"])
    proc = subprocess.Popen([sys.executable, "-m", "bench", "run", str(p), "--out", str(tmp_path / "r")],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    steps = None
    deadline = time.time() + 120
    while time.time() < deadline:
        found = list((tmp_path / "r").glob("*/steps.csv"))
        if found and len(found[0].read_text().splitlines()) > 60:
            steps = found[0]
            break
        time.sleep(0.2)
    assert steps is not None, "the run never started writing steps"
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 4, stderr
    summary = json.loads((steps.parent / "summary.json").read_text())
    assert summary["status"] == "interrupted"
    assert summary["steps_done"] == len(_rows(steps)) > 50


def test_bench_smoke(tmp_path):
    """The default suite at budget smoke, every installed backend, each run in its own process."""
    from bench.grids import suites
    from bench.running.registry import available

    out = _bench("smoke", "--out", str(tmp_path))
    assert out.returncode == 0, out.stderr[-3000:]
    assert "best final test acc" in out.stderr and "FAILED" not in out.stderr
    runs = list(find_runs([tmp_path]))
    suite = suites.load("fashion-mnist")
    expected = suites.expand(suite, "smoke", available())
    # and the tuned cell's judged runs, at the value its tuning runs chose (bench/rates/tuning.py)
    judged, _ = suites.judged(suite, "smoke", available(), None, tmp_path, [j for j in expected if j.role == "tune"])
    assert judged and len(runs) == len(expected) + len(judged)
    for b in available():
        best = max(json.loads((r / "summary.json").read_text())["final_test_acc"] or 0 for r in runs
                   if json.loads((r / "summary.json").read_text())["backend"] == b)
        assert best >= 0.5
    assert (tmp_path / "report.md").exists()


def test_augmentation_matches_reference():
    import torch

    from backends.torch.augment import shift_flip
    from bench.records.spec import AugmentSpec
    from bench.running import augment

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(16, 9, 7, 2), dtype=np.uint8)
    d = augment.draw(AugmentSpec(flip=True, shift=3), seed=1, step=5, batch=16)
    got = shift_flip(torch.from_numpy(x), d).numpy()
    np.testing.assert_array_equal(got, augment.apply_numpy(x, d))


def test_data_parallel_matches_one_process(tmp_path):
    """bench run --nproc 2: torchrun, gloo, 1 thread each; the same global batch and schedule.

    Batch norm is off: on CPU each process would normalise over its own shard (SyncBatchNorm
    is used on CUDA). In float64 the per-step losses agree to rounding.
    """
    import pandas as pd

    spec = tmp_path / "ddp.yaml"
    spec.write_text(yaml.safe_dump({
        "name": "ddp", "precision": "float64", "device": "cpu", "network": {"name": "simple_cnn", "batch_norm": False},
        "dataset": {"name": "fashion_mnist", "train_size": 1000, "test_size": 200},
        "optimizer": {"momentum_form": "caffe", "weight_decay": 1e-4},
        "policy": {"name": "one-cycle", "min_lr": 0.01, "max_lr": 0.1}, "batch_size": 32, "budget": {"steps": 20},
        "eval_every": 10}))
    env = {**__import__("os").environ, "OMP_NUM_THREADS": "1"}
    dirs = []
    for extra, out in (([], "one"), (["--nproc", "2"], "two")):
        res = subprocess.run([sys.executable, "-m", "bench", "run", str(spec), "--out", str(tmp_path / out), "--quiet",
                              *extra], cwd=REPO, capture_output=True, text=True, env=env)
        assert res.returncode == 0, res.stderr[-3000:]
        dirs.append(Path(res.stdout.strip().splitlines()[-1]))
    a, b = (pd.read_csv(d / "steps.csv") for d in dirs)
    assert len(a) == len(b) == 20 and (a.lr == b.lr).all() and (a.momentum == b.momentum).all()
    assert ((a.train_loss - b.train_loss).abs() / a.train_loss).max() < 1e-12
    assert json.loads((dirs[1] / "meta.json").read_text())["world_size"] == 2
    assert json.loads((dirs[0] / "meta.json").read_text())["world_size"] == 1
    bad = subprocess.run([sys.executable, "-m", "bench", "run", str(spec), "--out", str(tmp_path / "bad"), "--quiet",
                          "--nproc", "3"], cwd=REPO, capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and "does not split over 3 processes" in bad.stderr and "Traceback" not in bad.stderr
