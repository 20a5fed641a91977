"""Policies derived from the rate ``c`` an LR range test picks: two rules, pure functions.

``report`` (the re-test report, sec. 4.3-4.4, after Smith 2017/2018):
  constant ``c``; triangular CLR ``min c/clr_div`` (4, or 3), ``max c``, step size
  ``k x steps per epoch`` (k in [2, 10], default 4); one-cycle ``min c``, ``max 10 c``,
  the last 10% of steps below ``min`` (tail 0.1, to ``c/100``), momentum from the chosen
  momentum (its maximum) down to 0.85 and back. Its one-cycle peak lies about ten times
  past the rate the range test found safe.

``smith`` (Smith 2017 sec. 3.3, Smith 2018 sec. 4.1): the range test's pick is the
  cycle's *maximum*: constant ``c``; CLR ``min c/clr_div``, ``max c``; one-cycle
  ``min c/10``, ``max c``, the same tail and momentum.

Both return policy dicts in the spec's schema; :func:`derive` returns all three per rule.
"""

from __future__ import annotations

RULES = ("report", "smith")
MIN_MOMENTUM = 0.85


def _clr(c: float, momentum: float, steps_per_epoch: int, k: float, clr_div: float) -> dict:
    if not 2 <= k <= 10:
        raise ValueError(f"step size multiple k must be in [2, 10] (the report's range); received {k}")
    if clr_div not in (3, 4):
        raise ValueError(f"clr_div must be 3 or 4 (the report: min = c/4 or c/3); received {clr_div}")
    return {"name": "triangular", "min_lr": c / clr_div, "max_lr": c,
            "step_size": max(1, int(round(k * steps_per_epoch))), "mode": "triangular", "momentum": momentum}


def _one_cycle(lo: float, hi: float, momentum: float) -> dict:
    # final_lr is left to follow min_lr (bench.records.schedules.OneCycle.derived)
    return {"name": "one-cycle", "min_lr": lo, "max_lr": hi, "tail": 0.1,
            "max_momentum": momentum, "min_momentum": min(MIN_MOMENTUM, momentum)}


def report_rule(c: float, momentum: float, steps_per_epoch: int, k: float = 4, clr_div: float = 4) -> dict[str, dict]:
    return {"constant": {"name": "constant", "lr": c, "momentum": momentum},
            "triangular": _clr(c, momentum, steps_per_epoch, k, clr_div),
            "one-cycle": _one_cycle(c, 10.0 * c, momentum)}


def smith_rule(c: float, momentum: float, steps_per_epoch: int, k: float = 4, clr_div: float = 4) -> dict[str, dict]:
    return {"constant": {"name": "constant", "lr": c, "momentum": momentum},
            "triangular": _clr(c, momentum, steps_per_epoch, k, clr_div),
            "one-cycle": _one_cycle(c / 10.0, c, momentum)}


def derive(rule: str, c: float, momentum: float, steps_per_epoch: int, k: float = 4, clr_div: float = 4):
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}; received {rule!r}")
    if not c > 0:
        raise ValueError(f"c must be a positive rate; received {c}")
    fn = report_rule if rule == "report" else smith_rule
    return fn(c, momentum, steps_per_epoch, k, clr_div)
