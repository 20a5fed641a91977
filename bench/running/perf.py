"""``bench perf``: the harness's training throughput against the raw framework loop.

Each backend is measured in its own process (``python -m bench.running.perf worker ...``; torch
and TensorFlow never share one): the harness's loop (``bench.running.loop.run_loop``: schedule,
batch order, records, everything a run does but evaluation) and the framework's raw
loops on the same network, data, batch size and threads, repeats interleaved, medians
and spreads reported. PyTorch's raw loops: a plain ``for`` loop with
``torch.optim.SGD`` on the same channels_last model and on-device data ("raw", the
loop a careful user writes), and the same in NCHW ("naive", the loop most people
write); Keras': ``model.fit`` (both "raw" and "naive": it is what Keras users run).

Also printed: FLOPs per training image (3 x the forward pass's multiply-adds x 2,
counted from the model: convolutions and dense layers), the FLOP/s that throughput
achieves, and the machine's peak where known: a GPU's datasheet dense peak for the
precision used, or, on a CPU, a matrix multiply measured in the same process (so
"% of peak" there is against what this machine's BLAS reaches, not a datasheet).

``--suite gpu`` is the GPU check: Smith & Topin's ResNet-56 setting (batch
1000, CIFAR-shaped synthetic data, one-cycle 0.1-3.0, caffe momentum, weight decay
1e-4, bf16 autocast, channels_last, torch.compile) timed for a slice of iterations after
compilation and warm-up, extrapolated to the full 10,000; PyTorch only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.errors import BenchError

# datasheet dense peaks, TFLOP/s (no sparsity): fp32 (CUDA cores), tf32 and bf16 (tensor cores)
GPU_PEAKS = {
    "H200": {"float32": 67.0, "tf32": 494.7, "bf16": 989.4},
    "H100 SXM": {"float32": 67.0, "tf32": 494.7, "bf16": 989.4},
    "H100 PCIe": {"float32": 51.0, "tf32": 378.0, "bf16": 756.0},
    "H100": {"float32": 67.0, "tf32": 494.7, "bf16": 989.4},
    "A100": {"float32": 19.5, "tf32": 156.0, "bf16": 312.0},
    "L40S": {"float32": 91.6, "tf32": 183.0, "bf16": 362.0},
    "A10": {"float32": 31.2, "tf32": 62.5, "bf16": 125.0},
    "V100": {"float32": 15.7, "tf32": None, "bf16": None},
    "T4": {"float32": 8.1, "tf32": None, "bf16": None},
}

# warm-up and slice end on the loop's synchronised rows (every FETCH_EVERY = 50 steps)
GPU_SUITE = {
    "network": "resnet56", "batch_size": 1000, "iterations": 10_000, "warmup": 50, "slice": 200,
    "policy": {"name": "one-cycle", "min_lr": 0.1, "max_lr": 3.0}, "target_s": 180.0,
}


def datasheet_peak(device_name: str, precision: str) -> float | None:
    """TFLOP/s for ``precision`` (float32, tf32 or bf16) of a GPU known by name, else None."""
    for key, peaks in GPU_PEAKS.items():
        if key.lower() in device_name.lower():
            return peaks.get(precision)
    return None


def perf_spec(backend: str, network: str, batch_size: int, steps: int, sets: list[str] = ()):
    """The shipped one-cycle spec, set to measure throughput: no periodic evaluation, no
    checkpoints, the budget ``steps`` long."""
    from bench.records import spec as S

    return S.load(S.shipped_spec("fashion_mnist_one_cycle.yaml"), [
        f"backend={backend}", f"network.name={network}", f"batch_size={batch_size}", f"budget={{steps: {steps}}}",
        "eval_every=1000000", "dataset.eval_size=256", "checkpoint_every=0", *sets])


def synthetic_cifar(n: int = 50_000, seed: int = 0):
    """CIFAR-shaped data (uint8 32x32x3, 10 classes) for throughput only: no file needed."""
    import numpy as np

    from bench import data as datasets

    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    y = (np.arange(n) % 10).astype(np.int64)
    tx, ty = x[:1000], y[:1000]
    return datasets.Prepared(name="synthetic-cifar", train_x=x, train_y=y, val_x=x[:0], val_y=y[:0], test_x=tx,
                             test_y=ty, eval_idx=None, mean=(0.49, 0.48, 0.45), std=(0.25, 0.24, 0.26),
                             num_classes=10, class_names=tuple(map(str, range(10))),
                             source={"synthetic": "uniform random uint8, for timing only"})


# -- the worker: one backend, in its own process ---------------------------------------------


def _worker(args) -> dict:
    from bench import data as datasets
    from bench.running import registry

    registry.load(args.backend)  # a clear error if it is not installed
    import importlib

    perf = importlib.import_module(f"backends.{args.backend}.perf")
    if args.suite == "gpu":
        if not registry.BACKENDS[args.backend].gpu_check:
            raise BenchError(f"--suite gpu has no {args.backend} version; received --backend {args.backend}")
        g = dict(GPU_SUITE)
        if args.slice:
            g["slice"] = args.slice
        if args.batch_size:
            g["batch_size"] = args.batch_size
        pol = g["policy"]
        spec = perf_spec(args.backend, g["network"], g["batch_size"], g["iterations"], [
            f"policy={{name: one-cycle, min_lr: {pol['min_lr']}, max_lr: {pol['max_lr']}}}",
            "optimizer.weight_decay=0.0001", "network.bn_momentum=0.05", "dataset.augment.flip=true",
            f"precision={args.precision or 'bf16'}", f"compile={'false' if args.no_compile else 'true'}",
            *(["device=" + args.device] if args.device else [])])
        return perf.gpu_check(spec, synthetic_cifar(), g)
    spec = perf_spec(args.backend, args.network, args.batch_size or 128, args.steps,
                     [*(["device=" + args.device] if args.device else []),
                      *(["precision=" + args.precision] if args.precision else []),
                      *(["compile=true"] if args.compile else [])])
    data = synthetic_cifar(20_000) if args.synthetic else datasets.prepare(spec.dataset)
    return perf.measure(spec, data, repeats=args.repeats)


def add_flops(res: dict) -> dict:
    """Achieved FLOP/s of the harness and its share of the peak, from the worker's counts."""
    ips = res["median_images_per_s"]["harness"]
    res["achieved_tflops"] = ips * res["train_flops_per_image"] / 1e12
    peak = res.get("peak_tflops")
    res["percent_of_peak"] = None if not peak else 100.0 * res["achieved_tflops"] / peak
    return res


