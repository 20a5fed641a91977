"""Checkpoint and exact resume, PyTorch: stop, kill, resume, corrupt input, lock."""

import json
import pickle
import shutil
import signal
import subprocess
import sys
import time

import pytest

pytest.importorskip("torch")

from bench.errors import BenchError  # noqa: E402
from bench.records.rundir import find_runs  # noqa: E402
from bench.running import runner  # noqa: E402

from common import REPO, needs_fmnist  # noqa: E402
from resume_checks import (  # noqa: E402
    check_schedule_continued,
    max_rel_diff,
    resume_spec,
    rows,
    stopped_and_resumed,
    without_wall,
)

pytestmark = [pytest.mark.torch, needs_fmnist]


def _bench(*args, env=None, **kw):
    import os

    return subprocess.run([sys.executable, "-m", "bench", *args], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, **kw)


@pytest.fixture(scope="module")
def stopped(tmp_path_factory, base_spec_module):
    """A run stopped by the hook after 37 updates (checkpoints every 25), kept interrupted."""
    tmp = tmp_path_factory.mktemp("stopped")
    spec = resume_spec(base_spec_module, tmp, "torch")
    d, s, code = runner.run(spec, tmp / "r", progress=False, stop_at=37)
    assert code == 4
    return spec, d


@pytest.fixture(scope="module")
def base_spec_module():
    return {"name": "t", "backend": "torch", "seed": 0, "network": {"name": "simple_cnn"},
            "dataset": {"name": "fashion_mnist", "train_size": 2000, "eval_size": 500, "test_size": 2000,
                        "augment": {"flip": True, "shift": 2}},
            "optimizer": {"name": "sgd", "momentum_form": "caffe", "weight_decay": 5e-4},
            "policy": {"name": "one-cycle", "min_lr": 0.01, "max_lr": 0.1},
            "batch_size": 64, "budget": {"steps": 60}, "eval_every": 20, "targets": [0.5, 0.99]}


@pytest.mark.parametrize("stop_at", [37, 25, 1])
def test_stopped_then_resumed_equals_uninterrupted_bitwise(tmp_path, base_spec_module, stop_at):
    """Between checkpoints (37), on one (25) and after the first update (1, where the
    momentum buffer is created): steps.csv and evals.csv identical in every column but
    wall clock, bit for bit, and the final test accuracy too."""
    spec = resume_spec(base_spec_module, tmp_path, "torch")
    ref, ref_summary, d, summary = stopped_and_resumed(spec, tmp_path, stop_at)
    for f in ("steps.csv", "evals.csv"):
        a, b = rows(ref / f), rows(d / f)
        assert without_wall(a) == without_wall(b), f
        assert max_rel_diff(a, b) == 0.0
    check_schedule_continued(spec, d)
    assert summary["final_test_acc"] == ref_summary["final_test_acc"]
    assert summary["targets"] == {k: v and {"step": v["step"], "train_s": summary["targets"][k]["train_s"]}
                                  for k, v in ref_summary["targets"].items()}
    meta = json.loads((d / "meta.json").read_text())
    assert meta["resumes"][0]["at_step"] == stop_at


def test_checkpoint_loads_with_weights_only_and_holds_everything(stopped):
    import torch

    spec, d = stopped
    ck = json.loads((d / "checkpoint.json").read_text())
    assert ck["step"] == 37 and ck["reason"] == "interrupt" and ck["files"] == ["checkpoint-00000037.pt"]
    state = torch.load(d / ck["files"][0], weights_only=True)
    assert "rng.cpu" in state and any(k.startswith("momentum.") for k in state)
    assert any(k.endswith("running_var") for k in state) and any(k.endswith("num_batches_tracked") for k in state)
    assert not list(d.glob("checkpoint-00000025*"))  # the periodic one before it was replaced


def test_resume_refuses_changes_and_ended_runs(stopped, tmp_path):
    spec, d = stopped
    out = _bench("run", "--resume", str(d), "--set", "policy.max_lr=1.0")
    assert out.returncode == 2 and "--resume continues the run as it was specified" in out.stderr
    assert "Traceback" not in out.stderr
    out = _bench("run", "--resume", str(tmp_path / "nowhere"))
    assert out.returncode == 2 and "does not exist" in out.stderr
    (tmp_path / "empty").mkdir()
    out = _bench("run", "--resume", str(tmp_path / "empty"))
    assert out.returncode == 2 and "is not a run directory (no spec.yaml)" in out.stderr
    done = tmp_path / "done"
    shutil.copytree(d, done / d.name)
    s = json.loads((done / d.name / "summary.json").read_text())
    (done / d.name / "summary.json").write_text(json.dumps({**s, "status": "completed"}))
    out = _bench("run", "--resume", str(done / d.name))
    assert out.returncode == 2 and "the run already ended (completed); nothing to resume" in out.stderr


def _copy(d, tmp_path):
    dst = tmp_path / "c" / d.name
    shutil.copytree(d, dst)
    return dst


