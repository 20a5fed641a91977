"""Spec validation: every bad value names the field, what was received and what is allowed."""

import subprocess
import sys

import pytest
import yaml

from bench.errors import BenchError, SpecError, SpecInvalid
from bench.records import spec as S

from common import REPO


def build(d, sets=()):
    return S.build(d, list(sets))


def test_valid_spec_resolves_defaults(base_spec):
    s = build(base_spec)
    r = s.resolved()
    assert r["policy"]["final_lr"] == pytest.approx(0.01 / 100)
    assert r["policy"]["tail"] == 0.1 and r["policy"]["max_momentum"] == 0.95
    assert r["network"]["bn_momentum"] == 0.1 and r["network"]["bn_eps"] == 1e-5
    assert r["dataset"]["augment"] == {"flip": False, "shift": 0, "rotate": 0.0}
    assert r["optimizer"]["momentum_form"] == "caffe"
    assert r["precision"] == "float32" and r["device"] == "auto"


def test_run_id_is_deterministic_and_depends_on_the_resolved_spec(base_spec):
    a, b = build(base_spec), build(base_spec)
    assert a.run_id() == b.run_id()
    assert a.run_id().startswith("t-torch-s0-") and len(a.spec_hash()) == 8
    assert build(base_spec, ["seed=1"]).run_id() != a.run_id()
    assert build(base_spec, ["policy.max_lr=0.2"]).spec_hash() != a.spec_hash()
    # giving a default explicitly does not change the resolved spec
    explicit = dict(base_spec, precision="float32")
    assert build(explicit).run_id() == a.run_id()


def test_resolved_spec_round_trips(base_spec, tmp_path):
    s = build(base_spec)
    p = tmp_path / "spec.yaml"
    p.write_text(S.dump_yaml(s.resolved()))
    assert S.load(p).resolved() == s.resolved()


def test_epochs_to_steps(base_spec):
    d = dict(base_spec, budget={"epochs": 3})
    s = build(d)
    assert s.steps_per_epoch() == 2000 // 64 == 31  # last partial batch dropped
    assert s.total_steps() == 93
    full = build(dict(d, dataset={"name": "fashion_mnist"}, batch_size=128))
    assert full.steps_per_epoch() == 468 and full.total_steps() == 1404
    val = build(dict(d, dataset={"name": "fashion_mnist", "val_size": 5000}, batch_size=100))
    assert val.steps_per_epoch() == 550


def test_l2_is_twice_weight_decay(base_spec):
    s = build(dict(base_spec, optimizer={"l2": 1e-6}))
    assert s.optimizer.decay == pytest.approx(2e-6)
    assert build(dict(base_spec, optimizer={})).optimizer.decay == 0.0


@pytest.mark.parametrize(
    "sets, field, fragment",
    [
        (["backend=jax"], "backend", "'torch' or 'keras'"),
        (["seed=-1"], "seed", "greater than or equal to 0"),
        (["seed=abc"], "seed", "integer"),
        (["precision=float16"], "precision", "float32"),
        (["device=tpu"], "device", "pattern"),
        (["network.name=resnet50"], "network.name", "simple_cnn"),
        (["network.bn_momentum=0"], "network.bn_momentum", "greater than 0"),
        (["network.bn_eps=-1"], "network.bn_eps", "greater than 0"),
        (["network.depth=3"], "network.depth", "allowed keys: name, bn_momentum, bn_eps, batch_norm, width"),
        (["dataset.name=imagenet"], "dataset.name", "fashion_mnist"),
        (["dataset.train_size=0"], "dataset.train_size", "greater than or equal to 1"),
        (["dataset.train_size=59000", "dataset.val_size=2000"], "dataset", "exceed the 60000"),
        (["dataset.test_size=20000"], "dataset", "exceeds the 10000"),
        (["dataset.eval_size=3000"], "dataset", "exceeds the test split"),
        (["dataset.augment.rotate=400"], "dataset.augment.rotate", "less than or equal to 180"),
        (["dataset.augment.shift=-2"], "dataset.augment.shift", "greater than or equal to 0"),
        (["optimizer.name=adam"], "optimizer.name", "'sgd'"),
        (["optimizer.momentum_form=keras"], "optimizer.momentum_form", "'caffe' or 'torch'"),
        (["optimizer.l2=1e-4"], "optimizer", "not both"),
        (["optimizer.weight_decay=-0.1"], "optimizer.weight_decay", "greater than or equal to 0"),
        (["policy.name=cosine"], "policy.name", "allowed: constant | multistep | triangular | one-cycle"),
        (["policy.max_lr=-1"], "policy.max_lr (policy one-cycle)", "greater than or equal to 0"),
        (["policy.min_lr=0.5"], "policy (policy one-cycle)", "must be <= max_lr"),
        (["policy.max_momentum=1.5"], "policy.max_momentum (policy one-cycle)", "less than 1"),
        (["policy.min_momentum=0.99"], "policy (policy one-cycle)", "min_momentum"),
        (["policy.step_size=10"], "policy.step_size (policy one-cycle)", "allowed keys: name, min_lr, max_lr, tail"),
        (["batch_size=0"], "batch_size", "greater than or equal to 1"),
        (["budget.epochs=2"], "budget", "exactly one of epochs or steps"),
        (["budget.steps=0"], "budget.steps", "greater than or equal to 1"),
        (["eval_every=0"], "eval_every", "greater than or equal to 1"),
        (["targets=[1.5]"], "targets.0", "less than or equal to 1"),
        (["targets=[0]"], "targets.0", "greater than 0"),
        (["name=has space"], "name", "pattern"),
        (["colour=red"], "colour", "unknown key"),
    ],
)
def test_every_bad_value_is_named(base_spec, sets, field, fragment):
    with pytest.raises(SpecInvalid) as e:
        build(base_spec, sets)
    msg = str(e.value)
    assert f"- {field}:" in msg, msg
    assert fragment in msg, msg
    assert "received" in msg or "required" in msg


