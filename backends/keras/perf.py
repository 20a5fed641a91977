"""Keras throughput: the harness's training loop against a plain ``model.fit``, side by side.

Same network (``build``), same data (the run's training set), same batch size, same
process and threads; repeats interleaved (harness, fit, harness, fit, ...) after one
untimed warm-up of each, so drifting machine load hits both alike.

- harness: ``bench.loop.run_loop`` for ``steps`` steps (schedule, batch order,
  records and all), timed around the whole loop, evaluation time subtracted;
- fit: ``model.fit`` of a freshly compiled copy with ``keras.optimizers.SGD(momentum=0.9)``
  and ``metrics=["accuracy"]`` (the harness records train accuracy too) on
  ``steps * batch_size`` pre-normalised float32 examples, one epoch, shuffled.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import keras
import numpy as np

from backends.keras.networks import build
from backends.keras.trainer import KerasTrainer
from bench.loop import harness_images_per_s


def _fit_once(model, x, y, batch: int) -> float:
    t0 = time.perf_counter()
    model.fit(x, y, batch_size=batch, epochs=1, shuffle=True, verbose=0)
    return len(x) / (time.perf_counter() - t0)


def compare_with_fit(spec, data, repeats: int = 5) -> dict:
    """Images/s of the harness and of ``model.fit``, interleaved; ratios and their spread."""
    steps = spec.total_steps()
    trainer = KerasTrainer(spec, data)
    n = steps * spec.batch_size
    xs = ((data.train_x[:n].astype(np.float32) / 255.0 - np.float32(data.mean)) / np.float32(data.std))
    ys = data.train_y[:n]
    model = build(spec.network.name, data.input_shape, data.num_classes, spec.network.bn_momentum,
                  spec.network.bn_eps, spec.network.width)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.01, momentum=0.9),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    harness, fit = [], []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        harness_images_per_s(spec, trainer, data, root / "warmup")  # warm-up: tracing, allocation
        _fit_once(model, xs, ys, spec.batch_size)
        for k in range(repeats):
            harness.append(harness_images_per_s(spec, trainer, data, root / f"h{k}"))
            fit.append(_fit_once(model, xs, ys, spec.batch_size))
    ratios = [h / f for h, f in zip(harness, fit, strict=True)]
    return {
        "network": spec.network.name, "batch_size": spec.batch_size, "steps_per_repeat": steps,
        "repeats": repeats, "harness_images_per_s": harness, "fit_images_per_s": fit, "ratios": ratios,
        "median_ratio": statistics.median(ratios), "min_ratio": min(ratios), "max_ratio": max(ratios),
        "median_harness": statistics.median(harness), "median_fit": statistics.median(fit),
    }
