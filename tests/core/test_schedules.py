"""The learning-rate / momentum policies of bench/records/schedules.py.

Expected values are worked out by hand from the papers' closed forms (written out in each
test), never by calling the code under test. The comparisons with PyTorch's own schedulers
are in tests/backends/torch/test_torch_schedules.py.
"""

from __future__ import annotations

import math

import pytest

from bench.cli import main
from bench.errors import SpecError, StepOutOfRange
from bench.records.schedules import (
    Constant,
    MultiStep,
    OneCycle,
    OneCycleCosine,
    RangeTest,
    Triangular,
    make_schedule,
)


def approx(x):
    return pytest.approx(x, rel=1e-12, abs=1e-15)


def check_values(sched, expected: dict[int, tuple[float, float]]):
    got = {s: sched(s) for s in expected}
    assert got == {s: (approx(lr), approx(m)) for s, (lr, m) in expected.items()}


# --------------------------------------------------------------------------------------
# 1. Closed forms at hand-picked steps
# --------------------------------------------------------------------------------------


def test_constant():
    s = make_schedule(Constant(lr=0.1), 50)
    check_values(s, {0: (0.1, 0.9), 25: (0.1, 0.9), 49: (0.1, 0.9)})
    s = make_schedule(Constant(lr=0.35, momentum=0.0), 1)
    assert s(0) == (0.35, 0.0)


def test_multistep_smith_topin_baseline():
    # lr 0.35, x0.1 at 50,000 and 70,000 of 80,000; the decay applies from the milestone step
    s = make_schedule(MultiStep(lr=0.35, milestones=(50_000, 70_000)), 80_000)
    check_values(
        s,
        {
            0: (0.35, 0.9),
            49_999: (0.35, 0.9),
            50_000: (0.035, 0.9),
            69_999: (0.035, 0.9),
            70_000: (0.0035, 0.9),
            79_999: (0.0035, 0.9),
        },
    )
    s = make_schedule(MultiStep(lr=1.0, gamma=0.5, milestones=(1, 2, 3), momentum=0.8), 5)
    check_values(s, {0: (1.0, 0.8), 1: (0.5, 0.8), 2: (0.25, 0.8), 3: (0.125, 0.8), 4: (0.125, 0.8)})


def test_multistep_rejects_unsorted_milestones():
    with pytest.raises(ValueError, match="strictly increasing"):
        MultiStep(lr=0.1, milestones=(70, 50))


def test_triangular():
    # min 0.1, max 1.0, half-cycle 500: 0.1 at 0, 1000, 2000; 1.0 at 500, 1500; 0.55 halfway
    s = make_schedule(Triangular(min_lr=0.1, max_lr=1.0, step_size=500), 2500)
    check_values(
        s,
        {
            0: (0.1, 0.9),
            1: (0.1 + 0.9 / 500, 0.9),
            250: (0.55, 0.9),
            500: (1.0, 0.9),
            750: (0.55, 0.9),
            1000: (0.1, 0.9),
            1250: (0.55, 0.9),
            1500: (1.0, 0.9),
            2000: (0.1, 0.9),
            2499: (0.1 + 0.9 * 499 / 500, 0.9),
        },
    )


def test_triangular2():
    # the amplitude halves every cycle: cycle 1 peak 1.0, cycle 2 peak 0.55, cycle 3 peak 0.325
    s = make_schedule(Triangular(min_lr=0.1, max_lr=1.0, step_size=500, mode="triangular2"), 2500)
    check_values(
        s,
        {
            0: (0.1, 0.9),
            250: (0.55, 0.9),
            500: (1.0, 0.9),
            1000: (0.1, 0.9),
            1250: (0.1 + 0.9 * 0.5 * 0.5, 0.9),  # 0.325
            1500: (0.55, 0.9),
            2000: (0.1, 0.9),
            2500 - 1: (0.1 + 0.9 * 0.25 * (499 / 500), 0.9),
        },
    )
    assert s(2250) == (approx(0.1 + 0.9 * 0.25 * 0.5), 0.9)  # 0.2125


