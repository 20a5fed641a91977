"""The Keras 3 (TensorFlow) trainer behind the core's loop: implements
:class:`bench.running.registry.Trainer`.

One ``tf.function`` train step, traced once: the learning rate and momentum are
``tf.Variable``s (backends/keras/optim.py) assigned before every step from
``bench/records/schedules.py``, so a rate that changes every step never retraces. The loss recorded is each step's own mean batch
loss, not Keras' running epoch average (tensorflow#58098).

Data stay in TensorFlow tensors as uint8 NHWC; each step gathers its batch, applies the
core's augmentation draws (shift, flip on uint8; rotation bilinear on float), converts
and normalises ``(x/255 - mean) / std``.
"""

from __future__ import annotations

import math
import os
import platform

import numpy as np

os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from backends.keras import augment  # noqa: E402
from backends.keras.networks import (  # noqa: E402
    build,
    count_trainable,
    export_weights,
    flops_per_image,
    import_weights,
)
from backends.keras.optim import HarnessSGD  # noqa: E402

if keras.backend.backend() != "tensorflow":  # pragma: no cover - keras imported earlier with another backend
    raise ImportError(f"the Keras backend needs KERAS_BACKEND=tensorflow; keras runs on {keras.backend.backend()}")

# Evaluation batch, scaled by image size: about 2 M input values per batch, at least 256;
# what an evaluation costs with it: results/benchmarks/eval_share_keras.json
EVAL_BATCH = 256


