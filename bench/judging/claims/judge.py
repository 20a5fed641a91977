"""Judging a check on run directories: select each arm, refuse what must not be pooled,
read the values and decide (bench.judging.claims.stats)."""

from __future__ import annotations

import json
import math

import numpy as np

from bench.errors import BenchError
from bench.judging.claims.evidence import acc_value, crossing, eval_set, mixed_keys, select
from bench.judging.claims.schema import Check, checks, load_claims
from bench.judging.claims.stats import (
    TIMED,
    VERDICTS,
    decide_interval,
    decide_ratio,
    ratio_interval,
    welch,
    welch_dd,
)
from bench.judging.claims.words import (
    _absent,
    _median_words,
    _need_words,
    _numerics_words,
    _ratio_words,
    baseline_words,
)
from bench.records import identity, numerics
from bench.records.rundir import Run, load_runs


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
                why.append("contended: another process competed for the CPUs (bench.running.clock)")
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
