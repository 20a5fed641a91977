"""Claims as data (bench/claims/claims.yaml), judged on run directories: ``bench claims``.

A claim names its source, the statement, how it is measured (``operational``), the runs
it compares (selectors on each run's spec, summary and meta), a metric, a kind, a
tolerance (``margin``, or ``ratio`` for time to a target) and how many runs each arm
needs (``min_runs``). A claim with several parts (``parts:``) is judged part by part.
A verdict is one of ``holds``, ``fails`` or ``inconclusive``, with the numbers that
decided it. docs/claims.md explains every field and shows the calibration.

The engine is two layers. :func:`decide_interval` and :func:`decide_ratio` decide on
arrays of values (one experiment a row), so that :mod:`bench.claims_sim` can calibrate
them on thousands of simulated experiments; :func:`judge` is a thin layer that reads the
values out of run directories and calls them.

Decisions (ALPHA = 0.05; A and B are the two arms; every interval is two-sided 95%, so a
false ``holds`` at the boundary of the claim has probability at most 2.5%):

- accuracy (``final_acc``, ``best_acc``, ``acc_at_step``, ``acc_at_epoch``): the Welch
  interval of mean(A) - mean(B) against the margin m. ``superiority`` holds when it lies
  above m and fails when it lies below; ``non-inferiority`` the same against -m;
  ``equivalence`` holds inside (-m, m) and fails wholly outside it;
  ``difference_of_differences`` (arms a, b, c, d): the Welch-Satterthwaite interval of
  (a - b) - (c - d) against m.
- time to a target (``steps_to_target``, ``seconds_to_target``; kind ``superiority``: A
  gets there ``ratio`` times sooner): a crossing is known only to the evaluation cadence,
  as the interval (previous evaluation, first evaluation at or above the target]; a run
  that never got there is censored at its last evaluation, and a diverged one never gets
  there (slowest). Pairs (A_i, B_j) whose intervals prove B_j > ratio x A_i, or prove the
  reverse, are counted; the verdict holds when the proven pairs reach the Mann-Whitney
  critical count of the 95% interval (equivalently: the interval of B/A, whose ends are
  order statistics of the pairwise bounds, lies above the ratio), fails when the reverse
  does, and is inconclusive otherwise. Ties (one cadence interval) prove nothing; a target
  met before training (step 0) counts as met within the first cadence interval.
  ``seconds_to_target`` counts only runs that had the machine to themselves: a run whose
  summary says ``contended`` (:mod:`bench.clock`) is left out, and the verdict says how many.
- n=1 (``min_runs: 1``, the authors' single logs, and an arm holding a single run): the
  values are compared directly, without error control, and the verdict says n=1.

An arm with fewer counting runs than ``min_runs`` is inconclusive; a run short of the
step or epoch a metric asks for does not count. A claim whose runs are all absent says
what data it needs and where it was looked for.
"""

from __future__ import annotations

import fnmatch
import json
import math
import types
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bench import identity, numerics
from bench.errors import BenchError
from bench.rundir import UNREADABLE, EvalPoint, Run, load_runs

CLAIMS_FILE = Path(__file__).parent / "claims" / "claims.yaml"
ALPHA = 0.05  # each interval is two-sided 1 - ALPHA
KINDS = ("superiority", "non-inferiority", "equivalence", "difference_of_differences")
METRICS = ("final_acc", "best_acc", "acc_at_step", "acc_at_epoch", "steps_to_target", "seconds_to_target")
TIMED = ("steps_to_target", "seconds_to_target")
HOLDS, INCONCLUSIVE, FAILS = 1, 0, -1
VERDICTS = {HOLDS: "holds", INCONCLUSIVE: "inconclusive", FAILS: "fails"}


# -- decisions on arrays (what the simulation calibrates) ----------------------------------


def _t_interval(est, variances, sizes, alpha):
    from scipy import stats

    v = sum(variances)
    den = sum(vi**2 / (n - 1) for vi, n in zip(variances, sizes, strict=True))
    with np.errstate(divide="ignore", invalid="ignore"):
        df = np.where(den > 0, v**2 / np.where(den > 0, den, 1.0), 1.0)  # Welch-Satterthwaite
    h = np.where(v > 0, stats.t.ppf(1 - alpha / 2, df) * np.sqrt(v), 0.0)
    return est - h, est + h


