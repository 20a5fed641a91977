"""SGD with momentum in both formulations, the rate and momentum set every step: the
same update as backends/torch/optim.py, in TensorFlow variables.

``caffe`` (Caffe, Keras; the logs we compare against):  ``v = mu*v - lr*g; w += v``
``torch`` (``torch.optim.SGD``):                         ``v = mu*v + g;     w -= lr*v``

Nesterov: caffe form ``w += mu*v - lr*g``, torch form ``w -= lr*(g + mu*v)``. Weight
decay is ``decay*w`` added to the gradient, before momentum, on the parameters the spec
chooses (by default not batch-norm scales and shifts nor biases).

Not Keras' ``SGD``: it has the caffe form only and bakes a Python-float momentum into its
compiled step. Here the rate, momentum and decay are ``tf.Variable``s assigned before
each step, so a value that changes every step never retraces the ``tf.function``.
Both buffers start at zero (the torch form's first step then gives ``v = g``, as torch's).
"""

from __future__ import annotations

import tensorflow as tf


class HarnessSGD:
    def __init__(self, tvars, optimizer_spec, dtype: str):
        """``tvars``: the model's trainable variables; ``dtype``: the type of the rate and
        momentum variables (the network's float type)."""
        form = optimizer_spec.momentum_form
        if form not in ("caffe", "torch"):
            raise ValueError(f"momentum form must be caffe or torch; received {form!r}")
        self.tvars = list(tvars)
        # conv and dense kernels have ndim >= 2; batch-norm scales/shifts and biases 1
        self.decayed = [len(v.shape) > 1 or optimizer_spec.decay_bn_and_bias for v in self.tvars]
        # a variable, so a weight-decay sweep changes it without retracing
        self.decay = tf.Variable(float(optimizer_spec.decay), dtype=tf.float64, trainable=False)
        self.form, self.nesterov = form, optimizer_spec.nesterov
        self.buffers = [tf.Variable(tf.zeros(v.shape, dtype=v.dtype), trainable=False) for v in self.tvars]
        self.lr = tf.Variable(0.0, dtype=dtype, trainable=False)
        self.momentum = tf.Variable(0.0, dtype=dtype, trainable=False)

    def set(self, lr: float, momentum: float) -> None:
        """The schedule's values for the coming update."""
        self.lr.assign(lr)
        self.momentum.assign(momentum)

    def apply(self, grads) -> None:
        """One update of every trainable variable (traced inside the train step)."""
        for v, g, buf, dec in zip(self.tvars, grads, self.buffers, self.decayed, strict=True):
            lr = tf.cast(self.lr, v.dtype)
            mu = tf.cast(self.momentum, v.dtype)
            g = tf.cast(g, v.dtype)
            if dec:
                g = g + tf.cast(self.decay, v.dtype) * v  # decay * w added to the gradient
            if self.form == "torch":  # v = mu*v + g; w -= lr*v  (Nesterov: w -= lr*(g + mu*v))
                buf.assign(buf * mu + g)
                v.assign_sub(lr * (g + mu * buf) if self.nesterov else lr * buf)
            else:  # caffe: v = mu*v - lr*g; w += v  (Nesterov: w += mu*v - lr*g)
                buf.assign(buf * mu - lr * g)
                if self.nesterov:
                    v.assign_add(mu * buf)
                    v.assign_add(-lr * g)
                else:
                    v.assign_add(buf)

    def reset(self) -> None:
        """Momentum buffers back to zero (new weights were loaded)."""
        for b in self.buffers:
            b.assign(tf.zeros_like(b))
