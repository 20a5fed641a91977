"""Claims as data (bench/claims/claims.yaml), judged on run directories: ``bench claims``.

A claim names its source, the runs it compares (selectors on the run's spec and
summary), a metric, a kind, a margin and how many runs each arm needs. A verdict is one
of ``holds``, ``fails`` or ``inconclusive``, with the numbers that decided it.

Metrics: ``final_acc``, ``best_acc``, ``acc_at_step`` (N), ``acc_at_epoch`` (E), and the
censored ``steps_to_target`` / ``seconds_to_target`` (T): a run that never reached T has
no value and counts as slower than every run that did.

Kinds and how they are decided (alpha = 0.05; A and B are the two arms):
- accuracy, n >= 2 per arm: the 95% Welch interval of mean(A) - mean(B) is compared with
  the margin m: ``superiority`` holds if its lower end > m, fails if its upper end < m;
  ``non-inferiority`` holds if lower > -m, fails if upper < -m; ``equivalence`` holds if
  the interval lies inside (-m, m), fails if it lies wholly outside; otherwise (the
  interval straddles the tolerance) inconclusive;
- steps or seconds to a target (``superiority`` only: A gets there first): a one-sided
  Mann-Whitney U test with never-reached runs ranked last; holds if p < alpha and the
  ratio of medians B/A >= ``ratio`` (default 1); fails if the reverse test has p < alpha
  (B significantly faster); otherwise (and when neither arm reached the target)
  inconclusive;
- ``difference_of_differences`` (four arms a, b, c, d): (mean a - mean b) - (mean c -
  mean d) > m, by the same Welch interval on the combined variance;
- single runs (the authors' logs, ``min_runs: 1``): the values are compared directly and
  the verdict says n=1.
Too few runs in an arm (``min_runs``; superiority on our runs needs 5 per arm, MLPerf's
count) or no runs at all: inconclusive.
"""

from __future__ import annotations

import fnmatch
import math
from pathlib import Path

import numpy as np
import yaml

from bench.errors import BenchError
from bench.rundir import Run, load_runs

CLAIMS_FILE = Path(__file__).parent / "claims" / "claims.yaml"
ALPHA = 0.05


def select(runs: list[Run], selector: dict) -> list[Run]:
    out = []
    for r in runs:
        ok = True
        for key, want in selector.items():
            got = r.get(key)
            if isinstance(want, str) and any(ch in want for ch in "*?["):
                ok = isinstance(got, str) and fnmatch.fnmatch(got, want)
            elif isinstance(want, list):
                ok = got in want
            else:
                ok = got == want
            if not ok:
                break
        if ok and r.summary.get("status") in ("completed", "diverged"):
            out.append(r)
    return out


def value(run: Run, metric: dict):
    """The run's value of ``metric``; ``math.inf`` for a censored time-to-target."""
    name = metric["name"]
    s = run.summary
    if name == "final_acc":
        return s.get("final_test_acc") if s.get("status") == "completed" else 0.0  # diverged: worst
    if name == "best_acc":
        return s.get("best_test_acc")
    if name in ("acc_at_step", "acc_at_epoch"):
        if name == "acc_at_epoch" and s.get("step_unit") == "epoch":
            step = metric["epoch"]
        elif name == "acc_at_epoch":
            if not s.get("steps_per_epoch"):
                return None  # an imported run that does not say how long an epoch is
            step = metric["epoch"] * s.get("steps_per_epoch")
        else:
            step = metric["step"]
        before = [a for st, a, _ in run.evals if st <= step]
        return before[-1] if before else None
    if name in ("steps_to_target", "seconds_to_target"):
        t = float(metric["target"])
        hit = next(((st, ts) for st, a, ts in run.evals if a >= t), None)
        if hit is None:
            return math.inf
        return float(hit[0]) if name == "steps_to_target" else hit[1]
    raise BenchError(f"unknown metric {name!r}; allowed: final_acc, best_acc, acc_at_step, acc_at_epoch, "
                     "steps_to_target, seconds_to_target")


