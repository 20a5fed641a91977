"""The core's augmentation draws (bench/running/augment.py) applied in PyTorch, on the device:
shift and flip on uint8 NHWC images, rotation bilinear on float NCHW. The same operations
as backends/keras/augment.py; tests/test_parity.py compares the two."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def shift_flip(x: torch.Tensor, d) -> torch.Tensor:
    """Shift each image by the draws' (dx, dy) pixels with a zero border, then flip it
    left-right where ``d.flip``; ``x`` uint8 (b, h, w, c); a draw that is None is not applied."""
    b, h, w, _ = x.shape
    dev = x.device
    rows = torch.arange(h, device=dev).expand(b, h)
    cols = torch.arange(w, device=dev).expand(b, w)
    if d.dx is not None:
        s = int(max(np.abs(d.dx).max(), np.abs(d.dy).max()))
        x = F.pad(x, (0, 0, s, s, s, s))  # zero border of s pixels (NHWC: pad W then H)
        rows = rows + s - torch.from_numpy(d.dy).to(dev)[:, None]
        cols = cols + s - torch.from_numpy(d.dx).to(dev)[:, None]
    if d.flip is not None:
        flip = torch.from_numpy(d.flip).to(dev)[:, None]
        cols = torch.where(flip, cols.flip(1), cols)
    bi = torch.arange(b, device=dev)[:, None, None]
    return x[bi, rows[:, :, None], cols[:, None, :]]


def rotate(x: torch.Tensor, angle_deg: np.ndarray) -> torch.Tensor:
    """Rotate each image (float, NCHW) about its centre by ``angle_deg`` degrees, bilinear,
    zeros outside."""
    a = torch.from_numpy(np.deg2rad(angle_deg)).to(x.device, x.dtype)
    cos, sin = torch.cos(a), torch.sin(a)
    zero = torch.zeros_like(a)
    theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
