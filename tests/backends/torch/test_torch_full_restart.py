"""`bench full` is restartable: completed runs skipped, interrupted ones resumed,
killed ones rerun, diverged ones kept unless --retry-diverged; Ctrl-C stops it resumably."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

pytest.importorskip("torch")

from common import REPO, needs_fmnist  # noqa: E402
from resume_checks import rows, without_wall  # noqa: E402

pytestmark = [pytest.mark.torch, needs_fmnist]

SUITE = {
    "name": "restart", "default_budget": "smoke",
    "base": {"network": {"name": "simple_cnn"}, "dataset": {"name": "fashion_mnist", "train_size": 640,
             "test_size": 500, "eval_size": 200}, "batch_size": 32, "eval_every": 10, "targets": [0.5]},
    "cells": [{"name": "rs-constant", "policy": {"name": "constant", "lr": 0.01}},
              {"name": "rs-onecycle", "policy": {"name": "one-cycle", "min_lr": 0.005, "max_lr": 0.05}},
              {"name": "rs-diverge", "policy": {"name": "constant", "lr": 1.0e+6}}],
    "budgets": {"smoke": {"seeds": 1, "set": ["budget={steps: 40}"]}},
}


def _full(tmp_path, *extra, **kw):
    p = tmp_path / "suite.yaml"
    p.write_text(yaml.safe_dump(SUITE))
    return subprocess.run([sys.executable, "-m", "bench", "full", "--suite", str(p), "--backends", "torch",
                           "--out", str(tmp_path / "out"), *extra], cwd=REPO, capture_output=True, text=True, **kw)


def _dir(tmp_path, cell):
    (d,) = (tmp_path / "out").glob(f"{cell}-torch-s0-*")
    return d


def test_full_skips_resumes_reruns_and_keeps_divergence(tmp_path):
    first = _full(tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    status = {c["name"]: json.loads((_dir(tmp_path, c["name"]) / "summary.json").read_text())["status"]
              for c in SUITE["cells"]}
    assert status == {"rs-constant": "completed", "rs-onecycle": "completed", "rs-diverge": "diverged"}
    one, const, div = (_dir(tmp_path, c) for c in ("rs-onecycle", "rs-constant", "rs-diverge"))
    ref_steps = rows(one / "steps.csv")
    # rs-onecycle interrupted after 13 updates (with a checkpoint); rs-constant killed (no summary, no checkpoint)
    cut = subprocess.run([sys.executable, "-m", "bench", "run", str(one / "spec.yaml"), "--out", str(tmp_path / "out"),
                          "--overwrite", "--quiet"], cwd=REPO, capture_output=True, text=True,
                         env={**os.environ, "BENCH_STOP_AT_STEP": "13"})
    assert cut.returncode == 4, cut.stderr
    (const / "summary.json").unlink()
    div_summary = (div / "summary.json").read_text()

    again = _full(tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "rs-diverge torch s0: already diverged" in again.stderr and "--retry-diverged" in again.stderr
    assert "rs-onecycle torch s0: resuming from its checkpoint" in again.stderr
    s = json.loads((one / "summary.json").read_text())
    assert s["status"] == "completed" and s["resumed_from"] == 13
    assert without_wall(rows(one / "steps.csv")) == without_wall(ref_steps)  # resumed exactly
    assert json.loads((const / "summary.json").read_text())["status"] == "completed"  # rerun from the start
    assert (div / "summary.json").read_text() == div_summary  # a divergence is a result: not retried

    retry = _full(tmp_path, "--retry-diverged")
    assert retry.returncode == 0, retry.stderr[-3000:]
    assert "already diverged" not in retry.stderr and retry.stderr.count("already completed") == 2
    assert json.loads((div / "summary.json").read_text())["status"] == "diverged"
    assert (div / "summary.json").read_text() != div_summary  # ran again


def test_ctrl_c_stops_full_with_a_checkpoint(tmp_path):
    suite = json.loads(json.dumps(SUITE))
    suite["budgets"]["smoke"]["set"] = ["budget={steps: 100000}", "eval_every=100000"]
    suite["cells"] = suite["cells"][:1]
    p = tmp_path / "suite.yaml"
    p.write_text(yaml.safe_dump(suite))
    proc = subprocess.Popen([sys.executable, "-m", "bench", "full", "--suite", str(p), "--backends", "torch",
                             "--out", str(tmp_path / "out")], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    steps = None
    while time.time() < deadline and steps is None:
        found = list((tmp_path / "out").glob("rs-constant-*/steps.csv"))
        if found and len(found[0].read_text().splitlines()) > 60:
            steps = found[0]
        time.sleep(0.2)
    assert steps is not None
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 4, err[-3000:]
    assert "interrupted (checkpoint written); run the same command again to continue" in err
    d = steps.parent
    s = json.loads((d / "summary.json").read_text())
    ck = json.loads((d / "checkpoint.json").read_text())
    assert s["status"] == "interrupted" and ck["step"] == s["steps_done"] == len(rows(d / "steps.csv"))