def _welch(a, b):
    from scipy import stats

    a, b = np.asarray(a, float), np.asarray(b, float)
    diff = a.mean() - b.mean()
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    if se == 0:
        return diff, (diff, diff)
    df = (va + vb) ** 2 / ((va**2) / (len(a) - 1) + (vb**2) / (len(b) - 1))
    h = stats.t.ppf(1 - ALPHA / 2, df) * se
    return diff, (diff - h, diff + h)


def _fmt(v):
    if v is None:
        return "—"
    if isinstance(v, float) and math.isinf(v):
        return "never"
    return f"{v:.4g}"


def judge(claim: dict, runs: list[Run]) -> list[dict]:
    """One verdict per backend group (reference claims: one)."""
    arms = claim["arms"]
    metric = claim["metric"]
    kind = claim.get("kind", "superiority")
    margin = float(claim.get("margin", 0.0))
    min_runs = int(claim.get("min_runs", 5))
    selected = {k: select(runs, sel) for k, sel in arms.items()}
    backends = sorted({r.summary.get("backend") for rs in selected.values() for r in rs}) or ["—"]
    if not claim.get("per_backend", True):
        backends = ["all"]
    out = []
    for b in backends:
        group = {k: [r for r in rs if b == "all" or r.summary.get("backend") == b] for k, rs in selected.items()}
        vals = {k: [value(r, metric) for r in rs] for k, rs in group.items()}
        vals = {k: [v for v in vs if v is not None] for k, vs in vals.items()}
        rec = {"id": claim["id"], "backend": b, "metric": _metric_label(metric), "kind": kind,
               "n": " / ".join(str(len(vals[k])) for k in arms), "paper": claim.get("paper", ""),
               "must_hold": bool(claim.get("must_hold", False))}
        short = [k for k in arms if len(vals[k]) < min_runs]
        if short:
            rec.update(verdict="inconclusive",
                       why=f"too few runs in arm {', '.join(short)}: " +
                           ", ".join(f"{k} has {len(vals[k])}" for k in short) + f" (needs {min_runs})")
            out.append(rec)
            continue
        rec.update(_decide(kind, metric, vals, margin, claim, min_runs))
        out.append(rec)
    return out


def _metric_label(m: dict) -> str:
    extra = next((f"{k}={m[k]}" for k in ("target", "step", "epoch") if k in m), "")
    return m["name"] + (f" ({extra})" if extra else "")