def welch(a, b, alpha: float = ALPHA):
    """mean(a) - mean(b) over the last axis and its two-sided 1 - alpha Welch interval.
    Leading axes are independent experiments; each arm needs at least 2 values."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    est = a.mean(-1) - b.mean(-1)
    vs = [x.var(-1, ddof=1) / x.shape[-1] for x in (a, b)]
    return (est, *_t_interval(est, vs, [a.shape[-1], b.shape[-1]], alpha))


def welch_dd(a, b, c, d, alpha: float = ALPHA):
    """(mean a - mean b) - (mean c - mean d) and its Welch-Satterthwaite interval."""
    arms = [np.asarray(x, float) for x in (a, b, c, d)]
    m = [x.mean(-1) for x in arms]
    est = (m[0] - m[1]) - (m[2] - m[3])
    vs = [x.var(-1, ddof=1) / x.shape[-1] for x in arms]
    return (est, *_t_interval(est, vs, [x.shape[-1] for x in arms], alpha))


def decide_interval(kind: str, lo, hi, margin: float):
    """HOLDS / FAILS / INCONCLUSIVE per experiment from an interval of A - B (or of the
    difference of differences) and the margin m >= 0."""
    lo, hi, m = np.asarray(lo, float), np.asarray(hi, float), float(margin)
    if kind in ("superiority", "difference_of_differences"):
        h, f = lo > m, hi < m
    elif kind == "non-inferiority":
        h, f = lo > -m, hi < -m
    elif kind == "equivalence":
        h, f = (lo > -m) & (hi < m), (lo > m) | (hi < -m)
    else:
        raise BenchError(f"kind: received {kind!r}; allowed: {' | '.join(KINDS)}")
    return np.where(h, HOLDS, np.where(f, FAILS, INCONCLUSIVE))


@cache
def _mw_pmf(m: int, n: int) -> np.ndarray:
    """Null distribution of the Mann-Whitney count (pairs where the first sample's value
    is larger) for samples of m and n distinct values."""
    if m == 0 or n == 0:
        return np.ones(1)
    out = np.zeros(m * n + 1)
    a, b = _mw_pmf(m - 1, n), _mw_pmf(m, n - 1)
    out[n:n + len(a)] += m / (m + n) * a  # the largest value is in the first sample
    out[:len(b)] += n / (m + n) * b
    return out


@cache
def mw_critical(na: int, nb: int, alpha: float = ALPHA) -> int:
    """The least count u of the na x nb pairs with P(U >= u) <= alpha / 2 under the null
    (the one-sided tail of a two-sided 1 - alpha interval); na * nb + 1 where no count
    is that rare (3 runs per arm: 1/20 = 0.05 at best)."""
    if na * nb > 2500 or na + nb > 200:  # normal approximation, continuity-corrected
        from scipy import stats

        mu, sd = na * nb / 2, math.sqrt(na * nb * (na + nb + 1) / 12)
        return int(math.ceil(mu + stats.norm.ppf(1 - alpha / 2) * sd + 0.5))
    tail = np.cumsum(_mw_pmf(na, nb)[::-1])[::-1]  # tail[u] = P(U >= u)
    ok = np.nonzero(tail <= alpha / 2 + 1e-12)[0]
    return int(ok[0]) if len(ok) else na * nb + 1


def ratio_pairs(a_lo, a_hi, b_lo, b_hi, ratio: float):
    """Per experiment (leading axes), the pairs (A_i, B_j) proven slower (B_j >= ratio x A_i)
    and proven faster (B_j < ratio x A_i) from the crossing intervals (lo, hi]: a true
    time lies above lo and at or below hi; hi = inf where the run never got there, lo =
    inf where it never can (diverged)."""
    r = float(ratio)
    a_lo, a_hi = r * np.asarray(a_lo, float)[..., :, None], r * np.asarray(a_hi, float)[..., :, None]
    b_lo, b_hi = np.asarray(b_lo, float)[..., None, :], np.asarray(b_hi, float)[..., None, :]
    slower = (b_lo >= a_hi) & np.isfinite(a_hi)  # B > b_lo >= r a_hi >= r A
    faster = (b_hi <= a_lo) & np.isfinite(b_hi)  # B <= b_hi <= r a_lo < r A
    return slower.sum((-2, -1)), faster.sum((-2, -1))


def decide_ratio(a_lo, a_hi, b_lo, b_hi, ratio: float, alpha: float = ALPHA, single: bool = False):
    """HOLDS when B/A's interval lies at or above ``ratio`` (B needs at least ratio x A's
    time), FAILS when it lies below, per experiment. ``single``: every pair must be
    proven (n=1, no error control)."""
    slower, faster = ratio_pairs(a_lo, a_hi, b_lo, b_hi, ratio)
    na, nb = np.shape(a_lo)[-1], np.shape(b_lo)[-1]
    u = na * nb if single else mw_critical(na, nb, alpha)
    return np.where(slower >= u, HOLDS, np.where(faster >= u, FAILS, INCONCLUSIVE))


def ratio_interval(a_lo, a_hi, b_lo, b_hi, alpha: float = ALPHA, single: bool = False) -> tuple[float, float]:
    """B/A's interval for one experiment: the u-th largest pairwise lower bound b_lo / a_hi
    and the u-th smallest upper bound b_hi / a_lo (u as in :func:`decide_ratio`); 0 and inf
    where an end is open."""
    a_lo, a_hi, b_lo, b_hi = (np.asarray(x, float) for x in (a_lo, a_hi, b_lo, b_hi))
    with np.errstate(divide="ignore", invalid="ignore"):
        low = np.where(np.isinf(a_hi[:, None]), 0.0, b_lo[None, :] / a_hi[:, None])
        up = np.where(a_lo[:, None] == 0, np.inf, b_hi[None, :] / a_lo[:, None])
    low, up = np.where(np.isnan(low), 0.0, low), np.where(np.isnan(up), np.inf, up)
    n = low.size
    u = n if single else mw_critical(len(a_lo), len(b_lo), alpha)
    if u > n:
        return 0.0, math.inf
    return float(np.sort(low.ravel())[::-1][u - 1]), float(np.sort(up.ravel())[u - 1])


# -- the claims file ---------------------------------------------------------------------------

Scalar = str | int | float | bool | None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Metric(_Strict):
    name: Literal[METRICS]  # type: ignore[valid-type]
    target: Annotated[float, Field(gt=0, le=1)] | None = None  # accuracy fraction (time to target)
    step: Annotated[int, Field(ge=0)] | None = None  # acc_at_step: updates done
    epoch: Annotated[float, Field(gt=0)] | None = None  # acc_at_epoch

    @model_validator(mode="after")
    def _params(self):
        need = {"steps_to_target": "target", "seconds_to_target": "target", "acc_at_step": "step",
                "acc_at_epoch": "epoch"}.get(self.name)
        given = [k for k in ("target", "step", "epoch") if getattr(self, k) is not None]
        if need and need not in given:
            raise ValueError(f"{self.name} needs {need}")
        extra = [k for k in given if k != need]
        if extra:
            raise ValueError(f"{self.name} takes {need or 'no parameter'}; received {', '.join(extra)}")
        return self

    def label(self) -> str:
        extra = next((f"{k}={getattr(self, k):g}" for k in ("target", "step", "epoch") if getattr(self, k) is not None),
                     "")
        note = {"final_acc": "whole test split",
                "best_acc": "max over evaluations: chosen on the test data"}.get(self.name, "")
        inside = ", ".join(x for x in (extra, note) if x)
        return self.name + (f" ({inside})" if inside else "")


Selector = dict[str, Scalar | list[Scalar]]


class Part(_Strict):
    """What one comparison states; a claim's fields are the defaults of its parts."""

    part: str | None = None  # the part's short name (claims with several parts)
    statement: str | None = None
    operational: str | None = None  # how a qualitative statement is measured
    paper: str | None = None  # the source's numbers
    arms: dict[str, Selector] | None = None  # a, b (difference_of_differences: a, b, c, d)
    metric: Metric | None = None
    kind: Literal[KINDS] | None = None  # type: ignore[valid-type]
    margin: Annotated[float, Field(ge=0)] | None = None  # accuracy fraction
    ratio: Annotated[float, Field(gt=0)] | None = None  # time to target: B/A at least this
    tolerance_by: Literal["ours", "source"] | None = None  # who chose the margin or ratio
    min_runs: Annotated[int, Field(ge=1)] | None = None  # per arm (and per backend)
    per_backend: bool | None = None  # a verdict per backend (default), or all runs pooled
    must_hold: bool | None = None  # bench claims --strict exits 5 when it fails
    needs: str | None = None  # the dataset the runs need, where the selectors do not name it
    reference: str | None = None  # judged on imported logs: which logs
    produced_by: str | None = None  # what makes the runs
    # what arm B is, in words: "range-test pick", "tuned best", ... (each verdict row names it,
    # with B's policy as run and, for a tuned arm, how it was chosen)
    baseline: str | None = None


