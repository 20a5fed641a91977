"""Suites: the papers' grids as data (bench/grids/suites/*.yaml), expanded into specs.

A suite has a ``base`` spec (no name, no policy), ``cells`` (a name, a policy and any
overrides of the base), and ``budgets`` (``smoke``, ``quick``, ``paper``): each a set of
``--set``-style overrides applied to every cell, the number of seeds (an int or
``{backend: n}``), and per-cell overrides under the cell's ``budgets`` key.

A cell with a ``tune:`` block is a tuned cell (:mod:`bench.rates.tuning`): :func:`expand` gives
its tuning runs (``role: tune``: the grid on the validation split, on the tuning seeds);
:func:`judged` gives its judged runs once the tuning runs are there (``role: judged``: the
value chosen on the validation split, on the budget's seeds). A budget may say
``tune: {seeds: [...], val_size: N, metrics: [key, ...]}`` to override the cells' tuning
seeds, validation size and which of their metrics get judged cells.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

from bench.errors import BenchError
from bench.rates import tuning
from bench.records.spec import Spec, apply_sets, build, safe_load

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
    role: str = "run"  # run (a cell as written) | tune (a tuning run) | judged (a tuned cell at its choice)
    tunes: str | None = None  # tune and judged: the tuned cell's name
    value: float | None = None  # tune: the grid value


CELL_KEYS = ("claims", "budgets", "max_seeds", "skip_budgets", "note", "tune")  # not spec keys


def _budget(suite: dict, budget_name: str) -> dict:
    if budget_name not in suite["budgets"]:
        raise BenchError(f"suite {suite['name']!r} has no budget {budget_name!r}; allowed: {' | '.join(suite['budgets'])}")
    return suite["budgets"][budget_name] or {}


def _cell_data(suite: dict, cell: dict, budget_name: str, budget: dict) -> dict:
    """The cell's spec data at the budget (base, cell, the budget's sets, the cell's own)."""
    data = _merge(suite["base"], {k: v for k, v in cell.items() if k not in CELL_KEYS})
    data = apply_sets(data, list(budget.get("set", [])))
    return apply_sets(data, list((cell.get("budgets") or {}).get(budget_name, [])))


def _tune_settings(block, budget: dict) -> tuple[list[int], int, list[str]]:
    """The tuning seeds, validation size and metrics (keys of the block's), the budget's
    override first (``tune: {seeds: [...], val_size: N, metrics: [key, ...]}``)."""
    over = budget.get("tune") or {}
    metrics = [k for k in over.get("metrics", list(block.metrics)) if k in block.metrics]
    return [int(x) for x in over.get("seeds", block.seeds)], int(over.get("val_size", block.val_size)), metrics


def seeds_for(budget: dict, cell: dict, backend: str, override: int | None) -> int:
    n = override if override is not None else budget.get("seeds", 1)
    if isinstance(n, dict):
        n = n.get(backend, n.get("default", 1))
    cap = cell.get("max_seeds")
    return min(int(n), int(cap)) if cap else int(n)


def expand(suite: dict, budget_name: str, backends: list[str], seeds: int | None = None) -> list[Job]:
    """Every run the suite makes at the budget that can be known before running anything:
    the cells as written (``role: run``) and the tuned cells' tuning runs (``role: tune``).
    The tuned cells' judged runs come from :func:`judged`, after the tuning runs."""
    budget = _budget(suite, budget_name)
    jobs = []
    for cell in suite["cells"]:
        if budget_name in cell.get("skip_budgets", ()):
            continue
        data = _cell_data(suite, cell, budget_name, budget)
        source = f"suite {suite['name']}, cell {cell['name']}"
        block = tuning.parse(cell, suite["name"])
        if block is not None:
            jobs += _tuning_jobs(suite, cell, block, data, budget, backends, seeds, source)
            continue
        for b in backends:
            for s in range(seeds_for(budget, cell, b, seeds)):
                spec = build({**data, "backend": b, "seed": s}, source=source)
                jobs.append(Job(cell["name"], b, s, spec, tuple(cell.get("claims", ()))))
    check_no_twins(jobs, suite["name"], budget_name)
    return jobs


def _tuning_jobs(suite, cell, block, data, budget, backends, seeds, source) -> list[Job]:
    tseeds, val_size, _ = _tune_settings(block, budget)
    jobs = []
    for b in backends:
        judged_seeds = set(range(seeds_for(budget, cell, b, seeds)))
        both = sorted(judged_seeds & set(tseeds))
        if both:
            raise BenchError(f"suite {suite['name']!r}, cell {cell['name']!r}: tuning seeds {tseeds} and the judged "
                             f"runs' seeds 0-{max(judged_seeds)} share {both}: the judged runs need fresh seeds")
    # the tuning runs take exactly the judged runs' steps: a schedule is then the same function of the step
    total = build({**data, "backend": backends[0] if backends else "torch", "seed": 0}, source=source).total_steps()
    base_prov = data.get("provenance") if isinstance(data.get("provenance"), dict) else {}
    for value in tuning.grid_values(block):
        d = tuning.set_value(data, block, value)
        d["name"] = f"{cell['name']}-tune"
        d["dataset"] = {**(d.get("dataset") or {}), "val_size": val_size}
        d["eval_split"] = block.split
        d["budget"] = {"steps": total}
        d["provenance"] = {**base_prov, "rule": "tune-grid", "tunes": cell["name"], "param": block.param,
                           "value": value}
        for b in backends:
            for s in tseeds:
                spec = build({**d, "backend": b, "seed": s}, source=f"{source} (tuning, {block.param}={value:g})")
                jobs.append(Job(d["name"], b, s, spec, (), role="tune", tunes=cell["name"], value=value))
    return jobs


