"""Augmentation draws and their numpy reference (bench/running/augment.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.data import fashion_mnist as fm
from bench.records.spec import AugmentSpec, validate_model
from bench.running import augment

STEMS = list(fm.FILES)
REAL_DIR = Path("/usr/share/datasets/fashion-mnist")




# -- augmentation -------------------------------------------------------------------------


def _aug(**kw):
    return validate_model(AugmentSpec, kw)


def test_draw_none_when_disabled():
    assert augment.draw(_aug(), 0, 0, 8) is None
    x = np.ones((2, 3, 3, 1), np.uint8)
    assert augment.apply_numpy(x, None) is x


def test_draw_pure_function():
    aug = _aug(flip=True, shift=3, rotate=15.0)
    a = augment.draw(aug, 7, 42, 64)
    b = augment.draw(aug, 7, 42, 64)
    for k in ("flip", "dx", "dy", "angle"):
        np.testing.assert_array_equal(getattr(a, k), getattr(b, k))
        assert len(getattr(a, k)) == 64
    c = augment.draw(aug, 7, 43, 64)
    d = augment.draw(aug, 8, 42, 64)
    assert not np.array_equal(a.dx, c.dx) or not np.array_equal(a.flip, c.flip)
    assert not np.array_equal(a.angle, c.angle)
    assert not np.array_equal(a.angle, d.angle)


def test_draw_ranges():
    aug = _aug(flip=True, shift=2, rotate=10.0)
    d = augment.draw(aug, 1, 0, 4000)
    assert d.dx.min() >= -2 and d.dx.max() <= 2 and d.dy.min() >= -2 and d.dy.max() <= 2
    assert set(np.unique(d.dx)) == {-2, -1, 0, 1, 2}  # endpoints included
    assert set(np.unique(d.dy)) == {-2, -1, 0, 1, 2}
    assert np.issubdtype(d.dx.dtype, np.integer)
    assert d.flip.dtype == bool and 0.4 < d.flip.mean() < 0.6
    assert np.all(np.abs(d.angle) <= 10.0) and d.angle.min() < -9 and d.angle.max() > 9


def test_draw_only_requested():
    d = augment.draw(_aug(shift=1), 0, 0, 5)
    assert d.flip is None and d.angle is None and d.dx is not None
    d = augment.draw(_aug(flip=True), 0, 0, 5)
    assert d.dx is None and d.dy is None and d.angle is None and d.flip is not None


def _img(n=2, h=4, w=5):
    return (np.arange(n * h * w, dtype=np.uint8) + 1).reshape(n, h, w, 1)


def test_apply_shift_right():
    x = _img()
    d = augment.Draws(flip=None, dx=np.array([1, 1]), dy=np.array([0, 0]), angle=None)
    out = augment.apply_numpy(x, d)
    assert out.shape == x.shape and out.dtype == np.uint8
    assert np.all(out[:, :, 0] == 0)
    np.testing.assert_array_equal(out[:, :, 1:], x[:, :, :-1])


def test_apply_shift_left_up_down():
    x = _img(1)
    d = augment.Draws(flip=None, dx=np.array([-2]), dy=np.array([1]), angle=None)
    out = augment.apply_numpy(x, d)
    assert np.all(out[:, 0] == 0) and np.all(out[:, :, -2:] == 0)
    np.testing.assert_array_equal(out[:, 1:, :-2], x[:, :-1, 2:])
    d = augment.Draws(flip=None, dx=np.array([0]), dy=np.array([-1]), angle=None)
    out = augment.apply_numpy(x, d)
    assert np.all(out[:, -1] == 0)
    np.testing.assert_array_equal(out[:, :-1], x[:, 1:])


def test_apply_shift_whole_image_out():
    x = _img(1)
    d = augment.Draws(flip=None, dx=np.array([5]), dy=np.array([0]), angle=None)
    assert np.all(augment.apply_numpy(x, d) == 0)


def test_apply_flip():
    x = _img()
    d = augment.Draws(flip=np.array([True, False]), dx=None, dy=None, angle=None)
    out = augment.apply_numpy(x, d)
    np.testing.assert_array_equal(out[0], x[0, :, ::-1])
    np.testing.assert_array_equal(out[1], x[1])
    assert out is not x
    np.testing.assert_array_equal(x, _img())  # input untouched


def test_apply_shift_then_flip():
    x = _img(1)
    d = augment.Draws(flip=np.array([True]), dx=np.array([1]), dy=np.array([0]), angle=None)
    out = augment.apply_numpy(x, d)
    # shift right then mirror: the zero column ends up on the right
    assert np.all(out[0, :, -1] == 0)
    np.testing.assert_array_equal(out[0, :, :-1], x[0, :, :-1][:, ::-1])


def test_apply_multichannel():
    x = np.stack([_img()[..., 0], 255 - _img()[..., 0]], axis=-1)
    d = augment.Draws(flip=np.array([False, True]), dx=np.array([1, 0]), dy=np.array([0, 0]), angle=None)
    out = augment.apply_numpy(x, d)
    np.testing.assert_array_equal(out[0, :, 1:], x[0, :, :-1])
    np.testing.assert_array_equal(out[1], x[1, :, ::-1])
