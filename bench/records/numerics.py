"""Numerics versions: which version of a backend's arithmetic made a run.

Each backend declares, in ``backends/<name>/numerics.yaml`` (data, read without importing
the framework), the version of what its training produces and the history of versions:
the commit each began at and what changed. A change that alters what training produces
(what the golden records in ``tests/golden/<name>/`` catch) adds a version and regenerates
the golden records in the same commit; the file holds the golden records' fingerprint
(:func:`fingerprint`) for its current version, and a test says when they disagree. A
documentation-only commit changes neither, so it invalidates no run.

Every run records the version in ``meta.json`` (``numerics_version``). Runs made before
versions existed get theirs from their recorded commit: ``numerics-legacy-commits.txt``
beside this module lists, oldest first, the commits of the history before versions were
recorded, and a commit's version is that of the last ``since`` at or before it.

Readers never pool runs of one arm made under different versions
(:func:`bench.judging.claims.judge`); compare tables show one row per version.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import yaml

from bench.errors import BenchError

ROOT = Path(__file__).resolve().parent.parent.parent  # the repository (bench/records/..)
LEGACY = Path(__file__).resolve().parent / "numerics-legacy-commits.txt"
# the columns a fingerprint covers: what training computes, not how long it took nor which
# columns a schema version adds
STEP_COLUMNS = ("step", "lr", "momentum", "train_loss", "train_acc")
EVAL_COLUMNS = ("step", "split", "loss", "acc")
EVAL_ALIASES = {"loss": ("loss", "test_loss"), "acc": ("acc", "test_acc")}


@dataclass(frozen=True)
class Version:
    """A run's numerics version, and how it is known: ``recorded`` (meta.json), ``from
    commit <hash>`` (a run made before versions were recorded) or ``unknown`` (no version
    and no commit in the history; version None)."""

    backend: str
    version: int | None
    how: str

    def label(self) -> str:
        v = "?" if self.version is None else str(self.version)
        return f"{self.backend} numerics {v}"


def _file(backend: str) -> Path:
    return ROOT / "backends" / backend / "numerics.yaml"


@functools.lru_cache(maxsize=8)
def declared(backend: str) -> dict | None:
    """``backends/<backend>/numerics.yaml`` as data (None for a backend without one: an
    imported log's ``caffe``)."""
    path = _file(backend)
    if not path.is_file():
        return None
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict) or not isinstance(data.get("version"), int) or not data.get("history"):
        raise BenchError(f"{path}: needs version (an integer) and history (a list); received {data!r}")
    return data


def current(backend: str) -> int | None:
    """The numerics version this tree's ``backend`` trains with (None: it declares none)."""
    d = declared(backend)
    return d["version"] if d else None