def eval_batch(image_shape) -> int:
    return max(EVAL_BATCH, min(2000, 2_000_000 // int(np.prod(image_shape))))


def pick_device(requested: str) -> str:
    gpus = tf.config.list_physical_devices("GPU")
    if requested == "auto":
        return "/GPU:0" if gpus else "/CPU:0"
    if requested.startswith("cuda"):
        if not gpus:
            from bench.errors import BenchError

            raise BenchError(f"device {requested!r} requested but TensorFlow sees no GPU; allowed here: auto | cpu")
        idx = requested.partition(":")[2] or "0"
        return f"/GPU:{idx}"
    return "/CPU:0"


class KerasTrainer:
    def __init__(self, spec, data):
        self.spec = spec
        self.rank = 0  # one process: data parallelism is the torch backend's (bench run --nproc)
        self.device = pick_device(spec.device)
        self.dtype = "float64" if spec.precision == "float64" else "float32"
        layer_dtype = "mixed_bfloat16" if spec.precision == "bf16" else self.dtype
        keras.utils.set_random_seed(spec.seed)
        net = spec.network
        with tf.device(self.device):
            self.model = build(net.name, data.input_shape, data.num_classes, net.bn_momentum, net.bn_eps,
                               net.width, dtype=layer_dtype, batch_norm=net.batch_norm)
            self.opt = HarnessSGD(self.model.trainable_variables, spec.optimizer, self.dtype)
            self.train_x = tf.constant(data.train_x)
            self.train_y = tf.constant(data.train_y)
            self.test_x = tf.constant(data.test_x)
            self.test_y = tf.constant(data.test_y)
            self.val_x = tf.constant(data.val_x)
            self.val_y = tf.constant(data.val_y)
            self.eval_idx = None if data.eval_idx is None else tf.constant(data.eval_idx)
            self.mean = tf.constant(np.asarray(data.mean), dtype=self.dtype)
            self.std = tf.constant(np.asarray(data.std), dtype=self.dtype)
        aug = spec.dataset.augment
        self.aug = (bool(aug.flip), bool(aug.shift), bool(aug.rotate))
        b = spec.batch_size
        sig = [tf.TensorSpec([b], tf.int64)]
        sig += [tf.TensorSpec([b], tf.bool)] if self.aug[0] else []
        sig += [tf.TensorSpec([b], tf.int64)] * 2 if self.aug[1] else []
        sig += [tf.TensorSpec([b], tf.float64)] if self.aug[2] else []
        # XLA: auto = on a GPU only; on this 2-core CPU it halved throughput (docs/performance.md)
        self.jit = bool(spec.compile if spec.compile != "auto" else self.device.startswith("/GPU"))
        self._update = tf.function(self._update_step, jit_compile=True) if self.jit else self._update_step
        self._step = tf.function(self._train_step, input_signature=sig, jit_compile=False)
        self._eval = tf.function(self._eval_batch, reduce_retracing=True)
        self.pending: list = []

    # -- the step --------------------------------------------------------------------
    def _prepare(self, x_u8, flip=None, dx=None, dy=None, angle=None):
        if dx is not None or flip is not None:
            x_u8 = augment.shift_flip(x_u8, flip, dx, dy)
        x = tf.cast(x_u8, self.dtype)
        x = (x / 255.0 - self.mean) / self.std
        if angle is not None:
            x = augment.rotate(x, angle)
        return x

    def _train_step(self, idx, *aug):
        it = iter(aug)
        flip = next(it) if self.aug[0] else None
        dx, dy = (next(it), next(it)) if self.aug[1] else (None, None)
        angle = next(it) if self.aug[2] else None
        x = self._prepare(tf.gather(self.train_x, idx), flip, dx, dy, angle)
        y = tf.gather(self.train_y, idx)
        return self._update(x, y)

    def _update_step(self, x, y):
        """Forward, backward and the SGD update: the part XLA compiles (the batch gather and
        the augmentation before it stay outside: the rotation op has no XLA kernel)."""
        with tf.GradientTape() as tape:
            logits = self.model(x, training=True)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=y, logits=tf.cast(logits, tf.float32) if self.dtype == "float32" else logits))
        self.opt.apply(tape.gradient(loss, self.opt.tvars))
        correct = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(logits, axis=1), y), tf.float64))
        return tf.stack([tf.cast(loss, tf.float64), correct])

    # -- interface -------------------------------------------------------------------
    def describe(self) -> dict:
        gpus = tf.config.list_physical_devices("GPU")
        on_gpu = self.device.startswith("/GPU")
        name = (tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU") if on_gpu
                else (platform.processor() or platform.machine()))
        return {
            "framework": {"tensorflow": tf.__version__, "keras": keras.__version__},
            "device": {"type": "cuda" if on_gpu else "cpu", "name": name, "count": 1},
            "threads": {"intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                        "inter_op": tf.config.threading.get_inter_op_parallelism_threads()},
            "world_size": 1,
            "cpu_count": os.cpu_count(),
            "trainable_params": count_trainable(self.model),
            "fast_paths": {"tf_function_step": True, "lr_momentum_as_variables": True, "data_on_device": True,
                           "data_dtype": "uint8", "augment_on_device": True,
                           "jit_compile": self.jit, "mixed_bfloat16": self.spec.precision == "bf16"},
        }

    def train_step(self, idx: np.ndarray, draws, lr: float, momentum: float) -> None:
        self.opt.set(lr, momentum)
        args = [tf.constant(idx, tf.int64)]
        if draws is not None:
            if self.aug[0]:
                args.append(tf.constant(draws.flip))
            if self.aug[1]:
                args += [tf.constant(draws.dx, tf.int64), tf.constant(draws.dy, tf.int64)]
            if self.aug[2]:
                args.append(tf.constant(draws.angle, tf.float64))
        with tf.device(self.device):
            self.pending.append(self._step(*args))

    def collect(self) -> np.ndarray:
        if not self.pending:
            return np.zeros((0, 2))
        out = tf.stack(self.pending).numpy()
        self.pending.clear()
        return out

    def _eval_batch(self, x_u8, y):
        logits = self.model(self._prepare(x_u8), training=False)
        logits = tf.cast(logits, tf.float64)
        loss = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
        correct = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(logits, axis=1), y), tf.int64))
        return loss, correct

    def evaluate(self, split: str) -> tuple[float, float]:
        if split == "eval" and self.eval_idx is not None:
            xs, ys = tf.gather(self.test_x, self.eval_idx), tf.gather(self.test_y, self.eval_idx)
        elif split == "val":
            xs, ys = self.val_x, self.val_y
        else:
            xs, ys = self.test_x, self.test_y
        n = int(ys.shape[0])
        bs = eval_batch(xs.shape[1:])
        with tf.device(self.device):
            loss_sum, correct = tf.zeros((), tf.float64), tf.zeros((), tf.int64)
            for s in range(0, n, bs):
                l_, c_ = self._eval(xs[s : s + bs], ys[s : s + bs])
                loss_sum += l_  # accumulated on the device: no host round trip per batch
                correct += c_
        loss = float(loss_sum) / n
        return (loss if math.isfinite(loss) else float("nan")), int(correct) / n

    def synchronize(self) -> None:
        for t in self.pending[-1:]:
            t.numpy()  # waits for the queued step

    # -- parity tools (bench/running/parity_tool.py) --------------------------------------------
    def get_weights(self) -> dict[str, np.ndarray]:
        return export_weights(self.model)

    def set_weights(self, arrays: dict[str, np.ndarray]) -> None:
        import_weights(self.model, arrays)
        self.opt.reset()

    def set_weight_decay(self, decay: float) -> None:
        """Change the decay (``decay * w`` added to the gradient) for the coming steps."""
        self.opt.decay.assign(float(decay))

    def get_state(self) -> dict:
        """Everything training changes: weights, batch-norm statistics, momentum buffers."""
        return {"model": [v.numpy().copy() for v in self.model.variables],
                "buffers": [b.numpy().copy() for b in self.opt.buffers]}

    def set_state(self, state: dict) -> None:
        for v, a in zip(self.model.variables, state["model"], strict=True):
            v.assign(a)
        for b, a in zip(self.opt.buffers, state["buffers"], strict=True):
            b.assign(a)

    def forward_flops(self) -> float:
        """Forward FLOPs of one image (bench perf): 2 x multiply-adds of convolutions and dense layers."""
        return flops_per_image(self.model)

    # -- checkpoints (bench/running/checkpoint.py) -----------------------------------------------
    def _extra_state(self) -> list:
        """Variables that change in training but are not weights: dropout seed generators."""
        weights = {id(v) for v in self.model.weights}
        return [v for v in self.model.variables if id(v) not in weights]

    def save_checkpoint(self, folder, tag: str) -> list[str]:
        """The model through Keras' own weights format (``.weights.h5``: weights and
        batch-norm statistics); momentum buffers and RNG states as plain arrays (``.npz``)."""
        wname, sname = f"{tag}.weights.h5", f"{tag}.npz"
        self.model.save_weights(os.path.join(folder, wname))
        arrays = {f"momentum.{i}": b.numpy() for i, b in enumerate(self.opt.buffers)}
        arrays.update({f"rng.{i}": v.numpy() for i, v in enumerate(self._extra_state())})
        np.savez(os.path.join(folder, sname), **arrays)
        return [wname, sname]

    def load_checkpoint(self, folder, files: list[str]) -> None:
        from bench.running.checkpoint import CheckpointError, check_momentum, reading

        try:
            wname = next(f for f in files if f.endswith(".weights.h5"))
            sname = next(f for f in files if f.endswith(".npz"))
        except StopIteration:
            raise CheckpointError(f"checkpoint in {folder} lists {files}: expected a .weights.h5 and a .npz") from None
        with reading(f"in {folder} ({wname}, {sname})"):
            with np.load(os.path.join(folder, sname), allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            buffers = check_momentum(arrays, [tuple(b.shape) for b in self.opt.buffers])
            self.model.load_weights(os.path.join(folder, wname))
        for b, a in zip(self.opt.buffers, buffers, strict=False):
            b.assign(a)
        for i, v in enumerate(self._extra_state()):
            if f"rng.{i}" in arrays:
                v.assign(arrays[f"rng.{i}"])

    def logits(self, images_u8: np.ndarray) -> np.ndarray:
        return tf.cast(self.model(self._prepare(tf.constant(images_u8)), training=False), tf.float64).numpy()

    def augmented(self, images_u8: np.ndarray, draws) -> np.ndarray:
        kw = {}
        if draws is not None:
            kw = {"flip": None if draws.flip is None else tf.constant(draws.flip),
                  "dx": None if draws.dx is None else tf.constant(draws.dx, tf.int64),
                  "dy": None if draws.dy is None else tf.constant(draws.dy, tf.int64),
                  "angle": None if draws.angle is None else tf.constant(draws.angle, tf.float64)}
        return tf.cast(self._prepare(tf.constant(images_u8), **kw), tf.float64).numpy()


def create_trainer(spec, data) -> KerasTrainer:
    return KerasTrainer(spec, data)
