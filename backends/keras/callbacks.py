"""A benchmarked policy in ``model.fit``: :class:`PolicyCallback` sets the optimizer's rate
and momentum before every batch from the harness's schedule (``bench schedule`` prints the
same values)::

    import keras
    from backends.keras.callbacks import MomentumVariableSGD, PolicyCallback
    model.compile(optimizer=MomentumVariableSGD(), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    cb = PolicyCallback("bench/specs/fashion_mnist_one_cycle.yaml")
    model.fit(x, y, batch_size=128, epochs=3, callbacks=[cb])  # the spec's batch size and budget

The optimizer must be :class:`MomentumVariableSGD` (from ``backends/keras/scheduler.py``): Keras' own SGD
compiles its momentum as a Python float, so a momentum assigned per batch would be silently
ignored; the callback refuses it. It is the harness's ``caffe`` momentum form
(``v = mu*v - lr*g; w += v``), the harness's default: a harness run with
``momentum_form: caffe`` is reproduced update for update (same data order and weights).

The first batch of a ``fit`` takes the values of update ``optimizer.iterations`` (0 for a
new optimizer), so a second ``fit`` continues the schedule; a batch past the schedule's
last update raises :class:`bench.errors.StepOutOfRange`. Batch callbacks run once per
``steps_per_execution`` batches: keep it at 1.
"""

from __future__ import annotations

from typing import Any

import keras

from backends.keras.scheduler import MomentumVariableSGD, PolicyScheduler
from backends.policy import schedule_for


class PolicyCallback(keras.callbacks.Callback):
    """Sets ``lr`` and ``momentum`` of the model's :class:`MomentumVariableSGD` at the start of every training
    batch to the harness schedule's values for that update. ``policy``: a ``bench.records.spec.Spec``,
    a spec file or run directory, a policy model or mapping (with ``total_steps``), or a
    ``bench.records.schedules.Schedule``; ``n_train``: the training examples an epoch budget counts."""

    def __init__(self, policy: Any, total_steps: int | None = None, *, n_train: int | None = None):
        super().__init__()
        self.schedule = schedule_for(policy, total_steps, n_train)
        self.scheduler: PolicyScheduler | None = None

    def on_train_begin(self, logs=None):
        opt = self.model.optimizer
        done = int(keras.ops.convert_to_numpy(opt.iterations))
        self.scheduler = PolicyScheduler(opt, self.schedule, step=done)

    def on_train_batch_begin(self, batch, logs=None):
        self.scheduler.set(self.scheduler.next_step)

    def on_train_batch_end(self, batch, logs=None):
        self.scheduler.next_step += 1


__all__ = ["MomentumVariableSGD", "PolicyCallback"]
