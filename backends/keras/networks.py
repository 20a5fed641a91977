"""The six networks in Keras 3, layer for layer the torch backend's (backends/torch/networks.py).

Same layers in the same creation order, the same trainable parameter counts and the
same initialisation scheme:

| layer | weights | bias |
|---|---|---|
| Conv2D | He normal, fan_out (``VarianceScaling(2, "fan_out", "untruncated_normal")``) | zeros |
| DepthwiseConv2D | the same std as torch's fan_out for a (C, 1, 3, 3) weight, i.e. sqrt(2 / (9 C)): Keras' *fan_in* of a (3, 3, C, 1) kernel | zeros |
| Dense | normal(0, 0.01) | zeros |
| BatchNormalization | scale 1 | shift 0 |

Conversions: batch-norm momentum is ``1 - bn_momentum`` (the spec uses torch's sense),
epsilon is the spec's (Keras' default 1e-3 is not used). Batch norm updates its moving
variance with the *unbiased* batch variance, as torch does (Keras' own uses the biased
one). Convolutions with stride 2 pad explicitly (1 pixel each side, as torch's
``padding=1``): Keras' ``"same"`` pads bottom/right only for even inputs, which shifts
every feature map by half a pixel. Data are NHWC; flattening before a dense layer is
Keras' natural (H, W, C) order, which the torch networks copy.
"""

from __future__ import annotations

import math

import keras
from keras import layers, ops

from bench.records.architectures import (
    MOBILENET_V2_CFG,
    SMALL_INPUT,
    VGG16_CFG,
    VGG_IMAGENET_HEAD,
    channels,
    make_divisible,
    resnet_blocks,
)


# A fresh initializer per layer, made when the layer is built: a Keras 3 initializer draws
# its seed once, when constructed (from Python's `random`, which keras.utils.set_random_seed
# seeds), and then gives the same values at every call. One instance shared by all layers
# made every kernel of a shape identical (all 3x3x16x16 convolutions of ResNet-20), and
# one made at import time, before the run's seed was set, differed from process to process.
def CONV_INIT():  # noqa: N802 - read like the constants they replace
    return keras.initializers.VarianceScaling(2.0, "fan_out", "untruncated_normal")


def DW_INIT():  # noqa: N802
    return keras.initializers.VarianceScaling(2.0, "fan_in", "untruncated_normal")


def DENSE_INIT():  # noqa: N802
    return keras.initializers.RandomNormal(0.0, 0.01)



class TorchBatchNorm(layers.BatchNormalization):
    """BatchNormalization whose moving variance takes the unbiased batch variance (torch's rule)."""

    def call(self, inputs, training=None, mask=None):
        if not (training and self.trainable) or mask is not None or self.renorm:
            return super().call(inputs, training=training, mask=mask)
        compute_dtype = keras.backend.result_type(inputs.dtype, "float32")
        x = ops.cast(inputs, compute_dtype)
        mean, variance = ops.moments(x, axes=self._reduction_axes)
        n = 1
        for a in self._reduction_axes:
            n *= x.shape[a] if x.shape[a] is not None else ops.shape(x)[a]
        unbiased = variance * (n / max(n - 1, 1))
        mom = self.momentum
        self.moving_mean.assign(ops.cast(self.moving_mean, x.dtype) * mom + mean * (1.0 - mom))
        self.moving_variance.assign(ops.cast(self.moving_variance, x.dtype) * mom + unbiased * (1.0 - mom))
        out = ops.batch_normalization(
            x, mean, variance, axis=self.axis,
            offset=ops.cast(self.beta, x.dtype), scale=ops.cast(self.gamma, x.dtype), epsilon=self.epsilon,
        )
        return ops.cast(out, self.compute_dtype)


class AdaptiveAvgPool2D(layers.Layer):
    """torch's AdaptiveAvgPool2d: bin i spans [floor(i*H/out), ceil((i+1)*H/out))."""

    def __init__(self, output_size, **kw):
        super().__init__(**kw)
        self.output_size = output_size

    def call(self, x):
        h, w = x.shape[1], x.shape[2]
        oh, ow = self.output_size
        if (h, w) == (oh, ow):
            return x
        rows = []
        for i in range(oh):
            r0, r1 = (i * h) // oh, math.ceil((i + 1) * h / oh)
            cols = []
            for j in range(ow):
                c0, c1 = (j * w) // ow, math.ceil((j + 1) * w / ow)
                cols.append(ops.mean(x[:, r0:r1, c0:c1, :], axis=(1, 2)))
            rows.append(ops.stack(cols, axis=1))
        return ops.stack(rows, axis=1)

    def compute_output_shape(self, s):
        return (s[0], *self.output_size, s[3])


