"""A benchmarked policy in a user's own PyTorch loop (backends/torch/scheduler.py): the
rate and momentum set at every step are ``bench schedule``'s, and stock ``torch.optim.SGD``
driven by it trains to the weights of the harness's own run in the torch momentum form."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from bench.errors import BenchError, StepOutOfRange
from bench.records.schedules import POLICIES

from common import REPO, needs_fmnist
from policy_examples import EXAMPLES, bench_schedule, policy_data

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

from backends.torch.scheduler import PolicyScheduler  # noqa: E402

STEPS = 40


def trace(sched: PolicyScheduler, opt, steps: int) -> list[tuple[float, float]]:
    """(lr, momentum) of every param group before each optimizer step; all groups agree."""
    out = []
    for _ in range(steps):
        values = {(g["lr"], g["momentum"]) for g in opt.param_groups}
        assert len(values) == 1
        out.append(values.pop())
        opt.step()
        sched.step()
    return out


def _sgd(groups: int = 2):
    params = [torch.nn.Parameter(torch.zeros(2)) for _ in range(groups)]
    return torch.optim.SGD([{"params": [p]} for p in params], lr=0.123, momentum=0.5)


@pytest.mark.parametrize("name", list(POLICIES))
def test_every_step_sets_bench_schedules_values(name):
    assert set(EXAMPLES) == set(POLICIES)
    expected = bench_schedule(name, EXAMPLES[name], STEPS)
    opt = _sgd()
    sched = PolicyScheduler(opt, policy_data(name, EXAMPLES[name]), total_steps=STEPS)
    got = trace(sched, opt, STEPS)
    assert got == expected  # exactly: the same Python floats
    assert sched.get_last_lr() == [expected[-1][0]] * 2 and sched.get_last_momentum() == [expected[-1][1]] * 2
    # stepping after the last update is the usual loop's last call: allowed, changes nothing
    assert (opt.param_groups[0]["lr"], opt.param_groups[0]["momentum"]) == expected[-1]
    opt.step()  # an update past the schedule ...
    with pytest.raises(StepOutOfRange, match="never wraps"):
        sched.step()  # ... is an error at the next step, never a wrap


def test_the_policy_from_a_spec_a_file_a_run_directory_or_a_model():
    from bench.records import spec as spec_mod
    from bench.records.schedules import make_schedule

    run = REPO / "results" / "runs" / "simple-cnn-fmnist-one-cycle-torch-s0-87761379"
    spec = spec_mod.load(run / "spec.yaml")
    total = spec.total_steps()  # 3 epochs of the official 60,000 examples at batch 128
    assert total == 1404
    expected = make_schedule(spec.policy, total).table()
    for source in (spec, run, run / "spec.yaml", str(run / "spec.yaml"), spec.resolved()):
        opt = _sgd(1)
        sched = PolicyScheduler(opt, source)
        assert sched.total_steps == total
        assert [(s, *v) for s, v in enumerate(trace(sched, opt, 50))] == expected[:50]
    opt = _sgd(1)
    assert PolicyScheduler(opt, spec.policy, total_steps=total).schedule.table() == expected
    # an epoch budget counts the loop's examples when told
    assert PolicyScheduler(_sgd(1), spec, n_train=6000).total_steps == 3 * (6000 // 128)


def test_bad_sources_and_optimizers_are_clear_errors():
    with pytest.raises(BenchError, match="needs total_steps"):
        PolicyScheduler(_sgd(), POLICIES["constant"](lr=0.1))
    with pytest.raises(BenchError, match="cannot take a policy from int"):
        PolicyScheduler(_sgd(), 3)
    with pytest.raises(BenchError, match="policy"):
        PolicyScheduler(_sgd(), {"name": "one-cycle", "max_lr": 0.1}, total_steps=10)  # min_lr missing
    p = torch.nn.Parameter(torch.zeros(1))
    with pytest.raises(ValueError, match="no momentum"):
        PolicyScheduler(torch.optim.Adam([p]), {"name": "constant", "lr": 0.1}, total_steps=10)
    with pytest.raises(ValueError, match="dampening"):
        PolicyScheduler(torch.optim.SGD([p], lr=0.1, momentum=0.9, dampening=0.1),
                        {"name": "constant", "lr": 0.1}, total_steps=10)


def test_state_dict_saves_as_plain_data_and_resumes(tmp_path):
    policy = policy_data("one-cycle", EXAMPLES["one-cycle"])
    expected = bench_schedule("one-cycle", EXAMPLES["one-cycle"], STEPS)
    opt = _sgd(1)
    sched = PolicyScheduler(opt, policy, total_steps=STEPS)
    trace(sched, opt, 15)
    torch.save({"sched": sched.state_dict(), "opt": opt.state_dict()}, tmp_path / "ck.pt")
    state = torch.load(tmp_path / "ck.pt", weights_only=True)
    opt2 = _sgd(1)  # torch's order: the scheduler first, then both states
    sched2 = PolicyScheduler(opt2, policy, total_steps=STEPS)
    opt2.load_state_dict(state["opt"])
    sched2.load_state_dict(state["sched"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's "scheduler.step() before optimizer.step()" heuristics
        assert trace(sched2, opt2, STEPS - 15) == expected[15:]
    other = PolicyScheduler(_sgd(1), policy, total_steps=STEPS + 1)
    with pytest.raises(ValueError, match="over 40 steps"):
        other.load_state_dict(state["sched"])


# -- weights: stock torch.optim.SGD + the scheduler = the harness's torch-form run ----------


def _spec(form: str, decay_all: bool):
    from bench.records import spec as spec_mod

    return spec_mod.build({
        "name": "user-loop", "backend": "torch", "seed": 3, "precision": "float64", "device": "cpu",
        "compile": False, "network": {"name": "simple_cnn"},
        "dataset": {"name": "fashion_mnist", "train_size": 640, "test_size": 100},
        "optimizer": {"momentum_form": form, "weight_decay": 5e-4, "decay_bn_and_bias": decay_all},
        "policy": {"name": "one-cycle", "min_lr": 0.02, "max_lr": 0.3, "min_momentum": 0.8},
        "batch_size": 32, "budget": {"steps": 20},
    })


K = 16  # updates compared (of the schedule's 20: the rate rises, then falls)


def _harness(spec, data):
    """The harness's own run: its trainer driven update by update by bench.running.updates."""
    from bench.records.schedules import make_schedule
    from bench.running import registry as backends
    from bench.running.updates import Updates

    trainer = backends.load("torch").create_trainer(spec, data)
    # copies: in float64 on the CPU, get_weights' arrays can share memory with the live parameters
    initial = {k: v.copy() for k, v in trainer.get_weights().items()}
    updates = Updates(spec, make_schedule(spec.policy, spec.total_steps(len(data.train_y))), len(data.train_y))
    for s in range(K):
        u = updates(s)
        trainer.train_step(u.idx, u.draws, u.lr, u.momentum)
    trainer.collect()
    return initial, {k: v.copy() for k, v in trainer.get_weights().items()}, updates