class Claim(Part):
    id: str
    source: str
    statement: str
    parts: list[Part] | None = None


@dataclass(frozen=True)
class Check:
    """One comparison to judge: a claim, or one part of it, with every default filled in."""

    id: str
    part: str | None
    source: str
    statement: str
    operational: str | None
    paper: str
    arms: dict[str, Selector]
    metric: Metric
    kind: str
    margin: float
    ratio: float
    tolerance_by: str | None
    min_runs: int
    per_backend: bool
    must_hold: bool
    needs: str | None
    reference: str | None
    produced_by: str | None
    baseline: str | None = None

    @property
    def label(self) -> str:
        return self.id + (f" ({self.part})" if self.part else "")


def checks(claims: list[Claim]) -> list[Check]:
    out = []
    for c in claims:
        for p in c.parts or [Part()]:
            def pick(key, p=p, c=c):
                v = getattr(p, key)
                return getattr(c, key) if v is None else v

            out.append(Check(
                id=c.id, part=p.part, source=c.source, statement=pick("statement"), operational=pick("operational"),
                paper=pick("paper") or "", arms=pick("arms"), metric=pick("metric"),
                kind=pick("kind") or "superiority", margin=float(pick("margin") or 0.0),
                ratio=float(pick("ratio") or 1.0), tolerance_by=pick("tolerance_by"),
                min_runs=int(pick("min_runs") or 5),
                per_backend=True if pick("per_backend") is None else bool(pick("per_backend")),
                must_hold=bool(pick("must_hold") or False), needs=pick("needs"), reference=pick("reference"),
                produced_by=pick("produced_by"), baseline=pick("baseline")))
    return out


def _field_models(annotation) -> tuple[list[type[BaseModel]], bool]:
    """The models a field's annotation holds, and whether it holds an open mapping (any key below)."""
    models, open_, stack = [], False, [annotation]
    while stack:
        t = stack.pop()
        origin = get_origin(t)
        if origin is Annotated:
            stack.append(get_args(t)[0])
        elif origin in (Union, types.UnionType):
            stack.extend(get_args(t))
        elif isinstance(t, type) and issubclass(t, BaseModel):
            models.append(t)
        elif t is Any or t is dict or origin is dict:
            open_ = True
    return models, open_


