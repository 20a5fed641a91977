"""Bad inputs and faults that need a training backend (PyTorch): docs/bad-inputs.md.

Every run here trains a simple CNN on a 20-image CIFAR-10 archive written by the test
(tests/datasets_fixtures.py), so nothing depends on downloaded data.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import datasets_fixtures as fx

pytest.importorskip("torch")

from bench.cli import main  # noqa: E402

from common import REPO  # noqa: E402
from rundirs import make_run

pytestmark = pytest.mark.torch


@pytest.fixture
def tiny(tmp_path, monkeypatch) -> dict:
    """A spec (as a file) on a 20-image CIFAR-10 fixture; the environment for subprocesses."""
    fx.cifar10_tar(tmp_path / "cifar-10-python.tar.gz", per_batch=4)
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "BENCH_OFFLINE": "1"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    env["OMP_NUM_THREADS"] = "1"  # subprocesses only: a 4-image batch gains nothing from threads
    spec = {"name": "tiny", "backend": "torch", "device": "cpu", "network": {"name": "simple_cnn"},
            "dataset": {"name": "cifar10", "data_dir": str(tmp_path), "verify": False},
            "policy": {"name": "constant", "lr": 0.01}, "batch_size": 4, "budget": {"steps": 5}, "eval_every": 1000}
    p = tmp_path / "tiny.yaml"
    p.write_text(yaml.safe_dump(spec))
    return {"spec": p, "env": {**os.environ, **env}, "dir": tmp_path}


def _bench(capsys, *argv) -> tuple[int, str]:
    try:
        code = main([str(a) for a in argv] + ["--quiet"])
    except SystemExit as e:
        code = e.code
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return code, err


def test_batch_larger_than_the_loaded_data(capsys, tiny):
    code, err = _bench(capsys, "run", tiny["spec"], "--out", tiny["dir"] / "r", "--set", "batch_size=32")
    assert code == 2 and "batch_size 32 is larger than the 20 training examples loaded" in err, err
    assert not list((tiny["dir"] / "r").glob("*/spec.yaml"))


def test_results_folder_is_a_file(capsys, tiny):
    (tiny["dir"] / "taken").write_text("x")
    code, err = _bench(capsys, "run", tiny["spec"], "--out", tiny["dir"] / "taken")
    assert code == 2 and f"the results folder {tiny['dir'] / 'taken'} exists and is not a folder" in err, err


def test_results_folder_not_writable(capsys, tiny, monkeypatch):
    out = tiny["dir"] / "ro"
    out.mkdir()
    real = os.access
    # chmod cannot take write access from root (these tests may run as root): deny it here
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p) == out else real(p, mode, **kw))
    code, err = _bench(capsys, "run", tiny["spec"], "--out", out)
    assert code == 2 and f"the results folder {out} is not writable" in err, err
    assert list(out.iterdir()) == []


def test_cuda_requested_without_cuda(capsys, tiny):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    code, err = _bench(capsys, "run", tiny["spec"], "--out", tiny["dir"] / "r", "--device", "cuda")
    assert code == 2 and "device 'cuda' requested but CUDA is not available; allowed here: auto | cpu" in err, err


def test_nan_loss_is_a_result_not_a_traceback(capsys, tiny):
    code, err = _bench(capsys, "run", tiny["spec"], "--out", tiny["dir"] / "r", "--set", "policy.lr=1.0e+12",
                       "--set", "budget.steps=40")
    assert code == 3, err
    assert "diverged: " in err and "diverged at step " in err, err
    summary = json.loads(next((tiny["dir"] / "r").glob("*/summary.json")).read_text())
    assert summary["status"] == "diverged" and summary["final_test_acc"] is None


def _start(tiny, out: Path) -> tuple[subprocess.Popen, Path]:
    """A long `bench run` in its own process; returns once its steps.csv has rows."""
    proc = subprocess.Popen([sys.executable, "-m", "bench", "run", str(tiny["spec"]), "--out", str(out), "--quiet",
                             "--set", "budget.steps=200000"], cwd=REPO, env=tiny["env"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        found = list(out.glob("*/steps.csv"))
        if found and len(found[0].read_text().splitlines()) > 1:  # header + the first flushed rows
            return proc, found[0].parent
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"the run never started writing steps: {proc.communicate()[1][-3000:]}")


def test_sigint_ends_the_run_interrupted_with_exit_4(tiny):
    proc, run_dir = _start(tiny, tiny["dir"] / "r")
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 4, stderr[-3000:]
    assert "interrupted" in stderr and "Traceback" not in stderr, stderr[-3000:]
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "interrupted"


def test_sigkill_leaves_a_directory_every_reader_skips(capsys, tiny, base_spec):
    """SIGKILL: no summary.json is written; compare, claims and report name the directory in a
    warning, skip it and still write their tables from the complete runs."""

    root = tiny["dir"] / "r"
    proc, killed = _start(tiny, root)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert not (killed / "summary.json").exists() and (killed / "spec.yaml").exists()
    # a complete run beside it, so the readers have something to show
    make_run(root, base_spec, base_spec["seed"], evals=[(60, 0.8)], split="test", total=60, spe=31, loss=0.5)
    warning = f"skipping incomplete run directory {killed} (no summary.json)"
    for argv in (["compare", root, "--out", tiny["dir"] / "c"], ["claims", root],
                 ["report", root, "--out", tiny["dir"] / "rep"]):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as e:
            code = e.code
        err = capsys.readouterr().err
        assert code == 0 and warning in err and "Traceback" not in err, (argv, err)
    assert len((tiny["dir"] / "c" / "runs.csv").read_text().splitlines()) == 2  # header + the complete run
    assert "from 1 run directories" in (tiny["dir"] / "rep" / "report.md").read_text()
