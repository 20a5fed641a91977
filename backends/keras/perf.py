"""Keras throughput: the harness's training loop against a plain ``model.fit``, side by side.

Same network (``build``), same data (the run's training set), same batch size, same
process and threads; repeats interleaved (harness, fit, harness, fit, ...) after one
untimed warm-up of each, so drifting machine load hits both alike.

- harness: ``bench.running.loop.run_loop`` for ``steps`` steps (schedule, batch order,
  records and all), timed around the whole loop, evaluation time subtracted;
- fit: ``model.fit`` of a freshly compiled copy with ``keras.optimizers.SGD(momentum=0.9)``
  and ``metrics=["accuracy"]`` (the harness records train accuracy too) on
  ``steps * batch_size`` pre-normalised float32 examples, one epoch, shuffled: "raw"
  with the harness's compilation choice (``jit_compile`` off on a CPU), "naive" with
  ``compile()``'s defaults (``jit_compile="auto"``: XLA on a GPU where the model allows,
  never on a CPU-only machine, so here the two are the same loop measured twice).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from backends.keras.networks import build, flops_per_image
from backends.keras.trainer import KerasTrainer
from bench.running.loop import harness_images_per_s


def _fit_once(model, x, y, batch: int) -> float:
    t0 = time.perf_counter()
    model.fit(x, y, batch_size=batch, epochs=1, shuffle=True, verbose=0)
    return len(x) / (time.perf_counter() - t0)


def matmul_peak_tflops(device: str, n: int = 2048, reps: int = 10) -> float:
    with tf.device(device):
        a = tf.random.normal((n, n))
        b = tf.random.normal((n, n))
        mm = tf.function(lambda a, b: tf.matmul(a, b))
        mm(a, b).numpy()
        best = 0.0
        for _ in range(3):
            t = time.perf_counter()
            for _ in range(reps):
                c = mm(a, b)
            c.numpy()
            best = max(best, 2 * n**3 * reps / (time.perf_counter() - t))
    return best / 1e12


def measure(spec, data, repeats: int = 5) -> dict:
    """Images/s of the harness and of ``model.fit``, interleaved; ratios and their spread."""
    from bench.running.perf import datasheet_peak

    steps = spec.total_steps(len(data.train_y))
    trainer = KerasTrainer(spec, data)
    n = steps * spec.batch_size
    reps = -(-n // len(data.train_x))
    xs_u8 = np.concatenate([data.train_x] * reps)[:n]
    xs = (xs_u8.astype(np.float32) / 255.0 - np.float32(data.mean)) / np.float32(data.std)
    ys = np.concatenate([data.train_y] * reps)[:n]
    models = {}
    with tf.device(trainer.device):
        # raw: fit with the harness's compilation choice (XLA only on a GPU); naive: fit as
        # written by most users, compile() defaults (jit_compile="auto": XLA where it can)
        for name, jit in (("raw", trainer.jit), ("naive", "auto")):
            keras.utils.set_random_seed(spec.seed)
            m = build(spec.network.name, data.input_shape, data.num_classes, spec.network.bn_momentum,
                      spec.network.bn_eps, spec.network.width)
            m.compile(optimizer=keras.optimizers.SGD(learning_rate=0.01, momentum=0.9),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"],
                      jit_compile=jit)
            models[name] = m
    res = {"harness": [], "raw": [], "naive": []}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        harness_images_per_s(spec, trainer, data, root / "warmup")  # warm-up: tracing, allocation
        for m in models.values():
            _fit_once(m, xs, ys, spec.batch_size)
        for k in range(repeats):
            res["harness"].append(harness_images_per_s(spec, trainer, data, root / f"h{k}"))
            for name, m in models.items():
                res[name].append(_fit_once(m, xs, ys, spec.batch_size))
    harness, fit = res["harness"], res["raw"]
    naive = [h / f for h, f in zip(harness, res["naive"], strict=True)]
    ratios = [h / f for h, f in zip(harness, fit, strict=True)]
    d = trainer.describe()
    if d["device"]["type"] == "cuda":
        key = "bf16" if spec.precision == "bf16" else "tf32"  # TensorFlow enables TF32 by default
        peak = datasheet_peak(d["device"]["name"], key)
        source = f"{d['device']['name']} datasheet {key}" if peak else f"{d['device']['name']}: unknown"
    else:
        peak, source = matmul_peak_tflops(trainer.device), "measured fp32 matmul"
    fwd = flops_per_image(trainer.model)
    return {
        "network": spec.network.name, "batch_size": spec.batch_size, "steps_per_repeat": steps, "repeats": repeats,
        "dataset": data.name, "device": d["device"], "threads": d["threads"], "fast_paths": d["fast_paths"],
        "precision": spec.precision,
        "images_per_s": res, "ratio_vs_raw": ratios, "ratio_vs_naive": naive,
        "median_ratio_vs_raw": statistics.median(ratios), "median_ratio_vs_naive": statistics.median(naive),
        "median_images_per_s": {k: statistics.median(v) for k, v in res.items()},
        "naive_jit_compile": str(models["naive"].jit_compile), "raw_jit_compile": str(models["raw"].jit_compile),
        # the benchmark's earlier field names (results/benchmarks/keras_vs_fit.json)
        "harness_images_per_s": harness, "fit_images_per_s": fit, "ratios": ratios,
        "median_ratio": statistics.median(ratios), "min_ratio": min(ratios), "max_ratio": max(ratios),
        "median_harness": statistics.median(harness), "median_fit": statistics.median(fit),
        "forward_flops_per_image": fwd, "train_flops_per_image": 3 * fwd, "peak_tflops": peak, "peak_source": source,
        "raw_loop": "model.fit(SGD(momentum=0.9), metrics=['accuracy']) on pre-normalised float32 arrays; raw: "
                    "jit_compile as the harness, naive: compile() defaults (jit_compile='auto')",
    }


def compare_with_fit(spec, data, repeats: int = 5) -> dict:
    """The benchmark's entry point (tests/benchmarks/test_keras_throughput.py)."""
    return measure(spec, data, repeats)


def gpu_check(spec, data, g):  # pragma: no cover - the CLI refuses it before
    from bench.errors import BenchError

    raise BenchError("--suite gpu is PyTorch only")
