"""The claims engine calibrated by simulation: ``python -m bench.judging.claims_sim``.

Each case is a simulated experiment whose truth is known, repeated ``EXPERIMENTS`` times
(seeded) for 3, 5 and 10 runs per arm, and judged by the very functions ``bench claims``
uses (:func:`bench.judging.claims.decide_interval` on the Welch intervals,
:func:`bench.judging.claims.decide_ratio`). Times to a target are observed as real runs observe
them: a crossing is seen at the first evaluation after it (the cadence), a run that has
not got there by its last evaluation is censored there, a diverged run never gets there.

- Null cases sit exactly on the boundary of the claim (A and B from one distribution; a
  ratio exactly at the one required; an advantage exactly at the margin). There the
  engine may say holds (or fails) at most at its alpha: a case passes when the
  Clopper-Pearson 95% upper bound of the rate is at most :data:`BOUND`.
- Effect cases state a real effect; the table gives the power (holds) per number of runs,
  and for the reverse effect how often the engine says fails.
- n=1 rows show what single runs (the authors' logs, ``min_runs: 1``) are worth under the
  null: a coin toss, which is why such a verdict says n=1. They are not asserted.

Accuracies: 0.90 +- 0.005 (the seed-to-seed SD of our Fashion-MNIST runs is about that);
the heavy-tailed variant makes a tenth of the seeds 1 to 5 points worse. Times: lognormal,
median 1,000 steps, SD of log 0.3, evaluations every 100 steps.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bench.judging import claims as C

EXPERIMENTS = 2000  # simulated experiments per case and number of runs
SEEDS = (3, 5, 10)  # runs per arm
BOUND = 0.06  # the largest Clopper-Pearson 95% upper bound of a false verdict's rate
SD = 0.005  # seed-to-seed SD of a final accuracy
SEED = 20260501


def cp_upper(x: int, m: int) -> float:
    """Upper end of the two-sided 95% Clopper-Pearson interval of x successes in m trials."""
    from scipy import stats

    return 1.0 if x >= m else float(stats.beta.ppf(0.975, x + 1, m - x))


# -- accuracies --------------------------------------------------------------------------------


def _acc(rng, shape, mean: float, tail: bool):
    x = mean + SD * rng.standard_normal(shape)
    if tail:  # a tenth of the seeds 1 to 5 points worse: skewed, heavy-tailed
        x = np.where(rng.random(shape) < 0.1, x - rng.uniform(0.01, 0.05, shape), x)
    return x


def two_arms(kind: str, diff: float, margin: float, tail: bool = False):
    """A - B = ``diff`` in truth; judged with ``margin``."""
    def run(rng, n, m, single=False):
        a, b = _acc(rng, (m, n), 0.90 + diff, tail), _acc(rng, (m, n), 0.90, tail)
        if single:
            lo = hi = a.mean(-1) - b.mean(-1)
        else:
            _, lo, hi = C.welch(a, b)
        return C.decide_interval(kind, lo, hi, margin)
    return run


def four_arms(dd: float, margin: float, advantage: float = 0.0, tail: bool = False):
    """(a - b) - (c - d) = ``dd`` in truth, c - d = ``advantage``."""
    def run(rng, n, m, single=False):
        a = _acc(rng, (m, n), 0.90 + advantage + dd, tail)
        b = _acc(rng, (m, n), 0.90, tail)
        c = _acc(rng, (m, n), 0.92 + advantage, tail)
        d = _acc(rng, (m, n), 0.92, tail)
        _, lo, hi = C.welch_dd(a, b, c, d)
        return C.decide_interval("difference_of_differences", lo, hi, margin)
    return run


# -- times to a target -------------------------------------------------------------------------


def _times(rng, shape, scale: float, sigma: float, p_zero: float, p_never: float, p_div: float):
    """True times; 0: met before training; inf: never (nan marks a divergence)."""
    t = scale * 1000.0 * np.exp(sigma * rng.standard_normal(shape))
    u = rng.random(shape)
    t = np.where(u < p_zero, 0.0, t)
    t = np.where((u >= p_zero) & (u < p_zero + p_never), np.inf, t)
    return np.where((u >= p_zero + p_never) & (u < p_zero + p_never + p_div), np.nan, t)


def observe(t, cadence, evaluations: int):
    """(lo, hi] as a run records a true time ``t``: seen at the first evaluation at or after
    it (every ``cadence``: steps, or each run's seconds between evaluations), censored at
    the last of its ``evaluations`` after step 0 (the budget); met before training: the
    first cadence interval; diverged (nan): never, (inf, inf)."""
    cadence = np.broadcast_to(np.asarray(cadence, float), np.shape(t))
    with np.errstate(invalid="ignore"):
        k = np.ceil(t / cadence)
    lo, hi = (k - 1) * cadence, k * cadence
    zero = k == 0
    lo, hi = np.where(zero, 0.0, lo), np.where(zero, cadence, hi)
    censored = ~(k <= evaluations)  # never (inf) and diverged (nan) too
    lo, hi = np.where(censored, evaluations * cadence, lo), np.where(censored, np.inf, hi)
    div = np.isnan(t)
    return np.where(div, np.inf, lo), np.where(div, np.inf, hi)


def times(required: float, true_ratio: float, sigma: float = 0.3, cadence: float = 100.0, budget_a: float = 3000,
          budget_b: float | None = None, p_zero: float = 0.0, p_never: float = 0.0, p_div: float = 0.0,
          seconds: bool = False):
    """B's true times are ``true_ratio`` x A's in distribution; the claim needs ``required``."""
    budget_b = budget_a * max(true_ratio, 1.0) if budget_b is None else budget_b

    def run(rng, n, m, single=False):
        ta = _times(rng, (m, n), 1.0, sigma, p_zero, p_never, p_div)
        tb = true_ratio * _times(rng, (m, n), 1.0, sigma, p_zero, p_never, p_div)
        ea, eb = int(budget_a // cadence), int(budget_b // cadence)  # evaluations the budgets allow
        if seconds:  # each run its own speed (seconds per step, +-10%): its own grid in seconds
            sa = 0.05 * np.exp(0.1 * rng.standard_normal((m, n)))
            sb = 0.05 * np.exp(0.1 * rng.standard_normal((m, n)))
            ta, tb = ta * 0.05, tb * 0.05  # true seconds at the typical speed
            a_lo, a_hi = observe(ta, cadence * sa, ea)
            b_lo, b_hi = observe(tb, cadence * sb, eb)
        else:
            a_lo, a_hi = observe(ta, cadence, ea)
            b_lo, b_hi = observe(tb, cadence, eb)
        return C.decide_ratio(a_lo, a_hi, b_lo, b_hi, required, single=single)
    return run


# -- the cases ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    kind: str
    name: str
    truth: str  # null | effect (holds is right) | reverse (fails is right) | n=1
    run: Callable


def cases() -> list[Case]:
    sup, ni, eq, dd = "superiority", "non-inferiority", "equivalence", "difference_of_differences"
    tt = "time to target (ratio)"
    return [
        Case(sup, "one distribution, margin 0", "null", two_arms(sup, 0.0, 0.0)),
        Case(sup, "A - B = margin 0.005", "null", two_arms(sup, 0.005, 0.005)),
        Case(sup, "A - B = margin 0.005, heavy tail", "null", two_arms(sup, 0.005, 0.005, tail=True)),
        Case(sup, "A - B = margin + 0.01 (2 SD)", "effect", two_arms(sup, 0.015, 0.005)),
        Case(sup, "A - B = margin - 0.01", "reverse", two_arms(sup, -0.005, 0.005)),
        Case(ni, "A - B = -margin (-0.005)", "null", two_arms(ni, -0.005, 0.005)),
        Case(ni, "A - B = -margin, heavy tail", "null", two_arms(ni, -0.005, 0.005, tail=True)),
        Case(ni, "A - B = -margin + 0.01", "effect", two_arms(ni, 0.005, 0.005)),
        Case(ni, "A - B = -margin - 0.01", "reverse", two_arms(ni, -0.015, 0.005)),
        Case(eq, "A - B = +margin (0.01)", "null", two_arms(eq, 0.01, 0.01)),
        Case(eq, "A - B = -margin", "null", two_arms(eq, -0.01, 0.01)),
        Case(eq, "A - B = +margin, heavy tail", "null", two_arms(eq, 0.01, 0.01, tail=True)),
        Case(eq, "A - B = 0", "effect", two_arms(eq, 0.0, 0.01)),
        Case(eq, "A - B = margin + 0.01", "reverse", two_arms(eq, 0.02, 0.01)),
        Case(dd, "four arms from one distribution, margin 0", "null", four_arms(0.0, 0.0)),
        Case(dd, "both advantages 0.02, margin 0", "null", four_arms(0.0, 0.0, advantage=0.02)),
        Case(dd, "difference = margin, heavy tail", "null", four_arms(0.0, 0.0, tail=True)),
        Case(dd, "difference = margin + 0.015 (3 SD)", "effect", four_arms(0.015, 0.0)),
        Case(dd, "difference = margin - 0.015", "reverse", four_arms(-0.015, 0.0)),
        Case(tt, "one distribution, ratio 1", "null", times(1.0, 1.0)),
        Case(tt, "B/A = required 4, B's budget 8x A's median", "null", times(4.0, 4.0, budget_b=8000)),
        Case(tt, "B/A = required 4, half of B censored", "null", times(4.0, 4.0, budget_b=4000)),
        Case(tt, "ratio 1, cadence 500 (ties)", "null", times(1.0, 1.0, cadence=500)),
        Case(tt, "ratio 1, 30% met at step 0", "null", times(1.0, 1.0, p_zero=0.3)),
        Case(tt, "ratio 1, 20% never + 10% diverge", "null", times(1.0, 1.0, p_never=0.2, p_div=0.1)),
        Case(tt, "seconds, B/A = required 2, speed +-10%", "null", times(2.0, 2.0, seconds=True)),
        Case(tt, "B/A = 2, required 1", "effect", times(1.0, 2.0)),
        Case(tt, "B/A = 8, required 4", "effect", times(4.0, 8.0, budget_b=16000)),
        Case(tt, "seconds, B/A = 4, required 2", "effect", times(2.0, 4.0, seconds=True)),
        Case(tt, "B/A = 0.5, required 1", "reverse", times(1.0, 0.5)),
        Case(tt, "B/A = 2, required 4", "reverse", times(4.0, 2.0, budget_b=8000)),
        Case(sup, "n=1: one distribution, margin 0", "n=1", two_arms(sup, 0.0, 0.0)),
        Case(tt, "n=1: B/A = required 4", "n=1", times(4.0, 4.0, budget_b=8000)),
    ]


def calibrate(experiments: int = EXPERIMENTS, seeds=SEEDS, seed: int = SEED) -> list[dict]:
    """One row per case and number of runs per arm: how often holds and fails were said."""
    rows = []
    for i, case in enumerate(cases()):
        for n in ((1,) if case.truth == "n=1" else seeds):
            rng = np.random.default_rng([seed, i, n])
            codes = case.run(rng, n, experiments, single=case.truth == "n=1")
            h, f = int((codes == C.HOLDS).sum()), int((codes == C.FAILS).sum())
            rows.append({"kind": case.kind, "case": case.name, "truth": case.truth, "n": n,
                         "holds": h / experiments, "holds_cp": cp_upper(h, experiments),
                         "fails": f / experiments, "fails_cp": cp_upper(f, experiments)})
    return rows


def failures(rows: list[dict]) -> list[str]:
    """Null rows whose false holds or fails exceed :data:`BOUND` (upper bound)."""
    return [f"{r['kind']} / {r['case']} / n={r['n']}: {what} rate {r[what]:.3%}, upper bound {r[what + '_cp']:.3%}"
            for r in rows if r["truth"] == "null" for what in ("holds", "fails") if r[what + "_cp"] > BOUND]


def tables(rows: list[dict], experiments: int = EXPERIMENTS) -> str:
    from tabulate import tabulate

    pct = lambda x: f"{100 * x:.1f}%"  # noqa: E731
    null = [[r["kind"], r["case"], r["n"], pct(r["holds"]), pct(r["holds_cp"]), pct(r["fails"]), pct(r["fails_cp"])]
            for r in rows if r["truth"] == "null"]
    out = [f"Under the null ({experiments} experiments each; a case passes when both upper bounds are <= "
           f"{pct(BOUND)}):", "",
           tabulate(null, headers=["kind", "case", "runs per arm", "holds", "CP 95% upper", "fails", "CP 95% upper"],
                    tablefmt="github"), ""]
    power = []
    for truth, verdict in (("effect", "holds"), ("reverse", "fails")):
        seen = []
        for r in rows:
            if r["truth"] == truth and (r["kind"], r["case"]) not in seen:
                seen.append((r["kind"], r["case"]))
        for kind, case in seen:
            by_n = {r["n"]: r[verdict] for r in rows if (r["kind"], r["case"], r["truth"]) == (kind, case, truth)}
            power.append([kind, case, verdict] + [pct(by_n[n]) if n in by_n else "" for n in SEEDS])
    out += ["With real effects (how often the right verdict is said):", "",
            tabulate(power, headers=["kind", "truth", "verdict", *(f"n={n}" for n in SEEDS)], tablefmt="github"), ""]
    single = [[r["kind"], r["case"], pct(r["holds"]), pct(r["fails"])] for r in rows if r["truth"] == "n=1"]
    out += ["Single runs (n=1, not asserted: no error control):", "",
            tabulate(single, headers=["kind", "case", "holds", "fails"], tablefmt="github"), ""]
    return "\n".join(out)


def main() -> int:
    rows = calibrate()
    sys.stdout.write(tables(rows))
    bad = failures(rows)
    for b in bad:
        print(f"calibration failed: {b}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
