"""A benchmarked policy in your own Keras 3 training: an SGD whose momentum takes a new
value every step (:class:`MomentumVariableSGD`), and :class:`PolicyScheduler`, which sets its rate and
momentum from the harness's schedule. ``model.fit`` users take the callback of
``backends/keras/callbacks.py``, which drives this scheduler; a hand-written loop
(``GradientTape``) calls ``scheduler.step()`` after each ``optimizer.apply``.

**Why an SGD of our own.** Keras' ``keras.optimizers.SGD`` reads its momentum as a Python
float when its update step is traced (``ops.cast(self.momentum, ...)``), so the compiled
step keeps the first value: assigning ``optimizer.momentum`` later is silently ignored.
:class:`MomentumVariableSGD` is a drop-in subclass with the same update and arguments whose momentum lives
in a variable (``optimizer.momentum = 0.9`` assigns it), read at every step. The learning
rate of every Keras optimizer built from a float already is a variable.

**Momentum form.** Keras' SGD, and so :class:`MomentumVariableSGD`, is the harness's ``caffe`` form,
``v = mu*v - lr*g; w += v`` (Nesterov: ``w += mu*v - lr*g``), the harness's default: with
this scheduler it reproduces a harness run whose spec says ``optimizer.momentum_form:
caffe``, update for update. Keras' ``weight_decay=`` argument is decoupled (``w -= lr*wd*w``
outside the momentum) and is not the harness's ``weight_decay`` (``wd*w`` added to the
gradient); a ``kernel_regularizer=keras.regularizers.L2(wd / 2)`` on the decayed layers is
(the spec's ``l2`` key). Variables are of Keras' float type (``keras.config.floatx()``):
set it to ``float64`` for float64 training.
"""

from __future__ import annotations

import os
from typing import Any

os.environ["KERAS_BACKEND"] = "tensorflow"

import keras  # noqa: E402
from keras import ops  # noqa: E402

from backends.policy import schedule_for  # noqa: E402
from bench.errors import StepOutOfRange  # noqa: E402


class MomentumVariableSGD(keras.optimizers.SGD):
    """``keras.optimizers.SGD`` (the caffe momentum form) with its momentum in a variable, so
    that a momentum assigned between steps takes effect in the compiled step. The momentum
    buffers are always kept (a schedule may start at momentum 0)."""

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate=learning_rate, momentum=float(momentum), nesterov=nesterov, **kwargs)
        self._momentum_variable = self.add_variable(
            shape=(), initializer=keras.initializers.Constant(self._momentum_value), name="momentum")

    @property
    def momentum(self) -> float:
        """The momentum of the coming steps (assigning it assigns the variable the step reads)."""
        return self._momentum_value

    @momentum.setter
    def momentum(self, value) -> None:
        value = float(value)
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"momentum must be a float in [0, 1]; received {value}")
        self._momentum_value = value
        var = self.__dict__.get("_momentum_variable")
        if var is not None:
            var.assign(value)

    def build(self, variables):
        if self.built:
            return
        super(keras.optimizers.SGD, self).build(variables)  # the base optimizer's build, not SGD's
        self.momentums = self.add_optimizer_variables(variables, "momentum")

    def update_step(self, gradient, variable, learning_rate):
        """Keras' SGD update, with the momentum read from its variable."""
        learning_rate = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        momentum = ops.cast(self._momentum_variable, variable.dtype)
        m = self.momentums[self._get_variable_index(variable)]
        self.assign(m, ops.subtract(ops.multiply(m, momentum), ops.multiply(gradient, learning_rate)))
        if self.nesterov:
            self.assign_add(variable, ops.subtract(ops.multiply(m, momentum), ops.multiply(gradient, learning_rate)))
        else:
            self.assign_add(variable, m)


def _check(optimizer) -> None:
    if isinstance(optimizer, MomentumVariableSGD):
        return
    if isinstance(optimizer, keras.optimizers.SGD):
        raise TypeError("keras.optimizers.SGD compiles its momentum as a Python float: a momentum assigned each "
                        "step would be silently ignored. Use backends.keras.callbacks.SGD (or "
                        "backends.keras.scheduler.SGD), a drop-in subclass whose momentum is a variable")
    raise TypeError(f"the policy sets SGD's rate and momentum; received {type(optimizer).__name__}: use "
                    "backends.keras.callbacks.MomentumVariableSGD")


class PolicyScheduler:
    """Sets the rate and momentum of a :class:`MomentumVariableSGD` to the harness schedule's values: at
    construction those of update ``step`` (default 0), after each :meth:`step` those of the
    next update. ``step()`` after the last update is allowed and sets nothing; one more raises
    :class:`bench.errors.StepOutOfRange` (a schedule never wraps). ``policy``: as
    :func:`backends.policy.schedule_for` takes it."""

    def __init__(self, optimizer, policy: Any, total_steps: int | None = None, *, n_train: int | None = None,
                 step: int = 0):
        _check(optimizer)
        self.optimizer = optimizer
        self.schedule = schedule_for(policy, total_steps, n_train)
        self.next_step = int(step)  # the index of the coming update
        self.last: tuple[float, float] | None = None  # (lr, momentum) as last set
        if self.next_step < self.schedule.total_steps:
            self.set(self.next_step)

    @property
    def total_steps(self) -> int:
        return self.schedule.total_steps

    def set(self, step: int) -> tuple[float, float]:
        """Set the optimizer's rate and momentum to those of update ``step``; returns them."""
        lr, momentum = self.schedule(step)
        self.optimizer.learning_rate = lr
        self.optimizer.momentum = momentum
        self.last = (lr, momentum)
        return self.last

    def step(self) -> None:
        """After an update: set the values of the next one."""
        self.next_step += 1
        if self.next_step < self.schedule.total_steps:
            self.set(self.next_step)
        elif self.next_step > self.schedule.total_steps:
            raise StepOutOfRange(f"PolicyScheduler stepped {self.next_step} times; its schedule has "
                                 f"{self.schedule.total_steps} updates and never wraps")


__all__ = ["MomentumVariableSGD", "PolicyScheduler"]
