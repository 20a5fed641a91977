"""The policies of bench/records/schedules.py against ``torch.optim.lr_scheduler`` where their
semantics match (OneCycleLR, CyclicLR, MultiStepLR), stepped per batch."""

from __future__ import annotations

import warnings

import pytest

from bench.records.schedules import MultiStep, OneCycle, Triangular, make_schedule

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch


def approx(x):
    return pytest.approx(x, rel=1e-12, abs=1e-15)


def _torch_trace(torch, make_scheduler, steps):
    """(lr, momentum) of param group 0 before each scheduler.step(), as a training loop sees."""
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=0.123, momentum=0.9)
    sched = make_scheduler(opt)
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "scheduler.step() before optimizer.step()" etc.
        for _ in range(steps):
            g = opt.param_groups[0]
            out.append((float(g["lr"]), float(g["momentum"])))
            opt.step()
            sched.step()
    return out


@pytest.mark.torch
def test_one_cycle_matches_torch_one_cycle_lr():
    """Ours vs OneCycleLR(three_phase, linear): same shape, phase ends 1 and 2 steps apart.

    torch ends its phases at steps pct*T - 1 = 449 and 2*pct*T - 2 = 898; ours at C/2 = 450
    and C = 900. Its down phase is therefore 449 steps long against our 450, so the two drift
    apart by up to 2 steps' slope by the end of it: 2 * 0.9 / 450 = 0.004 in lr (0.0044 of
    the lr range) and 2 * 0.1 / 450 = 0.000444 in momentum (the same 0.0044 of the momentum
    range, since momentum mirrors lr). So the honest bound is 0.005 of each quantity's own
    range; 0.005 * max_lr for momentum would be ten times looser than needed.
    """

    T, lo, hi, m_lo, m_hi = 1000, 0.1, 1.0, 0.85, 0.95
    ref = _torch_trace(
        torch,
        lambda opt: torch.optim.lr_scheduler.OneCycleLR(
            opt,
            max_lr=hi,
            total_steps=T,
            pct_start=0.45,
            div_factor=10,
            final_div_factor=100,
            three_phase=True,
            anneal_strategy="linear",
            cycle_momentum=True,
            base_momentum=m_lo,
            max_momentum=m_hi,
        ),
        T,
    )
    ours = make_schedule(OneCycle(min_lr=lo, max_lr=hi), T).table()
    assert len(ref) == len(ours) == T
    # torch's own phase ends, as documented above
    assert ref[449] == (approx(1.0), approx(0.85))
    assert ref[898][0] == approx(0.1)
    near = set(range(447, 453)) | set(range(896, 903))
    d_lr = [abs(o[1] - r[0]) for o, r in zip(ours, ref, strict=True)]
    d_m = [abs(o[2] - r[1]) for o, r in zip(ours, ref, strict=True)]
    far_lr = max(d for s, d in enumerate(d_lr) if s not in near)
    far_m = max(d for s, d in enumerate(d_m) if s not in near)
    print(f"one-cycle vs OneCycleLR: max |d lr| {max(d_lr):.6f} at step {d_lr.index(max(d_lr))}, "
          f"{far_lr:.6f} away from the phase ends; max |d momentum| {max(d_m):.6f}")
    assert far_lr <= 0.005 * hi, far_lr
    assert max(d_lr) < 0.01 * hi, max(d_lr)
    assert far_m <= 0.005 * (m_hi - m_lo), far_m
    assert max(d_m) < 0.01 * (m_hi - m_lo), max(d_m)
    # both start at min_lr and end at final_lr = min_lr / 100
    assert ours[0][1:] == (approx(ref[0][0]), approx(ref[0][1]))
    assert ours[-1][1:] == (approx(ref[-1][0]), approx(ref[-1][1]))


@pytest.mark.torch
@pytest.mark.parametrize(
    ("mode", "gamma"), [("triangular", 1.0), ("triangular2", 1.0), ("exp_range", 0.999)]
)
def test_triangular_matches_torch_cyclic_lr(mode, gamma):

    T = 2500
    ref = _torch_trace(
        torch,
        lambda opt: torch.optim.lr_scheduler.CyclicLR(
            opt,
            base_lr=0.1,
            max_lr=1.0,
            step_size_up=500,
            mode=mode,
            gamma=gamma,
            cycle_momentum=False,
        ),
        T,
    )
    s = make_schedule(Triangular(min_lr=0.1, max_lr=1.0, step_size=500, mode=mode, gamma=gamma), T)
    print(f"{mode} vs CyclicLR: max |d lr| {max(abs(s(k)[0] - r[0]) for k, r in enumerate(ref)):.2e}")
    for step, (r_lr, r_m) in enumerate(ref):
        lr, m = s(step)
        assert abs(lr - r_lr) <= 1e-9, (step, lr, r_lr)
        assert m == r_m == 0.9  # momentum held (torch's untouched with cycle_momentum=False)


@pytest.mark.torch
def test_multistep_matches_torch_multistep_lr():

    ref = _torch_trace(
        torch,
        lambda opt: torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[50, 70], gamma=0.1),
        100,
    )
    s = make_schedule(MultiStep(lr=0.123, milestones=(50, 70)), 100)
    for step, (r_lr, _) in enumerate(ref):
        assert s(step)[0] == pytest.approx(r_lr, rel=1e-12, abs=0), step
    assert (
        ref[49][0] == approx(0.123)
        and ref[50][0] == approx(0.0123)
        and ref[70][0] == approx(0.00123)
    )


