"""Augmentation, decided in the core and applied by the backends.

The random draws of each step are a pure function of (seed, step), made here with
numpy, so both backends augment the same images the same way and a resumed run
repeats them. Semantics, per image:

- ``flip``: mirror left-right with probability 1/2;
- ``shift`` (pixels): translate by integers ``dx, dy`` drawn uniformly from
  ``[-shift, shift]``; pixels shifted in are 0 (black, before normalisation);
- ``rotate`` (degrees): rotate about the centre by an angle drawn uniformly from
  ``[-rotate, rotate]``, bilinear, zeros outside.

Order: shift, then flip, then rotate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Draws:
    flip: np.ndarray | None  # bool[B]
    dx: np.ndarray | None  # int64[B], positive moves the image right
    dy: np.ndarray | None  # int64[B], positive moves the image down
    angle: np.ndarray | None  # float64[B], degrees, counter-clockwise


def draw(aug, seed: int, step: int, batch: int) -> Draws | None:
    """The draws for training step ``step`` (``aug`` is the spec's ``dataset.augment``)."""
    if not (aug.flip or aug.shift or aug.rotate):
        return None
    rng = np.random.default_rng([seed, step, 0xA06])
    flip = rng.random(batch) < 0.5 if aug.flip else None
    dx = dy = None
    if aug.shift:
        dx = rng.integers(-aug.shift, aug.shift, size=batch, endpoint=True)
        dy = rng.integers(-aug.shift, aug.shift, size=batch, endpoint=True)
    angle = rng.uniform(-aug.rotate, aug.rotate, size=batch) if aug.rotate else None
    return Draws(flip, dx, dy, angle)


def apply_numpy(x: np.ndarray, d: Draws | None) -> np.ndarray:
    """Reference implementation of shift and flip on uint8 NHWC (rotation: backends only).

    The backends' vectorised versions are tested against this.
    """
    if d is None:
        return x
    out = x.copy()
    if d.dx is not None:
        out = np.zeros_like(x)
        h, w = x.shape[1:3]
        for i in range(len(x)):
            dx, dy = int(d.dx[i]), int(d.dy[i])
            src = x[i, max(0, -dy) : h - max(0, dy), max(0, -dx) : w - max(0, dx)]
            out[i, max(0, dy) : max(0, dy) + src.shape[0], max(0, dx) : max(0, dx) + src.shape[1]] = src
    if d.flip is not None:
        out[d.flip] = out[d.flip][:, :, ::-1]
    return out