class _Factory:
    """Creates layers with the canonical names ``L<index>_<kind>`` in creation order."""

    def __init__(self, bn_momentum: float, bn_eps: float, dtype: str, batch_norm: bool = True):
        self.i = 0
        self.bn_momentum, self.bn_eps, self.dtype, self.batch_norm = bn_momentum, bn_eps, dtype, batch_norm

    def _name(self, kind):
        name = f"L{self.i:04d}_{kind}"
        self.i += 1
        return name

    def conv(self, x, filters, k, stride=1, bias=False):
        if stride > 1 and k > 1:  # torch padding k//2 on every side
            x = layers.ZeroPadding2D(k // 2, dtype=self.dtype)(x)
            pad = "valid"
        else:
            pad = "same" if k > 1 else "valid"
        return layers.Conv2D(filters, k, strides=stride, padding=pad, use_bias=bias, kernel_initializer=CONV_INIT(),
                             bias_initializer="zeros", name=self._name("conv"), dtype=self.dtype)(x)

    def dwconv(self, x, stride=1):
        if stride > 1:
            x = layers.ZeroPadding2D(1, dtype=self.dtype)(x)
        return layers.DepthwiseConv2D(3, strides=stride, padding="valid" if stride > 1 else "same", use_bias=False,
                                      depthwise_initializer=DW_INIT(), name=self._name("dwconv"), dtype=self.dtype)(x)

    def bn(self, x):
        if not self.batch_norm:  # network.batch_norm: false, as the torch backend's identity
            return x
        return TorchBatchNorm(momentum=1.0 - self.bn_momentum, epsilon=self.bn_eps, name=self._name("bn"),
                              dtype=self.dtype)(x)

    def dense(self, x, units):
        return layers.Dense(units, kernel_initializer=DENSE_INIT(), bias_initializer="zeros", name=self._name("dense"),
                            dtype=self.dtype)(x)



def simple_cnn(f, x, num_classes, size, width=1.0):
    c1, c2, d = channels(32, width), channels(64, width), channels(128, width)
    for c in (c1, c2):
        x = f.conv(x, c, 3)
        x = f.bn(x)
        x = layers.ReLU(dtype=f.dtype)(x)
        x = layers.MaxPooling2D(2, dtype=f.dtype)(x)
    x = layers.Flatten(dtype=f.dtype)(x)
    x = layers.ReLU(dtype=f.dtype)(f.dense(x, d))
    return f.dense(x, num_classes)




def vgg16_bn(f, x, num_classes, size, width=1.0):
    side = min(size)
    c = None
    for v in VGG16_CFG:
        if v == "M":
            if side >= 2:
                x = layers.MaxPooling2D(2, dtype=f.dtype)(x)
                side //= 2
            continue
        c = channels(v, width)
        x = layers.ReLU(dtype=f.dtype)(f.bn(f.conv(x, c, 3, bias=True)))
    if min(size) >= VGG_IMAGENET_HEAD:
        x = layers.Flatten(dtype=f.dtype)(AdaptiveAvgPool2D((7, 7), dtype=f.dtype)(x))
        for _ in range(2):
            x = layers.Dropout(0.5, dtype=f.dtype)(layers.ReLU(dtype=f.dtype)(f.dense(x, 4096)))
        return f.dense(x, num_classes)
    x = layers.GlobalAveragePooling2D(dtype=f.dtype)(x)
    x = layers.ReLU(dtype=f.dtype)(f.dense(x, channels(512, width)))
    return f.dense(x, num_classes)






def mobilenet_v2(f, x, num_classes, size, width=1.0):
    small = min(size) < SMALL_INPUT
    relu6 = lambda t: layers.ReLU(max_value=6.0, dtype=f.dtype)(t)  # noqa: E731
    c = make_divisible(32 * width)
    last = make_divisible(1280 * max(1.0, width))
    x = relu6(f.bn(f.conv(x, c, 3, stride=1 if small else 2)))
    for i, (t, ch, n, s) in enumerate(MOBILENET_V2_CFG):
        out = make_divisible(ch * width)
        if small and i == 1:
            s = 1
        for j in range(n):
            stride = s if j == 0 else 1
            inp, y = x, x
            hidden = int(round(c * t))
            if t != 1:
                y = relu6(f.bn(f.conv(y, hidden, 1)))
            y = relu6(f.bn(f.dwconv(y, stride)))
            y = f.bn(f.conv(y, out, 1))
            x = layers.Add(dtype=f.dtype)([inp, y]) if (stride == 1 and c == out) else y
            c = out
    x = relu6(f.bn(f.conv(x, last, 1)))
    x = layers.GlobalAveragePooling2D(dtype=f.dtype)(x)
    x = layers.Dropout(0.2, dtype=f.dtype)(x)
    return f.dense(x, num_classes)


def cifar_resnet(depth):
    n = resnet_blocks(depth)

    def build(f, x, num_classes, size, width=1.0):
        widths = [channels(16, width), channels(32, width), channels(64, width)]
        x = layers.ReLU(dtype=f.dtype)(f.bn(f.conv(x, widths[0], 3)))
        c = widths[0]
        for stage, w in enumerate(widths):
            for j in range(n):
                stride = 2 if (stage > 0 and j == 0) else 1
                y = layers.ReLU(dtype=f.dtype)(f.bn(f.conv(x, w, 3, stride=stride)))
                y = f.bn(f.conv(y, w, 3))
                sc = f.bn(f.conv(x, w, 1, stride=stride)) if (stride != 1 or c != w) else x
                x = layers.ReLU(dtype=f.dtype)(layers.Add(dtype=f.dtype)([y, sc]))
                c = w
        x = layers.GlobalAveragePooling2D(dtype=f.dtype)(x)
        return f.dense(x, num_classes)

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
          dtype: str = "float32", batch_norm: bool = True) -> keras.Model:
    """Build network ``name`` for NHWC ``input_shape`` = (H, W, C); outputs logits."""
    h, w, c = input_shape
    f = _Factory(bn_momentum, bn_eps, dtype, batch_norm)
    inp = keras.Input((h, w, c), dtype=dtype.replace("mixed_", "") if dtype.startswith("mixed") else dtype)
    out = BUILDERS[name](f, inp, num_classes, (h, w), width)
    return keras.Model(inp, out, name=name)


