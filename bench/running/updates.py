"""What optimizer update ``s`` uses, as a function of ``s`` alone.

The learning rate and momentum (the schedule), the positions of the batch's examples in
the training split (the batch order) and the augmentation draws: one place computes them
for the training loop, the range test and the cross-backend parity tool, so a run that is
resumed, a range test and a parity check see exactly the updates a run sees.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.data.splits import BatchOrder
from bench.running import augment


@dataclass(frozen=True)
class Update:
    step: int  # 0-based index of the optimizer update
    lr: float  # learning rate per batch, set before the update
    momentum: float
    idx: np.ndarray  # int64 positions in the training split, shape (batch_size,)
    draws: augment.Draws | None  # None: the spec augments nothing


class Updates:
    """``updates(s) -> Update`` for a spec, a schedule (``schedule(s) -> (lr, momentum)``:
    the run's policy, or a range test's) and the number of training examples loaded."""

    def __init__(self, spec, schedule, n_train: int):
        self.schedule = schedule
        self.order = BatchOrder(spec.seed, n_train, spec.batch_size)
        self.augment, self.seed, self.batch_size = spec.dataset.augment, spec.seed, spec.batch_size

    def __call__(self, s: int) -> Update:
        lr, momentum = self.schedule(s)
        return Update(s, lr, momentum, self.order(s), augment.draw(self.augment, self.seed, s, self.batch_size))