def test_triangular_exp_range():
    # scale gamma**step on top of the triangle; 0.999**500 = 0.60637894486118...
    s = make_schedule(
        Triangular(
            min_lr=0.1, max_lr=1.0, step_size=500, mode="exp_range", gamma=0.999, momentum=0.8
        ),
        2000,
    )
    g500 = 0.6063789448611847  # 0.999**500 (exp(500 * ln 0.999))
    check_values(
        s,
        {
            0: (0.1, 0.8),
            500: (0.1 + 0.9 * g500, 0.8),
            1000: (0.1, 0.8),
            1500: (0.1 + 0.9 * g500**3, 0.8),  # 0.999**1500
            250: (0.1 + 0.9 * 0.5 * 0.7787033741169899, 0.8),  # 0.999**250 = sqrt(g500)
        },
    )


def test_triangular_rejects_min_above_max():
    with pytest.raises(ValueError, match="min_lr"):
        Triangular(min_lr=1.0, max_lr=0.1, step_size=10)


def test_one_cycle():
    # min 0.1, max 1.0, T = 1000, tail 0.1: tail 100 steps, cycle C = 900, peak at C/2 = 450
    p = OneCycle(min_lr=0.1, max_lr=1.0, tail=0.1)
    assert p.final_lr == approx(0.001)  # default min_lr / 100, filled in
    assert p.model_dump()["final_lr"] == approx(0.001)
    s = make_schedule(p, 1000)
    check_values(
        s,
        {
            0: (0.1, 0.95),
            1: (0.1 + 0.9 / 450, 0.95 - 0.1 / 450),
            225: (0.55, 0.90),
            450: (1.0, 0.85),
            675: (0.55, 0.90),
            899: (0.1 + 0.9 / 450, 0.95 - 0.1 / 450),
            900: (0.1, 0.95),
            # tail: min_lr at 900 -> final_lr at 999 over 99 steps; 0.099 * 49/99 = 0.049
            949: (0.1 - 0.049, 0.95),
            999: (0.001, 0.95),
        },
    )


def test_one_cycle_explicit_final_lr_and_momenta():
    # T = 200, tail 0.25: 50 tail steps, C = 150, peak at 75 (between steps: none exact)
    p = OneCycle(
        min_lr=0.2, max_lr=2.0, tail=0.25, final_lr=0.0, max_momentum=0.9, min_momentum=0.8
    )
    s = make_schedule(p, 200)
    check_values(
        s,
        {
            0: (0.2, 0.9),
            75: (2.0, 0.8),
            150: (0.2, 0.9),
            175: (0.2 - 0.2 * 25 / 49, 0.9),  # tail: 0.2 -> 0 over 49 steps
            199: (0.0, 0.9),
        },
    )


def test_one_cycle_odd_cycle_peak_between_steps():
    # T = 12, tail 0.1 -> round(1.2) = 1 tail step (final_lr at once), C = 11, peak at 5.5:
    # steps 5 and 6 are half a step either side of it, equal, below max_lr
    s = make_schedule(OneCycle(min_lr=0.0, max_lr=1.0, tail=0.1, final_lr=0.0), 12)
    check_values(
        s,
        {
            0: (0.0, 0.95),
            5: (5 / 5.5, 0.95 - 0.1 * 5 / 5.5),
            6: (5 / 5.5, 0.95 - 0.1 * 5 / 5.5),
            10: (1 / 5.5, 0.95 - 0.1 / 5.5),
            11: (0.0, 0.95),
        },
    )


def test_one_cycle_rejects_bad_order():
    with pytest.raises(ValueError, match="min_lr"):
        OneCycle(min_lr=1.0, max_lr=0.1)
    with pytest.raises(ValueError, match="min_momentum"):
        OneCycle(min_lr=0.1, max_lr=1.0, min_momentum=0.95, max_momentum=0.85)


