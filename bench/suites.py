"""Suites: the papers' grids as data (bench/suites/*.yaml), expanded into specs.

A suite has a ``base`` spec (no name, no policy), ``cells`` (a name, a policy and any
overrides of the base), and ``budgets`` (``smoke``, ``quick``, ``paper``): each a set of
``--set``-style overrides applied to every cell, the number of seeds (an int or
``{backend: n}``), and per-cell overrides under the cell's ``budgets`` key.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

from bench.errors import BenchError
from bench.spec import Spec, apply_sets, build, safe_load

SUITES_DIR = Path(__file__).parent / "suites"
BUDGETS = ("smoke", "quick", "paper")


def available() -> list[str]:
    return sorted(p.stem for p in SUITES_DIR.glob("*.yaml"))


def load(name: str) -> dict:
    p = Path(name) if Path(name).suffix == ".yaml" else SUITES_DIR / f"{name}.yaml"
    if not p.is_file():
        raise BenchError(f"unknown suite {name!r}; allowed: {' | '.join(available())} (or a suite YAML file)")
    data = safe_load(p.read_text())  # as specs read: 1e-3 unquoted is a number
    for k in ("name", "base", "cells", "budgets"):
        if k not in data:
            raise BenchError(f"{p}: a suite needs '{k}'")
    return data


def _merge(a: dict, b: dict) -> dict:
    out = copy.deepcopy(a)
    for k, v in (b or {}).items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


@dataclass
class Job:
    cell: str
    backend: str
    seed: int
    spec: Spec
    claims: tuple[str, ...]


def seeds_for(budget: dict, cell: dict, backend: str, override: int | None) -> int:
    n = override if override is not None else budget.get("seeds", 1)
    if isinstance(n, dict):
        n = n.get(backend, n.get("default", 1))
    cap = cell.get("max_seeds")
    return min(int(n), int(cap)) if cap else int(n)


def expand(suite: dict, budget_name: str, backends: list[str], seeds: int | None = None) -> list[Job]:
    if budget_name not in suite["budgets"]:
        raise BenchError(f"suite {suite['name']!r} has no budget {budget_name!r}; allowed: {' | '.join(suite['budgets'])}")
    budget = suite["budgets"][budget_name] or {}
    jobs = []
    for cell in suite["cells"]:
        if budget_name in cell.get("skip_budgets", ()):
            continue
        data = _merge(suite["base"], {k: v for k, v in cell.items()
                                      if k not in ("claims", "budgets", "max_seeds", "skip_budgets", "note")})
        data = apply_sets(data, list(budget.get("set", [])))
        data = apply_sets(data, list((cell.get("budgets") or {}).get(budget_name, [])))
        for b in backends:
            for s in range(seeds_for(budget, cell, b, seeds)):
                spec = build({**data, "backend": b, "seed": s}, source=f"suite {suite['name']}, cell {cell['name']}")
                jobs.append(Job(cell["name"], b, s, spec, tuple(cell.get("claims", ()))))
    _no_twins(jobs, suite["name"], budget_name)
    return jobs


def _no_twins(jobs: list[Job], suite: str, budget: str) -> None:
    """Two cells that a budget's overrides make into one experiment (the same spec but for
    the name) would be counted as one cell run twice: refuse the suite, naming them."""
    from bench.compare import experiment_key

    seen: dict[tuple, str] = {}
    for j in jobs:
        key = (experiment_key(j.spec.resolved()), j.backend, j.seed)
        other = seen.setdefault(key, j.cell)
        if other != j.cell:
            raise BenchError(f"suite {suite!r} at budget {budget!r}: cells {other!r} and {j.cell!r} become the same "
                             "experiment (only their names differ); give one of them its own budget overrides")


def shard(jobs: list[Job], spec: str) -> list[Job]:
    """Jobs of shard ``i/n``: every n-th job from the i-th (1-based), a deterministic partition
    of the grid, so a job-array scheduler can run shard i on machine i."""
    try:
        i, n = (int(v) for v in spec.split("/"))
    except ValueError:
        raise BenchError(f"--shard expects i/n (e.g. 1/4); received {spec!r}") from None
    if not 1 <= i <= n:
        raise BenchError(f"--shard i/n needs 1 <= i <= n; received {spec}")
    return jobs[i - 1 :: n]
