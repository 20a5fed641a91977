"""Every policy with keys that make its rate (and momentum, where it has one) move, and what
``bench schedule`` prints for it: the reference the framework adapters are checked against
(tests/backends/torch/test_torch_scheduler.py, tests/backends/keras/test_keras_callbacks.py)."""

import io
from contextlib import redirect_stdout

EXAMPLES = {
    "constant": ["lr=0.05", "momentum=0.85"],
    "multistep": ["lr=0.3", "milestones=[10, 25]", "gamma=0.2"],
    "triangular": ["min_lr=0.01", "max_lr=0.4", "step_size=7", "mode=triangular2"],
    "one-cycle": ["min_lr=0.02", "max_lr=0.7", "tail=0.2"],
    "one-cycle-cosine": ["max_lr=0.5", "pct_start=0.3"],
    "range-test": ["start_lr=1e-4", "end_lr=2.0"],
}


def bench_schedule(name: str, sets: list[str], steps: int) -> list[tuple[float, float]]:
    """What ``bench schedule NAME --steps N --set ...`` prints, as (lr, momentum) per step."""
    from bench.cli import main

    buf = io.StringIO()
    with redirect_stdout(buf):
        assert main(["schedule", name, "--steps", str(steps), *[a for s in sets for a in ("--set", s)]]) == 0
    lines = buf.getvalue().splitlines()
    assert lines[0] == "step,lr,momentum"
    rows = [line.split(",") for line in lines[1:]]
    assert [int(r[0]) for r in rows] == list(range(steps))
    return [(float(r[1]), float(r[2])) for r in rows]


def policy_data(name: str, sets: list[str]) -> dict:
    """The policy as plain data, its values parsed as ``bench schedule`` parses --set."""
    from bench.records.spec import apply_sets

    return apply_sets({"name": name}, sets)