def test_corrupt_checkpoint_is_a_clear_error_and_loses_nothing(stopped, tmp_path):
    spec, d = stopped
    # truncated state file
    c = _copy(d, tmp_path / "trunc")
    pt = c / "checkpoint-00000037.pt"
    pt.write_bytes(pt.read_bytes()[:1000])
    before = {p.name: p.read_bytes() for p in c.iterdir()}
    out = _bench("run", "--resume", str(c), "--quiet")
    assert out.returncode == 7 and "corrupt or foreign checkpoint" in out.stderr and "Traceback" not in out.stderr
    assert {p.name: p.read_bytes() for p in c.iterdir()} == before  # nothing recorded was touched
    # garbage record
    c = _copy(d, tmp_path / "json")
    (c / "checkpoint.json").write_text("{not json")
    out = _bench("run", "--resume", str(c), "--quiet")
    assert out.returncode == 7 and "corrupt checkpoint record" in out.stderr
    # the record names a missing file
    c = _copy(d, tmp_path / "missing")
    (c / "checkpoint-00000037.pt").unlink()
    out = _bench("run", "--resume", str(c), "--quiet")
    assert out.returncode == 7 and "names state files that are missing" in out.stderr
    # no checkpoint at all
    c = _copy(d, tmp_path / "none")
    (c / "checkpoint.json").unlink()
    out = _bench("run", "--resume", str(c), "--quiet")
    assert out.returncode == 7 and "nothing to resume from" in out.stderr


class _Boom:
    def __reduce__(self):
        return (exec, ("open('PWNED', 'w').write('x')",))


def test_malicious_pickle_checkpoint_is_refused(stopped, tmp_path):
    spec, d = stopped
    c = _copy(d, tmp_path)
    with open(c / "checkpoint-00000037.pt", "wb") as f:
        pickle.dump({"model.x": _Boom()}, f)
    out = _bench("run", "--resume", str(c), "--quiet")
    assert out.returncode == 7 and "corrupt or foreign checkpoint" in out.stderr
    assert not (REPO / "PWNED").exists()


def _start(spec, tmp_path):
    """`bench run` of ``spec`` as a subprocess writing to tmp_path/r; (process, run dir)."""
    import yaml

    p = tmp_path / "spec.yaml"
    p.write_text(yaml.safe_dump(spec.resolved()))
    proc = subprocess.Popen([sys.executable, "-m", "bench", "run", str(p), "--out", str(tmp_path / "r"), "--quiet"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, tmp_path / "r" / spec.run_id()


def test_sigint_checkpoints_and_the_checkpoint_resumes(tmp_path, base_spec_module):
    """A real SIGINT to a running `bench run`: status interrupted, exit 4, a checkpoint at
    the step it stopped; `--resume` continues from exactly there."""
    spec = resume_spec(base_spec_module, tmp_path, "torch", budget={"steps": 100000}, eval_every=100000,
                       checkpoint_every=0)
    proc, d = _start(spec, tmp_path)
    deadline = time.time() + 120
    while time.time() < deadline and not ((d / "steps.csv").is_file() and len(rows(d / "steps.csv")) > 50):
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 4, err
    assert "Traceback" not in err and f"bench run --resume {d}" in err
    s = json.loads((d / "summary.json").read_text())
    ck = json.loads((d / "checkpoint.json").read_text())
    assert s["status"] == "interrupted" and ck["reason"] == "interrupt"
    k = s["steps_done"]
    assert ck["step"] == k == len(rows(d / "steps.csv")) > 50
    out = _bench("run", "--resume", str(d), "--quiet", env={"BENCH_STOP_AT_STEP": str(k + 7)})
    assert out.returncode == 4, out.stderr
    rs = rows(d / "steps.csv")
    assert [int(r["step"]) for r in rs] == list(range(k + 7))
    assert json.loads((d / "summary.json").read_text())["resumed_from"] == k


def test_sigkill_leaves_an_incomplete_run_that_resumes_exactly(tmp_path, base_spec_module):
    """SIGKILL after a periodic checkpoint: readers skip the directory with a warning; the
    rows written after the checkpoint are cut back and the resumed run equals an
    uninterrupted one."""
    spec = resume_spec(base_spec_module, tmp_path, "torch", budget={"steps": 400}, eval_every=50,
                       checkpoint_every=100)
    proc, d = _start(spec, tmp_path)
    deadline = time.time() + 120
    while time.time() < deadline and not (d / "checkpoint.json").is_file():
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    if (d / "summary.json").exists():
        pytest.skip("the run finished before the kill (machine too fast for this budget)")
    assert (d / "checkpoint.json").is_file()
    with pytest.warns(UserWarning, match="skipping incomplete run directory"):
        assert list(find_runs([tmp_path / "r"])) == []
    d2, s, code = runner.resume(d, progress=False)
    assert code == 0 and s["resumed_from"] in (100, 200, 300)
    ref, _, _ = runner.run(spec, tmp_path / "ref", progress=False)
    for f in ("steps.csv", "evals.csv"):
        assert without_wall(rows(ref / f)) == without_wall(rows(d / f)), f


def test_a_run_directory_is_locked(tmp_path, base_spec_module):
    spec = resume_spec(base_spec_module, tmp_path, "torch")
    tmp_path.joinpath("r").mkdir()
    with runner.run_lock(tmp_path / "r", spec.run_id()):
        with pytest.raises(BenchError, match=f"{spec.run_id()} in .* is being run by pid"):
            runner.run(spec, tmp_path / "r", progress=False)
    assert not (tmp_path / "r" / spec.run_id()).exists()
    d, s, code = runner.run(spec, tmp_path / "r", progress=False)  # released: runs
    assert code == 0 and not list((tmp_path / "r").glob(".*.lock"))


def test_not_enough_disk_fails_before_training(tmp_path, base_spec_module, monkeypatch):
    import collections

    spec = resume_spec(base_spec_module, tmp_path, "torch")
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(runner.shutil, "disk_usage", lambda p: usage(10**9, 10**9 - 50_000, 50_000))
    with pytest.raises(BenchError, match=r"not enough disk in .*: 0\.0 MiB free, this run needs about"):
        runner.run(spec, tmp_path / "r", progress=False)
    assert not (tmp_path / "r" / spec.run_id()).exists()
