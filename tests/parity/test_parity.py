"""Cross-backend parity, proved through files: each framework runs in its own process.

(a) trainable parameter counts equal for every network; (b) weights copied torch ->
keras give the same logits; (c) in float64, from the same weights and batches, per-step
losses agree within 1e-9 relative for both momentum forms with weight decay on;
(d) steps.csv lr and momentum columns are identical; and augmentation agrees.
This test process imports neither torch nor TensorFlow.
"""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import yaml

from bench.running import registry
from bench.running.parity_tool import call

from common import REPO, needs_fmnist

pytestmark = [
    pytest.mark.parity,
    pytest.mark.skipif(not (registry.installed("torch") and registry.installed("keras")),
                       reason="parity needs both backends: pip install -e '.[torch,keras]'"),
]

NETWORKS = ["simple_cnn", "vgg16_bn", "mobilenet_v2", "resnet20", "resnet56", "resnet110"]
SHAPES = [(28, 28, 1), (32, 32, 3)]


def _spec(path, **kw):
    base = {"name": "parity", "network": {"name": "simple_cnn"}, "dataset": {"name": "fashion_mnist"},
            "policy": {"name": "constant", "lr": 0.1}, "batch_size": 4, "budget": {"steps": 1}}
    for k, v in kw.items():
        base[k] = v
    path.write_text(yaml.safe_dump(base))
    return path


def _jobs(path, jobs):
    path.write_text(json.dumps(jobs))
    return path


@pytest.fixture(scope="module")
def logits(tmp_path_factory):
    d = tmp_path_factory.mktemp("logits")
    rng = np.random.default_rng(0)
    cases = [(n, s) for n in NETWORKS for s in SHAPES]
    specs, inits = {}, []
    for i, (net, shape) in enumerate(cases):
        specs[i] = _spec(d / f"s{i}.yaml", network={"name": net})
        np.savez(d / f"x{i}.npz", x=rng.integers(0, 256, size=(4, *shape), dtype=np.uint8))
        inits.append({"command": "init", "spec": str(specs[i]), "input_shape": ",".join(map(str, shape)),
                      "out": str(d / f"w0_{i}.npz")})
    call("torch", "batch", jobs=_jobs(d / "init.json", inits))
    for i in range(len(cases)):
        # random batch-norm statistics and biases, so a swapped or dropped array shows; scales
        # below 1 and variances above 1 keep the activations of deep residual stacks bounded
        w = dict(np.load(d / f"w0_{i}.npz"))
        for k in w:
            if k.endswith("/bn/gamma"):
                w[k] = rng.uniform(0.5, 1.0, w[k].shape)
            elif k.endswith("/bn/var"):
                w[k] = rng.uniform(1.0, 2.0, w[k].shape)
            elif "/bn/" in k:
                w[k] = rng.normal(0, 0.1, w[k].shape)
            elif k.endswith("bias"):
                w[k] = rng.normal(0, 0.01, w[k].shape)
        np.savez(d / f"w{i}.npz", **w)
    out = {}
    for b in ("torch", "keras"):
        jobs = [{"command": "logits", "spec": str(specs[i]), "input_shape": ",".join(map(str, s)),
                 "weights": str(d / f"w{i}.npz"), "images": str(d / f"x{i}.npz"), "out": str(d / f"l{b}{i}.npz")}
                for i, (_, s) in enumerate(cases)]
        info = call(b, "batch", jobs=_jobs(d / f"logits-{b}.json", jobs))
        out[b] = [(info[i]["trainable"], np.load(d / f"l{b}{i}.npz")["logits"], info[i]["forward_flops"])
                  for i in range(len(cases))]
    return cases, out


def test_a_trainable_parameter_counts_equal(logits):
    cases, out = logits
    for i, case in enumerate(cases):
        assert out["torch"][i][0] == out["keras"][i][0] > 0, case


def test_a_forward_flops_counted_alike(logits):
    """bench perf's FLOPs per image: torch's flop counter and the Keras layer count agree."""
    cases, out = logits
    for i, case in enumerate(cases):
        assert out["torch"][i][2] == out["keras"][i][2] > 0, (case, out["torch"][i][2], out["keras"][i][2])


def test_b_copied_weights_give_the_same_logits(logits):
    cases, out = logits
    for i, case in enumerate(cases):
        t, k = out["torch"][i][1], out["keras"][i][1]
        assert t.shape == k.shape == (4, 10)
        scale = np.abs(t).max()
        assert scale > 1e-3, case  # not a vacuous comparison of zeros
        diff = np.abs(t - k).max()
        print(f"(b) {case}: max |logit diff| {diff:.1e} (logit scale {scale:.3g})")
        assert diff <= 1e-4, (case, diff, scale)


