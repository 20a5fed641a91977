"""The trainer contract (:class:`bench.running.registry.Trainer`) checked on a real trainer.

``check(backend)`` builds a tiny real trainer of one backend (the simple CNN on a small
Fashion-MNIST subset, every augmentation on) and calls every member of the contract,
checking the types, shapes and units of what comes back and the effects the contract
promises (a snapshot restores, a checkpoint restores, weight decay shrinks weights, the
batch accuracy is a count). The trainer is wrapped in a recorder: a member of the
Protocol that the check did not exercise fails the test, so the contract and its check
cannot drift apart.
"""

from __future__ import annotations

import math
import re

import numpy as np

from bench import data as datasets
from bench.records import spec as S
from bench.records.schedules import make_schedule
from bench.running import augment, registry
from bench.running.checkpoint import CheckpointError
from bench.running.registry import Trainer
from bench.running.updates import Updates

WEIGHT_NAME = re.compile(r"^\d{4}/(conv|dwconv|dense|bn)/(kernel|bias|gamma|beta|mean|var)$")


def contract_members() -> set[str]:
    names = {n for n in vars(Trainer) if not n.startswith("_")}
    return names | set(Trainer.__annotations__)


class Recorder:
    """Passes everything through to the trainer and notes which members were used."""

    def __init__(self, inner):
        object.__setattr__(self, "_inner", inner)
        object.__setattr__(self, "used", set())

    def __getattr__(self, name):
        self.used.add(name)
        return getattr(self._inner, name)


def tiny_spec(backend: str) -> S.Spec:
    return S.build({
        "name": "conformance", "backend": backend, "seed": 0, "network": {"name": "simple_cnn"},
        "dataset": {"name": "fashion_mnist", "train_size": 320, "val_size": 100, "test_size": 200,
                    "eval_size": 100, "augment": {"flip": True, "shift": 2, "rotate": 10}},
        "optimizer": {"weight_decay": 5e-4},
        "policy": {"name": "one-cycle", "min_lr": 0.01, "max_lr": 0.1},
        "batch_size": 32, "budget": {"steps": 10}, "eval_every": 5,
    })


def _kernels(w: dict) -> float:
    return sum(float(np.sum(v**2)) for k, v in w.items() if k.endswith("/kernel"))


