"""The run directory: the one interface between a run and everything that reads results.

``<results>/<run_id>/`` holds ``spec.yaml`` (the resolved spec), ``meta.json``,
``steps.csv``, ``evals.csv`` and, written last and atomically, ``summary.json``.
A directory without ``summary.json`` is incomplete; readers skip it with a warning.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

STEP_COLUMNS = ("step", "epoch", "lr", "momentum", "train_loss", "train_acc", "wall_s")
EVAL_COLUMNS = ("step", "epoch", "split", "test_loss", "test_acc", "train_wall_s", "eval_wall_s")
SUMMARY_SCHEMA = 1


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()  # what open(..., "w") would give; mkstemp alone gives 0600


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and rename: never half-written."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, _FILE_MODE)
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def make_out_dir(path: str | Path, what: str = "output folder") -> Path:
    """A folder to write into (results, tables, reports), created if missing; a clear error
    (``what`` names it) if it is a file, cannot be created or is not writable."""
    from bench.errors import BenchError

    out = Path(path)
    if out.exists() and not out.is_dir():
        raise BenchError(f"the {what} {out} exists and is not a folder; give --out a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise BenchError(f"cannot create the {what} {out}: {e.strerror or e}") from None
    if not os.access(out, os.W_OK):
        raise BenchError(f"the {what} {out} is not writable")
    return out


def write_json(path: Path, obj: Any) -> None:
    atomic_write(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


class RunWriter:
    """Appends rows to steps.csv and evals.csv as the run goes; writes the summary last."""

    def __init__(self, path: Path, resume: bool = False):
        """A new run directory, or (``resume``) an existing one whose records are appended to
        (cut back to the checkpoint first: :func:`bench.checkpoint.truncate_records`)."""
        self.path = Path(path)
        if resume:
            self._steps_f = open(self.path / "steps.csv", "a", newline="")
            self._evals_f = open(self.path / "evals.csv", "a", newline="")
        else:
            self.path.mkdir(parents=True, exist_ok=False)
            self._steps_f = open(self.path / "steps.csv", "w", newline="")
            self._evals_f = open(self.path / "evals.csv", "w", newline="")
        self._steps = csv.writer(self._steps_f)
        self._evals = csv.writer(self._evals_f)
        if not resume:
            self._steps.writerow(STEP_COLUMNS)
            self._evals.writerow(EVAL_COLUMNS)

    def write_spec(self, yaml_text: str) -> None:
        atomic_write(self.path / "spec.yaml", yaml_text)

    def write_meta(self, meta: dict) -> None:
        write_json(self.path / "meta.json", meta)

    def steps(self, rows: Iterable[tuple]) -> None:
        # floats are written with repr(): they read back bit-identical
        self._steps.writerows(rows)
        self._steps_f.flush()

    def eval(self, row: tuple) -> None:
        self._evals.writerow(row)
        self._evals_f.flush()

    def sync(self) -> None:
        """Everything written so far on disk (before a checkpoint records the files' lengths)."""
        for f in (self._steps_f, self._evals_f):
            f.flush()
            os.fsync(f.fileno())

    def close(self) -> None:
        self._steps_f.close()
        self._evals_f.close()

    def write_summary(self, summary: dict) -> None:
        self.close()
        write_json(self.path / "summary.json", {"schema": SUMMARY_SCHEMA, **summary})


def is_complete(run_dir: Path) -> bool:
    return (Path(run_dir) / "summary.json").is_file()


def read_summary(run_dir: Path) -> dict:
    with open(Path(run_dir) / "summary.json") as f:
        return json.load(f)


def find_runs(paths: Iterable[str | Path], warn: bool = True) -> Iterator[Path]:
    """Run directories in ``paths`` (each a run directory or a folder searched recursively).

    Incomplete ones (no summary.json) are skipped with a warning naming them.
    """
    seen = set()
    for p in paths:
        p = Path(p)
        candidates = [p] if (p / "spec.yaml").is_file() else sorted(q.parent for q in p.rglob("spec.yaml"))
        for d in candidates:
            if d in seen:
                continue
            seen.add(d)
            if is_complete(d):
                yield d
            elif warn:
                warnings.warn(f"skipping incomplete run directory (no summary.json): {d}", stacklevel=2)
