"""bench full on a tiny suite with the PyTorch backend: report, restart, the submitit launcher."""

import io
import json
import subprocess
import sys

import pytest
import yaml

from common import REPO, needs_fmnist

pytest.importorskip("torch")
pytestmark = [pytest.mark.torch, needs_fmnist]


def test_full_and_report_on_a_tiny_suite(tmp_path):
    (tmp_path / "none").mkdir()  # an empty data_dir: the cifar cell is skipped as not found
    suite = {
        "name": "tiny", "default_budget": "smoke",
        "base": {"network": {"name": "simple_cnn"}, "dataset": {"name": "fashion_mnist", "train_size": 500,
                 "test_size": 500, "eval_size": 200}, "batch_size": 32, "eval_every": 5, "targets": [0.5]},
        "cells": [{"name": "tiny-constant", "policy": {"name": "constant", "lr": 0.01}},
                  {"name": "tiny-onecycle", "policy": {"name": "one-cycle", "min_lr": 0.005, "max_lr": 0.05}},
                  {"name": "tiny-cifar", "dataset": {"name": "cifar10", "data_dir": str(tmp_path / "none")},
                   "policy": {"name": "constant", "lr": 0.01}}],
        "budgets": {"smoke": {"seeds": 2, "set": ["budget={steps: 10}"]}},
    }
    p = tmp_path / "tiny.yaml"
    p.write_text(yaml.safe_dump(suite))
    env_out = tmp_path / "out"
    cmd = [sys.executable, "-m", "bench", "full", "--suite", str(p), "--backends", "torch", "--out", str(env_out)]
    res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env={**__import__("os").environ, "BENCH_OFFLINE": "1"})
    assert res.returncode == 0, res.stderr[-3000:]
    report = (env_out / "report.md").read_text()
    assert "tiny-cifar: cifar10 not found" in report and "## Claims" in report
    assert len(list(env_out.glob("tiny-*-torch-s*/summary.json"))) == 4
    assert list(env_out.glob("accuracy-simple_cnn-*.png"))
    again = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    assert again.stderr.count("already completed") == 4  # restartable: finished runs are skipped


def test_local_submitit_launcher_gives_the_same_report(tmp_path):
    pytest.importorskip("submitit")
    suite = {"name": "tiny2", "base": {"network": {"name": "simple_cnn"}, "dataset": {"name": "fashion_mnist",
             "train_size": 300, "test_size": 300}, "batch_size": 30, "eval_every": 5, "targets": [0.3]},
             "cells": [{"name": "t2-constant", "policy": {"name": "constant", "lr": 0.01}},
                       {"name": "t2-onecycle", "policy": {"name": "one-cycle", "min_lr": 0.005, "max_lr": 0.05}}],
             "budgets": {"smoke": {"seeds": 1, "set": ["budget={steps: 6}"]}}}
    p = tmp_path / "tiny2.yaml"
    p.write_text(yaml.safe_dump(suite))
    tables = []
    for extra, out in (([], "plain"), (["--launcher", "local"], "local")):
        res = subprocess.run([sys.executable, "-m", "bench", "full", "--suite", str(p), "--budget", "smoke",
                              "--backends", "torch", "--out", str(tmp_path / out), *extra], cwd=REPO,
                             capture_output=True, text=True)
        assert res.returncode == 0, res.stderr[-3000:]
        tables.append(((tmp_path / out) / "compare.csv").read_text())
        finals = sorted(json.loads(f.read_text())["final_test_acc"] for f in (tmp_path / out).glob("t2-*/summary.json"))
        assert len(finals) == 2
    import pandas as pd

    a, b = (pd.read_csv(io.StringIO(t)) for t in tables)
    # timings and the machine's load differ, results do not
    cols = [c for c in a.columns if not c.startswith(("images_per_s", "seconds_to_", "cpu_share", "contended"))]
    assert a[cols].equals(b[cols])