def run_perf(backends: list[str], argv: list[str], out: Path | None, stream=sys.stderr) -> list[dict]:
    results = []
    for b in backends:
        with tempfile.TemporaryDirectory() as tmp:
            f = Path(tmp) / "perf.json"
            cmd = [sys.executable, "-m", "bench.running.perf", "worker", "--backend", b, "--json-out", str(f), *argv]
            print(f"bench perf: measuring {b} ...", file=stream, flush=True)
            proc = subprocess.run(cmd, stderr=subprocess.PIPE, text=True)
            if proc.returncode != 0:
                msg = proc.stderr.strip().splitlines()
                last = msg[-1] if msg else f"exit {proc.returncode}"
                if proc.returncode == 2:
                    raise BenchError(last.removeprefix("bench: error: "))
                raise RuntimeError(f"bench perf worker for {b} failed: {proc.stderr[-3000:]}")
            res = json.loads(f.read_text())
        res["backend"] = b
        results.append(res if res.get("suite") == "gpu" else add_flops(res))
    if out is not None:
        from bench.records.rundir import write_json

        out.parent.mkdir(parents=True, exist_ok=True)
        write_json(out, {"host": platform.node(), "cpu_count": os.cpu_count(),
                         "measured_at": time.strftime("%Y-%m-%d %H:%M:%S"), "command": "bench perf " + " ".join(argv),
                         "results": results})
    return results


