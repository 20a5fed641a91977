"""Cross-backend checks, one backend per process: ``python -m bench.running.parity_tool BACKEND COMMAND``.

torch and TensorFlow never share a process, so parity is proved through files: one
process builds a network and writes its weights in the canonical layout (``.npz``),
another loads them into the other framework and writes what it computed.

Commands (all read a spec YAML; arrays go through ``.npz`` files):

- every command prints the trainable parameter count (JSON on stdout); ``params`` only that;
  ``logits`` also the forward FLOPs per image the backend counts (``bench perf``);
- ``init --out W.npz``: the freshly initialised weights (seeded by the spec);
- ``logits --weights W.npz --images X.npz --out L.npz``: eval-mode logits of uint8 NHWC images;
- ``train --weights W.npz --steps N --out R.npz``: N real training steps (the run's
  schedule, batch order and augmentation draws) from those weights: per-step loss and
  correct count, lr and momentum, and the final weights;
- ``augment --images X.npz --step S --out A.npz``: the normalised, augmented batch;
- ``batch --jobs JOBS.json``: a list of the above (``{"command": ..., "spec": ..., ...}``)
  in one process, to pay a framework's import once.

``--weights-out W.npz`` also writes the weights after the command.
``--input-shape H,W,C --classes K`` replace the dataset with synthetic data of that
shape (for ``params``, ``init``, ``logits`` and ``augment``), so networks can be
checked at input sizes the dataset does not have.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from bench import data as datasets
from bench.records.schedules import make_schedule
from bench.records.spec import load
from bench.running import augment as aug
from bench.running import registry
from bench.running.updates import Updates


def synthetic(shape: tuple[int, int, int], classes: int, n: int = 8) -> datasets.Prepared:
    h, w, c = shape
    x = np.zeros((n, h, w, c), np.uint8)
    y = np.arange(n, dtype=np.int64) % classes
    return datasets.Prepared(
        name="synthetic", train_x=x, train_y=y, val_x=x[:0], val_y=y[:0], test_x=x, test_y=y, eval_idx=None,
        mean=(0.5,) * c, std=(0.25,) * c, num_classes=classes, class_names=tuple(map(str, range(classes))),
    )


def _save(path, arrays: dict) -> None:
    np.savez(path, **arrays)


def _load(path) -> dict:
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m bench.running.parity_tool")
    ap.add_argument("backend")
    ap.add_argument("command", choices=("params", "init", "logits", "train", "augment", "batch"))
    ap.add_argument("--spec")
    ap.add_argument("--input-shape")
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--weights")
    ap.add_argument("--images")
    ap.add_argument("--steps", type=int)
    ap.add_argument("--step", type=int, default=0)
    ap.add_argument("--out")
    ap.add_argument("--weights-out", help="also write the network's weights (after the command) here")
    ap.add_argument("--jobs", help="batch: a JSON list of {option: value} jobs, run in this one process")
    return ap


def run_one(a) -> dict:
    spec = load(a.spec, overrides={"backend": a.backend})
    backend = registry.load(a.backend)
    if a.input_shape:
        shape = tuple(int(v) for v in str(a.input_shape).split(","))
        data = synthetic(shape, a.classes)
    else:
        data = datasets.prepare(spec.dataset)
    trainer = backend.create_trainer(spec, data)
    if a.weights:
        trainer.set_weights(_load(a.weights))
    info = {"trainable": trainer.describe()["trainable_params"]}
    if a.command == "init":
        _save(a.out, trainer.get_weights())
    elif a.command == "logits":
        _save(a.out, {"logits": trainer.logits(_load(a.images)["x"])})
        info["forward_flops"] = trainer.forward_flops()
    elif a.command == "augment":
        x = _load(a.images)["x"]
        draws = aug.draw(spec.dataset.augment, spec.seed, a.step, len(x))
        _save(a.out, {"x": trainer.augmented(x, draws)})
    elif a.command == "train":
        updates = Updates(spec, make_schedule(spec.policy, spec.total_steps(len(data.train_y))), len(data.train_y))
        lrs = []
        for s in range(a.steps):
            u = updates(s)
            lrs.append((u.lr, u.momentum))
            trainer.train_step(u.idx, u.draws, u.lr, u.momentum)
        out = {"steps": trainer.collect(), "schedule": np.array(lrs)}
        out.update({f"w/{k}": v for k, v in trainer.get_weights().items()})
        _save(a.out, out)
    if a.weights_out:
        _save(a.weights_out, trainer.get_weights())
    return info


def main(argv=None) -> int:
    ap = _parser()
    a = ap.parse_args(argv)
    if a.command != "batch":
        if not a.spec:
            ap.error("--spec is required")
        print(json.dumps(run_one(a)))
        return 0
    jobs = json.loads(Path(a.jobs).read_text())
    results = []
    for job in jobs:
        argv_job = [a.backend, job.pop("command")]
        for k, v in job.items():
            argv_job += [f"--{k.replace('_', '-')}", str(v)]
        results.append(run_one(ap.parse_args(argv_job)))
    print(json.dumps(results))
    return 0


def call(backend: str, command: str, spec_path: str | Path | None = None, **kw):
    """Run one command in a fresh process for ``backend``; returns its JSON output.

    Raises with the process's stderr on failure.
    """
    args = [sys.executable, "-m", "bench.running.parity_tool", backend, command]
    if spec_path is not None:
        args += ["--spec", str(spec_path)]
    for k, v in kw.items():
        args += [f"--{k.replace('_', '-')}", str(v)]
    out = subprocess.run(args, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def weights_of(arrays: dict) -> dict:
    return {k[2:]: v for k, v in arrays.items() if k.startswith("w/")}


if __name__ == "__main__":
    raise SystemExit(main())
