"""One run: check everything, load the data and the backend, train, record.

All checks that can fail on bad input (spec, backend installed, data present and
intact, output folder writable) happen before the run directory is created, so a bad
input leaves nothing behind and loses nothing already recorded.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from bench import __version__
from bench import backends as registry
from bench import data as datasets
from bench.errors import EXIT_DIVERGED, EXIT_INTERRUPTED, EXIT_OK, BenchError
from bench.loop import run_loop, warmup_steps
from bench.progress import Progress
from bench.rundir import SUMMARY_SCHEMA, RunWriter, is_complete
from bench.spec import Spec, dump_yaml


def git_commit() -> str | None:
    here = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        if out.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _check_out_dir(out_root: Path) -> None:
    try:
        out_root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise BenchError(f"cannot create the results folder {out_root}: {e.strerror or e}") from None
    if not os.access(out_root, os.W_OK):
        raise BenchError(f"the results folder {out_root} is not writable")


def targets_reached(spec: Spec, evals) -> dict[str, dict | None]:
    """For each target accuracy: the first evaluation that reached it (step, train seconds)."""
    out: dict[str, dict | None] = {}
    for t in spec.targets:
        hit = next(((s, ts) for s, _split, _l, acc, ts in evals if acc >= t), None)
        out[str(t)] = None if hit is None else {"step": hit[0], "train_s": hit[1]}
    return out


class NullWriter:
    """What ranks other than 0 of a data-parallel run write: nothing."""

    def __getattr__(self, name):
        return lambda *a, **k: None


def build_meta(spec: Spec, trainer, data, command: str | None = None) -> dict:
    """meta.json: versions, device, threads, commit, seed, data provenance."""
    desc = trainer.describe()
    return {
        "harness_version": __version__,
        "git_commit": git_commit(),
        "command": command or " ".join(sys.argv),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "hostname": platform.node(),
        "framework": desc.pop("framework"),
        "device": desc.pop("device"),
        "threads": desc.pop("threads"),
        "world_size": desc.pop("world_size", 1),
        "seed": spec.seed,
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "run_id": spec.run_id(),
        "data": {"source": data.source, "train": len(data.train_y), "val": len(data.val_y),
                 "test": len(data.test_y), "eval": None if data.eval_idx is None else len(data.eval_idx),
                 "mean": data.mean, "std": data.std},
        **desc,
    }


def prepare(spec: Spec, out_root: Path):
    """Every check that can fail on bad input, then the data and a trainer (nothing written)."""
    backend = registry.load(spec.backend)
    data = datasets.prepare(spec.dataset)
    _check_out_dir(out_root)
    return backend, data, backend.create_trainer(spec, data)


def run(spec: Spec, out_root: str | Path, *, overwrite: bool = False, progress: bool = True,
        command: str | None = None) -> tuple[Path, dict, int]:
    out_root = Path(out_root)
    run_dir = out_root / spec.run_id()
    if run_dir.exists():
        if not overwrite:
            state = "a completed run" if is_complete(run_dir) else "an incomplete run (no summary.json)"
            raise BenchError(
                f"{run_dir} already holds {state} of this exact spec and seed; "
                "pass --overwrite to replace it, or change the seed or --out"
            )
    total = spec.total_steps()  # validates batch size against the data and the budget
    from bench.schedules import make_schedule

    make_schedule(spec.policy, total)  # a budget too short for the policy fails here
    _, data, trainer = prepare(spec, out_root)
    if len(data.train_y) < spec.batch_size:
        raise BenchError(f"batch_size {spec.batch_size} is larger than the {len(data.train_y)} training examples loaded")
    total = spec.total_steps(len(data.train_y))  # epochs count the data actually loaded
    make_schedule(spec.policy, total)
    rank = getattr(trainer, "rank", 0)  # data parallel: rank 0 records, the others only train
    if rank == 0 and run_dir.exists():
        shutil.rmtree(run_dir)
    writer = RunWriter(run_dir) if rank == 0 else NullWriter()
    progress = progress and rank == 0
    writer.write_spec(dump_yaml(spec.resolved()))
    meta = build_meta(spec, trainer, data, command)
    writer.write_meta(meta)

    def _term(signum, frame):  # SIGTERM behaves like Ctrl-C: records kept, status interrupted
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, _term) if hasattr(signal, "SIGTERM") else None
    try:
        bar = Progress(total, desc=spec.name, enabled=progress)
        outcome = run_loop(spec, trainer, data, writer, bar)
    finally:
        if old is not None:
            signal.signal(signal.SIGTERM, old)

    evals = outcome.evals
    best = max(evals, key=lambda e: e[3]) if evals else None
    warm = warmup_steps(total)
    timed_steps = outcome.steps_done - warm
    timed_s = outcome.train_s - outcome.warmup_s
    if timed_steps > 0 and timed_s > 0:
        ips = timed_steps * spec.batch_size / timed_s
    else:
        ips = outcome.steps_done * spec.batch_size / outcome.train_s if outcome.train_s else None
    summary = {
        "schema": SUMMARY_SCHEMA,
        "run_id": spec.run_id(),
        "kind": "train",
        "status": outcome.status,
        "backend": spec.backend,
        "steps_done": outcome.steps_done,
        "total_steps": total,
        "steps_per_epoch": len(data.train_y) // spec.batch_size,
        "final_test_acc": outcome.final_test_acc,
        "final_test_loss": outcome.final_test_loss,
        "best_test_acc": None if best is None else best[3],
        "best_step": None if best is None else best[0],
        "targets": targets_reached(spec, evals),
        "images_per_s": ips,
        "train_s": outcome.train_s,
        "eval_s": outcome.eval_s,
        "warmup_steps": warm,
        "warmup_s": outcome.warmup_s,
        "diverged_at": outcome.diverged_at,
        "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    writer.write_summary(summary)
    code = {"completed": EXIT_OK, "diverged": EXIT_DIVERGED, "interrupted": EXIT_INTERRUPTED}[outcome.status]
    return run_dir, summary, code
