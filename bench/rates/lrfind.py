"""The LR range test (Smith 2017 sec. 3.3; Smith 2018 sec. 4.1) and its suggestions.

One range test ramps the rate per step with the ``range-test`` schedule from
``start_lr`` to ``end_lr`` over ``steps`` steps (exponential by default, linear for
Smith & Topin's test-accuracy variant), records the raw loss of every step and its
debiased exponential moving average (beta 0.98, as fastai), and stops once the
smoothed loss exceeds ``stop_factor`` (4) times its best or is not finite. The
model's and the optimizer's state are restored afterwards.

Metrics:

- ``loss``: the training batch loss of each step (smoothed);
- ``val_loss``: the loss on the validation split, every ``eval_every`` steps (smoothed
  with the same EMA over the evaluated points); needs ``dataset.val_size > 0``;
- ``val_acc`` / ``test_acc``: accuracy on the validation / test split every
  ``eval_every`` steps (Smith & Topin's variant: a linear ramp, accuracy against lr;
  the authors' log ``range2SS80kRes56LR`` is one). Tuning never uses ``test_acc``.

Suggestions, computed on the metric's curve after dropping the first 10% of its points
and the last 5 (fastai's trimming; none are dropped when fewer than 20 points remain):

- ``report``: the report's rule (its sec. 4.2.1: "just left of where loss starts to
  diverge", their example 10^-2 -> 10^-2.12): the onset of divergence is the rate at
  the minimum of the smoothed loss, and "just left" is 0.12 decades below it:
  ``lr_at_min * 10**-0.12`` (a factor of 1/1.318);
- ``steepest``: the rate where the smoothed loss falls fastest against log10(lr)
  (most negative ``numpy.gradient``), pytorch-lr-finder's suggestion;
- ``valley``: fastai's default: the longest strictly descending run of the smoothed
  loss (longest decreasing subsequence ending at each point), and within it the point
  at ``start + int(len/3) + int(len/6)``, i.e. about half way along;
- ``minimum``: fastai's ``minimum``: the rate at the minimum of the smoothed loss, / 10.

For accuracy metrics there is one suggestion, ``peak``: the rate at the highest
accuracy (where it starts to fall, Smith & Topin's reading of their Fig. 2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from bench.records.schedules import RangeTest, make_schedule
from bench.running.updates import Updates

REPORT_OFFSET_DECADES = 0.12  # "just left" of the divergence onset, after the report's 10^-2 -> 10^-2.12
METRICS = ("loss", "val_loss", "val_acc", "test_acc")


@dataclass
class RangeTestResult:
    metric: str
    momentum: float
    start_lr: float
    end_lr: float
    mode: str
    steps: int
    rows: list[dict] = field(default_factory=list)  # per step: step, lr, momentum, loss, smoothed[, metric]
    stop_reason: str = "end of ramp"  # end of ramp | smoothed loss > k x best | non-finite loss
    suggestions: dict[str, float | None] = field(default_factory=dict)

    @property
    def stopped_at(self) -> int:
        return self.rows[-1]["step"] if self.rows else -1

    def curve(self) -> tuple[np.ndarray, np.ndarray]:
        """(lr, value) of the metric's curve: smoothed loss, or accuracy."""
        if self.metric == "loss":
            pts = [(r["lr"], r["smoothed"]) for r in self.rows]
        else:
            key = "metric_smoothed" if self.metric == "val_loss" else "metric"
            pts = [(r["lr"], r[key]) for r in self.rows if r.get(key) is not None]
        if not pts:
            return np.zeros(0), np.zeros(0)
        a = np.array(pts, dtype=float)
        return a[:, 0], a[:, 1]

    def min_loss(self) -> float | None:
        lrs, v = self.curve()
        finite = np.isfinite(v)
        if self.metric.endswith("acc") or not finite.any():
            return None
        return float(v[finite].min())


class Smoother:
    """Debiased exponential moving average: ``avg = beta*avg + (1-beta)*x; out = avg/(1-beta**n)``."""

    def __init__(self, beta: float = 0.98):
        self.beta, self.avg, self.n = beta, 0.0, 0

    def __call__(self, x: float) -> float:
        self.n += 1
        self.avg = self.beta * self.avg + (1.0 - self.beta) * x
        return self.avg / (1.0 - self.beta**self.n)


def _trim(lrs: np.ndarray, v: np.ndarray, skip_start: float = 0.1, skip_end: int = 5):
    keep = np.isfinite(v) & (lrs > 0)
    lrs, v = lrs[keep], v[keep]
    if len(v) >= 20:
        a = int(len(v) * skip_start)
        lrs, v = lrs[a : len(v) - skip_end], v[a : len(v) - skip_end]
    return lrs, v