def test_one_cycle_cosine_fastai():
    # fastai fit_one_cycle defaults: max 1.0, div 25, div_final 1e5, pct_start 0.25, T = 1000
    # cos piece: start + (1 + cos(pi (1 - p))) (end - start) / 2; p = 1/2 is the midpoint
    s = make_schedule(OneCycleCosine(max_lr=1.0), 1000)
    check_values(
        s,
        {
            0: (0.04, 0.95),
            125: ((0.04 + 1.0) / 2, 0.90),  # 0.52
            250: (1.0, 0.85),
            625: ((1.0 + 1e-5) / 2, 0.90),  # 0.500005
        },
    )
    # step 999: p = 0.749 / 0.75 = 1 - 1/750 -> end + (peak - end) (1 - cos(pi / 750)) / 2
    lr, m = s(999)
    assert lr == approx(1e-5 + (1.0 - 1e-5) * (1 - math.cos(math.pi / 750)) / 2)
    assert m == approx(0.95 - 0.1 * (1 - math.cos(math.pi / 750)) / 2)
    assert 1e-5 < lr < 1e-5 + 1e-4  # slightly above max_lr / div_final, as in fastai
    # T = 2000, step 125: a quarter of the way up, p = 1/4 -> (1 + cos(3 pi / 4)) / 2
    s = make_schedule(OneCycleCosine(max_lr=1.0), 2000)
    assert s(125)[0] == approx(0.04 + 0.96 * (1 - math.sqrt(2) / 2) / 2)


def test_range_test_exp():
    # 1e-5 -> 10 geometric over 101 steps: x10 every 100/6 steps; 0.01 at the midpoint
    s = make_schedule(RangeTest(start_lr=1e-5, end_lr=10.0), 101)
    check_values(s, {0: (1e-5, 0.9), 50: (1e-2, 0.9), 100: (10.0, 0.9)})
    s = make_schedule(RangeTest(start_lr=1e-3, end_lr=1.0, momentum=0.0), 4)
    check_values(s, {0: (1e-3, 0.0), 1: (1e-2, 0.0), 2: (1e-1, 0.0), 3: (1.0, 0.0)})


def test_range_test_linear():
    # Smith & Topin's variant: linear 0 -> 2; over 81 steps 0.025 per step
    s = make_schedule(RangeTest(start_lr=0.0, end_lr=2.0, mode="linear"), 81)
    check_values(s, {0: (0.0, 0.9), 1: (0.025, 0.9), 20: (0.5, 0.9), 40: (1.0, 0.9), 80: (2.0, 0.9)})


def test_range_test_rejects_bad_params():
    with pytest.raises(ValueError, match="end_lr"):
        RangeTest(start_lr=1.0, end_lr=1.0)
    with pytest.raises(ValueError, match="start_lr > 0"):
        RangeTest(start_lr=0.0, end_lr=1.0, mode="exp")


# --------------------------------------------------------------------------------------
# 2. Step conventions
# --------------------------------------------------------------------------------------

POLICIES = {
    "constant": Constant(lr=0.1),
    "multistep": MultiStep(lr=0.1, milestones=(5, 8)),
    "triangular": Triangular(min_lr=0.1, max_lr=1.0, step_size=3),
    "triangular2": Triangular(min_lr=0.1, max_lr=1.0, step_size=3, mode="triangular2"),
    "exp_range": Triangular(min_lr=0.1, max_lr=1.0, step_size=3, mode="exp_range", gamma=0.99),
    "one-cycle": OneCycle(min_lr=0.1, max_lr=1.0),
    "one-cycle-cosine": OneCycleCosine(max_lr=1.0),
    "range-test-exp": RangeTest(start_lr=1e-4, end_lr=1.0),
    "range-test-linear": RangeTest(start_lr=0.0, end_lr=1.0, mode="linear"),
}


@pytest.mark.parametrize("name", POLICIES)
@pytest.mark.parametrize("total", [10, 37])
def test_steps_outside_range_raise(name, total):
    s = make_schedule(POLICIES[name], total)
    assert s.total_steps == total
    for bad in (total, total + 1, -1, -total):
        with pytest.raises(StepOutOfRange):
            s(bad)
    assert issubclass(StepOutOfRange, IndexError)
    for ok in (0, total - 1):
        lr, m = s(ok)
        assert type(lr) is float and type(m) is float
    rows = s.table()
    assert [r[0] for r in rows] == list(range(total))


@pytest.mark.parametrize("name", POLICIES)
@pytest.mark.parametrize("bad", [1.0, 3.0, "3", None, True, False])
def test_non_int_step_is_a_type_error(name, bad):
    s = make_schedule(POLICIES[name], 10)
    with pytest.raises(TypeError):
        s(bad)


