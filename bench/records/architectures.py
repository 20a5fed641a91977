"""Framework-neutral facts about the six networks, shared by every backend.

The layer-by-layer builders live in ``backends/<name>/networks.py``; what they must
agree on (stage configurations, channel rounding, how small inputs are handled) is
written once, here.
"""

from __future__ import annotations

NETWORKS = ("simple_cnn", "vgg16_bn", "mobilenet_v2", "resnet20", "resnet56", "resnet110")

# torchvision's vgg16_bn feature configuration: conv widths, "M" = 2x2 max-pool
VGG16_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")

# MobileNetV2 (Sandler et al. 2018, Table 2): expansion t, channels c, repeats n, stride s
MOBILENET_V2_CFG = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))

# inputs whose shorter side is below this keep resolution in MobileNetV2's stem
SMALL_INPUT = 64
# VGG uses torchvision's 7x7-pool, 4096-wide head from this input side up
VGG_IMAGENET_HEAD = 224


def channels(c: int, width: float) -> int:
    """A channel count scaled by the width multiplier (at least 1)."""
    return max(1, int(round(c * width)))


def make_divisible(v: float, divisor: int = 8) -> int:
    """torchvision's rounding of MobileNetV2 channel counts to multiples of 8."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def resnet_blocks(depth: int) -> int:
    """Basic blocks per stage of a CIFAR ResNet of ``depth`` layers (He et al. 2016, 6n+2)."""
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"CIFAR ResNet depth must be 6n+2; received {depth}")
    return (depth - 2) // 6
