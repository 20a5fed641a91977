"""The six networks in PyTorch, for any input size from 28x28x1 to 224x224x3.

Initialisation, one scheme for every network (the Keras backend copies it):

| layer | weights | bias |
|---|---|---|
| Conv2d | Kaiming (He) normal, fan_out, gain sqrt(2) | zeros |
| Linear | normal(0, 0.01) | zeros |
| BatchNorm | scale 1 | shift 0 |

This is torchvision's scheme for VGG and MobileNetV2 (He et al. 2015 for the convolutions).

How each network adapts to the input (``small`` means the shorter side is below 64 px):

- ``simple_cnn``: two 3x3 conv (32, 64 channels) + BN + ReLU + 2x2 max-pool blocks, a
  dense layer of 128 and the classifier. The feature map is flattened in
  height-width-channel order (Keras' order) so dense weights move across backends as is.
- ``vgg16_bn``: torchvision's ``vgg16_bn`` at 224 px and above (7x7 average pool,
  4096-4096 head with dropout 0.5). Below 224 px, the CIFAR-style head: global average
  pool, dense 512 + ReLU, classifier (no dropout); a max-pool is skipped when its input
  is smaller than 2x2 (28 px: 28-14-7-3-1).
- ``mobilenet_v2``: torchvision's ``mobilenet_v2`` (width multiplier included). Small
  inputs keep resolution in the stem: the first conv and the first stride-2 stage use
  stride 1 (total stride 8 instead of 32), as CIFAR versions do.
- ``resnet20/56/110``: He et al. 2016 section 4.2, the CIFAR ResNets Smith & Topin used:
  3x3 conv 16, three stages of n = (depth-2)/6 basic blocks (16, 32, 64 channels,
  strides 1, 2, 2), projection shortcuts (1x1 conv + BN, "option B") where the shape
  changes, global average pool, classifier. Any input size; resolution is never
  reduced in the stem.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from bench.records.architectures import (
    MOBILENET_V2_CFG,
    SMALL_INPUT,
    VGG16_CFG,
    VGG_IMAGENET_HEAD,
    channels,
    make_divisible,
    resnet_blocks,
)


def init_weights(model: nn.Module) -> nn.Module:
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.01)
            nn.init.zeros_(m.bias)
    return model


class _BN:
    """Batch-norm factory with the spec's momentum (PyTorch sense) and epsilon; the identity
    when batch norm is switched off (``network.batch_norm: false``)."""

    def __init__(self, momentum: float, eps: float, enabled: bool = True):
        self.momentum, self.eps, self.enabled = momentum, eps, enabled

    def __call__(self, c: int) -> nn.Module:
        return nn.BatchNorm2d(c, eps=self.eps, momentum=self.momentum) if self.enabled else nn.Identity()


class FlattenHWC(nn.Module):
    """Flatten NCHW in (H, W, C) order, the order Keras flattens NHWC in."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, 2, 3, 1).flatten(1)