def test_too_few_steps_is_a_spec_error():
    for p in POLICIES.values():
        for bad in (0, -5, 2.0, True, "10"):
            with pytest.raises(SpecError):
                make_schedule(p, bad)
    # the range test needs two steps (its ramp divides by T - 1)
    with pytest.raises(SpecError, match="at least 2 steps"):
        make_schedule(RangeTest(start_lr=1e-4, end_lr=1.0), 1)
    make_schedule(RangeTest(start_lr=1e-4, end_lr=1.0), 2)
    # one cycle needs a cycle of >= 2 steps, plus (tail > 0) at least one tail step:
    # tail 0.1 -> 3 steps (min_lr, max_lr, final_lr); tail 0 -> 2 steps
    p = OneCycle(min_lr=0.1, max_lr=1.0)
    for bad in (1, 2):
        with pytest.raises(SpecError, match="at least 3 steps"):
            make_schedule(p, bad)
    assert make_schedule(p, 3).table() == [
        (0, approx(0.1), approx(0.95)),
        (1, approx(1.0), approx(0.85)),
        (2, approx(0.001), approx(0.95)),
    ]
    p = OneCycle(min_lr=0.1, max_lr=1.0, tail=0.0)
    with pytest.raises(SpecError, match="at least 2 steps"):
        make_schedule(p, 1)
    assert make_schedule(p, 2).table() == [
        (0, approx(0.1), approx(0.95)),
        (1, approx(1.0), approx(0.85)),
    ]
    # tail 0.9: T = 15 leaves 15 - round(13.5) = 15 - 14 = 1 cycle step, T = 16 -> 16 - 14 = 2
    p = OneCycle(min_lr=0.1, max_lr=1.0, tail=0.9)
    with pytest.raises(SpecError, match="at least 16 steps"):
        make_schedule(p, 15)
    s = make_schedule(p, 16)
    assert s(0) == (approx(0.1), approx(0.95))
    assert s(1) == (approx(1.0), approx(0.85))
    assert s(2) == (approx(0.1), approx(0.95))
    assert s(15) == (approx(0.001), approx(0.95))
    # constant-like policies are defined for one step
    assert make_schedule(Constant(lr=0.1), 1)(0) == (0.1, 0.9)


# --------------------------------------------------------------------------------------
# 4. `bench schedule`
# --------------------------------------------------------------------------------------

ONE_CYCLE_ARGS = [
    "schedule",
    "one-cycle",
    "--steps",
    "1000",
    "--set",
    "min_lr=0.1",
    "--set",
    "max_lr=1.0",
]


