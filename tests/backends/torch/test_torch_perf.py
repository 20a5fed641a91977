"""`bench perf` and the fast paths, PyTorch. Timings are printed, never asserted."""

import json
import subprocess
import sys

import pytest

pytest.importorskip("torch")

from bench.records import spec as S  # noqa: E402
from bench.running import runner  # noqa: E402

from common import REPO, needs_fmnist  # noqa: E402
from resume_checks import rows  # noqa: E402


def _bench(*args):
    return subprocess.run([sys.executable, "-m", "bench", *args], cwd=REPO, capture_output=True, text=True)


@needs_fmnist
def test_bench_perf_prints_and_records_the_ratio(tmp_path):
    out = _bench("perf", "--backend", "torch", "--steps", "60", "--repeats", "1", "--out", str(tmp_path / "p.json"))
    assert out.returncode == 0, out.stderr[-3000:]
    assert "harness/raw" in out.stdout and "simple_cnn" in out.stdout
    (r,) = json.loads((tmp_path / "p.json").read_text())["results"]
    assert r["backend"] == "torch" and len(r["ratio_vs_raw"]) == len(r["ratio_vs_naive"]) == 1
    assert all(v > 0 for v in r["images_per_s"]["harness"] + r["images_per_s"]["raw"] + r["images_per_s"]["naive"])
    assert r["ratio_vs_raw"][0] == pytest.approx(r["images_per_s"]["harness"][0] / r["images_per_s"]["raw"][0])
    assert r["fast_paths"]["channels_last"] and r["fast_paths"]["data_on_device"]
    assert r["fast_paths"]["compile"] is False  # auto: off on a CPU
    assert r["train_flops_per_image"] == 3 * r["forward_flops_per_image"] > 0
    assert r["peak_source"] == "measured fp32 matmul" and r["peak_tflops"] > 0
    assert r["achieved_tflops"] == pytest.approx(r["median_images_per_s"]["harness"] * r["train_flops_per_image"] / 1e12)
    print(f"bench perf (60 steps, 1 repeat): harness/raw {r['ratio_vs_raw'][0]:.3f}, "
          f"harness/naive {r['ratio_vs_naive'][0]:.3f}, {r['percent_of_peak']:.0f}% of the matmul peak")


def test_gpu_suite_runs_end_to_end_on_a_cpu(tmp_path):
    """The GPU check's code path, shrunk to run here: ResNet-56, batch 8, 2 timed iterations."""
    out = _bench("perf", "--suite", "gpu", "--device", "cpu", "--batch-size", "8", "--slice", "2", "--no-compile",
                 "--precision", "float32", "--out", str(tmp_path / "g.json"))
    assert out.returncode == 0, out.stderr[-3000:]
    assert "gpu check: resnet56 batch 8" in out.stdout and "10000 iterations extrapolate to" in out.stdout
    (r,) = json.loads((tmp_path / "g.json").read_text())["results"]
    assert r["suite"] == "gpu" and r["slice"] == 2 and r["warmup"] == 50 and r["final_loss_finite"]
    assert r["extrapolated_s"] == pytest.approx(r["warmup_s"] + r["s_per_iteration"] * (10_000 - 50))


def test_perf_bad_input():
    out = _bench("perf", "--suite", "gpu", "--backend", "keras")
    assert out.returncode == 2 and "--suite gpu runs on torch only; received --backend keras" in out.stderr
    out = _bench("perf", "--backend", "torch", "--steps", "10")
    assert out.returncode == 2 and "--steps must be >= 60" in out.stderr


@needs_fmnist
def test_compile_runs_is_recorded_and_agrees_with_eager(tmp_path, base_spec):
    """compile: true on a CPU (auto would leave it off here): the same losses, to float tolerance."""
    base = {**base_spec, "budget": {"steps": 8}, "eval_every": 8}
    d0, _, _ = runner.run(S.build({**base, "compile": False}), tmp_path / "eager", progress=False)
    d1, _, code = runner.run(S.build({**base, "compile": True}), tmp_path / "compiled", progress=False)
    assert code == 0
    meta = json.loads((d1 / "meta.json").read_text())
    assert meta["fast_paths"]["compile"] is True
    assert json.loads((d0 / "meta.json").read_text())["fast_paths"]["compile"] is False
    a = [float(r["train_loss"]) for r in rows(d0 / "steps.csv")]
    b = [float(r["train_loss"]) for r in rows(d1 / "steps.csv")]
    assert a == pytest.approx(b, rel=1e-4)
