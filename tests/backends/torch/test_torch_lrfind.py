"""Range tests, sweeps and tune end to end with the torch backend on tiny real data."""

import csv
import json
import math

import numpy as np
import pytest

from bench.errors import BenchError
from bench.rates import lrfind
from bench.rates.discovery import pick

torch = pytest.importorskip("torch")

from bench.rates import discovery  # noqa: E402
from bench.records import spec as S  # noqa: E402

from common import needs_fmnist  # noqa: E402

P = {"start_lr": 1e-5, "end_lr": 10.0, "steps": 40, "mode": "exp", "metric": "loss", "eval_every": 1,
     "beta": 0.9, "stop_factor": 4.0}


def _spec(base_spec, **kw):
    d = dict(base_spec, dataset={"name": "fashion_mnist", "train_size": 1000, "val_size": 200, "test_size": 500},
             batch_size=32)
    d.update(kw)
    return S.build(d)


@pytest.fixture
def session(base_spec, tmp_path):
    return discovery.Session(_spec(base_spec), tmp_path, dict(P), progress=False)


@pytest.mark.torch
@needs_fmnist
def test_range_test_restores_weights_and_buffers(session):
    t = session.trainer
    t.train_step(np.arange(32), None, 0.01, 0.9)  # non-zero momentum buffers before the test
    t.collect()
    before = t.get_state()
    res = lrfind.range_test(t, session.data, session.spec, start_lr=1e-5, end_lr=10, steps=40, beta=0.9)
    after = t.get_state()
    for k, v in before["model"].items():
        assert torch.equal(v, after["model"][k]), k
    for a, b in zip(before["buffers"], after["buffers"]):
        assert torch.equal(a, b)
    assert res.rows and all(1e-5 <= v <= 10 for v in res.suggestions.values())
    assert res.stop_reason in ("smoothed loss > 4 x best", "end of ramp", "non-finite loss")


@pytest.mark.torch
@needs_fmnist
def test_nan_path_stops_cleanly(session):
    res = lrfind.range_test(session.trainer, session.data, session.spec, start_lr=1e3, end_lr=1e9, steps=30,
                            stop_factor=math.inf)
    assert res.stop_reason == "non-finite loss" and len(res.rows) < 30
    assert not math.isfinite(res.rows[-1]["loss"])
    state = session.trainer.get_state()["model"]
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


@pytest.mark.torch
@needs_fmnist
def test_lr_find_run_directory(base_spec, tmp_path):
    d, res = discovery.lr_find(_spec(base_spec), tmp_path, dict(P), progress=False)
    with open(d / "lr_find.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0])[:5] == ["step", "lr", "momentum", "loss", "smoothed"]
    assert len(rows) == len(res.rows)
    assert (d / "lr_find.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((d / "summary.json").read_text())
    assert summary["kind"] == "lr_find" and summary["suggestions"] == res.suggestions
    assert summary["report_offset_decades"] == 0.12
    assert (d / "spec.yaml").exists() and json.loads((d / "meta.json").read_text())["framework"]["torch"]


@pytest.mark.torch
@needs_fmnist
def test_val_and_accuracy_metrics(base_spec, tmp_path):
    p = dict(P, metric="val_loss", steps=20)
    d, res = discovery.lr_find(_spec(base_spec), tmp_path, p, progress=False)
    assert all(r["metric"] is not None for r in res.rows)
    assert set(res.suggestions) == {"report", "steepest", "valley", "minimum"}
    p = dict(P, metric="test_acc", mode="linear", start_lr=0.0, end_lr=0.2, steps=20, eval_every=5, stop_factor=math.inf)
    d, res = discovery.lr_find(_spec(base_spec), tmp_path, p, progress=False)
    evaluated = [r for r in res.rows if r.get("metric") is not None]
    assert [r["step"] for r in evaluated][:3] == [0, 5, 10]
    assert [r["step"] for r in evaluated] == [0, 5, 10, 15, 19]
    assert set(res.suggestions) == {"peak"} and 0 <= res.suggestions["peak"] <= 0.2
    with pytest.raises(BenchError, match="validation split"):
        discovery.lr_find(_spec(base_spec, dataset={"name": "fashion_mnist", "train_size": 1000}), tmp_path,
                          dict(P, metric="val_loss"), progress=False)


@pytest.mark.torch
@needs_fmnist
def test_sweeps(session, tmp_path):
    d, s = discovery.sweep(session, "momentum", [0.8, 0.95], tmp_path)
    assert s["suggestion"] in (0.8, 0.95) and (d / "sweep.png").exists() and (d / "sweep.md").exists()
    assert len(list(d.glob("*/lr_find.csv"))) == 2
    d, s = discovery.sweep(session, "weight-decay", [1e-3, 1e-5], tmp_path)
    vals = sorted(s["values"])
    x = [r for r in s["rows"] if r["stage"] == "coarse"]
    best = pick(x, "weight-decay")["value"]
    assert set(vals) == {1e-3, 1e-5} | {v for v in (3 * best, best / 3)}
    assert (d / "sweep-fine.png").exists()
    with pytest.raises(BenchError, match="momentum values"):
        discovery.sweep(session, "momentum", [1.5], tmp_path)


@pytest.mark.torch
@needs_fmnist
def test_tune_writes_specs_for_both_rules(base_spec, tmp_path):
    spec = _spec(base_spec, budget={"epochs": 1})
    p = dict(P, metric="val_loss", steps=25)
    d, summary = discovery.tune(spec, tmp_path, p, momenta=[0.85, 0.9], decays=[1e-4, 1e-6], progress=False)
    c, m, wd = summary["c"], summary["momentum"], summary["weight_decay"]
    assert 1e-5 <= c <= 10 and m in (0.85, 0.9)
    specs = {k: S.load(d / v) for k, v in summary["specs"].items()}
    assert len(specs) == 6
    rep, smi = specs["report/one-cycle"], specs["smith/one-cycle"]
    assert rep.policy.min_lr == pytest.approx(c) and rep.policy.max_lr == pytest.approx(10 * c)
    assert smi.policy.max_lr == pytest.approx(c) and smi.policy.min_lr == pytest.approx(c / 10)
    assert specs["report/constant"].policy.lr == pytest.approx(c)
    assert specs["smith/triangular"].policy.step_size == 4 * spec.steps_per_epoch()
    assert rep.optimizer.weight_decay == wd and rep.policy.max_momentum == m
    assert rep.provenance["rule"] == "report" and smi.provenance["rule"] == "smith"
    assert (d / "tune.md").exists()
    with pytest.raises(BenchError, match="validation split"):
        discovery.tune(_spec(base_spec, dataset={"name": "fashion_mnist", "train_size": 500}), tmp_path, p)