def test_cli_schedule_csv(capsys):
    assert main([*ONE_CYCLE_ARGS, "--format", "csv"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "step,lr,momentum"
    rows = lines[1:]
    assert len(rows) == 1000
    s = make_schedule(OneCycle(min_lr=0.1, max_lr=1.0), 1000)
    for i, line in enumerate(rows):
        step, lr, m = line.split(",")
        assert int(step) == i
        assert (float(lr), float(m)) == s(i)  # exact round trip (repr)
    assert rows[450] == "450,1.0,0.85"
    assert rows[0] == "0,0.1,0.95"


def test_cli_schedule_csv_to_file(tmp_path, capsys):
    out = tmp_path / "s.csv"
    assert main([*ONE_CYCLE_ARGS, "--out", str(out)]) == 0  # csv is the default format
    assert capsys.readouterr().out.strip() == str(out)
    assert len(out.read_text().splitlines()) == 1001


def test_cli_schedule_table(capsys):
    assert main([*ONE_CYCLE_ARGS, "--format", "table"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert len(lines) >= 1001
    assert "step" in lines[0] and "lr" in lines[0] and "momentum" in lines[0]
    assert any(line.split()[:3] == ["450", "1", "0.85"] for line in lines)


def test_cli_schedule_png(tmp_path, capsys):
    out = tmp_path / "tmp.png"
    assert main([*ONE_CYCLE_ARGS, "--format", "png", "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out.stat().st_size > 1000


def test_cli_schedule_png_needs_out(capsys):
    assert main([*ONE_CYCLE_ARGS, "--format", "png"]) == 2
    err = capsys.readouterr().err
    assert "--out" in err and "Traceback" not in err


def test_cli_schedule_missing_key(capsys):
    code = main(["schedule", "one-cycle", "--steps", "1000", "--set", "min_lr=0.1"])
    assert code == 2
    cap = capsys.readouterr()
    assert "max_lr" in cap.err
    assert "Traceback" not in cap.err
    assert cap.out == ""


def test_cli_schedule_unknown_policy(capsys):
    assert main(["schedule", "cosine-warm-restarts", "--steps", "100"]) == 2
    err = capsys.readouterr().err
    assert "cosine-warm-restarts" in err and "one-cycle" in err and "Traceback" not in err


def test_cli_schedule_bad_values_exit_2(capsys):
    # min above max, a non-numeric value, an unknown key, too few steps: all bad input
    for argv in (
        [*ONE_CYCLE_ARGS[:4], "--set", "min_lr=2.0", "--set", "max_lr=1.0"],
        [*ONE_CYCLE_ARGS, "--set", "tail=lots"],
        [*ONE_CYCLE_ARGS, "--set", "warmup=3"],
        ["schedule", "range-test", "--steps", "1", "--set", "start_lr=1e-4", "--set", "end_lr=1"],
    ):
        assert main(argv) == 2, argv
        assert "Traceback" not in capsys.readouterr().err


def test_cli_schedule_usage_errors_exit_2(capsys):
    for argv in (["schedule", "one-cycle"], ["schedule", "one-cycle", "--steps", "ten"]):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2


# --------------------------------------------------------------------------------------
# 5. Properties of one cycle
# --------------------------------------------------------------------------------------

from hypothesis import given, settings  # noqa: E402  (a dev dependency)
from hypothesis import strategies as st  # noqa: E402

_lr = st.floats(min_value=1e-4, max_value=10.0, allow_nan=False, allow_infinity=False)

@st.composite
def one_cycle_params(draw):
    min_lr = draw(_lr)
    max_lr = min_lr * draw(st.floats(min_value=1.5, max_value=100.0))
    # final_lr: the default (min_lr / 100), or anything from min_lr/1000 up to min_lr
    final = draw(st.none() | st.floats(min_value=min_lr / 1000, max_value=min_lr))
    min_m = draw(st.floats(min_value=0.0, max_value=0.98))
    max_m = draw(st.floats(min_value=min_m, max_value=0.99))
    tail = draw(st.floats(min_value=0.0, max_value=0.5))
    total = draw(st.integers(min_value=10, max_value=5000))
    return dict(
        min_lr=min_lr,
        max_lr=max_lr,
        final_lr=final,
        min_momentum=min_m,
        max_momentum=max_m,
        tail=tail,
    ), total

@settings(max_examples=300, deadline=None)
@given(one_cycle_params())
def test_one_cycle_properties(params_total):
    params, T = params_total
    # the documented tail length (tail 0: no tail, final_lr unused)
    tail = params["tail"]
    tail_steps = max(1, round(tail * T)) if tail > 0 else 0
    C = T - tail_steps
    p = OneCycle(**params)
    final = params["final_lr"] if params["final_lr"] is not None else params["min_lr"] / 100
    assert p.final_lr == approx(final)
    rows = make_schedule(p, T).table()
    lrs = [r[1] for r in rows]
    moms = [r[2] for r in rows]
    lo_lr = min(final, params["min_lr"])
    # eps: a rounding ulp at the ends of a linear piece, nothing more (with eps = 0 hypothesis
    # finds min 3, final 0.03, tail 0.5, T 10 ending at 0.029999999999999805, and momentum
    # 0.5 - (0.5 - 3.7e-130) = 0.0 just below a min_momentum of 3.7e-130)
    eps = 1e-12
    assert all(lo_lr * (1 - eps) <= lr <= params["max_lr"] * (1 + eps) for lr in lrs)
    assert all(params["min_momentum"] - eps <= m <= params["max_momentum"] + eps for m in moms)
    # the cycle's peak lies in its middle: about (1 - tail) T / 2, exactly C / 2 (half
    # a step either side when C is odd) ...
    peak = max(range(C), key=lrs.__getitem__)
    assert abs(peak - (1 - tail) * T / 2) <= 1.5, (peak, T, tail)
    assert abs(peak - C / 2) <= 0.5, (peak, C)
    # ... where the rate is max_lr, or half a step's rise below it when C is odd
    half_step = (params["max_lr"] - params["min_lr"]) * 0.5 / (C / 2)
    if C % 2 == 0:
        assert lrs[peak] == approx(params["max_lr"])
    else:
        assert lrs[peak] == approx(params["max_lr"] - half_step)
    assert moms[peak] == approx(min(moms))
    if tail > 0:
        # the last step is final_lr, with momentum back at max_momentum
        assert lrs[-1] == pytest.approx(final, rel=1e-12, abs=0)
        assert moms[-1] == approx(params["max_momentum"])


def test_one_cycle_short_tail_gets_one_step():
    # a positive tail always gets >= 1 step, even where round(tail * T) is 0, so the run
    # still ends at final_lr: tail 0.04 at T 10 (round(0.4) = 0) -> C = 9, peak at 4.5
    s = make_schedule(OneCycle(min_lr=0.1, max_lr=1.0, tail=0.04), 10)
    check_values(
        s,
        {
            0: (0.1, 0.95),
            4: (0.1 + 0.9 * 4 / 4.5, 0.95 - 0.1 * 4 / 4.5),  # 0.9
            8: (1.0 - 0.9 * 3.5 / 4.5, 0.85 + 0.1 * 3.5 / 4.5),  # 0.3
            9: (0.001, 0.95),
        },
    )
    # tail 0.1 at T 5: round(0.5) = 0 (Python rounds half to even) -> 1 tail step, C = 4
    s = make_schedule(OneCycle(min_lr=0.1, max_lr=1.0, tail=0.1), 5)
    assert [r[1] for r in s.table()] == [approx(v) for v in (0.1, 0.55, 1.0, 0.55, 0.001)]


def test_one_cycle_zero_tail():
    # tail 0: no annihilation, final_lr unused; the cycle is all T steps (C = T, peak at T/2)
    # and, C itself being past the end, the last step T-1 is one step's slope above min_lr
    s = make_schedule(OneCycle(min_lr=0.1, max_lr=1.0, tail=0.0, final_lr=0.05), 10)
    lrs = [r[1] for r in s.table()]
    moms = [r[2] for r in s.table()]
    assert lrs == [approx(v) for v in (0.1, 0.28, 0.46, 0.64, 0.82, 1.0, 0.82, 0.64, 0.46, 0.28)]
    assert moms == [approx(v) for v in (0.95, 0.93, 0.91, 0.89, 0.87, 0.85, 0.87, 0.89, 0.91, 0.93)]


def test_one_cycle_last_step_is_exactly_final_lr_when_final_is_tiny():
    s = make_schedule(OneCycle(min_lr=0.1, max_lr=1.0, final_lr=1e-8), 1000)
    assert s(999)[0] == 1e-8  # exact: the tail interpolates lo*(1-f) + final*f
    assert s(900)[0] == 0.1


def test_one_cycle_final_lr_above_min_lr_is_refused():
    with pytest.raises(ValueError, match=r"final_lr \(0.5\) must be <= min_lr \(0.1\)"):
        OneCycle(min_lr=0.1, max_lr=1.0, final_lr=0.5)


def test_every_policy_labels_itself():
    """Tables and plots name a policy by its own label (no switch on names elsewhere)."""
    from bench.records.schedules import POLICIES, label

    examples = {
        "constant": ({"lr": 0.05}, "constant 0.05"),
        "multistep": ({"lr": 0.35, "milestones": [50, 70]}, "multistep 0.35 x0.1 @50,70"),
        "triangular": ({"min_lr": 0.1, "max_lr": 1.0, "step_size": 200, "mode": "triangular2"},
                       "triangular2 0.1-1 ss200"),
        "one-cycle": ({"min_lr": 0.08, "max_lr": 0.8}, "one-cycle 0.08-0.8"),
        "one-cycle-cosine": ({"max_lr": 0.4}, "one-cycle-cosine 0.4"),
        "range-test": ({"start_lr": 1e-5, "end_lr": 10}, "range-test 1e-05-10"),
    }
    assert set(examples) == set(POLICIES)
    for name, (keys, want) in examples.items():
        assert POLICIES[name].model_validate({"name": name, **keys}).label() == want
        assert label({"name": name, **keys}) == want
    # an imported run's policy that is not one of ours: its bare name
    assert label({"name": "inv", "gamma": 1e-4}) == "inv"
    assert label({"name": "one-cycle"}) == "one-cycle"  # rates missing
