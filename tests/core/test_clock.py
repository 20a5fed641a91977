"""The clock record (bench.running.clock): what it measures, how a run is flagged contended, and what
the tables and the claims do with a contended run. Framework-free: a fake trainer, fake run
directories and a fake nvidia-smi; the real contended run is in
tests/backends/torch/test_torch_contention.py."""

from __future__ import annotations

import os
import re
import stat
import sys

import numpy as np
import pandas as pd
import pytest

from bench.data import Prepared
from bench.judging import claims
from bench.judging.compare import display, table
from bench.records import spec as S
from bench.records.rundir import load_runs, parse_summary
from bench.running import clock, loop

from rundirs import make_run

# -- the numbers ------------------------------------------------------------------------------


def test_share_is_cpu_time_over_wall_time_and_usable_threads(monkeypatch):
    monkeypatch.setattr(clock, "usable_cpus", lambda: 2)
    assert clock.share_threads(4) == 2  # more threads than CPUs: the CPUs bound it
    assert clock.share_threads(1) == 1
    assert clock.share_threads({"intra_op": 0, "inter_op": 0}) == 2  # TensorFlow's 0: one per core
    assert clock.share_threads(None) == 2
    assert clock.cpu_share(3.0, 2.0, 2) == pytest.approx(0.75)
    assert clock.cpu_share(1.0, 0.0, 2) is None


def test_the_flag_uses_the_run_queue_where_the_kernel_reports_it():
    above, below = clock.WAIT_ABOVE + 0.01, clock.WAIT_ABOVE - 0.01
    assert clock.contended(above, 0.99) is True  # waited for a CPU: contended, whatever the CPU share
    assert clock.contended(below, 0.30) is False  # a framework that keeps one thread busy is not contended
    assert clock.contended(None, clock.CONTENDED_BELOW - 0.01) is True  # no run queue: the CPU share decides
    assert clock.contended(None, clock.CONTENDED_BELOW + 0.01) is False
    assert clock.contended(None, None) is None


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="the run queue is read from Linux's /proc")
def test_the_run_queue_counts_this_process_threads():
    q = clock.RunQueue()
    q.start()
    x = 0
    for i in range(300_000):  # some CPU time
        x += i
    q.stop()
    assert q.measured and q.run_s > 0 and q.wait_s >= 0
    assert 0 <= q.share() <= 1
    carried = clock.RunQueue(q.run_s, q.wait_s, True)  # a resumed run continues the totals
    assert carried.share() == pytest.approx(q.share())
    assert clock.RunQueue().share() is None  # nothing measured: no share


# -- the loop records it ----------------------------------------------------------------------


class Busy:
    """A fake trainer whose steps cost CPU time."""

    rank = 0

    def __init__(self):
        self.pending = []

    def train_step(self, idx, draws, lr, momentum):
        x = 0
        for i in range(20_000):
            x += i
        self.pending.append((1.0, 3.0))

    def synchronize(self):
        pass

    def collect(self):
        out = np.array(self.pending, float).reshape(-1, 2)
        self.pending.clear()
        return out

    def evaluate(self, split):
        return 0.5, 0.5


class Writer:
    def __init__(self):
        self.eval_rows = []

    def steps(self, rows):
        pass

    def eval(self, row):
        self.eval_rows.append(row)


def _data(val=0):
    x = np.zeros((320, 4, 4, 1), np.uint8)
    y = np.arange(320) % 10
    return Prepared("fake", x, y, x[:val], y[:val], x[:50], y[:50], np.arange(20), (0.5,), (0.25,), 10,
                    tuple("0123456789"))


def test_the_loop_sums_cpu_time_and_switches_over_training_steps(base_spec):
    spec = S.build({**base_spec, "batch_size": 32, "budget": {"steps": 30}, "eval_every": 10,
                    "policy": {"name": "constant", "lr": 0.1}})
    out = loop.run_loop(spec, Busy(), _data(), Writer())
    assert out.cpu_s > 0 and out.involuntary_switches >= 0
    assert out.cpu_s <= out.train_s * (os.cpu_count() or 1) * 1.5  # CPU time of training steps, not of more
    if os.path.isdir("/proc/self/task"):
        assert out.sched_measured and out.sched_run_s > 0


def test_a_tuning_run_evaluates_the_validation_split(base_spec):
    spec = S.build({**base_spec, "batch_size": 32, "budget": {"steps": 30}, "eval_every": 10,
                    "policy": {"name": "constant", "lr": 0.1}, "eval_split": "val",
                    "dataset": {**base_spec["dataset"], "val_size": 100}})
    w = Writer()
    loop.run_loop(spec, Busy(), _data(val=40), w)
    splits = [(row[0], row[2]) for row in w.eval_rows]
    # periodic on val, then the last word on val, then the final whole-test evaluation
    assert splits == [(0, "val"), (10, "val"), (20, "val"), (30, "val"), (30, "test")]