def suggest_report(lrs, loss, offset: float = REPORT_OFFSET_DECADES) -> float | None:
    lrs, loss = _trim(np.asarray(lrs, float), np.asarray(loss, float))
    if len(loss) == 0:
        return None
    return float(lrs[int(np.argmin(loss))] * 10.0 ** (-offset))


def suggest_steepest(lrs, loss) -> float | None:
    lrs, loss = _trim(np.asarray(lrs, float), np.asarray(loss, float))
    if len(loss) < 3:
        return None
    return float(lrs[int(np.argmin(np.gradient(loss, np.log10(lrs))))])


def suggest_valley(lrs, loss) -> float | None:
    """fastai ``valley`` (fastai.callback.schedule), on the trimmed smoothed loss."""
    lrs, loss = _trim(np.asarray(lrs, float), np.asarray(loss, float))
    n = len(loss)
    if n == 0:
        return None
    lds = [1] * n
    max_start = max_end = 0
    for i in range(1, n):
        for j in range(i):
            if loss[i] < loss[j] and lds[i] < lds[j] + 1:
                lds[i] = lds[j] + 1
            if lds[max_end] < lds[i]:
                max_end = i
                max_start = max_end - lds[max_end]
    sections = (max_end - max_start) / 3
    idx = max_start + int(sections) + int(sections / 2)
    return float(lrs[min(idx, n - 1)])


def suggest_minimum(lrs, loss) -> float | None:
    lrs, loss = _trim(np.asarray(lrs, float), np.asarray(loss, float))
    if len(loss) == 0:
        return None
    return float(lrs[int(np.argmin(loss))] / 10.0)


def suggest_peak(lrs, acc) -> float | None:
    lrs, acc = np.asarray(lrs, float), np.asarray(acc, float)
    keep = np.isfinite(acc)
    if not keep.any():
        return None
    return float(lrs[keep][int(np.argmax(acc[keep]))])


def suggestions(result: RangeTestResult) -> dict[str, float | None]:
    lrs, v = result.curve()
    if result.metric.endswith("acc"):
        return {"peak": suggest_peak(lrs, v)}
    return {"report": suggest_report(lrs, v), "steepest": suggest_steepest(lrs, v),
            "valley": suggest_valley(lrs, v), "minimum": suggest_minimum(lrs, v)}


def range_test(trainer, data, spec, *, start_lr: float = 1e-7, end_lr: float = 10.0, steps: int = 100,
               mode: str = "exp", momentum: float | None = None, metric: str = "loss", eval_every: int = 1,
               beta: float = 0.98, stop_factor: float = 4.0, progress=None) -> RangeTestResult:
    """Run one range test on ``trainer`` and restore its state afterwards."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}; received {metric!r}")
    mom = float(momentum if momentum is not None else getattr(spec.policy, "momentum", 0.9))
    policy = RangeTest(start_lr=start_lr, end_lr=end_lr, mode=mode, momentum=mom)
    updates = Updates(spec, make_schedule(policy, steps), len(data.train_y))
    result = RangeTestResult(metric, mom, start_lr, end_lr, mode, steps)
    smooth, smooth_metric = Smoother(beta), Smoother(beta)
    best = math.inf
    split = {"val_loss": "val", "val_acc": "val", "test_acc": "test"}.get(metric)
    saved = trainer.get_state()
    try:
        for s in range(steps):
            u = updates(s)
            lr, m = u.lr, u.momentum
            trainer.train_step(u.idx, u.draws, lr, m)
            loss = float(trainer.collect()[0, 0])
            row = {"step": s, "lr": lr, "momentum": m, "loss": loss,
                   "smoothed": smooth(loss) if math.isfinite(loss) else math.nan}
            if split and (s % eval_every == 0 or s == steps - 1) and math.isfinite(loss):
                v_loss, v_acc = trainer.evaluate(split)
                value = v_loss if metric == "val_loss" else v_acc
                row["metric"] = value
                row["metric_smoothed"] = smooth_metric(value) if metric == "val_loss" and math.isfinite(value) else None
            result.rows.append(row)
            if progress:
                progress.update(s + 1, lr, loss)
            if not math.isfinite(loss):
                result.stop_reason = "non-finite loss"
                break
            best = min(best, row["smoothed"])
            if row["smoothed"] > stop_factor * best:
                result.stop_reason = f"smoothed loss > {stop_factor:g} x best"
                break
    finally:
        trainer.set_state(saved)
        if progress:
            progress.close()
    result.suggestions = suggestions(result)
    return result