@functools.lru_cache(maxsize=1)
def _legacy() -> dict[str, int]:
    """Commit (40 hex) -> position in the history before versions were recorded."""
    if not LEGACY.is_file():
        return {}
    lines = [ln.split()[0] for ln in LEGACY.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    return {c: i for i, c in enumerate(lines)}


def _position(commit: str) -> int | None:
    order = _legacy()
    commit = commit.lower()
    if commit in order:
        return order[commit]
    hits = [i for c, i in order.items() if len(commit) >= 7 and c.startswith(commit)]
    return hits[0] if len(hits) == 1 else None


def from_commit(backend: str, commit: str | None) -> int | None:
    """The version ``backend`` had at ``commit`` (``-dirty`` ignored: the commit's own), for a
    commit in the history before versions were recorded; None if it is not there."""
    d = declared(backend)
    if not d or not commit:
        return None
    pos = _position(commit.split("-")[0])
    if pos is None:
        return None
    version = None
    for h in d["history"]:
        start = _position(str(h["since"]))
        if start is not None and start <= pos:
            version = h["version"]
    return version


def version_of(run) -> Version:
    """The run's numerics version: as meta.json records it, else from its recorded commit."""
    try:
        meta = run.meta
    except Exception:  # a missing or damaged meta.json: nothing to read it from
        meta = None
    return _version(run.summary.backend, meta)


def version_at(run_dir: str | Path) -> Version:
    """:func:`version_of` for a complete run directory."""
    from bench.records.rundir import UNREADABLE, read_meta, read_summary

    backend = read_summary(run_dir).backend
    try:
        meta = read_meta(run_dir)
    except UNREADABLE:
        meta = None
    return _version(backend, meta)


def _version(backend: str, meta) -> Version:
    recorded = meta.get("numerics_version") if meta is not None else None
    if isinstance(recorded, int):
        return Version(backend, recorded, "recorded")
    commit = meta.get("git_commit") if meta is not None else None
    v = from_commit(backend, commit)
    if v is not None:
        return Version(backend, v, f"from commit {commit[:7]}")
    return Version(backend, None, "unknown")


def code_words(runs) -> str:
    """The code a set of runs rests on, for a table row: per backend its numerics
    version(s) and the commits that made the runs (``torch numerics 2 @ 07cbf5c, 83b4322``)."""
    by: dict[tuple[str, int | None], set[str]] = {}
    for r in runs:
        v = version_of(r)
        try:
            commit = (r.meta.get("git_commit") or "")[:7]
        except Exception:
            commit = ""
        by.setdefault((v.backend, v.version), set()).add(commit or "?")
    parts = []
    for (b, v), commits in sorted(by.items(), key=lambda kv: (kv[0][0], kv[0][1] or -1)):
        parts.append(code_label(b, v, commits))
    return "; ".join(parts)


def code_label(backend: str, version: int | None, commits) -> str:
    """``torch numerics 4 @ 07cbf5c, 83b4322`` (commits as given, 7 hex shown, three at most);
    ``caffe log (imported)`` for a backend that declares no numerics (another tool's)."""
    if declared(backend) is None:
        return f"{backend} log (imported)"
    cs = sorted({str(c)[:7] for c in commits if c} or {"?"})
    shown = ", ".join(cs[:3]) + (f" and {len(cs) - 3} more" if len(cs) > 3 else "")
    return f"{backend} numerics {'?' if version is None else version} @ {shown}"


def mixed(runs) -> dict[str, dict[int | None, list[str]]]:
    """Backends whose ``runs`` were made under more than one numerics version: backend ->
    version -> run ids."""
    by: dict[str, dict[int | None, list[str]]] = {}
    for r in runs:
        v = version_of(r)
        if declared(v.backend) is None:
            continue
        by.setdefault(v.backend, {}).setdefault(v.version, []).append(r.path.name)
    return {b: vs for b, vs in by.items() if len(vs) > 1}


# -- golden records ---------------------------------------------------------------------


def _columns(text: str, want: tuple[str, ...], aliases: dict) -> str:
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return ""
    head = rows[0]
    idx = []
    for c in want:
        names = aliases.get(c, (c,))
        found = next((head.index(n) for n in names if n in head), None)
        if found is None:
            raise BenchError(f"no column {c!r} ({' or '.join(names)}) among {head}")
        idx.append(found)
    return "\n".join(",".join(r[i] for i in idx) for r in rows[1:]) + "\n"


def fingerprint(run_dir: str | Path) -> str:
    """16 hex of the sha256 of what training computed in a run directory: steps.csv's step,
    lr, momentum, train_loss and train_acc and evals.csv's step, split, loss and accuracy,
    as written (wall-clock columns and columns a later schema adds do not count)."""
    d = Path(run_dir)
    text = (_columns((d / "steps.csv").read_text(), STEP_COLUMNS, {})
            + _columns((d / "evals.csv").read_text(), EVAL_COLUMNS, EVAL_ALIASES))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def main(argv=None) -> int:
    """``python -m bench.records.numerics fingerprint DIR``: the fingerprint of a run directory (the
    golden records' goes into backends/<name>/numerics.yaml); ``python -m bench.records.numerics
    current``: each backend's version."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m bench.records.numerics", description=main.__doc__)
    sub = p.add_subparsers(dest="what", required=True)
    f = sub.add_parser("fingerprint", help="the fingerprint of a run directory's training numbers")
    f.add_argument("run_dir")
    sub.add_parser("current", help="each backend's numerics version in this tree")
    args = p.parse_args(argv)
    if args.what == "fingerprint":
        print(fingerprint(args.run_dir))
    else:
        from bench.running.registry import names

        for b in names():
            print(f"{b}: {current(b)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