def _user_loop(spec, data, initial, updates):
    """A plain PyTorch loop: stock SGD, PolicyScheduler, the same batches normalised as the
    harness normalises them, (x/255 - mean) / std, NHWC -> NCHW."""
    import torch.nn.functional as F

    from backends.torch.networks import build, export_weights, import_weights

    net = spec.network
    model = build(net.name, data.input_shape, data.num_classes, net.bn_momentum, net.bn_eps, net.width)
    model = model.to(torch.float64)
    import_weights(model, initial)
    model.train()
    wd = spec.optimizer.decay
    if spec.optimizer.decay_bn_and_bias:
        opt = torch.optim.SGD(model.parameters(), lr=0.0, momentum=0.0, weight_decay=wd)
    else:  # the harness's default: batch-norm scales and shifts and biases not decayed
        decayed = [p for p in model.parameters() if p.ndim > 1]
        rest = [p for p in model.parameters() if p.ndim <= 1]
        opt = torch.optim.SGD([{"params": decayed, "weight_decay": wd}, {"params": rest, "weight_decay": 0.0}],
                              lr=0.0, momentum=0.0)
    sched = PolicyScheduler(opt, spec, n_train=len(data.train_y))
    mean = torch.tensor(data.mean, dtype=torch.float64).view(1, -1, 1, 1)
    std = torch.tensor(data.std, dtype=torch.float64).view(1, -1, 1, 1)
    for s in range(K):
        idx = updates(s).idx
        x = torch.from_numpy(data.train_x[idx]).permute(0, 3, 1, 2).to(torch.float64)
        x = (x / 255.0 - mean) / std
        y = torch.from_numpy(data.train_y[idx])
        assert (opt.param_groups[0]["lr"], opt.param_groups[0]["momentum"]) == (updates(s).lr, updates(s).momentum)
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
        sched.step()
    return {k: v.copy() for k, v in export_weights(model).items()}


def _max_rel(a: dict, b: dict) -> float:
    """The largest difference of any tensor, relative to that tensor's largest value."""
    assert a.keys() == b.keys()
    return max(float(np.max(np.abs(a[k] - b[k])) / max(np.max(np.abs(b[k])), 1e-300)) for k in a)


@needs_fmnist
@pytest.mark.parametrize("decay_all", [True, False], ids=["decay-all", "param-groups"])
def test_stock_sgd_with_the_scheduler_gives_the_harness_torch_form_weights(decay_all):
    from bench import data as datasets

    spec = _spec("torch", decay_all)
    data = datasets.prepare(spec.dataset)
    initial, harness, updates = _harness(spec, data)
    user = _user_loop(spec, data, initial, updates)
    assert _max_rel(initial, harness) > 1e-3  # the weights did move
    assert _max_rel(user, harness) < 1e-9  # weights and batch-norm statistics, float64


@needs_fmnist
def test_stock_sgd_is_not_the_caffe_form():
    """The check can fail: the same loop against the harness's caffe-form run differs."""
    from bench import data as datasets

    spec = _spec("caffe", True)
    data = datasets.prepare(spec.dataset)
    initial, harness, updates = _harness(spec, data)
    user = _user_loop(spec, data, initial, updates)
    assert _max_rel(user, harness) > 1e-4