def table(results: list[dict]) -> str:
    from tabulate import tabulate

    rows = []
    for r in results:
        if r.get("suite") == "gpu":
            continue
        m = r["median_images_per_s"]
        rows.append([
            r["backend"], r["network"], r["batch_size"], f"{m['harness']:,.0f}", f"{m['raw']:,.0f}",
            f"{m['naive']:,.0f}",
            f"{r['median_ratio_vs_raw']:.3f} [{min(r['ratio_vs_raw']):.2f}-{max(r['ratio_vs_raw']):.2f}]",
            f"{r['median_ratio_vs_naive']:.3f}", f"{r['train_flops_per_image'] / 1e9:.4f}",
            f"{r['achieved_tflops'] * 1e3:,.1f}",
            "n/a" if not r.get("peak_tflops") else f"{r['peak_tflops'] * 1e3:,.0f} ({r['peak_source']})",
            "n/a" if r.get("percent_of_peak") is None else f"{r['percent_of_peak']:.1f}%"])
    head = ["backend", "network", "batch", "harness img/s", "raw img/s", "naive img/s",
            "harness/raw (median [min-max])", "harness/naive", "train GFLOP/img", "achieved GFLOP/s",
            "peak GFLOP/s", "of peak"]
    return tabulate(rows, headers=head, tablefmt="github")


def gpu_lines(results: list[dict]) -> list[str]:
    out = []
    for r in results:
        if r.get("suite") != "gpu":
            continue
        out.append(
            f"gpu check: {r['network']} batch {r['batch_size']} on {r['device']} ({r['precision']}, compile "
            f"{r['compile']}): {r['slice']} timed iterations after {r['warmup']} warm-up ({r['warmup_s']:.1f} s incl. "
            f"compilation): {r['s_per_iteration'] * 1e3:.1f} ms/iteration, {r['images_per_s']:,.0f} images/s; "
            f"{r['iterations']} iterations extrapolate to {r['extrapolated_s']:.0f} s "
            f"(target <= {r['target_s']:.0f} s: {'met' if r['extrapolated_s'] <= r['target_s'] else 'NOT met'})")
    return out


def main(argv: list[str] | None = None) -> int:
    """The worker entry point (``python -m bench.running.perf worker ...``)."""
    p = argparse.ArgumentParser(prog="bench.running.perf")
    p.add_argument("mode", choices=("worker",))
    p.add_argument("--backend", required=True)
    p.add_argument("--json-out", required=True)
    add_arguments(p)
    args = p.parse_args(argv)
    try:
        res = _worker(args)
    except BenchError as e:
        print(f"bench: error: {e}", file=sys.stderr)
        return 2
    Path(args.json_out).write_text(json.dumps(res, indent=2) + "\n")
    return 0


def add_arguments(p) -> None:
    p.add_argument("--network", default="simple_cnn", help="simple_cnn | resnet20 | ... (default simple_cnn)")
    p.add_argument("--batch-size", type=int, help="default 128 (the gpu suite: 1000)")
    p.add_argument("--steps", type=int, default=200, help="training steps per timed repeat (default 200)")
    p.add_argument("--repeats", type=int, default=5, help="interleaved repeats (default 5)")
    p.add_argument("--device", help="auto (default) | cpu | cuda")
    p.add_argument("--precision", choices=("float32", "float64", "bf16"))
    p.add_argument("--synthetic", action="store_true", help="CIFAR-shaped random data instead of Fashion-MNIST")
    p.add_argument("--suite", choices=("gpu",), help="gpu: the ResNet-56 batch-1000 check (PyTorch)")
    p.add_argument("--slice", type=int, help="gpu suite: timed iterations (default 200)")
    p.add_argument("--no-compile", action="store_true", help="gpu suite: without torch.compile")
    p.add_argument("--compile", action="store_true", help="compile the harness's step and the raw loop "
                   "(torch.compile / Keras jit_compile) even where auto would not (a CPU); the naive loop stays eager")


if __name__ == "__main__":
    sys.exit(main())
