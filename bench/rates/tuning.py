"""Fair baselines: the tuning phase of ``bench full``.

A claim "A beats B" over our own runs measures B's rate as much as A. So a suite cell may
carry a ``tune:`` block: such a *tuned cell* is not run as written. ``bench full`` first
runs its grid (one tuning run per grid value, tuning seed and backend) on a validation
split held out of the training data, picks the best value by the claim's own metric on
that split, writes the choice as JSON in the results folder, and only then runs the
judged cell at the chosen value on fresh seeds. The suite YAML holds all of it as data::

    - name: fm-cnn-full-constant-tuned
      policy: {name: constant, lr: 0.2119, momentum: 0.9}   # policy.lr is replaced by the choice
      tune:
        param: policy.lr                   # the key the grid varies
        grid_from:                          # or grid: [0.01, 0.02, ...] (at least 5 values)
          c: 0.2119                         # the range test's pick
          factors: [0.0333, 0.1, 0.3333, 1] # c/30, c/10, c/3, c
          suggestions: {steepest: 0.0049}   # the range test's other suggestions
        tie: {policy.min_lr: 0.1}           # keys set to a multiple of the value (one-cycle: min = peak/10)
        metrics:                            # one judged cell per metric: <cell>-<key>
          steps: {name: steps_to_target, target: 0.9}
          final: {name: final_acc}
        val_size: 5000                      # images held out of the training split
        seeds: [100, 101]                   # tuning seeds: never the judged runs' seeds
      claims: [FM-1, FM-3]

A budget may override the tuning seeds and validation size (``tune: {seeds: [100],
val_size: 1000}`` under ``budgets.smoke``).

- **Tuning runs** are the cell's spec at each grid value with ``dataset.val_size`` held
  out, ``eval_split: val`` (periodic evaluations, and one at the end, on the validation
  split), the same number of steps as the judged runs (so a schedule is the same function
  of the step in both), the tuning seeds, the name ``<cell>-tune`` and
  ``provenance.rule: tune-grid``.
- **The choice** reads only their validation evaluations (never the test split):
  ``final_acc``: the mean over tuning seeds of the last validation accuracy (a diverged run
  counts 0), highest wins; ``steps_to_target``: the median over seeds of the steps to the
  first validation evaluation at or above the target (never = slowest), lowest wins, ties
  broken by the mean final validation accuracy. Remaining ties go to the smaller value.
  Written to ``<results>/choices/<cell>-<metric key>-<backend>.json``: the grid, each
  value's runs and numbers, the winner, the seeds.
- **Judged runs** are the cell's spec at the chosen value, named ``<cell>-<metric key>``,
  with the usual seeds (0, 1, ...: disjoint from the tuning seeds, checked) and
  ``provenance: {rule: grid-best, param, chosen, chosen_from, metric, split, tuning_seeds,
  choice_file}``: what the claims select (``spec.provenance.rule: grid-best``).

Framework-free: run directories and numbers only.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bench.errors import BenchError

MIN_GRID = 5  # the bar: each baseline from at least five values
SAME = 1.1  # grid values within this ratio of one already in the grid are the same value (kept once)
CHOICES_DIR = "choices"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TuneMetric(_Strict):
    """A claim's metric, as a tuning run can measure it on the validation split."""

    name: Literal["final_acc", "steps_to_target"]
    target: Annotated[float, Field(gt=0, le=1)] | None = None

    @model_validator(mode="after")
    def _target(self):
        if self.name == "steps_to_target" and self.target is None:
            raise ValueError("steps_to_target needs target")
        if self.name == "final_acc" and self.target is not None:
            raise ValueError("final_acc takes no target")
        return self

    def label(self) -> str:
        return "final val accuracy" if self.name == "final_acc" else f"steps to {self.target:g} on val"


class GridFrom(_Strict):
    c: Annotated[float, Field(gt=0)]
    factors: list[Annotated[float, Field(gt=0)]]
    suggestions: dict[str, Annotated[float, Field(gt=0)]] = {}


class TuneBlock(_Strict):
    param: str  # dotted spec key: policy.lr, policy.max_lr
    grid: list[Annotated[float, Field(gt=0)]] | None = None
    grid_from: GridFrom | None = None
    tie: dict[str, float] = {}
    metrics: dict[str, TuneMetric]
    split: Literal["val"] = "val"
    val_size: Annotated[int, Field(ge=1)]
    seeds: list[Annotated[int, Field(ge=0)]]

    @model_validator(mode="after")
    def _one_grid(self):
        if (self.grid is None) == (self.grid_from is None):
            raise ValueError("give grid (values) or grid_from (c, factors, suggestions), exactly one")
        if not self.metrics:
            raise ValueError("metrics: at least one")
        if not self.seeds:
            raise ValueError("seeds: at least one tuning seed")
        if not self.param.startswith("policy."):
            raise ValueError(f"param: a policy key (policy.lr, policy.max_lr); received {self.param!r}")
        return self


