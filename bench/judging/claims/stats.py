"""Decisions on arrays: the Welch intervals, the Mann-Whitney count on interval-censored
pairs and the verdict codes (what bench.judging.claims_sim calibrates)."""

from __future__ import annotations

import math
from functools import cache

import numpy as np

from bench.errors import BenchError

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