def _decide(kind, metric, vals, margin, claim, min_runs) -> dict:
    timed = metric["name"] in ("steps_to_target", "seconds_to_target")
    n1 = min_runs == 1
    if kind == "difference_of_differences":
        a, b, c, d = (vals[k] for k in ("a", "b", "c", "d"))
        adv1, adv2 = np.mean(a) - np.mean(b), np.mean(c) - np.mean(d)
        dd = adv1 - adv2
        from scipy import stats

        if n1:
            h = 0.0
        else:  # Welch-Satterthwaite degrees of freedom over the four arms
            v = [np.var(x, ddof=1) / len(x) for x in (a, b, c, d)]
            se = math.sqrt(sum(v))
            den = sum(vi**2 / (len(x) - 1) for vi, x in zip(v, (a, b, c, d), strict=True))
            df = sum(v) ** 2 / den if den > 0 else math.inf
            h = stats.t.ppf(1 - ALPHA / 2, df) * se if se > 0 else 0.0
        lo, hi = dd - h, dd + h
        verdict = "holds" if lo > margin else "fails" if hi < margin else "inconclusive"
        return {"verdict": verdict, "ours": f"advantage {adv1:+.4f} vs {adv2:+.4f}: difference {dd:+.4f} "
                                             f"[{lo:+.4f}, {hi:+.4f}]", "why": f"needs > {margin:+.4f}"}
    a, b = vals["a"], vals["b"]
    if timed:
        ratio_needed = float(claim.get("ratio", 1.0))
        med_a, med_b = float(np.median(a)), float(np.median(b))
        ratio = med_b / med_a if med_a not in (0.0, math.inf) else (math.inf if med_b == math.inf and med_a == 0 else
                                                                     (0.0 if med_a == math.inf else math.inf))
        reached = f"reached {sum(map(math.isfinite, a))}/{len(a)} vs {sum(map(math.isfinite, b))}/{len(b)}"
        ours = f"median {_fmt(med_a)} vs {_fmt(med_b)} (B/A {_fmt(ratio)}); {reached}"
        if med_a == math.inf and med_b == math.inf:
            return {"verdict": "inconclusive", "ours": ours, "why": "neither arm reached the target"}
        if n1:
            verdict = "holds" if ratio >= ratio_needed else "fails"
            return {"verdict": verdict, "ours": ours, "why": f"n=1 per arm: ratio {_fmt(ratio)} vs needed {ratio_needed:g}"}
        from scipy import stats

        big = 1e300
        fa, fb = [min(v, big) for v in a], [min(v, big) for v in b]
        p = stats.mannwhitneyu(fa, fb, alternative="less").pvalue
        p_rev = stats.mannwhitneyu(fa, fb, alternative="greater").pvalue
        if p < ALPHA and ratio >= ratio_needed:
            verdict = "holds"
        elif p_rev < ALPHA:  # B significantly faster
            verdict = "fails"
        else:
            verdict = "inconclusive"
        return {"verdict": verdict, "ours": ours,
                "why": f"Mann-Whitney one-sided p={p:.3g} (reverse {p_rev:.3g}); needs p<{ALPHA} and B/A >= {ratio_needed:g}"}
    ma, mb = float(np.mean(a)), float(np.mean(b))
    if n1:
        diff = ma - mb
        lo = hi = diff
    else:
        diff, (lo, hi) = _welch(a, b)
    ours = f"{ma:.4f} vs {mb:.4f}: {diff:+.4f}" + ("" if n1 else f" [{lo:+.4f}, {hi:+.4f}]")
    if kind == "superiority":
        verdict = "holds" if lo > margin else "fails" if hi < margin or (n1 and diff <= margin) else "inconclusive"
        need = f"A - B > {margin:+.4f}"
    elif kind == "non-inferiority":
        verdict = "holds" if lo > -margin else "fails" if hi < -margin or (n1 and diff <= -margin) else "inconclusive"
        need = f"A - B > {-margin:+.4f}"
    elif kind == "equivalence":
        verdict = ("holds" if -margin < lo and hi < margin else
                   "fails" if lo > margin or hi < -margin else "inconclusive")
        need = f"|A - B| < {margin:.4f}"
    else:
        raise BenchError(f"unknown claim kind {kind!r}; allowed: superiority, non-inferiority, equivalence, "
                         "difference_of_differences")
    return {"verdict": verdict, "ours": ours, "why": ("n=1 per arm; " if n1 else "95% Welch interval; ") + need}


def load_claims(path: str | Path | None = None) -> list[dict]:
    p = Path(path) if path else CLAIMS_FILE
    try:
        data = yaml.safe_load(p.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise BenchError(f"cannot read claims file {p}: {e}") from None
    claims = data.get("claims") if isinstance(data, dict) else None
    if not isinstance(claims, list):
        raise BenchError(f"{p}: expected a mapping with a 'claims' list")
    for c in claims:
        missing = [k for k in ("id", "source", "statement", "arms", "metric") if k not in c]
        if missing:
            raise BenchError(f"{p}: claim {c.get('id', '?')} lacks {', '.join(missing)}")
    return claims


def verdicts(paths, claims_file=None, stream=None) -> list[dict]:
    runs = load_runs(paths, stream)
    out = []
    for c in load_claims(claims_file):
        for v in judge(c, runs):
            v["statement"] = c["statement"]
            v["source"] = c["source"]
            out.append(v)
    return out


def render(rows: list[dict]) -> str:
    from tabulate import tabulate

    cols = ["id", "backend", "verdict", "metric", "kind", "n", "ours", "paper", "why"]
    return tabulate([[r.get(c, "") for c in cols] for r in rows], headers=cols, tablefmt="github") + "\n"
