"""A benchmarked policy in ``model.fit`` (backends/keras/callbacks.py): the rate and momentum
the callback sets before every batch are ``bench schedule``'s, and ``model.fit`` with it
trains to the weights of the harness's own Keras run (caffe momentum form, float64). Keras'
stock SGD would ignore the momentum: the weights, not logged values, are compared, and the
same comparison with a momentum that is only assigned (the stock SGD) fails."""

from __future__ import annotations

import numpy as np
import pytest

from bench.errors import StepOutOfRange
from bench.records.schedules import POLICIES

from common import REPO, needs_fmnist
from policy_examples import EXAMPLES, bench_schedule, policy_data

pytest.importorskip("tensorflow")
pytest.importorskip("keras")
pytestmark = pytest.mark.keras

import keras  # noqa: E402

from backends.keras.callbacks import MomentumVariableSGD, PolicyCallback  # noqa: E402

STEPS = 30


@pytest.fixture
def float64():
    """Keras' float type float64 for the test (the data fed to fit and the optimizer's rate
    and momentum variables are of it), restored after."""
    before = keras.config.floatx()
    keras.config.set_floatx("float64")
    try:
        yield
    finally:
        keras.config.set_floatx(before)


class Recorder(keras.callbacks.Callback):
    """The optimizer's rate and momentum variables as the coming batch will read them."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def on_train_batch_begin(self, batch, logs=None):
        opt = self.model.optimizer
        self.seen.append((float(keras.ops.convert_to_numpy(opt.learning_rate)),
                          float(keras.ops.convert_to_numpy(opt._momentum_variable))))


def _tiny_model(optimizer):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  jit_compile=False)
    return model


def _tiny_data(n):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 3)), rng.integers(0, 2, size=n)


def test_every_batch_gets_bench_schedules_values(float64):
    assert set(EXAMPLES) == set(POLICIES)
    x, y = _tiny_data(STEPS * 4)
    for name in POLICIES:
        expected = bench_schedule(name, EXAMPLES[name], STEPS)
        model = _tiny_model(MomentumVariableSGD(momentum=0.5))
        rec = Recorder()
        cb = PolicyCallback(policy_data(name, EXAMPLES[name]), total_steps=STEPS)
        # two fits of half the steps each: the second continues from optimizer.iterations
        model.fit(x[: STEPS * 2], y[: STEPS * 2], batch_size=4, shuffle=False, verbose=0, callbacks=[cb, rec])
        model.fit(x[STEPS * 2:], y[STEPS * 2:], batch_size=4, shuffle=False, verbose=0, callbacks=[cb, rec])
        assert rec.seen == expected, name  # exactly, as read back from the variables the step reads
        with pytest.raises(StepOutOfRange):  # a batch past the schedule: an error, never a wrap
            model.fit(x[:4], y[:4], batch_size=4, verbose=0, callbacks=[cb])


def test_keras_sgd_is_refused_with_the_reason(float64):
    x, y = _tiny_data(8)
    model = _tiny_model(keras.optimizers.SGD(momentum=0.9))
    with pytest.raises(TypeError, match="silently ignored"):
        model.fit(x, y, batch_size=4, verbose=0, callbacks=[PolicyCallback({"name": "constant", "lr": 0.1}, 2)])
    model = _tiny_model(keras.optimizers.Adam())
    with pytest.raises(TypeError, match="received Adam"):
        model.fit(x, y, batch_size=4, verbose=0, callbacks=[PolicyCallback({"name": "constant", "lr": 0.1}, 2)])


def test_the_policy_from_a_spec_file_or_a_run_directory():
    from bench.records import spec as spec_mod
    from bench.records.schedules import make_schedule

    run = REPO / "results" / "runs" / "simple-cnn-fmnist-one-cycle-keras-s0-21624674"
    spec = spec_mod.load(run / "spec.yaml")
    for source in (run, run / "spec.yaml", spec):
        assert PolicyCallback(source).schedule == make_schedule(spec.policy, 1404)


def test_sgd_momentum_is_a_variable_the_compiled_step_reads(float64):
    """One variable, two momenta: the same compiled step gives the caffe-form update of each."""
    opt = MomentumVariableSGD(learning_rate=0.1, momentum=0.0)
    w = keras.Variable(np.array([1.0, -2.0]))
    g = np.array([0.5, 0.25])
    opt.apply([g], [w])  # v = -0.1 g
    opt.momentum = 0.9
    opt.learning_rate = 0.2
    opt.apply([g], [w])  # v = 0.9 v - 0.2 g
    v1 = -0.1 * g
    v2 = 0.9 * v1 - 0.2 * g
    np.testing.assert_allclose(keras.ops.convert_to_numpy(w), np.array([1.0, -2.0]) + v1 + v2, rtol=1e-15)
    assert opt.momentum == 0.9 and opt.get_config()["momentum"] == 0.9


# -- weights: model.fit with the callback = the harness's own Keras run ----------------------

K = 16  # updates compared (of the schedule's 20: the rate and momentum move every step)


def _spec():
    from bench.records import spec as spec_mod

    return spec_mod.build({
        "name": "user-fit", "backend": "keras", "seed": 3, "precision": "float64", "device": "cpu",
        "compile": False, "network": {"name": "simple_cnn"},
        "dataset": {"name": "fashion_mnist", "train_size": 640, "test_size": 100},
        "optimizer": {"momentum_form": "caffe"},  # Keras' SGD's form; its weight_decay is not the harness's
        "policy": {"name": "one-cycle", "min_lr": 0.02, "max_lr": 0.3, "min_momentum": 0.8},
        "batch_size": 32, "budget": {"steps": 20},
    })


def _harness(spec, data):
    """The harness's own Keras run: its trainer driven update by update by bench.running.updates."""
    from bench.records.schedules import make_schedule
    from bench.running import registry as backends
    from bench.running.updates import Updates

    trainer = backends.load("keras").create_trainer(spec, data)
    initial = {k: v.copy() for k, v in trainer.get_weights().items()}
    updates = Updates(spec, make_schedule(spec.policy, spec.total_steps(len(data.train_y))), len(data.train_y))
    for s in range(K):
        u = updates(s)
        trainer.train_step(u.idx, u.draws, u.lr, u.momentum)
    trainer.collect()
    return initial, {k: v.copy() for k, v in trainer.get_weights().items()}, updates


