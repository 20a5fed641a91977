"""Checkpoints inside a run directory, and what ``bench run --resume`` reads back.

A checkpoint after ``k`` updates is the backend's state files plus ``checkpoint.json``,
written last (temp file + rename: the commit point). ``checkpoint.json`` names the
state files and holds what the core needs to continue exactly:

- ``step`` = k: the next update is k, so the schedule continues at k (it is a pure
  function of the step), and so do the batch order and the augmentation draws (pure
  functions of seed and step: :mod:`bench.data.splits`, :mod:`bench.running.augment`);
- the byte lengths of ``steps.csv`` and ``evals.csv`` at that moment: rows written after
  it (a run killed later) are cut off on resume and written again;
- the loop's running totals (training, evaluation, warm-up seconds; evaluations so far; the
  clock's CPU seconds, context switches and run-queue time: :mod:`bench.running.clock`).

The backend writes its own state (weights, batch-norm statistics, momentum buffers,
framework RNG): PyTorch as a ``torch.save`` dict of tensors that loads with
``weights_only=True``; Keras through ``model.save_weights`` (``.weights.h5``) and a
``.npz`` of plain arrays read with ``allow_pickle=False``. Nothing is pickled.

State files are written under a new name per step; the previous checkpoint's files are
removed only after the new ``checkpoint.json`` is in place, so a kill at any moment
leaves one whole checkpoint.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.errors import EXIT_RESTART, BenchError
from bench.records.rundir import write_json

CHECKPOINT_FILE = "checkpoint.json"
CHECKPOINT_SCHEMA = 1


class CheckpointError(BenchError):
    """A checkpoint that is missing, corrupt, or not this run's: the run cannot continue
    from it (exit 7, :data:`bench.errors.EXIT_RESTART`: start it over)."""

    exit_code = EXIT_RESTART


@contextlib.contextmanager
def reading(what: str) -> Iterator[None]:
    """Around a backend's reading of its state files (``what`` names them): whatever is
    wrong with them (truncated, foreign, another network's), the user gets one message,
    ``corrupt or foreign checkpoint <what>: <first line of the cause>``, and no traceback."""
    try:
        yield
    except CheckpointError:
        raise
    except Exception as e:  # noqa: BLE001 - a framework's loader can raise anything on a bad file
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"corrupt or foreign checkpoint {what}: {msg}") from None


def check_momentum(arrays: dict, param_shapes: Sequence[tuple[int, ...]]) -> list:
    """The momentum buffers ``momentum.0``, ``momentum.1``, ... of a state file, checked
    against the parameters they belong to: as many (or none: no update was made yet) and
    of the same shapes. Returns them in order; raises ValueError naming what differs."""
    n = sum(k.startswith("momentum.") for k in arrays)
    if n not in (0, len(param_shapes)):
        raise ValueError(f"{n} momentum buffers for {len(param_shapes)} parameters")
    buffers = [arrays[f"momentum.{i}"] for i in range(n)]
    for i, (b, shape) in enumerate(zip(buffers, param_shapes, strict=False)):
        if tuple(b.shape) != tuple(shape):
            raise ValueError(f"momentum buffer {i} has shape {tuple(b.shape)}, its parameter {tuple(shape)}")
    return buffers


@dataclass
class Checkpoint:
    step: int
    total_steps: int
    run_id: str
    backend: str
    files: list[str]
    steps_csv_bytes: int
    evals_csv_bytes: int
    train_s: float
    eval_s: float
    warmup_s: float
    checkpoint_s: float
    evals: list[tuple[int, str, float, float, float]] = field(default_factory=list)
    reason: str = "periodic"
    written_at: str = ""
    first_loss: float | None = None  # the loop's explosion reference (update 0's loss)
    exploded_at: int | None = None
    cpu_s: float = 0.0  # the loop's CPU seconds in training steps so far (bench.running.clock)
    involuntary_switches: int = 0
    sched_run_s: float = 0.0  # the loop's run-queue totals so far (bench.running.clock.RunQueue)
    sched_wait_s: float = 0.0
    sched_measured: bool = False

    def to_json(self) -> dict:
        return {"schema": CHECKPOINT_SCHEMA, **self.__dict__, "evals": [list(e) for e in self.evals]}


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def save(run_dir: Path, trainer, *, step: int, total: int, run_id: str, backend: str, outcome, writer,
         reason: str) -> float:
    """Write a checkpoint after ``step`` updates; returns the seconds it took."""
    t0 = time.perf_counter()
    run_dir = Path(run_dir)
    writer.sync()  # every row so far on disk: the byte lengths below are the rows before the checkpoint
    tag = f"checkpoint-{step:08d}"
    tmp = run_dir / f".{tag}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        names = trainer.save_checkpoint(tmp, tag)
        for n in names:
            (tmp / n).replace(run_dir / n)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ck = Checkpoint(
        step=step, total_steps=total, run_id=run_id, backend=backend, files=list(names),
        steps_csv_bytes=_size(run_dir / "steps.csv"), evals_csv_bytes=_size(run_dir / "evals.csv"),
        train_s=outcome.train_s, eval_s=outcome.eval_s, warmup_s=outcome.warmup_s,
        checkpoint_s=outcome.checkpoint_s, evals=[tuple(e) for e in outcome.evals], reason=reason,
        first_loss=outcome.first_loss, exploded_at=outcome.exploded_at,
        cpu_s=getattr(outcome, "cpu_s", 0.0), involuntary_switches=getattr(outcome, "involuntary_switches", 0),
        sched_run_s=getattr(outcome, "sched_run_s", 0.0), sched_wait_s=getattr(outcome, "sched_wait_s", 0.0),
        sched_measured=getattr(outcome, "sched_measured", False),
        written_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    write_json(run_dir / CHECKPOINT_FILE, ck.to_json())
    _remove_state_files(run_dir, keep=names)
    return time.perf_counter() - t0


def read(run_dir: Path, missing_ok: bool = False) -> Checkpoint | None:
    """The run's checkpoint record, checked for completeness; None if there is none."""
    path = Path(run_dir) / CHECKPOINT_FILE
    if not path.is_file():
        if missing_ok:
            return None
        raise CheckpointError(f"{run_dir} has no {CHECKPOINT_FILE}: nothing to resume from")
    try:
        raw = json.loads(path.read_text())
        if raw.pop("schema", None) != CHECKPOINT_SCHEMA:
            raise ValueError(f"schema is not {CHECKPOINT_SCHEMA}")
        raw["evals"] = [(int(s), str(sp), float(lo), float(a), float(t)) for s, sp, lo, a, t in raw["evals"]]
        ck = Checkpoint(**raw)
        if not (isinstance(ck.step, int) and 0 <= ck.step <= ck.total_steps):
            raise ValueError(f"step {ck.step!r} outside [0, total_steps={ck.total_steps}]")
        for x in (ck.train_s, ck.eval_s, ck.warmup_s, ck.checkpoint_s):
            if not (isinstance(x, (int, float)) and math.isfinite(x) and x >= 0):
                raise ValueError(f"a time of {x!r}")
    except (ValueError, TypeError, KeyError, json.JSONDecodeError) as e:
        raise CheckpointError(f"corrupt checkpoint record {path}: {e}; rerun from the start with "
                              "bench run SPEC --overwrite") from None
    missing = [n for n in ck.files if not (Path(run_dir) / n).is_file()]
    if missing:
        raise CheckpointError(f"checkpoint {path} names state files that are missing: {', '.join(missing)}")
    return ck


def truncate_records(run_dir: Path, ck: Checkpoint) -> None:
    """Cut steps.csv and evals.csv back to their length at the checkpoint."""
    for name, n in (("steps.csv", ck.steps_csv_bytes), ("evals.csv", ck.evals_csv_bytes)):
        p = Path(run_dir) / name
        have = _size(p)
        if have < n:
            raise CheckpointError(f"{p} is shorter ({have} bytes) than at the checkpoint ({n} bytes): "
                                  "the records were changed after it; rerun with --overwrite")
        with open(p, "r+b") as f:
            f.truncate(n)



def _remove_state_files(run_dir: Path, keep=()) -> None:
    for p in Path(run_dir).glob("checkpoint-*"):
        if p.name not in keep:
            p.unlink(missing_ok=True)


def remove(run_dir: Path) -> None:
    """Delete the checkpoint (the record first, then its files) once the run has ended."""
    (Path(run_dir) / CHECKPOINT_FILE).unlink(missing_ok=True)
    _remove_state_files(run_dir)