def judged(suite: dict, budget_name: str, backends: list[str], seeds: int | None, out: Path,
           tune_jobs: list[Job]) -> tuple[list[Job], list[tuning.Choice]]:
    """The tuned cells' judged runs: for each tuned cell, metric and backend, the value
    :func:`bench.rates.tuning.choose` picks from the tuning runs in ``out`` (``tune_jobs``: those of
    :func:`expand`), on the budget's seeds. A choice whose tuning runs are not all there yet
    gives no runs (its ``Choice.chosen`` is None and says why)."""
    budget = _budget(suite, budget_name)
    jobs, choices = [], []
    for cell in suite["cells"]:
        if budget_name in cell.get("skip_budgets", ()):
            continue
        block = tuning.parse(cell, suite["name"])
        if block is None:
            continue
        data = _cell_data(suite, cell, budget_name, budget)
        tseeds, val_size, metrics = _tune_settings(block, budget)
        grid = tuning.grid_values(block)
        for key in metrics:
            name = f"{cell['name']}-{key}"
            for b in backends:
                points = [tuning.GridPoint(v, [Path(out) / j.spec.run_id() for j in tune_jobs
                                              if j.tunes == cell["name"] and j.backend == b and j.value == v])
                          for v in grid]
                n = seeds_for(budget, cell, b, seeds)
                choice = tuning.choose(cell["name"], b, key, block.metrics[key], points, block, tseeds, val_size,
                                       Path(out), list(range(n)))
                choices.append(choice)
                if choice.chosen is None:
                    continue
                d = tuning.set_value(data, block, choice.chosen)
                d["name"] = name
                d["provenance"] = tuning.judged_provenance(data.get("provenance"), block, choice, grid,
                                                           choice.path.name)
                for s in range(n):
                    spec = build({**d, "backend": b, "seed": s},
                                 source=f"suite {suite['name']}, cell {name} ({block.param}={choice.chosen:g})")
                    jobs.append(Job(name, b, s, spec, tuple(cell.get("claims", ())), role="judged",
                                    tunes=cell["name"]))
    return jobs, choices


def check_no_twins(jobs: list[Job], suite: str, budget: str) -> None:
    """Two cells as written that a budget's overrides make into one experiment (the same
    spec but for the name and provenance) would be one cell compared with itself: refuse the
    suite, naming them. (A tuned cell whose choice lands on another cell's experiment is not a
    twin of this kind: :func:`made_once` makes its runs once.)"""
    from bench.records.identity import experiment_key

    seen: dict[tuple, str] = {}
    for j in jobs:
        if j.role != "run":
            continue
        key = (experiment_key(j.spec.resolved()), j.backend, j.seed)
        other = seen.setdefault(key, j.cell)
        if other != j.cell:
            raise BenchError(f"suite {suite!r} at budget {budget!r}: cells {other!r} and {j.cell!r} become the same "
                             "experiment (only their names differ); give one of them its own budget overrides")


def made_once(jobs: list[Job]) -> tuple[list[Job], list[tuple[Job, Job]]]:
    """(jobs to run, (job, the job it repeats) pairs): a job whose experiment, backend and
    seed another job earlier in the list already makes (:func:`bench.records.identity.experiment_key`:
    e.g. a tuned cell whose two metrics chose the same value, or whose choice is another
    cell's rate) is not run again; ``bench full`` gives it a run directory of its own holding
    the first job's records (:func:`bench.grids.full.link_repeat`)."""
    from bench.records.identity import experiment_key

    first: dict[tuple, Job] = {}
    unique, repeats = [], []
    for j in jobs:
        key = (experiment_key(j.spec.resolved(), backend=True), j.seed)
        if key in first:
            repeats.append((j, first[key]))
        else:
            first[key] = j
            unique.append(j)
    return unique, repeats


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


def shard_stable(jobs: list[Job], spec: str) -> list[Job]:
    """Jobs of shard ``i/n`` chosen by a hash of (cell, backend, seed), so that a job's shard
    does not depend on which other jobs are in the list."""
    import zlib

    shard([], spec)  # the same checks of i/n
    i, n = (int(v) for v in spec.split("/"))
    return [j for j in jobs if zlib.crc32(f"{j.cell}|{j.backend}|{j.seed}".encode()) % n == i - 1]