class _AssignOnly(keras.callbacks.Callback):
    """What a callback on Keras' own SGD can do: assign the Python attributes (the momentum
    is then silently ignored by the compiled step)."""

    def __init__(self, schedule):
        super().__init__()
        self.schedule, self.step = schedule, 0

    def on_train_batch_begin(self, batch, logs=None):
        lr, momentum = self.schedule(self.step)
        self.model.optimizer.learning_rate = lr
        self.model.optimizer.momentum = momentum
        self.step += 1


def _fit(spec, data, initial, updates, optimizer, callback):
    """model.fit on the harness's batches, normalised as it normalises them: (x/255 - mean) / std."""
    from backends.keras.networks import build, export_weights, import_weights

    net = spec.network
    model = build(net.name, data.input_shape, data.num_classes, net.bn_momentum, net.bn_eps, net.width,
                  dtype="float64")
    import_weights(model, initial)
    model.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  jit_compile=False)
    idx = np.concatenate([updates(s).idx for s in range(K)])
    x = (data.train_x[idx].astype(np.float64) / 255.0 - np.asarray(data.mean)) / np.asarray(data.std)
    model.fit(x, data.train_y[idx], batch_size=spec.batch_size, epochs=1, shuffle=False, verbose=0,
              callbacks=[callback])
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == K
    return {k: v.copy() for k, v in export_weights(model).items()}


def _max_rel(a: dict, b: dict) -> float:
    """The largest difference of any tensor, relative to that tensor's largest value."""
    assert a.keys() == b.keys()
    return max(float(np.max(np.abs(a[k] - b[k])) / max(np.max(np.abs(b[k])), 1e-300)) for k in a)


@needs_fmnist
def test_fit_with_the_callback_gives_the_harness_caffe_form_weights(float64):
    from bench import data as datasets

    spec = _spec()
    data = datasets.prepare(spec.dataset)
    initial, harness, updates = _harness(spec, data)
    assert _max_rel(initial, harness) > 1e-3  # the weights did move
    user = _fit(spec, data, initial, updates, MomentumVariableSGD(), PolicyCallback(spec, n_train=len(data.train_y)))
    assert _max_rel(user, harness) < 1e-9  # weights and batch-norm statistics, float64
    # the comparison can fail: Keras' own SGD, its momentum assigned each batch, is not the run
    stock = _fit(spec, data, initial, updates, keras.optimizers.SGD(momentum=0.95),
                 _AssignOnly(PolicyCallback(spec, n_train=len(data.train_y)).schedule))
    assert _max_rel(stock, harness) > 1e-4