def _selector_roots() -> dict[str, list[type[BaseModel]]]:
    from bench import rundir
    from bench.spec import Spec

    summaries = [rundir.TrainSummary, rundir.ReferenceSummary, rundir.LrFindSummary, rundir.SweepSummary,
                 rundir.TuneSummary]
    return {"spec": [Spec], "summary": summaries, "meta": [rundir.Meta]}


def check_selector_key(key: str) -> str | None:
    """None if ``key`` names a field a run can have (``spec.policy.name``), else what is wrong."""
    roots = _selector_roots()
    head, *parts = key.split(".")
    if head not in roots or not parts:
        return f"selector key {key!r}: allowed: spec.<field> | summary.<field> | meta.<field>"
    models, done = roots[head], [head]
    for part in parts:
        fields = {}
        for m in models:
            for name, f in m.model_fields.items():
                fields[f.alias or name] = f
        if part not in fields:
            where = ".".join(done)
            allowed = " | ".join(sorted(fields)) if fields else "(none: a value, not a mapping)"
            return f"unknown selector key {key!r}: received {part!r} under {where}; allowed: {allowed}"
        models, open_ = _field_models(fields[part].annotation)
        if open_:
            return None
        done.append(part)
    return None


def _problems(claim_where: str, err: ValidationError) -> list[str]:
    out = []
    for e in err.errors(include_url=False):
        loc = [str(x) for x in e["loc"]]
        field = ".".join(loc)
        if e["type"] == "extra_forbidden":
            model = Claim
            for part in loc[:-1]:
                if part == "parts":
                    model = Part
                elif part == "metric":
                    model = Metric
            allowed = " | ".join(model.model_fields)
            out.append(f"{claim_where}: unknown key {loc[-1]!r}; allowed: {allowed}")
        elif e["type"] == "literal_error":
            allowed = {"name": METRICS, "kind": KINDS, "tolerance_by": ("ours", "source")}.get(loc[-1], ())
            out.append(f"{claim_where}: {field}: received {e['input']!r}; allowed: {' | '.join(allowed)}")
        else:
            msg = e["msg"].replace("Value error, ", "")
            shown = "" if isinstance(e["input"], dict) else f" (received {e['input']!r})"
            out.append(f"{claim_where}: {field or 'claim'}: {msg}{shown}")
    return out


def _check_claim(c: Claim, where: str) -> list[str]:
    out = []
    for p, t in zip(c.parts or [Part()], checks([c]), strict=True):
        w = f"{where}" + (f" part {t.part}" if t.part else "")
        arms = sorted(t.arms)
        want = ["a", "b", "c", "d"] if t.kind == "difference_of_differences" else ["a", "b"]
        if arms != want:
            out.append(f"{w}: arms: received {' | '.join(arms) or 'none'}; kind {t.kind} compares arms "
                       f"{', '.join(want)}")
        timed = t.metric.name in TIMED
        if timed and t.kind != "superiority":
            out.append(f"{w}: kind: received {t.kind!r} with {t.metric.name}; allowed: superiority (A gets there "
                       "ratio times sooner)")
        if timed and t.margin:
            out.append(f"{w}: margin: {t.metric.name} takes ratio, not margin")
        if not timed and (p.ratio if p.ratio is not None else c.ratio) is not None:
            out.append(f"{w}: ratio: only steps_to_target and seconds_to_target take a ratio")
        for arm, sel in t.arms.items():
            for key, want_v in sel.items():
                problem = check_selector_key(key)
                if problem:
                    out.append(f"{w}: arm {arm}: {problem}")
                vals = want_v if isinstance(want_v, list) else [want_v]
                if any(isinstance(v, list | dict) for v in vals):
                    out.append(f"{w}: arm {arm}: {key}: a value or a list of values; received {want_v!r}")
        if t.needs is not None:
            from bench.data import DATASETS

            if t.needs not in DATASETS:
                out.append(f"{w}: needs: received {t.needs!r}; allowed: {' | '.join(DATASETS)}")
    return out