def count_trainable(model: keras.Model) -> int:
    return int(sum(math.prod(v.shape) for v in model.trainable_weights))


def _canonical_layers(model: keras.Model):
    found = [lay for lay in model.layers if lay.name.startswith("L") and "_" in lay.name and lay.name[1:5].isdigit()]
    return sorted(found, key=lambda lay: int(lay.name[1:5]))


def export_weights(model: keras.Model) -> dict:
    """Weights in the canonical layout (see backends/torch/networks.py: export_weights)."""
    out = {}
    for i, lay in enumerate(_canonical_layers(model)):
        kind = lay.name.split("_", 1)[1]
        names = {"conv": ("kernel", "bias"), "dwconv": ("kernel", "bias"), "dense": ("kernel", "bias"),
                 "bn": ("gamma", "beta", "mean", "var")}[kind]
        for n, v in zip(names, lay.get_weights(), strict=False):
            out[f"{i:04d}/{kind}/{n}"] = v.astype("float64")
    return out


def import_weights(model: keras.Model, arrays: dict) -> None:
    lays = _canonical_layers(model)
    n = len({k.split("/")[0] for k in arrays})
    if n != len(lays):
        raise ValueError(f"weights hold {n} layers, the model has {len(lays)}")
    for i, lay in enumerate(lays):
        kind = lay.name.split("_", 1)[1]
        names = {"conv": ("kernel", "bias"), "dwconv": ("kernel", "bias"), "dense": ("kernel", "bias"),
                 "bn": ("gamma", "beta", "mean", "var")}[kind]
        current = lay.get_weights()
        new = []
        for nm, cur in zip(names, current, strict=False):
            key = f"{i:04d}/{kind}/{nm}"
            if key not in arrays:
                raise ValueError(f"{key} missing from the weights (layer {lay.name})")
            src = arrays[key]
            if tuple(src.shape) != tuple(cur.shape):
                raise ValueError(f"{key}: shape {tuple(src.shape)} does not fit {tuple(cur.shape)} ({lay.name})")
            new.append(src.astype(cur.dtype))
        lay.set_weights(new)


def flops_per_image(model) -> float:
    """Forward FLOPs of one image: 2 x multiply-adds of the convolutions and dense layers,
    from their kernels and output shapes (what torch's flop counter counts)."""
    total = 0
    for layer in model.layers:
        kind = type(layer).__name__
        if kind in ("Conv2D", "DepthwiseConv2D", "Dense"):
            out = layer.output.shape  # (None, h, w, c) or (None, units)
            k = layer.kernel  # DepthwiseConv2D: (kh, kw, cin, multiplier)
            if kind == "Dense":
                total += 2 * math.prod(k.shape)
            elif kind == "Conv2D":
                kh, kw, cin, cout = k.shape
                total += 2 * kh * kw * cin * cout * out[1] * out[2]
            else:
                kh, kw, cin, mult = k.shape
                total += 2 * kh * kw * cin * mult * out[1] * out[2]
    return float(total)