def check(backend: str, tmp_path) -> set[str]:
    spec = tiny_spec(backend)
    data = datasets.prepare(spec.dataset)
    raw = registry.load(backend).create_trainer(spec, data)
    assert isinstance(raw, Trainer), "missing members of bench.running.registry.Trainer"
    t = Recorder(raw)
    updates = Updates(spec, make_schedule(spec.policy, 10), len(data.train_y))

    # rank and describe
    assert t.rank == 0 and isinstance(t.rank, int)
    d = t.describe()
    assert isinstance(d["framework"], dict) and d["framework"]
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in d["framework"].items())
    assert d["device"]["type"] in ("cpu", "cuda") and isinstance(d["device"]["name"], str)
    assert isinstance(d["device"]["count"], int) and d["device"]["count"] >= 1
    threads = d["threads"]
    assert isinstance(threads, int) or (isinstance(threads, dict) and all(isinstance(v, int) for v in threads.values()))
    assert d["world_size"] == 1 and isinstance(d["cpu_count"], int)
    assert isinstance(d["fast_paths"], dict)

    # weights: neutral names, the trainable ones count as describe() says
    w0 = t.get_weights()
    assert w0 and all(WEIGHT_NAME.match(k) and isinstance(v, np.ndarray) for k, v in w0.items()), list(w0)[:5]
    trainable = sum(v.size for k, v in w0.items() if not k.endswith(("/mean", "/var")))
    assert d["trainable_params"] == trainable

    # train_step + collect: per-update (mean loss, correct count), in order; synchronize
    u = [updates(s) for s in range(3)]
    assert u[0].draws is not None
    for x in u:
        assert t.train_step(x.idx, x.draws, x.lr, x.momentum) is None
    assert t.synchronize() is None
    rec = t.collect()
    assert isinstance(rec, np.ndarray) and rec.dtype == np.float64 and rec.shape == (3, 2)
    assert np.all(np.isfinite(rec[:, 0])) and np.all(rec[:, 0] > 0)
    assert np.all(rec[:, 1] == np.round(rec[:, 1])) and np.all((0 <= rec[:, 1]) & (rec[:, 1] <= spec.batch_size))
    assert t.collect().shape == (0, 2)
    assert _kernels(t.get_weights()) != _kernels(w0), "three updates left the weights unchanged"

    # evaluate: (loss in nats, accuracy as a fraction) per split, of the right size
    sizes = {"eval": 100, "test": 200, "val": 100}
    for split, n in sizes.items():
        loss, acc = t.evaluate(split)
        assert isinstance(loss, float) and isinstance(acc, float), split
        assert 0 < loss < 50 and 0.0 <= acc <= 1.0, (split, loss, acc)
        assert math.isclose(acc * n, round(acc * n), abs_tol=1e-9), f"{split}: {acc} is not k/{n}"

    # get_state / set_state: a snapshot restores weights (and so the evaluation)
    state = t.get_state()
    before_w, before_eval = t.get_weights(), t.evaluate("eval")
    x = updates(3)
    t.train_step(x.idx, x.draws, x.lr, x.momentum)
    t.collect()
    assert _kernels(t.get_weights()) != _kernels(before_w)
    assert t.set_state(state) is None
    after = t.get_weights()
    assert all(np.array_equal(after[k], before_w[k]) for k in before_w)
    assert t.evaluate("eval") == before_eval

    # set_weight_decay: decay * w added to the gradient shrinks the decayed kernels
    x = updates(4)
    norms = {}
    for decay in (0.0, 50.0):
        t.set_state(state)
        t.set_weight_decay(decay)
        t.train_step(x.idx, x.draws, 0.01, 0.0)
        t.collect()
        norms[decay] = _kernels(t.get_weights())
    assert norms[50.0] < 0.9 * norms[0.0], norms
    t.set_state(state)
    t.set_weight_decay(spec.optimizer.decay)

    # checkpoints: files named by tag in the folder; loading restores; a damaged file is refused
    folder = tmp_path / "ckpt"
    folder.mkdir()
    files = t.save_checkpoint(folder, "ck-000004")
    assert isinstance(files, list) and files and all(isinstance(f, str) and f.startswith("ck-000004") for f in files)
    assert all((folder / f).is_file() and "/" not in f for f in files)
    t.train_step(x.idx, x.draws, x.lr, x.momentum)
    t.collect()
    assert t.load_checkpoint(folder, files) is None
    after = t.get_weights()
    assert all(np.array_equal(after[k], before_w[k]) for k in before_w)
    (folder / files[0]).write_bytes(b"not a checkpoint")
    try:
        t.load_checkpoint(folder, files)
    except CheckpointError as e:
        assert "corrupt or foreign checkpoint" in str(e)
    else:
        raise AssertionError("a damaged checkpoint file was loaded")

    # forward_flops: the simple CNN's forward pass, counted from its layers
    flops = t.forward_flops()
    assert isinstance(flops, float) and math.isfinite(flops) and flops > 2 * trainable * 0.5

    # logits, augmented: float64, shapes of the input; no draws = normalisation only
    imgs = data.test_x[:8]
    lg = t.logits(imgs)
    assert lg.dtype == np.float64 and lg.shape == (8, data.num_classes) and np.all(np.isfinite(lg))
    plain = t.augmented(imgs, None)
    assert plain.dtype == np.float64 and plain.shape == imgs.shape
    want = (imgs / 255.0 - np.asarray(data.mean)) / np.asarray(data.std)
    np.testing.assert_allclose(plain, want, rtol=1e-5, atol=1e-5)
    aug = t.augmented(imgs, augment.draw(spec.dataset.augment, spec.seed, 0, len(imgs)))
    assert aug.shape == imgs.shape and not np.allclose(aug, plain)

    # set_weights: another trainer's weights (here: the initial ones) give its logits
    t.set_weights(w0)
    fresh = registry.load(backend).create_trainer(spec, data)
    np.testing.assert_allclose(t.logits(imgs), fresh.logits(imgs), rtol=1e-6, atol=1e-6)

    missing = contract_members() - t.used
    assert not missing, f"members of the contract this check did not exercise: {sorted(missing)}"
    return set(t.used)
