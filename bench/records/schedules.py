"""Learning-rate and momentum policies: pure functions of the integer step.

Written once, here. Each backend asks ``schedule(step)`` before optimizer update
``step`` and sets the optimizer's learning rate and momentum to exactly the returned
Python floats, so every backend follows a bit-identical schedule.

Conventions (docs/contract.md): ``step`` is the 0-based index of an optimizer update; the
value at step s is used for update s. A schedule is built once for ``total_steps`` and
asking for a step outside ``[0, total_steps)`` raises :class:`StepOutOfRange`, never a
silent wrap. Learning rates are per batch (whatever the spec's batch size is); steps are
optimizer updates, not epochs.

Policy keys are those of docs/contract.md. Each policy is a small frozen model that
validates its own parameters; :func:`make_schedule` binds one to a step count.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Annotated, ClassVar, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bench.errors import SpecError, StepOutOfRange

_Frac = Annotated[float, Field(ge=0.0, lt=1.0)]  # momentum, tail fractions
_Rate = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]  # learning rates (>= 0)


class _Policy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: keys whose default follows other keys (key -> the rule in words, as ``bench list
    #: policies`` shows it): a tool that changes those keys drops these (:func:`without_derived`)
    derived: ClassVar[dict[str, str]] = {}

    #: the smallest total step count the policy is defined for
    def min_steps(self) -> int:
        return 1

    def at(self, step: int, total: int) -> tuple[float, float]:  # pragma: no cover
        raise NotImplementedError

    def label(self) -> str:
        """A short name for tables and plots: the policy and the rates that set it apart."""
        raise NotImplementedError  # pragma: no cover

    @classmethod
    def example(cls, steps: int) -> dict[str, str]:
        """The policy's required keys with example values (as ``--set`` text) for a schedule
        of ``steps``: what ``bench schedule`` suggests when keys are missing."""
        return {}


class Constant(_Policy):
    """A constant rate and momentum (the report's baseline, [R] Table 1)."""

    name: Literal["constant"] = "constant"
    lr: _Rate
    momentum: _Frac = 0.9

    @classmethod
    def example(cls, steps: int) -> dict[str, str]:
        return {"lr": "0.1"}

    def label(self) -> str:
        return f"constant {self.lr:g}"

    def at(self, step: int, total: int) -> tuple[float, float]:
        return self.lr, self.momentum


class MultiStep(_Policy):
    """Piecewise constant: ``lr * gamma**k`` after the k-th milestone (steps).

    Smith & Topin's baseline: lr 0.35, x0.1 at 50,000 and 70,000 of 80,000 iterations
    (Caffe ``multistep``; the same as ``torch.optim.lr_scheduler.MultiStepLR`` stepped
    per batch: the decay applies from the milestone step itself).
    """

    name: Literal["multistep"] = "multistep"
    lr: _Rate
    gamma: Annotated[float, Field(gt=0.0)] = 0.1
    milestones: tuple[Annotated[int, Field(ge=1)], ...]
    momentum: _Frac = 0.9

    @model_validator(mode="after")
    def _sorted(self):
        m = self.milestones
        if any(b <= a for a, b in zip(m, m[1:], strict=False)):
            raise ValueError(f"milestones must be strictly increasing steps; received {list(m)}")
        return self

    @classmethod
    def example(cls, steps: int) -> dict[str, str]:
        return {"lr": "0.1", "milestones": f"[{max(1, steps // 2)},{max(1, 3 * steps // 4)}]"}

    def label(self) -> str:
        return f"multistep {self.lr:g} x{self.gamma:g} @{','.join(map(str, self.milestones))}"

    def at(self, step: int, total: int) -> tuple[float, float]:
        k = sum(1 for m in self.milestones if m <= step)
        return self.lr * self.gamma**k, self.momentum


class Triangular(_Policy):
    """Cyclical learning rate, Smith 2017 (WACV), section 3.1, and ``CyclicLR``.

    ``cycle = floor(1 + s / (2 * step_size))``, ``x = |s / step_size - 2 cycle + 1|``,
    ``lr = min_lr + (max_lr - min_lr) * max(0, 1 - x) * scale`` with scale 1
    (triangular), ``1 / 2**(cycle - 1)`` (triangular2) or ``gamma**s`` (exp_range).
    ``step_size`` is half a cycle, in steps. Momentum is held constant, as in the
    report; torch's ``CyclicLR`` cycles momentum by default (0.8-0.9), this does not.
    """

    name: Literal["triangular"] = "triangular"
    min_lr: _Rate
    max_lr: _Rate
    step_size: Annotated[int, Field(ge=1)]
    mode: Literal["triangular", "triangular2", "exp_range"] = "triangular"
    gamma: Annotated[float, Field(gt=0.0, le=1.0)] = 1.0
    momentum: _Frac = 0.9

    @model_validator(mode="after")
    def _order(self):
        if self.min_lr > self.max_lr:
            raise ValueError(f"min_lr ({self.min_lr}) must be <= max_lr ({self.max_lr})")
        return self

    @classmethod
    def example(cls, steps: int) -> dict[str, str]:
        return {"min_lr": "0.1", "max_lr": "1.0", "step_size": str(max(1, steps // 4))}

    def label(self) -> str:
        return f"{self.mode} {self.min_lr:g}-{self.max_lr:g} ss{self.step_size}"

    def at(self, step: int, total: int) -> tuple[float, float]:
        cycle = math.floor(1 + step / (2 * self.step_size))
        x = abs(step / self.step_size - 2 * cycle + 1)
        if self.mode == "triangular":
            scale = 1.0
        elif self.mode == "triangular2":
            scale = 1.0 / 2.0 ** (cycle - 1)
        else:
            scale = self.gamma**step
        return self.min_lr + (self.max_lr - self.min_lr) * max(0.0, 1.0 - x) * scale, self.momentum


class OneCycle(_Policy):
    """Smith's one cycle (Smith & Topin 2017, section 3; Smith 2018, section 4.1).

    With T total steps, ``tail_steps = max(1, round(tail * T))`` (0 when ``tail`` is 0:
    then there is no annihilation and ``final_lr`` is unused) and ``C = T - tail_steps``:
    the rate rises linearly ``min_lr -> max_lr`` over steps ``[0, C/2]``, falls
    ``max_lr -> min_lr`` over ``[C/2, C]``, then anneals linearly from ``min_lr`` at step
    C to ``final_lr`` at the last step T-1. Momentum mirrors it: ``max_momentum ->
    min_momentum`` at C/2, back to ``max_momentum`` at C, and held there in the tail.

    Compared with ``torch.optim.lr_scheduler.OneCycleLR(three_phase=True,
    anneal_strategy="linear", pct_start=(1 - tail) / 2)``: torch puts its phase ends at
    ``pct*T - 1`` and ``2*pct*T - 2``, one and two steps before ours (C/2 and C); the
    two agree elsewhere to within the slope of those one or two steps.
    """

    name: Literal["one-cycle"] = "one-cycle"
    min_lr: _Rate
    max_lr: _Rate
    tail: _Frac = 0.1
    final_lr: _Rate | None = None  # default min_lr / FINAL_DIV, filled in when the spec resolves
    max_momentum: _Frac = 0.95
    min_momentum: _Frac = 0.85

    FINAL_DIV: ClassVar[float] = 100.0  # Smith & Topin: the tail anneals to a small fraction of min_lr
    derived: ClassVar[dict[str, str]] = {"final_lr": "min_lr/100"}

    @model_validator(mode="before")
    @classmethod
    def _default_final(cls, data):
        if isinstance(data, dict) and data.get("final_lr") is None:
            lo = data.get("min_lr")
            if isinstance(lo, (int, float)) and not isinstance(lo, bool):
                data = {**data, "final_lr": lo / cls.FINAL_DIV}
        return data

    @model_validator(mode="after")
    def _order(self):
        if self.min_lr > self.max_lr:
            raise ValueError(f"min_lr ({self.min_lr}) must be <= max_lr ({self.max_lr})")
        if self.final_lr is not None and self.final_lr > self.min_lr:
            raise ValueError(f"final_lr ({self.final_lr}) must be <= min_lr ({self.min_lr})")
        if self.min_momentum > self.max_momentum:
            raise ValueError(
                f"min_momentum ({self.min_momentum}) must be <= max_momentum ({self.max_momentum})"
            )
        return self

    def _split(self, total: int) -> tuple[int, int]:
        # a positive tail always gets at least one step, so the run ends at final_lr
        tail_steps = max(1, int(round(self.tail * total))) if self.tail > 0 else 0
        return total - tail_steps, tail_steps

    def min_steps(self) -> int:
        # the cycle needs at least two steps: one up, one down
        n = 2
        while self._split(n)[0] < 2:
            n += 1
        return n

    @classmethod
    def example(cls, steps: int) -> dict[str, str]:
        return {"min_lr": "0.1", "max_lr": "1.0"}

    def label(self) -> str:
        return f"one-cycle {self.min_lr:g}-{self.max_lr:g}"

    def at(self, step: int, total: int) -> tuple[float, float]:
        cycle, tail_steps = self._split(total)
        lo, hi = self.min_lr, self.max_lr
        m_hi, m_lo = self.max_momentum, self.min_momentum
        if step < cycle:
            half = cycle / 2.0
            if step <= half:
                f = step / half
                return lo + (hi - lo) * f, m_hi - (m_hi - m_lo) * f
            f = (step - half) / half
            return hi - (hi - lo) * f, m_lo + (m_hi - m_lo) * f
        final = self.final_lr if self.final_lr is not None else lo / self.FINAL_DIV
        if tail_steps == 1:
            return final, m_hi
        f = (step - cycle) / (tail_steps - 1)
        return lo * (1.0 - f) + final * f, m_hi  # exact at both ends


class OneCycleCosine(_Policy):
    """fastai's ``fit_one_cycle`` (fastai v2 ``callback/schedule.py``, ``combined_cos``).

    With ``pos = s / T``: cosine from ``max_lr/div`` to ``max_lr`` over
    ``pos < pct_start``, then cosine from ``max_lr`` to ``max_lr/div_final``; momentum
    cosine ``max_momentum -> min_momentum -> max_momentum``. A cosine piece is
    ``start + (1 + cos(pi * (1 - p))) * (end - start) / 2`` for p in [0, 1).
    As in fastai, pos never reaches 1, so the last rate is slightly above
    ``max_lr/div_final``.
    """

    name: Literal["one-cycle-cosine"] = "one-cycle-cosine"
    max_lr: _Rate
    div: Annotated[float, Field(gt=0.0)] = 25.0
    div_final: Annotated[float, Field(gt=0.0)] = 1e5
    pct_start: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.25
    max_momentum: _Frac = 0.95
    min_momentum: _Frac = 0.85

    @staticmethod
    def _cos(start: float, end: float, p: float) -> float:
        return start + (1.0 + math.cos(math.pi * (1.0 - p))) * (end - start) / 2.0

    @classmethod
    def example(cls, steps: int) -> dict[str, str]:
        return {"max_lr": "1.0"}

    def label(self) -> str:
        return f"one-cycle-cosine {self.max_lr:g}"

    def at(self, step: int, total: int) -> tuple[float, float]:
        pos = step / total
        start, peak, end = self.max_lr / self.div, self.max_lr, self.max_lr / self.div_final
        if pos < self.pct_start:
            p = pos / self.pct_start
            return self._cos(start, peak, p), self._cos(self.max_momentum, self.min_momentum, p)
        p = (pos - self.pct_start) / (1.0 - self.pct_start)
        return self._cos(peak, end, p), self._cos(self.min_momentum, self.max_momentum, p)


class RangeTest(_Policy):
    """The LR range test ramp (Smith 2017 section 3.3; Smith 2018 section 4.1).

    ``exp``: ``start_lr * (end_lr / start_lr) ** (s / (T - 1))``; ``linear``:
    ``start_lr + (end_lr - start_lr) * s / (T - 1)``. Both hit ``end_lr`` at the last
    step. Smith & Topin's test-accuracy variant is linear 0 -> 2 over 80,000 steps.
    """

    name: Literal["range-test"] = "range-test"
    start_lr: _Rate
    end_lr: _Rate
    mode: Literal["exp", "linear"] = "exp"
    momentum: _Frac = 0.9

    @model_validator(mode="after")
    def _order(self):
        if self.end_lr <= self.start_lr:
            raise ValueError(f"end_lr ({self.end_lr}) must be > start_lr ({self.start_lr})")
        if self.mode == "exp" and self.start_lr <= 0:
            raise ValueError("mode 'exp' needs start_lr > 0 (a geometric ramp cannot start at 0)")
        return self

    def min_steps(self) -> int:
        return 2

    @classmethod
    def example(cls, steps: int) -> dict[str, str]:
        return {"start_lr": "1e-5", "end_lr": "10"}

    def label(self) -> str:
        return f"range-test {self.start_lr:g}-{self.end_lr:g}"

    def at(self, step: int, total: int) -> tuple[float, float]:
        f = step / (total - 1)
        if self.mode == "exp":
            return self.start_lr * (self.end_lr / self.start_lr) ** f, self.momentum
        return self.start_lr + (self.end_lr - self.start_lr) * f, self.momentum


Policy = Annotated[
    Union[Constant, MultiStep, Triangular, OneCycle, OneCycleCosine, RangeTest],  # noqa: UP007
    Field(discriminator="name"),
]
POLICIES: dict[str, type[_Policy]] = {
    cls.model_fields["name"].default: cls
    for cls in (Constant, MultiStep, Triangular, OneCycle, OneCycleCosine, RangeTest)
}


@dataclass(frozen=True)
class Schedule:
    """A policy bound to its total step count: ``schedule(step) -> (lr, momentum)``."""

    policy: _Policy
    total_steps: int

    def __call__(self, step: int) -> tuple[float, float]:
        if not isinstance(step, numbers.Integral) or isinstance(step, bool):
            raise TypeError(f"step must be an int; received {step!r}")
        step = int(step)
        if not 0 <= step < self.total_steps:
            raise StepOutOfRange(
                f"step {step} is outside this schedule's [0, {self.total_steps}); "
                "the schedule is built once for the whole budget and never wraps"
            )
        lr, mom = self.policy.at(step, self.total_steps)
        return float(lr), float(mom)

    def table(self) -> list[tuple[int, float, float]]:
        """Every step's ``(step, lr, momentum)``."""
        return [(s, *self(s)) for s in range(self.total_steps)]


def make_schedule(policy: _Policy, total_steps: int) -> Schedule:
    """Bind ``policy`` to ``total_steps`` (optimizer updates, not epochs)."""
    if not isinstance(total_steps, int) or isinstance(total_steps, bool) or total_steps < 1:
        raise SpecError("total steps", total_steps, "an integer >= 1")
    need = policy.min_steps()
    if total_steps < need:
        raise SpecError(
            "budget", f"{total_steps} steps", f"at least {need} steps for policy {policy.name!r}"
        )
    return Schedule(policy, total_steps)


def without_derived(data: dict) -> dict:
    """A policy given as plain data, less the keys whose default follows others (the policy's
    ``derived``): what a tool that sets the others passes on, so that they follow again."""
    cls = POLICIES.get(data.get("name")) if isinstance(data, dict) else None
    return {k: v for k, v in data.items() if k not in (cls.derived if cls else {})}


def label(data: dict) -> str:
    """The label of a policy given as plain data (a run's resolved ``spec.policy``); the
    bare name when the data are not a valid policy (an imported run's own policy)."""
    name = data.get("name") if isinstance(data, dict) else None
    try:
        return POLICIES[name].model_validate(data).label()
    except (KeyError, ValueError, TypeError):
        return str(name)