def test_missing_required_keys_are_listed(base_spec):
    d = {k: v for k, v in base_spec.items() if k not in ("network", "budget")}
    with pytest.raises(SpecInvalid) as e:
        build(d)
    assert "network: required but missing" in str(e.value)
    assert "budget: required but missing" in str(e.value)


def test_several_problems_reported_at_once(base_spec):
    with pytest.raises(SpecInvalid) as e:
        build(base_spec, ["batch_size=0", "seed=-3"])
    assert len(e.value.problems) == 2


def test_policy_missing_parameter(base_spec):
    d = dict(base_spec, policy={"name": "triangular", "min_lr": 0.1, "max_lr": 1.0})
    with pytest.raises(SpecInvalid, match=r"policy.step_size \(policy triangular\): required but missing"):
        build(d)


def test_budget_too_short_for_batch(base_spec):
    s = build(base_spec, ["batch_size=5000", "budget={epochs: 1}"])
    with pytest.raises(SpecError, match="batch_size: received 5000"):
        s.total_steps()


def test_set_parsing():
    assert S.parse_value("1e-3") == 1e-3 and isinstance(S.parse_value("1e-3"), float)
    assert S.parse_value("null") is None and S.parse_value("true") is True
    assert S.parse_value("[0.8, 0.9]") == [0.8, 0.9]
    assert S.apply_sets({"a": {"b": 1}}, ["a.c=2", "d.e=x"]) == {"a": {"b": 1, "c": 2}, "d": {"e": "x"}}
    with pytest.raises(BenchError, match="KEY=VALUE"):
        S.apply_sets({}, ["novalue"])
    with pytest.raises(BenchError, match="not a mapping"):
        S.apply_sets({"seed": 3}, ["seed.x=1"])


def test_yaml_floats_without_dot(tmp_path, base_spec):
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(base_spec).replace("0.0005", "5e-4"))
    assert "5e-4" in p.read_text()
    assert S.load(p).optimizer.weight_decay == 5e-4


def test_file_errors(tmp_path):
    with pytest.raises(BenchError, match="spec file not found"):
        S.load(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(BenchError, match="not valid YAML"):
        S.load(bad)
    lst = tmp_path / "list.yaml"
    lst.write_text("- 1\n- 2\n")
    with pytest.raises(BenchError, match="a spec is a YAML mapping"):
        S.load(lst)


def test_shipped_specs_are_valid():
    files = sorted((REPO / "bench" / "specs").glob("*.yaml"))
    assert len(files) >= 4
    for f in files:
        s = S.load(f)
        assert s.total_steps() >= 1


def _cli(*args, cwd=REPO):
    return subprocess.run([sys.executable, "-m", "bench", *args], cwd=cwd, capture_output=True, text=True)


def test_cli_bad_spec_exits_2_without_traceback(tmp_path, base_spec):
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(base_spec))
    out = _cli("run", str(p), "--set", "policy.max_lr=-1", "--out", str(tmp_path / "r"))
    assert out.returncode == 2
    assert "policy.max_lr (policy one-cycle): received -1" in out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "r").exists()  # nothing created on bad input


def test_cli_usage_error_exits_2():
    out = _cli("run")
    assert out.returncode == 2 and "usage" in out.stderr
    out = _cli("schedule", "one-cycle", "--steps", "10", "--set", "max_lr=1")
    assert out.returncode == 2 and "min_lr" in out.stderr and "Traceback" not in out.stderr
