"""PyTorch throughput: the harness's training loop against raw loops, side by side.

Same network (``build``), data (the run's training set, on the device), batch size,
optimizer settings (momentum, weight decay), process and threads; repeats interleaved
(harness, raw, naive, ...) after one untimed warm-up of each, so drifting machine load
hits all alike.

- harness: ``bench.running.loop.run_loop`` for ``steps`` steps (schedule, batch order, records
  and all), timed around the whole loop, evaluation time subtracted;
- raw: a plain ``for`` loop with ``torch.optim.SGD(momentum, weight_decay)`` on the same
  channels_last model and on-device uint8 data, normalised per batch: the loop a
  careful user writes, with the harness's fast paths;
- naive: the same loop in NCHW (contiguous) layout: the loop most people write.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from backends.torch.networks import build, flops_per_image
from backends.torch.trainer import TorchTrainer
from bench.running.loop import harness_images_per_s


def _raw_once(model, opt, x_all, y_all, batch: int, steps: int, channels_last: bool, mean, std, dtype,
              autocast: bool) -> float:
    n = len(y_all)
    perm = torch.randperm(n, device=x_all.device)
    dev = x_all.device
    t0 = time.perf_counter()
    for s in range(steps):
        i = perm[(s * batch) % (n - batch):][:batch]
        x = x_all[i].permute(0, 3, 1, 2).to(dtype)
        x = (x / 255.0 - mean) / std
        x = x.contiguous(memory_format=torch.channels_last) if channels_last else x.contiguous()
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=autocast):
            loss = F.cross_entropy(model(x).float(), y_all[i])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    float(loss.detach())  # wait for the last step
    return steps * batch / (time.perf_counter() - t0)


def matmul_peak_tflops(device, dtype=torch.float32, n: int = 2048, reps: int = 10) -> float:
    """What a large matrix multiply reaches here (the CPU's practical peak)."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    (a @ b).sum().item()
    best = 0.0
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(reps):
            c = a @ b
        c.sum().item()
        best = max(best, 2 * n**3 * reps / (time.perf_counter() - t))
    return best / 1e12


def _peak(trainer, precision: str) -> tuple[float | None, str]:
    from bench.running.perf import datasheet_peak

    d = trainer.device
    if d.type == "cuda":
        name = torch.cuda.get_device_name(d)
        key = "bf16" if precision == "bf16" else ("tf32" if torch.backends.cudnn.allow_tf32 else "float32")
        pk = datasheet_peak(name, key)
        return pk, f"{name} datasheet {key}" if pk else f"{name}: unknown"
    return matmul_peak_tflops(d), "measured fp32 matmul"


def measure(spec, data, repeats: int = 5) -> dict:
    steps = spec.total_steps(len(data.train_y))
    trainer = TorchTrainer(spec, data)
    dev, dtype = trainer.device, trainer.dtype
    x_all, y_all = trainer.train_x, trainer.train_y
    mean, std = trainer.mean, trainer.std
    o = spec.optimizer
    loops = {}
    for name, cl in (("raw", True), ("naive", False)):
        torch.manual_seed(spec.seed)
        m = build(spec.network.name, data.input_shape, data.num_classes, spec.network.bn_momentum,
                  spec.network.bn_eps, spec.network.width).to(dev, dtype)
        if cl:
            m = m.to(memory_format=torch.channels_last)
        opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9, weight_decay=o.decay, nesterov=o.nesterov)
        loops[name] = (torch.compile(m) if trainer.compiled and name == "raw" else m, opt, cl)  # naive: eager
    res = {"harness": [], "raw": [], "naive": []}

    def raw(name, n):
        m, opt, cl = loops[name]
        return _raw_once(m, opt, x_all, y_all, spec.batch_size, n, cl, mean, std, dtype, trainer.autocast)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        harness_images_per_s(spec, trainer, data, root / "warmup")  # warm-up
        for name in loops:
            raw(name, min(steps, 30))
        for k in range(repeats):
            res["harness"].append(harness_images_per_s(spec, trainer, data, root / f"h{k}"))
            for name in loops:
                res[name].append(raw(name, steps))
    r_raw = [h / f for h, f in zip(res["harness"], res["raw"], strict=True)]
    r_naive = [h / f for h, f in zip(res["harness"], res["naive"], strict=True)]
    fwd = flops_per_image(trainer.model, data.input_shape, dev, dtype)
    peak, source = _peak(trainer, spec.precision)
    return {
        "network": spec.network.name, "batch_size": spec.batch_size, "steps_per_repeat": steps, "repeats": repeats,
        "dataset": data.name, "device": trainer.describe()["device"], "threads": torch.get_num_threads(),
        "fast_paths": trainer.describe()["fast_paths"], "precision": spec.precision,
        "images_per_s": res, "ratio_vs_raw": r_raw, "ratio_vs_naive": r_naive,
        "median_ratio_vs_raw": statistics.median(r_raw), "median_ratio_vs_naive": statistics.median(r_naive),
        "median_images_per_s": {k: float(np.median(v)) for k, v in res.items()},
        "forward_flops_per_image": fwd, "train_flops_per_image": 3 * fwd,
        "peak_tflops": peak, "peak_source": source,
        "raw_loop": "torch.optim.SGD(lr=0.01, momentum=0.9, weight_decay=spec's) in a plain for loop; raw: "
                    "channels_last, naive: NCHW; both on the same on-device uint8 data, normalised per batch",
    }


