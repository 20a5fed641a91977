"""The claims file as data: the pydantic models of a claim, its parts and metric, the
checks they expand into, and the selectors' keys checked against the run records."""

from __future__ import annotations

import types
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bench.errors import BenchError
from bench.judging.claims.stats import KINDS, METRICS, TIMED

CLAIMS_FILE = Path(__file__).parent / "claims.yaml"
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
    from bench.records import rundir
    from bench.records.spec import Spec

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
