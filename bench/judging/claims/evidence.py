"""What a run says for a claim: the runs an arm selects, the keys they differ in, the
periodic evaluations, the accuracy a metric asks for and where a target was crossed."""

from __future__ import annotations

import fnmatch
import json
import math
from typing import Any

from bench.judging.claims.schema import Metric, Selector
from bench.records import identity
from bench.records.rundir import UNREADABLE, EvalPoint, Run


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
    (:func:`bench.records.identity.differing`: not the seed, nor keys that cannot change what a run
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
        backends = sorted({json.dumps(r.head.backend) for r in runs})
        if len(backends) > 1:
            out["spec.backend"] = backends
    kinds = sorted({json.dumps(r.summary.kind) for r in runs})
    if len(kinds) > 1 and "summary.kind" not in pooled:
        out["summary.kind"] = kinds
    return dict(sorted(out.items()))


def periodic(run: Run) -> tuple[str, list[EvalPoint]]:
    """The split that decides crossings and the run's evaluations on it
    (:func:`bench.records.identity.periodic`)."""
    return identity.periodic(run.evals)


def eval_set(run: Run) -> str:
    """Which images the run's periodic evaluations used, as words."""
    split, _ = periodic(run)
    data = None
    try:
        data = run.meta.data
    except UNREADABLE:
        pass
    ds = run.head.dataset
    if split == "val":
        n = (data.val if data else None) or ds.val_size
        return f"validation split ({n} training images held out)" if n else "validation split"
    if split == "eval":
        n = (data.eval if data else None) or ds.eval_size
        return f"eval subset ({n} test images)" if n else "eval subset (size not recorded)"
    n = (data.test if data else None) or ds.test_size
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
    if run.head.eval_every:
        return run.head.eval_every
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
