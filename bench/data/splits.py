"""Seeded stratified subsets and the order of batches.

Everything random about the data is decided here, in the core, from integer seeds,
so every backend sees the same examples, in the same batches, in the same order.
"""

from __future__ import annotations

import numpy as np

from bench.errors import SpecError


def stratified_subset(labels: np.ndarray, size: int, rng: np.random.Generator, field: str) -> np.ndarray:
    """Positions of ``size`` examples with the class proportions of ``labels``.

    Each class gets ``floor(size * share)`` examples, and the ones left over go to the
    classes with the largest fractional remainders (ties: lower class first). Returned
    sorted, so the subset is a set; the training order comes from :func:`epoch_order`.
    """
    n = len(labels)
    if not isinstance(size, int) or size < 1 or size > n:
        raise SpecError(field, size, f"an integer in [1, {n}] (examples available)")
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts * size / n
    quota = np.floor(exact).astype(np.int64)
    left = size - int(quota.sum())
    order = sorted(range(len(classes)), key=lambda i: (-(exact[i] - quota[i]), i))
    for i in order[:left]:
        quota[i] += 1
    picked = []
    for c, q in zip(classes, quota, strict=True):
        where = np.flatnonzero(labels == c)
        picked.append(rng.permutation(where)[:q])
    return np.sort(np.concatenate(picked))


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The permutation of the ``n`` training examples for ``epoch`` (a pure function)."""
    return np.random.default_rng([seed, epoch, 0x0DE7]).permutation(n)


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Optimizer updates per epoch of ``n`` training examples: ``floor(n / batch_size)``, the
    last partial batch dropped (docs/contract.md). The one place epochs become steps."""
    if batch_size > n:
        raise SpecError("batch_size", batch_size, f"at most the {n} training examples")
    return n // batch_size


class BatchOrder:
    """Batch ``step`` of the run: examples ``epoch_order(epoch)[pos*B:(pos+1)*B]``.

    ``steps_per_epoch = floor(n / batch_size)``; the last partial batch of each epoch
    is dropped (docs/contract.md). A pure function of (seed, step), so a resumed run and
    the other backend get exactly the same batch.
    """

    def __init__(self, seed: int, n: int, batch_size: int):
        self.steps_per_epoch = steps_per_epoch(n, batch_size)
        self.seed, self.n, self.batch_size = seed, n, batch_size
        self._epoch, self._perm = -1, None

    def __call__(self, step: int) -> np.ndarray:
        epoch, pos = divmod(step, self.steps_per_epoch)
        if epoch != self._epoch:
            self._epoch, self._perm = epoch, epoch_order(self.seed, epoch, self.n)
        return self._perm[pos * self.batch_size : (pos + 1) * self.batch_size]
