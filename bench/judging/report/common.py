"""What the report's sections share: which runs are tuning runs, a run's meta.json where it
reads, numbers and counts in words."""

from __future__ import annotations

from bench.records import identity
from bench.records.rundir import UNREADABLE


def _is_tuning(run) -> bool:
    """A tuning run: its periodic evaluations are on the validation split (bench.records.identity)."""
    return identity.periodic_split(e.split for e in run.evals) == "val"



def _fmt_int(x) -> str:
    return f"{int(x):,}" if x is not None else "?"


def _meta(run):
    try:
        return run.meta
    except UNREADABLE:
        return None


def _num_classes(run) -> int | None:
    from bench.data import DATASETS

    ds = run.head.dataset.name
    return DATASETS[ds].num_classes if ds in DATASETS else None



def _seed_words(seeds) -> str:
    s = sorted(seeds)
    if not s:
        return "none"
    if s == list(range(s[0], s[-1] + 1)) and len(s) > 2:
        return f"{s[0]}-{s[-1]}"
    return ", ".join(map(str, s))


def _range_words(values) -> str:
    v = sorted(set(values))
    if not v:
        return "0"
    return str(v[0]) if len(v) == 1 else f"{v[0]}-{v[-1]}"



def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def _label(row: dict) -> str:
    return row["id"] + (f" ({row['part']})" if row.get("part") else "")