def parse(cell: dict, suite: str) -> TuneBlock | None:
    """The cell's ``tune`` block, checked (BenchError naming the suite, cell and key)."""
    raw = cell.get("tune")
    if raw is None:
        return None
    try:
        block = TuneBlock.model_validate(raw)
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(map(str, x['loc'])) or 'tune'}: {x['msg'].replace('Value error, ', '')}"
                             for x in e.errors(include_url=False))
        raise BenchError(f"suite {suite!r}, cell {cell.get('name')!r}: tune: {problems}") from None
    values = grid_values(block)
    if len(values) < MIN_GRID:
        raise BenchError(f"suite {suite!r}, cell {cell.get('name')!r}: tune: the grid has {len(values)} distinct "
                         f"values ({', '.join(f'{v:g}' for v in values)}); a fair baseline needs at least {MIN_GRID}")
    return block


def grid_values(block: TuneBlock) -> list[float]:
    """The grid, ascending: ``grid`` as given, or c x each factor then the range test's other
    suggestions, each dropped when within 10% of a value already in (``SAME``)."""
    if block.grid is not None:
        raw = list(block.grid)
    else:
        g = block.grid_from
        raw = [g.c * f for f in g.factors] + list(g.suggestions.values())
    kept: list[float] = []
    for v in raw:
        if all(max(v, k) / min(v, k) >= SAME for k in kept):
            kept.append(float(f"{v:.6g}"))
    return sorted(kept)


def set_value(data: dict, block: TuneBlock, value: float) -> dict:
    """The cell's spec data with ``param`` set to ``value`` and every ``tie`` key to its multiple
    of it (keys whose default follows others, one-cycle's ``final_lr``, are dropped so that they
    follow again: :func:`bench.records.schedules.without_derived`)."""
    data = copy.deepcopy(data)
    for key, mult in [(block.param, 1.0), *block.tie.items()]:
        cur = data
        *head, last = key.split(".")
        for k in head:
            cur = cur.setdefault(k, {})
        cur[last] = float(f"{value * mult:.6g}")
    from bench.records.schedules import without_derived

    if isinstance(data.get("policy"), dict):
        data["policy"] = without_derived(data["policy"])
    return data


# -- the choice -------------------------------------------------------------------------------


@dataclass
class GridPoint:
    value: float
    runs: list[Path]  # the tuning runs' directories (complete or not)


@dataclass
class Choice:
    cell: str
    backend: str
    metric_key: str
    chosen: float | None
    why: str
    record: dict = field(default_factory=dict)
    path: Path | None = None


def _val_points(run_dir: Path):
    """The tuning run's periodic evaluations (bench.records.identity.periodic), which must be on the
    validation split: none for a run that did not evaluate there."""
    from bench.records.identity import periodic
    from bench.records.rundir import read_evals

    split, pts = periodic(read_evals(run_dir))
    return pts if split == "val" else []


def run_value(run_dir: Path, metric: TuneMetric) -> tuple[float | None, float | None, str | None]:
    """(metric value, final validation accuracy, why not) of one tuning run, from its
    validation evaluations only. ``steps_to_target``: the step of the first validation
    evaluation at or above the target, inf when none (or diverged)."""
    from bench.records.rundir import is_complete, read_summary

    if not is_complete(run_dir):
        return None, None, "not finished"
    s = read_summary(run_dir)
    if s.status == "interrupted":
        return None, None, "interrupted"
    pts = _val_points(run_dir)
    if not pts:
        return None, None, "no validation evaluations (eval_split: val)"
    diverged = s.status == "diverged"
    final = 0.0 if diverged else pts[-1].acc
    if metric.name == "final_acc":
        return final, final, None
    hit = next((p.step for p in pts if p.acc >= metric.target), None)
    return (math.inf if hit is None else float(hit)), final, None


def _json(x):
    """Infinities (never reached) as null: the file is plain JSON."""
    if isinstance(x, float) and math.isinf(x):
        return None
    if isinstance(x, list):
        return [_json(v) for v in x]
    return x