def simple_cnn(in_ch, num_classes, size, bn, width=1.0):
    c1, c2, d = channels(32, width), channels(64, width), channels(128, width)
    h, w = size
    return nn.Sequential(
        nn.Conv2d(in_ch, c1, 3, padding=1, bias=False), bn(c1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Conv2d(c1, c2, 3, padding=1, bias=False), bn(c2), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        FlattenHWC(),
        nn.Linear(c2 * (h // 4) * (w // 4), d), nn.ReLU(inplace=True),
        nn.Linear(d, num_classes),
    )




def vgg16_bn(in_ch, num_classes, size, bn, width=1.0):
    layers: list[nn.Module] = []
    c, side = in_ch, min(size)
    for v in VGG16_CFG:
        if v == "M":
            if side >= 2:
                layers.append(nn.MaxPool2d(2, 2))
                side //= 2
            continue
        out = channels(v, width)
        # torchvision keeps conv biases in vgg16_bn; kept for an identical parameter count
        layers += [nn.Conv2d(c, out, 3, padding=1), bn(out), nn.ReLU(inplace=True)]
        c = out
    if min(size) >= VGG_IMAGENET_HEAD:
        head = [
            nn.AdaptiveAvgPool2d((7, 7)), FlattenHWC(),
            nn.Linear(c * 49, 4096), nn.ReLU(True), nn.Dropout(0.5),
            nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(0.5),
            nn.Linear(4096, num_classes),
        ]
    else:
        hidden = channels(512, width)
        head = [nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Linear(c, hidden), nn.ReLU(True),
                nn.Linear(hidden, num_classes)]
    return nn.Sequential(nn.Sequential(*layers), nn.Sequential(*head))




class InvertedResidual(nn.Module):
    def __init__(self, inp, oup, stride, expand, bn):
        super().__init__()
        hidden = int(round(inp * expand))
        self.use_res = stride == 1 and inp == oup
        layers: list[nn.Module] = []
        if expand != 1:
            layers += [nn.Conv2d(inp, hidden, 1, bias=False), bn(hidden), nn.ReLU6(inplace=True)]
        layers += [
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False), bn(hidden), nn.ReLU6(inplace=True),
            nn.Conv2d(hidden, oup, 1, bias=False), bn(oup),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv(x) if self.use_res else self.conv(x)




def mobilenet_v2(in_ch, num_classes, size, bn, width=1.0):
    small = min(size) < SMALL_INPUT
    c = make_divisible(32 * width)
    last = make_divisible(1280 * max(1.0, width))
    feats: list[nn.Module] = [nn.Sequential(
        nn.Conv2d(in_ch, c, 3, 1 if small else 2, 1, bias=False), bn(c), nn.ReLU6(inplace=True))]
    for i, (t, ch, n, s) in enumerate(MOBILENET_V2_CFG):
        out = make_divisible(ch * width)
        if small and i == 1:
            s = 1
        for j in range(n):
            feats.append(InvertedResidual(c, out, s if j == 0 else 1, t, bn))
            c = out
    feats.append(nn.Sequential(nn.Conv2d(c, last, 1, bias=False), bn(last), nn.ReLU6(inplace=True)))
    return nn.Sequential(
        nn.Sequential(*feats),
        nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Dropout(0.2), nn.Linear(last, num_classes)),
    )


class BasicBlock(nn.Module):
    def __init__(self, inp, oup, stride, bn):
        super().__init__()
        self.conv1 = nn.Conv2d(inp, oup, 3, stride, 1, bias=False)
        self.bn1 = bn(oup)
        self.conv2 = nn.Conv2d(oup, oup, 3, 1, 1, bias=False)
        self.bn2 = bn(oup)
        self.shortcut = nn.Sequential()
        if stride != 1 or inp != oup:
            self.shortcut = nn.Sequential(nn.Conv2d(inp, oup, 1, stride, bias=False), bn(oup))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + self.shortcut(x))


def cifar_resnet(depth):
    n = resnet_blocks(depth)

    def build(in_ch, num_classes, size, bn, width=1.0):
        widths = [channels(16, width), channels(32, width), channels(64, width)]
        layers: list[nn.Module] = [nn.Conv2d(in_ch, widths[0], 3, 1, 1, bias=False), bn(widths[0]), nn.ReLU(inplace=True)]
        c = widths[0]
        for stage, w in enumerate(widths):
            for j in range(n):
                layers.append(BasicBlock(c, w, 2 if (stage > 0 and j == 0) else 1, bn))
                c = w
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Linear(c, num_classes)]
        return nn.Sequential(*layers)

    return build


BUILDERS = {
    "simple_cnn": simple_cnn,
    "vgg16_bn": vgg16_bn,
    "mobilenet_v2": mobilenet_v2,
    "resnet20": cifar_resnet(20),
    "resnet56": cifar_resnet(56),
    "resnet110": cifar_resnet(110),
}


def build(name: str, input_shape, num_classes: int, bn_momentum=0.1, bn_eps=1e-5, width=1.0,
          batch_norm: bool = True) -> nn.Module:
    """Build and initialise network ``name`` for ``input_shape`` = (H, W, C)."""
    h, w, c = input_shape
    model = BUILDERS[name](c, num_classes, (h, w), _BN(bn_momentum, bn_eps, batch_norm), width)
    return init_weights(model)


def count_trainable(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _layers(model: nn.Module):
    """Conv, batch-norm and dense layers in creation order: the canonical layer order."""
    return [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.BatchNorm2d, nn.BatchNorm1d, nn.Linear))]