def test_eval_split_is_in_the_spec_and_run_id_only_when_val(base_spec):
    plain = S.build(base_spec)
    val = S.build({**base_spec, "eval_split": "val", "dataset": {**base_spec["dataset"], "val_size": 100}})
    assert "eval_split" not in plain.resolved() and val.resolved()["eval_split"] == "val"
    with pytest.raises(Exception, match="val_size"):
        S.build({**base_spec, "eval_split": "val"})


def test_summary_keeps_the_clock_record():
    s = parse_summary({"schema": 1, "kind": "train", "run_id": "r", "status": "completed", "backend": "torch",
                       "cpu_s": 10.0, "cpu_threads": 2, "cpu_share": 0.9, "involuntary_switches": 12,
                       "cpu_wait_s": 0.1, "cpu_wait_share": 0.01, "contended": False})
    assert s.contended is False and s.cpu_share == 0.9 and s.dump()["cpu_wait_share"] == 0.01
    old = parse_summary({"schema": 1, "kind": "train", "run_id": "r", "status": "completed", "backend": "torch"})
    assert "contended" not in old.dump()  # runs made before the record: absent, not null


# -- a GPU: nvidia-smi, faked -----------------------------------------------------------------


def _fake_smi(tmp_path, util: str, apps: list[str]) -> str:
    exe = tmp_path / "nvidia-smi"
    exe.write_text(f"#!{sys.executable}\nimport sys\nargs = ' '.join(sys.argv)\n"
                   f"print({util!r} if 'utilization' in args else {chr(10).join(apps)!r})\n")
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return str(exe)


def test_gpu_sampler_records_utilisation_and_other_processes(tmp_path):
    with clock.GpuSampler("0", interval=0.05, exe=_fake_smi(tmp_path, "87", ["111", "222"])) as g:
        import time

        time.sleep(0.2)
    r = g.result()
    assert r["gpu_util"] == pytest.approx(87.0) and r["gpu_processes"] == 2 and r["contended"] is True
    alone = clock.GpuSampler("0", interval=10, exe=_fake_smi(tmp_path, "50", ["111"]))
    alone.sample()
    assert alone.result() == {"gpu_util": 50.0, "gpu_processes": 1, "contended": False}
    missing = clock.GpuSampler("0", exe=str(tmp_path / "none"))
    missing.sample()
    assert missing.result() == {}  # no nvidia-smi: nothing measured, nothing claimed


# -- tables and claims ------------------------------------------------------------------------


def test_tables_flag_contended_runs_and_time_only_the_others():
    runs = pd.DataFrame([
        {"experiment": "e", "network": "n", "dataset": "d", "policy": "p", "batch_size": 32, "budget": 40,
         "backend": "torch", "seed": s, "status": "completed", "final_acc": 0.9, "best_acc": 0.9,
         "images_per_s": 1.0, "train_s": t, "exploded_at": None, "cpu_share": sh, "contended": c,
         "evaluated_on": "eval", "steps_to_0.9": 100.0, "seconds_to_0.9": t, "reached_0.9": True}
        for s, t, sh, c in [(0, 10.0, 0.9, False), (1, 11.0, 0.9, False), (2, 300.0, 0.2, True)]])
    tab = table(runs)
    row = tab.iloc[0]
    assert row["contended"] == 1 and row["seconds_to_0.9_median"] == pytest.approx(10.5)  # 300 s left out
    shown = display(tab).iloc[0]
    assert shown["torch seeds"] == "3 (1 contended)" and "1 contended left out" in shown["torch s→0.9"]


def _run(root, base, name, seed, cross, contended, secs_per_step):
    make_run(root, base, seed, name=name, evals=[(st, 0.95 if st >= cross else 0.5) for st in range(0, 1001, 100)],
             split="eval", final=0.95, final_row=True, total=1000, spe=100, secs_per_step=secs_per_step,
             summary={"contended": contended})


def test_seconds_claims_leave_contended_runs_out_and_say_so(tmp_path, base_spec):
    base = dict(base_spec, budget={"steps": 1000}, eval_every=100)
    for i in range(5):
        _run(tmp_path, base, "A", i, 200, False, 0.01)
        _run(tmp_path, base, "B", i, 800, False, 0.01)
    # a sixth run of A on a busy machine: 50x slower seconds, the same steps
    _run(tmp_path, base, "A", 5, 200, True, 0.5)
    check = {"id": "X", "source": "t", "statement": "t", "arms": {"a": {"spec.name": "A"}, "b": {"spec.name": "B"}},
             "kind": "superiority", "ratio": 2.0, "min_runs": 5}
    runs = load_runs([tmp_path])
    secs = claims.judge(claims.checks(claims.validate([dict(check, metric={"name": "seconds_to_target",
                                                                           "target": 0.9})]))[0], runs)[0]
    assert secs["verdict"] == "holds" and secs["n"] == "5 / 5"
    assert "1 contended runs left out" in secs["why"]
    steps = claims.judge(claims.checks(claims.validate([dict(check, metric={"name": "steps_to_target",
                                                                            "target": 0.9})]))[0], runs)[0]
    assert steps["n"] == "6 / 5" and "contended" not in steps["why"]  # steps do not depend on the machine
    assert not re.search(r"\bnan\b", claims.render([secs, steps]))
