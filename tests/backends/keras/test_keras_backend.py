"""The Keras backend in-process (run with `pytest --backend keras`, a process without torch)."""

import os

import numpy as np
import pytest

os.environ["KERAS_BACKEND"] = "tensorflow"
keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from backends.keras.networks import AdaptiveAvgPool2D, TorchBatchNorm, build, count_trainable  # noqa: E402
from backends.keras.trainer import KerasTrainer  # noqa: E402
from bench.records import spec as S  # noqa: E402
from bench.running.parity_tool import synthetic  # noqa: E402

pytestmark = pytest.mark.keras


def test_torch_is_not_in_this_process():
    import sys

    assert "torch" not in sys.modules


@pytest.mark.parametrize("name", ["simple_cnn", "vgg16_bn", "mobilenet_v2", "resnet20", "resnet56", "resnet110"])
def test_networks_build_and_run(name):
    m = build(name, (32, 32, 3), 10)
    y = m(np.zeros((2, 32, 32, 3), np.float32), training=False)
    assert tuple(y.shape) == (2, 10)
    assert count_trainable(m) > 0


def test_imagenet_sizes_match_torchvision_counts():
    # torchvision's vgg16_bn and mobilenet_v2 at 224x224x3, 1000 classes (tests/backends/torch/test_torch_networks.py)
    assert count_trainable(build("mobilenet_v2", (224, 224, 3), 1000)) == 3_504_872


def test_bn_conversion_and_unbiased_moving_variance():
    bn = TorchBatchNorm(momentum=1 - 0.1, epsilon=1e-5, dtype="float64")
    x = np.random.default_rng(0).normal(2.0, 3.0, size=(4, 5, 5, 3))
    bn(x, training=True)
    var = x.reshape(-1, 3).var(axis=0, ddof=1)  # torch: unbiased variance in the running update
    mean = x.reshape(-1, 3).mean(axis=0)
    np.testing.assert_allclose(bn.moving_variance.numpy(), 0.9 * 1 + 0.1 * var, rtol=1e-12)
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.1 * mean, rtol=1e-12)
    # and not Keras' own biased variance: over 100 values the two differ by 1%, far above rtol
    biased = 0.9 * 1 + 0.1 * x.reshape(-1, 3).var(axis=0, ddof=0)
    assert not np.allclose(bn.moving_variance.numpy(), biased, rtol=1e-6)


def test_adaptive_avg_pool_bins():
    x = np.arange(2 * 9 * 9 * 1, dtype=np.float64).reshape(2, 9, 9, 1)
    y = AdaptiveAvgPool2D((7, 7), dtype="float64")(x).numpy()
    # torch bins for 9 -> 7: [0,2) [1,3) [2,4) [3,6) [5,7) [6,8) [7,9)
    np.testing.assert_allclose(y[0, 3, 3, 0], x[0, 3:6, 3:6, 0].mean())
    np.testing.assert_allclose(y[1, 0, 6, 0], x[1, 0:2, 7:9, 0].mean())


def _trainer(**over):
    base = {"name": "k", "backend": "keras", "network": {"name": "simple_cnn"}, "dataset": {"name": "fashion_mnist"},
            "policy": {"name": "one-cycle", "min_lr": 0.01, "max_lr": 0.1}, "batch_size": 8,
            "budget": {"steps": 50}, "optimizer": {"weight_decay": 1e-4}}
    base.update(over)
    spec = S.build(base)
    data = synthetic((28, 28, 1), 10, n=64)
    data.train_x[:] = np.random.default_rng(0).integers(0, 256, size=data.train_x.shape, dtype=np.uint8)
    return spec, KerasTrainer(spec, data)


def test_changing_lr_and_momentum_never_retrace():
    spec, t = _trainer()
    from bench.records.schedules import make_schedule

    sched = make_schedule(spec.policy, 50)
    for s in range(20):
        lr, mom = sched(s)
        t.train_step(np.arange(8) + (s % 7) * 8, None, lr, mom)
        assert t.opt.lr.numpy() == lr and t.opt.momentum.numpy() == mom
    out = t.collect()
    assert out.shape == (20, 2) and np.isfinite(out).all()
    assert t._step.experimental_get_tracing_count() == 1


def test_augmented_step_traces_once():
    from bench.records.spec import AugmentSpec
    from bench.running import augment

    spec, t = _trainer(dataset={"name": "fashion_mnist", "augment": {"flip": True, "shift": 2, "rotate": 10}})
    for s in range(5):
        t.train_step(np.arange(8), augment.draw(AugmentSpec(flip=True, shift=2, rotate=10), 0, s, 8), 0.01, 0.9)
    t.collect()
    assert t._step.experimental_get_tracing_count() == 1


def test_weights_round_trip_and_zero_momentum_buffers():
    _, t = _trainer()
    w = t.get_weights()
    t.train_step(np.arange(8), None, 0.1, 0.9)
    t.collect()
    assert any(np.abs(b.numpy()).max() > 0 for b in t.opt.buffers)
    t.set_weights(w)
    assert all(np.abs(b.numpy()).max() == 0 for b in t.opt.buffers)
    for k, v in t.get_weights().items():
        np.testing.assert_array_equal(v, w[k])


def test_range_test_restores_state_and_changes_decay_without_retracing():
    from bench.rates import lrfind

    spec, t = _trainer()
    data = synthetic((28, 28, 1), 10, n=64)
    data.train_x[:] = np.random.default_rng(1).integers(0, 256, size=data.train_x.shape, dtype=np.uint8)
    t.train_step(np.arange(8), None, 0.01, 0.9)
    t.collect()
    before = t.get_state()
    t.set_weight_decay(1e-3)
    res = lrfind.range_test(t, data, spec, start_lr=1e-4, end_lr=10, steps=30, beta=0.9)
    after = t.get_state()
    for a, b in zip(before["model"] + before["buffers"], after["model"] + after["buffers"]):
        np.testing.assert_array_equal(a, b)
    assert res.rows and t._step.experimental_get_tracing_count() == 1
    assert float(t.opt.decay.numpy()) == 1e-3
