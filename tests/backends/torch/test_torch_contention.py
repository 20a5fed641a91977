"""A run made while CPU-bound processes compete is flagged contended; a quiet one is not.

Timing-dependent by nature, so made robust: the two runs are the same short simple-CNN run
(seconds on a quiet machine), compared with each other; the competing processes are one
`while True: pass` per usable CPU (they end themselves after a minute whatever happens). When
the machine is too busy for the quiet baseline (the quiet run is itself contended: someone
else's process competed), the test is skipped, saying so.
"""

import os
import subprocess
import sys
import time

import pytest

pytest.importorskip("torch")

from bench.records import spec as S  # noqa: E402
from bench.running import clock, runner  # noqa: E402

from common import needs_fmnist  # noqa: E402

pytestmark = [pytest.mark.torch, needs_fmnist]

SPEC = {"name": "contention", "backend": "torch", "network": {"name": "simple_cnn"},
        "dataset": {"name": "fashion_mnist", "train_size": 2000, "test_size": 500},
        "policy": {"name": "constant", "lr": 0.05}, "batch_size": 64, "budget": {"steps": 40}, "eval_every": 1000}
SPIN = "import time\nend = time.time() + 60\nwhile time.time() < end: pass\n"


def _run(out, seed):
    _, summary, code = runner.run(S.build(dict(SPEC, seed=seed)), out, progress=False)
    assert code == 0
    return summary


@pytest.fixture(scope="module")
def busy(tmp_path_factory):
    """The run beside one CPU-bound process per usable CPU (they end themselves after a minute)."""
    spinners = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(max(2, clock.usable_cpus()))]
    try:
        time.sleep(0.5)  # let them take the CPUs
        return _run(tmp_path_factory.mktemp("busy"), 1)
    finally:
        for p in spinners:
            p.kill()
            p.wait()


def test_a_run_beside_cpu_bound_processes_is_flagged_contended(busy):
    for key in ("cpu_s", "cpu_threads", "cpu_share", "involuntary_switches", "contended"):
        assert key in busy, key
    assert busy["contended"] is True, busy
    if "cpu_wait_share" in busy:  # Linux: the run queue says it directly
        assert busy["cpu_wait_share"] > clock.WAIT_ABOVE


def test_a_quiet_run_is_not_flagged_and_had_more_of_the_machine(busy, tmp_path):
    quiet = _run(tmp_path, 0)
    if quiet["contended"]:
        pytest.skip(f"the machine is too busy for a quiet baseline: the quiet run was itself contended "
                    f"(run-queue wait share {quiet.get('cpu_wait_share', float('nan')):.2f}, CPU share "
                    f"{quiet['cpu_share']:.2f}); another process is competing for the CPUs")
    assert quiet["cpu_share"] > busy["cpu_share"]
    if "cpu_wait_share" in quiet:
        assert quiet["cpu_wait_share"] < clock.WAIT_ABOVE < busy["cpu_wait_share"]
    assert busy["train_s"] > quiet["train_s"]


def test_the_clock_record_survives_a_resume(tmp_path):
    spec = S.build(dict(SPEC, seed=2, checkpoint_every=20))
    run_dir, _, code = runner.run(spec, tmp_path, progress=False, stop_at=20)
    assert code == 4
    _, summary, code = runner.resume(run_dir, progress=False)
    assert code == 0
    assert summary["resumed_from"] == 20 and summary["cpu_s"] > 0
    if os.path.isdir("/proc/self/task"):
        assert "cpu_wait_share" in summary
