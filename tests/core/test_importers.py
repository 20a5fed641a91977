"""bench import caffe-log on Caffe logs the tests write in the authors' format
(tests/caffe_logs.py), with every value known: the solver's policy, the evaluations, the
training seconds (testing time taken out), batch size over GPUs, batch-norm fraction."""

import csv
import json
import subprocess
import sys

import pytest
import yaml

from bench.errors import BenchError
from bench.judging import importers

from caffe_logs import write_caffe_log
from common import REPO

CLR_SOLVER = {"test_iter": 200, "test_interval": 100, "base_lr": 0.1, "display": 100, "max_iter": 400,
              "lr_policy": "triangular", "momentum": 0.9, "weight_decay": 0.0001, "stepsize": 100, "max_lr": 3}
EVALS = [(0, 0.1, 87.3), (100, 0.42, 1.6), (200, 0.71, 0.9), (300, 0.905, 0.35), (400, 0.93, 0.25)]


def _log(tmp_path, solver=CLR_SOLVER, evals=EVALS, **kw):
    p = tmp_path / "clrTest.log"
    lrs = {i: 0.1 + 0.029 * i for i in range(0, 401, 100)}
    losses = {i: 2.0 / (1 + i / 100) for i in range(0, 401, 100)}
    truth = write_caffe_log(p, solver=solver, evals=evals, losses=losses, lrs=lrs, **kw)
    return p, truth


def _rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_caffe_log_round_trip(tmp_path):
    p, truth = _log(tmp_path)
    d = importers.import_caffe_log(p, tmp_path / "out")
    spec = yaml.safe_load((d / "spec.yaml").read_text())
    assert spec["policy"] == {"name": "triangular", "min_lr": 0.1, "max_lr": 3.0, "step_size": 100,
                              "mode": "triangular", "gamma": 1.0, "momentum": 0.9}
    assert spec["batch_size"] == 8 * 125 and spec["eval_every"] == 100 and spec["budget"] == {"steps": 400}
    assert spec["network"]["bn_momentum"] == pytest.approx(0.05)  # Caffe fraction f is 1 - f here
    assert spec["dataset"]["augment"]["flip"] is True
    assert spec["optimizer"]["weight_decay"] == 0.0001
    evals = _rows(d / "evals.csv")
    assert [(int(r["step"]), float(r["acc"]), float(r["loss"])) for r in evals] == EVALS
    for r in evals:  # testing time is not training time
        assert float(r["train_wall_s"]) == pytest.approx(truth["train_s_at"][int(r["step"])], abs=1e-3)
        assert float(r["eval_wall_s"]) == pytest.approx(79.0, abs=1e-3)
    s = json.loads((d / "summary.json").read_text())
    assert s["kind"] == "reference" and s["backend"] == "caffe" and s["status"] == "completed"
    assert s["final_test_acc"] == 0.93 and s["best_acc"] == 0.93 and s["best_step"] == 400
    assert s["targets"]["0.9"]["step"] == 300


def test_unfinished_log_is_interrupted(tmp_path):
    p, _ = _log(tmp_path, done=False)
    s = json.loads((importers.import_caffe_log(p, tmp_path / "out") / "summary.json").read_text())
    assert s["status"] == "interrupted"


def test_long_triangular_is_the_linear_range_test(tmp_path):
    solver = {**CLR_SOLVER, "stepsize": 80000, "max_iter": 400, "base_lr": 0.0, "max_lr": 2}
    p, _ = _log(tmp_path, solver=solver)
    spec = yaml.safe_load((importers.import_caffe_log(p, tmp_path / "out") / "spec.yaml").read_text())
    assert spec["policy"]["name"] == "range-test" and spec["policy"]["mode"] == "linear"
    assert spec["policy"]["end_lr"] == pytest.approx(2 * 399 / 80000)


def test_multistep_solver(tmp_path):
    solver = {**CLR_SOLVER, "lr_policy": "multistep", "base_lr": 0.35, "stepvalue": [200, 300], "gamma": 0.1}
    p, _ = _log(tmp_path, solver=solver)
    spec = yaml.safe_load((importers.import_caffe_log(p, tmp_path / "out") / "spec.yaml").read_text())
    assert spec["policy"] == {"name": "multistep", "lr": 0.35, "gamma": 0.1, "milestones": [200, 300], "momentum": 0.9}


def test_a_log_across_new_year(tmp_path):
    import datetime as dt

    p, truth = _log(tmp_path, start=dt.datetime(2016, 12, 31, 23, 50, 0))
    d = importers.import_caffe_log(p, tmp_path / "out")
    last = _rows(d / "evals.csv")[-1]
    assert float(last["train_wall_s"]) == pytest.approx(truth["train_s_at"][400], abs=1e-3)


def test_unknown_policy_and_non_logs_are_refused(tmp_path):
    p, _ = _log(tmp_path, solver={**CLR_SOLVER, "lr_policy": "inv"})
    with pytest.raises(BenchError, match="lr_policy 'inv' has no equivalent"):
        importers.import_caffe_log(p, tmp_path / "out")
    junk = tmp_path / "junk.log"
    junk.write_text("hello\n")
    out = subprocess.run([sys.executable, "-m", "bench", "import", "caffe-log", str(junk), "--out",
                          str(tmp_path / "o")], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 2 and "not a Caffe training log" in out.stderr and "Traceback" not in out.stderr
