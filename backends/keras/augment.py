"""The core's augmentation draws (bench/running/augment.py) applied in TensorFlow, on the device:
shift and flip on uint8 NHWC images, rotation bilinear on float. The same operations as
backends/torch/augment.py; tests/test_parity.py compares the two."""

from __future__ import annotations

import math

import tensorflow as tf


def shift_flip(x, flip, dx, dy):
    """Shift each image by (dx, dy) pixels with a zero border, then flip it left-right where
    ``flip``; ``x`` uint8 (b, h, w, c); any of the draws may be None (not drawn)."""
    shape = tf.shape(x)
    b, h, w = shape[0], shape[1], shape[2]
    rows = tf.broadcast_to(tf.range(h, dtype=tf.int64)[None, :], [b, h])
    cols = tf.broadcast_to(tf.range(w, dtype=tf.int64)[None, :], [b, w])
    if dx is not None:
        s = tf.maximum(tf.reduce_max(tf.abs(dx)), tf.reduce_max(tf.abs(dy)))
        x = tf.pad(x, tf.stack([[0, 0], [s, s], [s, s], [0, 0]]))
        rows = rows + s - dy[:, None]
        cols = cols + s - dx[:, None]
    if flip is not None:
        cols = tf.where(flip[:, None], tf.reverse(cols, axis=[1]), cols)
    x = tf.gather(x, rows, axis=1, batch_dims=1)  # (b, h, W', c)
    return tf.gather(x, cols, axis=2, batch_dims=1)


def rotate(x, angle_deg):
    """Rotate about the centre by ``angle_deg`` degrees, bilinear, zeros outside: the torch
    backend's affine_grid + grid_sample(align_corners=False) for square images, in pixel
    coordinates."""
    h = tf.cast(tf.shape(x)[1], tf.float32)
    w = tf.cast(tf.shape(x)[2], tf.float32)
    a = tf.cast(angle_deg * (math.pi / 180.0), tf.float32)
    cos, sin = tf.cos(a), tf.sin(a)
    cx, cy = (w - 1.0) / 2.0, (h - 1.0) / 2.0
    # output pixel (u, v) samples input (cos*(u-cx) - sin*(v-cy) + cx, sin*(u-cx) + cos*(v-cy) + cy)
    t = tf.stack([cos, -sin, cx - cos * cx + sin * cy, sin, cos, cy - sin * cx - cos * cy,
                  tf.zeros_like(a), tf.zeros_like(a)], axis=1)
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=tf.cast(x, tf.float32), transforms=t, output_shape=tf.shape(x)[1:3],
        fill_value=0.0, interpolation="BILINEAR", fill_mode="CONSTANT")
    return tf.cast(out, x.dtype)