TRAIN_CASES = [
    ("simple_cnn", {"momentum_form": "caffe", "weight_decay": 1e-4}),
    ("simple_cnn", {"momentum_form": "torch", "weight_decay": 1e-4}),
    ("simple_cnn", {"momentum_form": "caffe", "nesterov": True, "weight_decay": 1e-4, "decay_bn_and_bias": True}),
    ("simple_cnn", {"momentum_form": "torch", "nesterov": True, "l2": 5e-5}),
    ("resnet20", {"momentum_form": "caffe", "weight_decay": 1e-4}),
]
# Peak rates: 0.1 for the simple CNN (caffe-form steps up to lr/(1-mu) = 1.0: high enough to
# matter). ResNet-20 at that peak is chaotic in 20 steps: the two backends' rounding
# differences grow from ~1e-16 to ~1e-5 (see it with PARITY_RESNET_MAX_LR=0.1 pytest
# tests/parity/test_parity.py -s -k resnet20, which then fails), the float32 drift in miniature;
# so it runs at 0.002-0.02.
_RESNET_HI = float(os.environ.get("PARITY_RESNET_MAX_LR", "0.02"))
PEAK = {"simple_cnn": (0.01, 0.1), "resnet20": (_RESNET_HI / 10, _RESNET_HI)}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """20 float64 steps of one cycle from the same weights, on the same real batches."""
    d = tmp_path_factory.mktemp("train")
    specs = []
    for i, (net, opt) in enumerate(TRAIN_CASES):
        specs.append(_spec(
            d / f"s{i}.yaml", precision="float64", network={"name": net},
            dataset={"name": "fashion_mnist", "train_size": 1000, "test_size": 100},
            optimizer=opt, batch_size=32, budget={"steps": 20},
            policy={"name": "one-cycle", "min_lr": PEAK[net][0], "max_lr": PEAK[net][1], "max_momentum": 0.95,
                    "min_momentum": 0.85},
        ))
    torch_jobs = []
    for i, s in enumerate(specs):
        torch_jobs.append({"command": "init", "spec": str(s), "out": str(d / f"w{i}.npz")})
        torch_jobs.append({"command": "train", "spec": str(s), "weights": str(d / f"w{i}.npz"), "steps": 20,
                           "out": str(d / f"torch{i}.npz")})
    call("torch", "batch", jobs=_jobs(d / "torch.json", torch_jobs))
    keras_jobs = [{"command": "train", "spec": str(s), "weights": str(d / f"w{i}.npz"), "steps": 20,
                   "out": str(d / f"keras{i}.npz")} for i, s in enumerate(specs)]
    call("keras", "batch", jobs=_jobs(d / "keras.json", keras_jobs))
    return [(dict(np.load(d / f"torch{i}.npz")), dict(np.load(d / f"keras{i}.npz"))) for i in range(len(specs))]


@needs_fmnist
@pytest.mark.parametrize("case", range(len(TRAIN_CASES)), ids=[f"{n}-{o['momentum_form']}{'-nesterov' if o.get('nesterov') else ''}" for n, o in TRAIN_CASES])
def test_c_float64_training_losses_agree(trained, case):
    t, k = trained[case]
    lt, lk = t["steps"][:, 0], k["steps"][:, 0]
    assert len(lt) == len(lk) == 20
    rel = np.abs(lt - lk) / np.abs(lt)
    print(f"(c) {TRAIN_CASES[case]}: relative loss difference at step 0 {rel[0]:.1e}, "
          f"max over 20 steps {rel.max():.1e}")
    assert rel.max() <= 1e-9, rel.max()
    assert lt[1:].min() < lt[0]  # the steps trained something
    np.testing.assert_array_equal(t["steps"][:, 1], k["steps"][:, 1])  # same correct counts
    np.testing.assert_array_equal(t["schedule"], k["schedule"])
    for key in t:
        if key.startswith("w/"):
            np.testing.assert_allclose(k[key], t[key], rtol=1e-7, atol=1e-10, err_msg=key)


@needs_fmnist
def test_c_momentum_forms_really_differ(trained):
    caffe, torch_form = trained[0][0]["steps"][:, 0], trained[1][0]["steps"][:, 0]
    assert np.abs(caffe - torch_form).max() > 1e-3  # the two formulations are different experiments


@needs_fmnist
def test_d_steps_csv_schedule_columns_identical(tmp_path):
    spec = REPO / "bench" / "specs" / "smoke.yaml"
    rows = {}
    for b in ("torch", "keras"):
        out = subprocess.run([sys.executable, "-m", "bench", "run", str(spec), "--backend", b, "--quiet",
                              "--set", "budget.steps=40", "--set", "eval_every=20", "--set", "dataset.eval_size=200",
                              "--out", str(tmp_path)], cwd=REPO, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr[-3000:]
        with open(out.stdout.strip().splitlines()[-1] + "/steps.csv") as f:
            rows[b] = [(r["step"], r["epoch"], r["lr"], r["momentum"]) for r in csv.DictReader(f)]
    assert len(rows["torch"]) == 40 and rows["torch"] == rows["keras"]


@pytest.mark.parametrize("augment, tol", [("{flip: true, shift: 3}", 0.0), ("{flip: true, shift: 2, rotate: 15}", 1e-4)])
def test_augmentation_agrees(tmp_path, augment, tol):
    rng = np.random.default_rng(1)
    np.savez(tmp_path / "x.npz", x=rng.integers(0, 256, size=(16, 28, 28, 1), dtype=np.uint8))
    s = _spec(tmp_path / "s.yaml", dataset=yaml.safe_load(f"{{name: fashion_mnist, augment: {augment}}}"), batch_size=16)
    got = {}
    for b in ("torch", "keras"):
        call(b, "augment", s, input_shape="28,28,1", images=tmp_path / "x.npz", step=3, out=tmp_path / f"{b}.npz")
        got[b] = np.load(tmp_path / f"{b}.npz")["x"]
    print(f"augmentation {augment}: max |diff| {np.abs(got['torch'] - got['keras']).max():.1e}")
    assert np.abs(got["torch"] - got["keras"]).max() <= tol
    assert np.abs(got["torch"]).max() > 0