def compare_with_raw(spec, data, repeats: int = 5) -> dict:
    """The benchmark's entry point (tests/benchmarks/test_torch_throughput.py)."""
    return measure(spec, data, repeats)


def gpu_check(spec, data, g: dict) -> dict:
    """Time ``g['slice']`` iterations of the harness's loop after ``g['warmup']`` (compilation,
    cudnn autotuning, allocator), and extrapolate to ``g['iterations']``."""
    from bench.records.rundir import RunWriter
    from bench.running.loop import run_loop

    t0 = time.perf_counter()
    trainer = TorchTrainer(spec, data)
    build_s = time.perf_counter() - t0
    total = g["warmup"] + g["slice"]
    from bench.records import spec as S

    spec_run = S.build({**spec.resolved(), "budget": {"steps": total}})
    with tempfile.TemporaryDirectory() as tmp:
        writer = RunWriter(Path(tmp) / "r")
        t1 = time.perf_counter()
        out = run_loop(spec_run, trainer, data, writer)
        wall = time.perf_counter() - t1 - out.eval_s
        writer.close()
        rows = list(csvrows(Path(tmp) / "r" / "steps.csv"))
    # wall_s of each row: cumulative training seconds; synchronised every 50 steps and at the end
    w_end = float(rows[-1]["wall_s"])
    w_warm = float(rows[g["warmup"] - 1]["wall_s"])
    per_it = (w_end - w_warm) / g["slice"]
    d = trainer.describe()
    peak, source = _peak(trainer, spec.precision)
    fwd = flops_per_image(trainer.model, data.input_shape, trainer.device, trainer.dtype)
    ips = spec.batch_size / per_it
    return {
        "suite": "gpu", "network": spec.network.name, "batch_size": spec.batch_size, "device": d["device"]["name"],
        "precision": spec.precision, "compile": trainer.compiled, "fast_paths": d["fast_paths"],
        "torch": torch.__version__, "warmup": g["warmup"], "slice": g["slice"], "iterations": g["iterations"],
        "build_s": build_s, "warmup_s": w_warm, "loop_wall_s": wall, "s_per_iteration": per_it, "images_per_s": ips,
        "extrapolated_s": w_warm + per_it * (g["iterations"] - g["warmup"]),
        "target_s": g["target_s"], "final_loss_finite": out.status == "completed",
        "train_flops_per_image": 3 * fwd, "achieved_tflops": ips * 3 * fwd / 1e12, "peak_tflops": peak,
        "peak_source": source, "percent_of_peak": None if not peak else 100 * ips * 3 * fwd / 1e12 / peak,
    }


def csvrows(path):
    import csv

    with open(path, newline="") as f:
        yield from csv.DictReader(f)
