"""PyTorch throughput: the harness's training loop against raw loops, side by side.

Same network (``build``), data (the run's training set, on the device), batch size,
process and threads; repeats interleaved (harness, raw fast, raw naive, ...) after one
untimed warm-up of each, so drifting machine load hits all alike.

- harness: ``bench.loop.run_loop`` for ``steps`` steps (schedule, batch order, records
  and all), timed around the whole loop, evaluation time subtracted;
- raw fast: a plain ``for`` loop with ``torch.optim.SGD`` on the same channels_last
  model and on-device data: the loop a careful user writes;
- raw naive: the same loop in NCHW (contiguous) layout: the loop most people write.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from backends.torch.networks import build
from backends.torch.trainer import TorchTrainer
from bench.loop import harness_images_per_s


def _raw_once(model, opt, x_all, y_all, batch: int, steps: int, channels_last: bool, mean, std) -> float:
    n = len(y_all)
    perm = torch.randperm(n)
    t0 = time.perf_counter()
    for s in range(steps):
        i = perm[(s * batch) % (n - batch):][:batch]
        x = x_all[i].permute(0, 3, 1, 2).float()
        x = (x / 255.0 - mean) / std
        x = x.contiguous(memory_format=torch.channels_last) if channels_last else x.contiguous()
        loss = F.cross_entropy(model(x), y_all[i])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    float(loss)  # wait for the last step
    return steps * batch / (time.perf_counter() - t0)


def compare_with_raw(spec, data, repeats: int = 5) -> dict:
    steps = spec.total_steps(len(data.train_y))
    trainer = TorchTrainer(spec, data)
    x_all, y_all = torch.from_numpy(data.train_x), torch.from_numpy(data.train_y)
    c = data.input_shape[2]
    mean = torch.tensor(data.mean, dtype=torch.float32).view(1, c, 1, 1)
    std = torch.tensor(data.std, dtype=torch.float32).view(1, c, 1, 1)
    models = {}
    for name, cl in (("raw_fast", True), ("raw_naive", False)):
        torch.manual_seed(spec.seed)
        m = build(spec.network.name, data.input_shape, data.num_classes)
        if cl:
            m = m.to(memory_format=torch.channels_last)
        models[name] = (m, torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9), cl)
    res = {"harness": [], "raw_fast": [], "raw_naive": []}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        harness_images_per_s(spec, trainer, data, root / "warmup")  # warm-up
        for m, o, cl in models.values():
            _raw_once(m, o, x_all, y_all, spec.batch_size, min(steps, 20), cl, mean, std)
        for k in range(repeats):
            res["harness"].append(harness_images_per_s(spec, trainer, data, root / f"h{k}"))
            for name, (m, o, cl) in models.items():
                res[name].append(_raw_once(m, o, x_all, y_all, spec.batch_size, steps, cl, mean, std))
    r_fast = [h / f for h, f in zip(res["harness"], res["raw_fast"], strict=True)]
    r_naive = [h / f for h, f in zip(res["harness"], res["raw_naive"], strict=True)]
    return {
        "network": spec.network.name, "batch_size": spec.batch_size, "steps_per_repeat": steps, "repeats": repeats,
        "threads": torch.get_num_threads(), "images_per_s": res,
        "ratio_vs_raw_fast": r_fast, "ratio_vs_raw_naive": r_naive,
        "median_ratio_vs_raw_fast": statistics.median(r_fast), "median_ratio_vs_raw_naive": statistics.median(r_naive),
        "median_images_per_s": {k: float(np.median(v)) for k, v in res.items()},
    }