def _median(xs: list[float]) -> float:
    ys = sorted(xs)
    n = len(ys)
    return ys[n // 2] if n % 2 else (ys[n // 2 - 1] + ys[n // 2]) / 2


def choose(cell: str, backend: str, metric_key: str, metric: TuneMetric, points: list[GridPoint],
           block: TuneBlock, seeds: list[int], val_size: int, out: Path, judged_seeds: list[int]) -> Choice:
    """The best grid value by ``metric`` on the validation split, written to
    ``out/choices/<cell>-<metric_key>-<backend>.json``; chosen None (and why) while tuning
    runs are missing."""
    rows, missing = [], []
    for pt in points:
        vals, finals, why = [], [], []
        for d in pt.runs:
            v, f, reason = run_value(d, metric)
            if v is None:
                why.append(f"{d.name}: {reason}")
                continue
            vals.append(v)
            finals.append(f)
        if why:
            missing += why
        rows.append({"value": pt.value, "runs": [d.name for d in pt.runs], "per_seed": vals,
                     "final_val_acc_per_seed": finals,
                     "final_val_acc_mean": sum(finals) / len(finals) if finals else None,
                     "score": (None if not vals else
                               (sum(vals) / len(vals) if metric.name == "final_acc" else _median(vals)))})
    if missing:
        return Choice(cell, backend, metric_key, None,
                      f"{len(missing)} of {sum(len(p.runs) for p in points)} tuning runs not usable yet "
                      f"({'; '.join(missing[:3])}{' ...' if len(missing) > 3 else ''})")

    def key(r):
        final = r["final_val_acc_mean"] if r["final_val_acc_mean"] is not None else -1.0
        if metric.name == "final_acc":
            return (-r["score"], r["value"])
        return (r["score"], -final, r["value"])

    best = min(rows, key=key)
    if metric.name == "steps_to_target" and math.isinf(best["score"]):
        why = (f"no grid value reached {metric.target:g} on the validation split in the median tuning run: "
               f"chosen by the mean final validation accuracy ({best['final_val_acc_mean']:.4f})")
    elif metric.name == "steps_to_target":
        why = f"median steps to {metric.target:g} on val {best['score']:.0f} (lowest of {len(rows)})"
    else:
        why = f"mean final val accuracy {best['score']:.4f} (highest of {len(rows)})"
    record = {
        "cell": cell, "backend": backend, "param": block.param, "tie": dict(block.tie),
        "metric": metric.model_dump(exclude_none=True), "metric_label": metric.label(), "metric_key": metric_key,
        "split": block.split, "val_size": val_size, "tuning_seeds": list(seeds), "judged_seeds": list(judged_seeds),
        "grid": [{k: _json(v) for k, v in r.items()} for r in rows],
        "chosen": best["value"], "why": why,
        "rule": "lowest median steps (never = slowest; ties: higher mean final val accuracy, then the smaller value)"
                if metric.name == "steps_to_target" else
                "highest mean final val accuracy (diverged = 0; ties: the smaller value)",
    }
    path = Path(out) / CHOICES_DIR / f"{cell}-{metric_key}-{backend}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    from bench.records.rundir import write_json

    write_json(path, record)
    return Choice(cell, backend, metric_key, best["value"], why, record, path)


def read_choices(paths) -> list[dict]:
    """Every choice file under ``paths`` (``choices/*.json`` in a results folder or below it)."""
    out, seen = [], set()
    for p in paths:
        p = Path(p)
        found = sorted(p.glob(f"{CHOICES_DIR}/*.json")) + sorted(p.glob(f"*/{CHOICES_DIR}/*.json"))
        for f in found:
            if f.resolve() in seen:
                continue
            seen.add(f.resolve())
            try:
                rec = json.loads(f.read_text())
            except (OSError, ValueError):
                continue
            if isinstance(rec, dict) and "chosen" in rec and "grid" in rec:
                rec["_file"] = str(f)
                out.append(rec)
    return out


def judged_provenance(base: Any, block: TuneBlock, choice: Choice, grid: list[float], out_name: str) -> dict:
    """What a judged run's ``spec.provenance`` says about how its value was chosen."""
    prov = dict(base) if isinstance(base, dict) else {}
    metric = block.metrics[choice.metric_key]
    prov.update({"rule": "grid-best", "param": block.param, "chosen": choice.chosen, "chosen_from": list(grid),
                 "metric": metric.model_dump(exclude_none=True), "metric_label": metric.label(),
                 "split": block.split, "tuning_seeds": list(choice.record.get("tuning_seeds", [])),
                 "choice_file": f"{CHOICES_DIR}/{out_name}"})
    return prov
