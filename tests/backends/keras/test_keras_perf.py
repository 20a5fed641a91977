"""`bench perf` and XLA, Keras. Timings are printed, never asserted."""

import json
import os
import subprocess
import sys

import pytest

os.environ["KERAS_BACKEND"] = "tensorflow"
pytest.importorskip("keras")

from bench.records import spec as S  # noqa: E402
from bench.running import runner  # noqa: E402

from common import REPO, needs_fmnist  # noqa: E402
from resume_checks import rows  # noqa: E402

pytestmark = [pytest.mark.keras, needs_fmnist]


def test_bench_perf_keras(tmp_path):
    out = subprocess.run([sys.executable, "-m", "bench", "perf", "--backend", "keras", "--steps", "60", "--repeats",
                          "1", "--out", str(tmp_path / "p.json")], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    (r,) = json.loads((tmp_path / "p.json").read_text())["results"]
    assert r["backend"] == "keras" and r["fast_paths"]["jit_compile"] is False  # auto: off on a CPU
    # compile()'s default jit_compile="auto" resolves to XLA only where a GPU is present
    assert r["raw_jit_compile"] == "False" and r["naive_jit_compile"] == "False"
    assert all(v > 0 for k in ("harness", "raw", "naive") for v in r["images_per_s"][k])
    assert r["train_flops_per_image"] == 3 * r["forward_flops_per_image"] > 0
    print(f"bench perf keras (60 steps, 1 repeat): harness/fit {r['ratio_vs_raw'][0]:.3f}, "
          f"harness/fit(XLA auto) {r['ratio_vs_naive'][0]:.3f}")


def test_jit_compile_with_augmentation_agrees(tmp_path):
    """XLA compiles the update; the gather and the augmentation (the rotation op has no
    XLA kernel) stay outside it."""
    base = {"name": "t", "backend": "keras", "network": {"name": "simple_cnn"},
            "dataset": {"name": "fashion_mnist", "train_size": 1000, "eval_size": 200, "test_size": 500,
                        "augment": {"flip": True, "shift": 2, "rotate": 10}},
            "policy": {"name": "one-cycle", "min_lr": 0.01, "max_lr": 0.1}, "batch_size": 50,
            "budget": {"steps": 8}, "eval_every": 8}
    d0, _, _ = runner.run(S.build({**base, "compile": False}), tmp_path / "graph", progress=False)
    d1, _, code = runner.run(S.build({**base, "compile": True}), tmp_path / "xla", progress=False)
    assert code == 0
    assert json.loads((d1 / "meta.json").read_text())["fast_paths"]["jit_compile"] is True
    a = [float(r["train_loss"]) for r in rows(d0 / "steps.csv")]
    b = [float(r["train_loss"]) for r in rows(d1 / "steps.csv")]
    assert a == pytest.approx(b, rel=1e-3)
