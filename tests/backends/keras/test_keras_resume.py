"""Checkpoint and exact resume, Keras, and seed determinism across processes."""

import json
import os
import subprocess
import sys

import pytest

os.environ["KERAS_BACKEND"] = "tensorflow"
pytest.importorskip("keras")

from bench.running import runner  # noqa: E402

from common import REPO, needs_fmnist  # noqa: E402
from resume_checks import (  # noqa: E402
    check_schedule_continued,
    max_rel_diff,
    resume_spec,
    rows,
    stopped_and_resumed,
)

pytestmark = [pytest.mark.keras, needs_fmnist]

BASE = {"name": "t", "backend": "keras", "seed": 0, "network": {"name": "simple_cnn"},
        "dataset": {"name": "fashion_mnist", "train_size": 2000, "eval_size": 500, "test_size": 2000,
                    "augment": {"flip": True, "shift": 2}},
        "optimizer": {"name": "sgd", "momentum_form": "caffe", "weight_decay": 5e-4},
        "policy": {"name": "one-cycle", "min_lr": 0.01, "max_lr": 0.1},
        "batch_size": 64, "budget": {"steps": 60}, "eval_every": 20, "targets": [0.5, 0.99]}


@pytest.mark.parametrize("stop_at", [37, 1])
def test_stopped_then_resumed_equals_uninterrupted(tmp_path, stop_at):
    """steps.csv and evals.csv of a run stopped after ``stop_at`` updates and resumed equal
    the uninterrupted run's in every column but wall clock: bitwise on this CPU (the
    tolerance of 1e-6 relative is what the issue allows; the measured difference is printed)."""
    spec = resume_spec(BASE, tmp_path, "keras")
    ref, ref_summary, d, summary = stopped_and_resumed(spec, tmp_path, stop_at)
    diffs = {f: max_rel_diff(rows(ref / f), rows(d / f)) for f in ("steps.csv", "evals.csv")}
    print(f"keras resume at {stop_at}: max relative difference {diffs}")
    assert all(v <= 1e-6 for v in diffs.values()), diffs
    check_schedule_continued(spec, d)
    assert abs(summary["final_test_acc"] - ref_summary["final_test_acc"]) <= 1e-6


def test_checkpoint_files_are_keras_weights_and_plain_arrays(tmp_path):
    import numpy as np

    spec = resume_spec(BASE, tmp_path, "keras", network={"name": "mobilenet_v2", "width": 0.25},
                       dataset={**BASE["dataset"], "image_size": 32}, budget={"steps": 4}, eval_every=4,
                       checkpoint_every=0)
    d, s, code = runner.run(spec, tmp_path / "r", progress=False, stop_at=2)
    assert code == 4
    ck = json.loads((d / "checkpoint.json").read_text())
    assert sorted(ck["files"]) == ["checkpoint-00000002.npz", "checkpoint-00000002.weights.h5"]
    with np.load(d / "checkpoint-00000002.npz", allow_pickle=False) as z:
        assert any(k.startswith("momentum.") for k in z.files)
        assert any(k.startswith("rng.") for k in z.files)  # MobileNetV2's dropout seed generator
    d2, s2, code2 = runner.resume(d, progress=False)
    assert code2 == 0 and s2["steps_done"] == 4 and s2["resumed_from"] == 2


def test_corrupt_keras_checkpoint_is_a_clear_error(tmp_path):
    spec = resume_spec(BASE, tmp_path, "keras", budget={"steps": 4}, eval_every=4, checkpoint_every=0)
    d, _, code = runner.run(spec, tmp_path / "r", progress=False, stop_at=2)
    w = d / "checkpoint-00000002.weights.h5"
    w.write_bytes(w.read_bytes()[:500])
    out = subprocess.run([sys.executable, "-m", "bench", "run", "--resume", str(d), "--quiet"], cwd=REPO,
                         capture_output=True, text=True)
    assert out.returncode == 7 and "corrupt or foreign checkpoint" in out.stderr and "Traceback" not in out.stderr


_INIT = """
import os, sys, hashlib
os.environ["KERAS_BACKEND"] = "tensorflow"; os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import keras, numpy as np
from backends.keras.networks import build
keras.utils.set_random_seed(int(sys.argv[1]))
m = build("resnet20", (32, 32, 3), 10, 0.1, 1e-5, 1.0)
ks = [v.numpy() for v in m.weights if tuple(v.shape) == (3, 3, 16, 16)]
assert len(ks) == 6 and not any(np.array_equal(ks[0], k) for k in ks[1:]), "kernels of one shape are identical"
print(hashlib.sha256(b"".join(v.numpy().tobytes() for v in m.weights)).hexdigest())
"""


def test_same_seed_same_initial_weights_in_every_process():
    """Regression: initializers made at import time gave each process other weights, and
    one shared instance gave every kernel of a shape the same values."""
    def digest(seed):
        out = subprocess.run([sys.executable, "-c", _INIT, str(seed)], cwd=REPO, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr[-2000:]
        return out.stdout.strip().splitlines()[-1]

    a, b, c = digest(0), digest(0), digest(1)
    assert a == b and a != c