def export_weights(model: nn.Module) -> dict:
    """Weights in the canonical, framework-neutral layout (Keras' layout, NHWC).

    Keys ``"<layer index>/<kind>/<name>"`` in creation order. conv: kernel (H, W, in, out),
    bias; dwconv (depthwise): kernel (H, W, channels, 1); bn: gamma, beta, mean, var;
    dense: kernel (in, out), bias. Dense layers after a flatten need no permutation: the
    torch networks flatten in (H, W, C) order.
    """
    out = {}
    for i, m in enumerate(_layers(model)):
        t = lambda x: x.detach().double().cpu().numpy().copy()  # noqa: E731 - a copy, not a view of live weights
        if isinstance(m, nn.Conv2d):
            depthwise = m.groups > 1
            if depthwise and not (m.groups == m.in_channels == m.out_channels):
                raise ValueError("only depthwise grouped convolutions are supported")
            kind = "dwconv" if depthwise else "conv"
            w = m.weight.detach().permute(2, 3, 0, 1) if depthwise else m.weight.detach().permute(2, 3, 1, 0)
            out[f"{i:04d}/{kind}/kernel"] = w.double().cpu().numpy().copy()
            if m.bias is not None:
                out[f"{i:04d}/{kind}/bias"] = t(m.bias)
        elif isinstance(m, nn.Linear):
            out[f"{i:04d}/dense/kernel"] = t(m.weight).T.copy()
            out[f"{i:04d}/dense/bias"] = t(m.bias)
        else:
            for name, v in (("gamma", m.weight), ("beta", m.bias), ("mean", m.running_mean), ("var", m.running_var)):
                out[f"{i:04d}/bn/{name}"] = t(v)
    return out


@torch.no_grad()
def import_weights(model: nn.Module, arrays: dict) -> None:
    """Load weights exported by any backend's ``export_weights`` (checks every shape)."""
    layers = _layers(model)
    n = len({k.split("/")[0] for k in arrays})
    if n != len(layers):
        raise ValueError(f"weights hold {n} layers, the model has {len(layers)}")

    def put(dst, key, src):
        if tuple(dst.shape) != tuple(src.shape):
            raise ValueError(f"{key}: shape {tuple(src.shape)} does not fit {tuple(dst.shape)}")
        dst.copy_(torch.as_tensor(src, dtype=dst.dtype))

    for i, m in enumerate(layers):
        if isinstance(m, nn.Conv2d):
            kind = "dwconv" if m.groups > 1 else "conv"
            k = torch.as_tensor(arrays[f"{i:04d}/{kind}/kernel"])
            k = k.permute(2, 3, 0, 1) if kind == "dwconv" else k.permute(3, 2, 0, 1)
            put(m.weight, f"{i:04d}/{kind}/kernel", k)
            if m.bias is not None:
                put(m.bias, f"{i:04d}/{kind}/bias", torch.as_tensor(arrays[f"{i:04d}/{kind}/bias"]))
        elif isinstance(m, nn.Linear):
            put(m.weight, f"{i:04d}/dense/kernel", torch.as_tensor(arrays[f"{i:04d}/dense/kernel"]).T)
            put(m.bias, f"{i:04d}/dense/bias", torch.as_tensor(arrays[f"{i:04d}/dense/bias"]))
        else:
            for name, v in (("gamma", m.weight), ("beta", m.bias), ("mean", m.running_mean), ("var", m.running_var)):
                put(v, f"{i:04d}/bn/{name}", torch.as_tensor(arrays[f"{i:04d}/bn/{name}"]))


def flops_per_image(model: torch.nn.Module, input_shape, device, dtype) -> float:
    """Forward FLOPs of one image (2 x multiply-adds of convolutions and matrix products),
    counted by ``torch.utils.flop_counter`` on a batch of 2 in eval mode."""
    h, w, c = input_shape
    x = torch.zeros(2, c, h, w, device=device, dtype=dtype)
    was = model.training
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(x)
    model.train(was)
    return fc.get_total_flops() / 2


__all__ = ["BUILDERS", "build", "count_trainable", "export_weights", "flops_per_image", "import_weights",
           "init_weights"]