def load_claims(path: str | Path | None = None) -> list[Claim]:
    """The claims of a YAML file (default: the shipped one), checked (:func:`validate`)."""
    p = Path(path) if path else CLAIMS_FILE
    try:
        data = yaml.safe_load(p.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise BenchError(f"cannot read claims file {p}: {e}") from None
    raw = data.get("claims") if isinstance(data, dict) else None
    if not isinstance(raw, list):
        raise BenchError(f"{p}: expected a mapping with a 'claims' list")
    return validate(raw, str(p))


def validate(raw: list, source: str = "claims") -> list[Claim]:
    """Claims from data, checked: every problem is reported at once (BenchError, exit 2),
    naming the claim, the key, what was received and what is allowed."""
    problems, claims, seen = [], [], set()
    for i, c in enumerate(raw):
        if not isinstance(c, dict):
            problems.append(f"claim {i + 1}: expected a mapping; received {c!r}")
            continue
        where = f"claim {c.get('id', i + 1)}"
        parts = c.get("parts") if isinstance(c.get("parts"), list) else [{}]
        lacks = [k for k in ("id", "source", "statement") if k not in c]
        lacks += [k for k in ("arms", "metric") if k not in c and not all(isinstance(q, dict) and k in q for q in parts)]
        if lacks:
            problems.append(f"{where} lacks {', '.join(lacks)}")
            continue
        try:
            claim = Claim.model_validate(c)
        except ValidationError as e:
            problems += _problems(where, e)
            continue
        if claim.id in seen:
            problems.append(f"{where}: id repeated; each claim once (several comparisons: parts)")
        seen.add(claim.id)
        problems += _check_claim(claim, where)
        claims.append(claim)
    if problems:
        if len(problems) == 1:
            raise BenchError(f"{source}: {problems[0]}")
        raise BenchError(f"{source}: {len(problems)} problems:\n" + "\n".join(f"  - {x}" for x in problems))
    return claims


# -- runs: selection, values -------------------------------------------------------------------


def _matches(got: Any, want: Any) -> bool:
    if isinstance(want, list):
        return any(_matches(got, w) for w in want)
    if isinstance(want, str) and any(ch in want for ch in "*?["):
        return isinstance(got, str) and fnmatch.fnmatch(got, want)
    if isinstance(got, list | tuple) or isinstance(want, list | tuple):
        return list(got or []) == list(want or [])
    return got == want


def select(runs: list[Run], selector: Selector) -> list[Run]:
    """The finished runs (completed or diverged) whose every selector key matches: a list
    matches any of its values, a string with * ? [ is a glob, anything else is equality."""
    return [r for r in runs if r.summary.get("status") in ("completed", "diverged")
            and all(_matches(r.get(k), v) for k, v in selector.items())]


def mixed_keys(runs: list[Run], selector: Selector, pooled_backends: bool = False) -> dict[str, list[str]]:
    """The keys in which ``runs`` differ beyond the experiment's identity
    (:func:`bench.identity.differing`: not the seed, nor keys that cannot change what a run
    measures) and the summary's kind, with their values; keys the selector gives as a list
    or a glob (pooled on purpose; a pooled ``...name`` pools the parameters that go with
    that name) are left out, and so is the backend unless the claim is judged per backend."""
    pooled = set()
    for k, v in selector.items():
        if isinstance(v, list) or (isinstance(v, str) and any(ch in v for ch in "*?[")):
            pooled.add(k)
            if k.endswith(".name"):
                pooled.add(k.rsplit(".", 1)[0] + ".")
    spec_pooled = {k[len("spec."):] for k in pooled if k.startswith("spec.")}
    out = {f"spec.{k}": v for k, v in identity.differing([r.spec for r in runs], spec_pooled).items()}
    if not pooled_backends and "spec.backend" not in pooled:
        backends = sorted({json.dumps(r.spec.get("backend")) for r in runs})
        if len(backends) > 1:
            out["spec.backend"] = backends
    kinds = sorted({json.dumps(r.summary.kind) for r in runs})
    if len(kinds) > 1 and "summary.kind" not in pooled:
        out["summary.kind"] = kinds
    return dict(sorted(out.items()))


def periodic(run: Run) -> tuple[str, list[EvalPoint]]:
    """The split that decides crossings and the run's evaluations on it
    (:func:`bench.identity.periodic`)."""
    return identity.periodic(run.evals)


def eval_set(run: Run) -> str:
    """Which images the run's periodic evaluations used, as words."""
    split, _ = periodic(run)
    data = None
    try:
        data = run.meta.data
    except UNREADABLE:
        pass
    ds = run.spec.get("dataset")
    ds = ds if isinstance(ds, dict) else {}
    if split == "val":
        n = (data.val if data else None) or ds.get("val_size")
        return f"validation split ({n} training images held out)" if n else "validation split"
    if split == "eval":
        n = (data.eval if data else None) or ds.get("eval_size")
        return f"eval subset ({n} test images)" if n else "eval subset (size not recorded)"
    n = (data.test if data else None) or ds.get("test_size")
    return f"test split ({n} images)" if n else "test split (size not recorded)"


def _steps_per_epoch(run: Run) -> int | None:
    if run.summary.get("step_unit") == "epoch":
        return 1
    return run.summary.get("steps_per_epoch")


def _trained_to(run: Run) -> int:
    """Updates the run did (its last evaluation where the summary does not say)."""
    s = run.summary
    done = s.get("steps_done")
    if done is None:
        done = s.get("total_steps") if s.status == "completed" else None
    return int(done) if done is not None else max((p.step for p in run.evals), default=0)


def _eval_every(run: Run, pts: list[EvalPoint]) -> int:
    e = run.spec.get("eval_every")
    if isinstance(e, int) and e > 0:
        return e
    gaps = [b.step - a.step for a, b in zip(pts, pts[1:], strict=False) if b.step > a.step]
    return min(gaps) if gaps else 1


def acc_value(run: Run, metric: Metric) -> tuple[float | None, str | None]:
    """The run's accuracy for ``metric``, or None and why the run does not count. A
    diverged run counts as 0 for the final accuracy and at any step after it diverged."""
    s = run.summary
    if metric.name == "final_acc":
        if s.status == "diverged":
            return 0.0, None
        return (s.final_test_acc, None) if s.final_test_acc is not None else (None, "no final accuracy")
    split, pts = periodic(run)
    if metric.name == "best_acc":
        return (max(p.acc for p in pts), None) if pts else (None, "no evaluations")
    if metric.name == "acc_at_epoch":
        spe = _steps_per_epoch(run)
        if not spe:
            return None, "steps per epoch not recorded"
        step, window, what = metric.epoch * spe, spe, f"epoch {metric.epoch:g}"
    else:
        step, window, what = metric.step, _eval_every(run, pts), f"step {metric.step}"
    if s.status == "diverged" and s.get("diverged_at") is not None and s.diverged_at < step:
        return 0.0, None
    if _trained_to(run) < step:
        return None, f"short of {what}"
    before = [p for p in pts if p.step <= step]
    if not before or before[-1].step <= step - window:
        return None, f"no evaluation within one {'epoch' if metric.name == 'acc_at_epoch' else 'cadence'} of {what}"
    return before[-1].acc, None


def crossing(run: Run, metric: Metric) -> tuple[tuple[float, float] | None, str | None]:
    """(lo, hi]: where the run first reached the target, to the evaluation cadence (steps or
    training seconds); (last evaluation, inf) if it never did, (inf, inf) if it diverged
    first; or None and why the run does not count."""
    _, pts = periodic(run)
    if not pts:
        return None, "no evaluations"
    seconds = metric.name == "seconds_to_target"
    if seconds and any(p.train_s is None for p in pts):
        return None, "no training seconds recorded"
    x = [float(p.train_s if seconds else p.step) for p in pts]
    for k, p in enumerate(pts):
        if p.acc >= metric.target:
            if k == 0 and p.step == 0:  # met before training: within the first cadence interval
                return ((0.0, x[1]) if len(x) > 1 else (0.0, math.inf)), None
            return (x[k - 1] if k else 0.0, x[k]), None
    if run.summary.status == "diverged":
        return (math.inf, math.inf), None
    return (x[-1], math.inf), None


# -- judging -----------------------------------------------------------------------------------


def _fmt_ratio(x: float) -> str:
    return f"{x:.3g}"


def _ratio_words(lo: float, hi: float, single: bool) -> str:
    """B/A's interval in words; an end that is 0 or infinite is open (no infinite ratios)."""
    how = "from the cadence" if single else "95%"
    if math.isinf(lo):
        return "B/A unbounded: B's runs diverged before getting there"
    if lo == 0 and math.isinf(hi):
        return f"B/A unbounded ({how}: too few pairs ordered)"
    if math.isinf(hi):
        return f"B/A >= {_fmt_ratio(lo)} ({how}; upper end open)"
    if lo == 0:
        return f"B/A <= {_fmt_ratio(hi)} ({how}; lower end open)"
    return f"B/A in [{_fmt_ratio(lo)}, {_fmt_ratio(hi)}] ({how})"


def _median_words(iv: np.ndarray, unit: str) -> str:
    hi = np.sort(iv[:, 1])
    med = hi[(len(hi) - 1) // 2] if len(hi) % 2 else (hi[len(hi) // 2 - 1] + hi[len(hi) // 2]) / 2
    if not math.isfinite(med):
        return "not reached"
    return f"{med:.0f}" if unit == "steps" else f"{med:.1f} s"


def _absent(check: Check, paths) -> str:
    where = ", ".join(str(p) for p in paths) or "(no paths)"
    if check.reference:
        return f"no data: needs {check.reference}, not found in {where}"
    names = [check.needs] if check.needs else sorted({
        v for sel in check.arms.values() for k, w in sel.items() if k == "spec.dataset.name"
        for v in (w if isinstance(w, list) else [w]) if isinstance(v, str) and not any(ch in v for ch in "*?[")})
    from bench.data import DATASETS
    from bench.errors import DataError

    for name in names:
        if name not in DATASETS:
            continue
        try:
            DATASETS[name].locate(None)
        except DataError as e:
            return f"no data: needs {name}, not found in {_places(str(e))}"
    made = f"; made by: {check.produced_by}" if check.produced_by else ""
    have = f" ({', '.join(names)} present)" if names else ""
    return f"no runs: none in {where} match{have}{made}"


def _places(msg: str) -> str:
    """The places a DataError message says were looked in, on one line."""
    lines = msg.splitlines()
    for i, line in enumerate(lines):
        if line.rstrip().endswith("in:"):
            places = []
            for nxt in lines[i + 1:]:
                if not nxt.startswith(" "):
                    break
                places.append(" ".join(nxt.split()))
            if places:
                return "; ".join(places)
    return lines[0] if lines else msg


def _need_words(check: Check) -> str:
    m = check.margin
    what = "ratio" if check.metric.name in TIMED else "margin"
    by = {"source": f" ({what} from the source)", "ours": f" ({what} ours)"}.get(check.tolerance_by or "", "")
    if check.metric.name in TIMED:
        return f"needs B/A > {check.ratio:g}{by}"
    return {"superiority": f"needs A - B > {m:+.4f}", "non-inferiority": f"needs A - B > {-m:+.4f}",
            "equivalence": f"needs |A - B| < {m:.4f}",
            "difference_of_differences": f"needs (a - b) - (c - d) > {m:+.4f}"}[check.kind] + by


def judge(check: Check, runs: list[Run], paths=(), pool_numerics: bool = False) -> list[dict]:
    """One verdict per backend (a check with ``per_backend: false``: one for all runs).
    Raises BenchError where an arm's runs differ in more than the seed."""
    selected = {k: identity.distinct(select(runs, sel))[0] for k, sel in check.arms.items()}
    base = {"id": check.id, "part": check.part or "", "metric": check.metric.label(), "kind": check.kind,
            "paper": check.paper, "must_hold": check.must_hold, "n1": False, "statement": check.statement,
            "operational": check.operational or "", "source": check.source, "baseline": check.baseline or ""}
    if not any(selected.values()):
        return [dict(base, backend="—", verdict="inconclusive", n=" / ".join("0" for _ in check.arms), ours="",
                     why=_absent(check, paths))]
    groups = ["all"] if not check.per_backend else sorted({r.summary.backend for rs in selected.values() for r in rs})
    out, mixed, versions = [], [], []
    for b in groups:
        group = {k: [r for r in rs if b == "all" or r.summary.backend == b] for k, rs in selected.items()}
        for k, rs in group.items():
            diff = mixed_keys(rs, check.arms[k], pooled_backends=not check.per_backend)
            if diff:
                keys = "; ".join(f"{key} ({' | '.join(v)})" for key, v in diff.items())
                mixed.append(f"claim {check.label}, arm {k} ({b}): its selector {json.dumps(check.arms[k])} matches "
                             f"runs that differ in more than the seed: {keys}")
        two = numerics.mixed([r for rs in group.values() for r in rs])
        if two and not pool_numerics:
            versions.append(_numerics_words(check, b, group, two))
        if not mixed and not versions:
            code = numerics.code_words([r for rs in group.values() for r in rs])
            if two:
                code = "POOLED numerics versions (--pool-numerics): " + code
            out.append(dict(base, backend=b, **_verdict(check, group), baseline=baseline_words(check, group),
                            code=code))
    if mixed:
        raise BenchError("\n".join(mixed) + "\npin such keys in the selector, or give one as a list to pool its "
                         "values on purpose")
    if versions:
        raise BenchError("\n".join(versions))
    return out


def _numerics_words(check: Check, backend: str, group: dict[str, list[Run]], two: dict) -> str:
    """Why a verdict is refused: its arms hold runs of two numerics versions of a backend."""
    lines = [f"claim {check.label} ({backend}): its runs were made under more than one numerics version, "
             "which one verdict never pools:"]
    arm_of = {r.path.name: k for k, rs in group.items() for r in rs}
    for b, vs in two.items():
        for v, ids in sorted(vs.items(), key=lambda kv: -1 if kv[0] is None else kv[0]):
            shown = ", ".join(f"{i} (arm {arm_of.get(i, '?')})" for i in ids[:4])
            more = f" and {len(ids) - 4} more" if len(ids) > 4 else ""
            lines.append(f"  {b} numerics {'unknown' if v is None else v}: {shown}{more}")
    lines.append("  rerun the older runs with this tree (bench full reruns runs made under an older version), or pass "
                 "--pool-numerics to pool them on purpose (the verdict row then says so)")
    return "\n".join(lines)


def baseline_words(check: Check, group: dict[str, list[Run]]) -> str:
    """Arm B in words: the claim's ``baseline`` (range-test pick, tuned best, ...), B's policy
    as run, and for a rate chosen from a grid how it was chosen (the choice file written by
    ``bench full``: bench/tuning.py)."""
    if not check.baseline:
        return ""
    runs = group.get("b") or []
    if not runs:
        return check.baseline
    from bench.schedules import label

    labels = sorted({label(r.spec["policy"]) for r in runs if isinstance(r.spec.get("policy"), dict)})
    words = f"{check.baseline}: {', '.join(labels)}"
    prov = runs[0].spec.get("provenance") or {}
    if isinstance(prov, dict) and prov.get("rule") == "grid-best":
        grid = prov.get("chosen_from") or []
        seeds = prov.get("tuning_seeds") or []
        split = prov.get("split", "val")
        words += (f" (best of {len(grid)} on the {split} split by {prov.get('metric_label', 'the claim metric')}, "
                  f"tuning seeds {', '.join(map(str, seeds))})")
    elif isinstance(prov, dict) and prov.get("c") is not None:
        words += f" (c = {prov['c']:g})"
    return words


def _verdict(check: Check, group: dict[str, list[Run]]) -> dict:
    arms = list(check.arms)
    timed = check.metric.name in TIMED
    seconds = check.metric.name == "seconds_to_target"
    vals, skipped = {}, {}
    contended = 0
    for k in arms:
        got, why = [], []
        for r in group[k]:
            if seconds and r.summary.get("contended") is True:  # its seconds measure the machine's load
                contended += 1
                why.append("contended: another process competed for the CPUs (bench.clock)")
                continue
            v, reason = crossing(r, check.metric) if timed else acc_value(r, check.metric)
            (got.append(v) if v is not None else why.append(reason))
        vals[k], skipped[k] = got, why
    counts = {k: len(vals[k]) for k in arms}
    n = " / ".join(str(counts[k]) for k in arms)
    left_out = "; ".join(f"arm {k}: {len(w)} left out ({', '.join(sorted(set(w)))})" for k, w in skipped.items() if w)
    if contended:
        left_out = f"{contended} contended runs left out (seconds need a machine to themselves)" + (
            f"; {left_out}" if left_out else "")
    short = [k for k in arms if counts[k] < check.min_runs]
    if short:
        why = ("too few runs: " + ", ".join(f"arm {k} has {counts[k]}" for k in short) +
               f" (needs {check.min_runs} per arm)" + (f"; {left_out}" if left_out else ""))
        if check.produced_by and any(not group[k] for k in short):
            why += f"; made by: {check.produced_by}"
        ours = ""
        if timed:
            ours = "reached " + " vs ".join(f"{sum(1 for v in vals[k] if math.isfinite(v[1]))}/{counts[k]}" for k in arms)
        return {"verdict": "inconclusive", "n": n, "ours": ours, "why": why}
    single = check.min_runs == 1 and min(counts.values()) == 1
    need = _need_words(check)
    note = f"; {left_out}" if left_out else ""
    if timed:
        a, b = (np.array(vals[k], float).reshape(-1, 2) for k in ("a", "b"))
        code = int(decide_ratio(a[:, 0], a[:, 1], b[:, 0], b[:, 1], check.ratio, single=single))
        lo, hi = ratio_interval(a[:, 0], a[:, 1], b[:, 0], b[:, 1], single=single)
        unit = "steps" if check.metric.name == "steps_to_target" else "seconds"
        reached = f"reached {int(np.isfinite(a[:, 1]).sum())}/{len(a)} vs {int(np.isfinite(b[:, 1]).sum())}/{len(b)}"
        sets = {k: sorted({eval_set(r) for r in group[k]}) for k in ("a", "b")}
        on = " and ".join(sets["a"]) if sets["a"] == sets["b"] else (
            f"A on {' and '.join(sets['a'])}, B on {' and '.join(sets['b'])}")
        t = check.metric.target
        final = [sum(1 for r in group[k] if (r.summary.final_test_acc or 0) >= t) for k in ("a", "b")]
        ours = (f"median {unit} {_median_words(a, unit)} vs {_median_words(b, unit)}; {reached}; "
                f"{_ratio_words(lo, hi, single)}; crossings on the {on}; final whole-test accuracy >= {t:g}: "
                f"{final[0]}/{len(group['a'])} vs {final[1]}/{len(group['b'])}")
        how = ("n=1 per arm: the crossings compared directly (no error control)" if single else
               "B/A from the cadence intervals (Mann-Whitney 95%; never reached = slowest)")
        return {"verdict": VERDICTS[code], "n1": single, "n": n, "ours": ours, "why": f"{how}; {need}{note}"}
    if check.kind == "difference_of_differences":
        xs = [np.array(vals[k], float) for k in ("a", "b", "c", "d")]
        adv1, adv2 = xs[0].mean() - xs[1].mean(), xs[2].mean() - xs[3].mean()
        if single:
            est = lo = hi = adv1 - adv2
        else:
            est, lo, hi = (float(x) for x in welch_dd(*xs))
        code = int(decide_interval(check.kind, lo, hi, check.margin))
        ours = f"advantage {adv1:+.4f} vs {adv2:+.4f}: difference {est:+.4f}" + (
            "" if single else f", 95% CI [{lo:+.4f}, {hi:+.4f}]")
    else:
        a, b = np.array(vals["a"], float), np.array(vals["b"], float)
        if single:
            est = lo = hi = float(a.mean() - b.mean())
        else:
            est, lo, hi = (float(x) for x in welch(a, b))
        code = int(decide_interval(check.kind, lo, hi, check.margin))
        ours = f"{a.mean():.4f} vs {b.mean():.4f}: {est:+.4f}" + ("" if single else f", 95% CI [{lo:+.4f}, {hi:+.4f}]")
    how = "n=1 per arm: values compared directly (no error control)" if single else "Welch 95% interval"
    return {"verdict": VERDICTS[code], "n1": single, "n": n, "ours": ours, "why": f"{how}; {need}{note}"}


def verdicts(paths, claims_file=None, stream=None, pool_numerics: bool = False) -> list[dict]:
    """Every check of the claims file judged on the runs in ``paths``. Raises BenchError
    naming every arm whose runs differ in more than the seed, and every verdict whose runs
    were made under two numerics versions of a backend (unless ``pool_numerics``)."""
    claims = load_claims(claims_file)
    runs = load_runs(paths, stream)
    out, problems = [], []
    for c in checks(claims):
        try:
            out.extend(judge(c, runs, paths, pool_numerics))
        except BenchError as e:
            problems.append(str(e))
    if problems:
        raise BenchError("\n".join(problems))
    return out


def render(rows: list[dict]) -> str:
    from tabulate import tabulate

    cols = ["id", "backend", "verdict", "baseline", "metric", "kind", "n", "ours", "paper", "why", "code"]
    if not any(r.get("baseline") for r in rows):
        cols.remove("baseline")
    table = []
    for r in rows:
        row = dict(r, id=r["id"] + (f" ({r['part']})" if r.get("part") else ""),
                   verdict=r["verdict"] + (" (n=1)" if r.get("n1") else ""))
        table.append([row.get(c, "") for c in cols])
    # the claims themselves, once each, under the table (a reader sees what each id says)
    seen, said = set(), ["", "What each claim says:", ""]
    for r in rows:
        if r["id"] not in seen and r.get("statement"):
            seen.add(r["id"])
            said.append(f"- **{r['id']}** ({r.get('source', '')}): {r['statement']}")
    return tabulate(table, headers=cols, tablefmt="github") + "\n" + ("\n".join(said) + "\n" if seen else "")
