"""The loop's timing contract, on a framework-free fake trainer and a fake clock.

The fake trainer models a device: ``train_step`` costs HOST seconds on the host at once
and queues DEVICE seconds of device work, which only ``synchronize`` (or ``collect``,
which waits) lets pass. Evaluation costs EVAL seconds; a checkpoint CKPT seconds. With
every cost a known number, the loop's records must be exact:

- ``train_s`` counts every update's host and device time and nothing else (the clock is
  read after the device has been synchronised; evaluation and checkpoints excluded);
- ``eval_s`` is exactly the evaluations' time;
- ``warmup_s`` is exactly the first ``warmup_steps`` updates' time (reported apart, and
  left out of a summary's ``images_per_s``).
"""

from __future__ import annotations

import numpy as np
import pytest

from bench.data import Prepared
from bench.records import spec as S
from bench.running import loop

HOST, DEVICE, EVAL, CKPT = 0.001, 0.010, 5.0, 2.0
N_TRAIN, BATCH, STEPS, EVERY = 320, 32, 40, 10


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class FakeTrainer:
    """Implements the parts of bench.running.registry.Trainer the loop uses, on the fake clock."""

    rank = 0

    def __init__(self, clock: Clock):
        self.clock = clock
        self.queued = 0.0  # device seconds not yet waited for
        self.pending: list[tuple[float, float]] = []
        self.evaluated: list[str] = []

    def train_step(self, idx, draws, lr, momentum):
        assert len(idx) == BATCH
        self.clock.now += HOST
        self.queued += DEVICE
        self.pending.append((1.0, BATCH / 2))

    def synchronize(self):
        self.clock.now += self.queued
        self.queued = 0.0

    def collect(self):
        self.synchronize()  # collecting waits for the device
        out = np.array(self.pending, dtype=np.float64).reshape(-1, 2)
        self.pending.clear()
        return out

    def evaluate(self, split):
        self.synchronize()
        self.clock.now += EVAL
        self.evaluated.append(split)
        return 0.5, 0.5


class NullWriter:
    def __init__(self):
        self.step_rows, self.eval_rows = [], []

    def steps(self, rows):
        self.step_rows += rows

    def eval(self, row):
        self.eval_rows.append(row)


@pytest.fixture
def setup(monkeypatch, base_spec):
    clock = Clock()
    monkeypatch.setattr(loop.time, "perf_counter", clock)
    spec = S.build({**base_spec, "batch_size": BATCH, "budget": {"steps": STEPS}, "eval_every": EVERY,
                    "policy": {"name": "constant", "lr": 0.01}})
    x = np.zeros((N_TRAIN, 4, 4, 1), np.uint8)
    y = np.arange(N_TRAIN) % 10
    data = Prepared("fake", x, y, x[:0], y[:0], x[:50], y[:50], np.arange(20), (0.5,), (0.25,), 10, tuple("0123456789"))
    return clock, spec, FakeTrainer(clock), data


def test_training_time_counts_device_time_and_excludes_evaluation(setup):
    clock, spec, trainer, data = setup
    writer = NullWriter()
    out = loop.run_loop(spec, trainer, data, writer)
    assert out.status == "completed" and out.steps_done == STEPS
    assert out.train_s == pytest.approx(STEPS * (HOST + DEVICE), rel=1e-9)
    n_evals = STEPS // EVERY + 1  # step 0, every EVERY before the end, and the final test
    assert trainer.evaluated == ["eval"] * (n_evals - 1) + ["test"]
    assert out.eval_s == pytest.approx(n_evals * EVAL, rel=1e-9)
    # the clock ran for training and evaluation and nothing else
    assert clock.now - 100.0 == pytest.approx(out.train_s + out.eval_s, rel=1e-9)
    # the evaluations record the training seconds done by then: exactly k updates' worth
    for step, *_rest, train_wall, eval_wall in writer.eval_rows:
        assert train_wall == pytest.approx(step * (HOST + DEVICE), rel=1e-9, abs=1e-12)
        assert eval_wall == pytest.approx(EVAL)


def test_rows_at_synchronisation_points_carry_device_time(setup):
    _, spec, trainer, data = setup
    writer = NullWriter()
    loop.run_loop(spec, trainer, data, writer)
    walls = {row[0]: row[-1] for row in writer.step_rows}
    # updates 9, 19, 29, 39 end at an evaluation or at the end: synchronised, so exact
    for s in (EVERY - 1, 2 * EVERY - 1, STEPS - 1):
        assert walls[s] == pytest.approx((s + 1) * (HOST + DEVICE), rel=1e-9)


def test_warmup_steps_are_reported_apart(setup):
    _, spec, trainer, data = setup
    out = loop.run_loop(spec, trainer, data, NullWriter())
    warm = loop.warmup_steps(STEPS)
    assert 1 <= warm < STEPS
    assert out.warmup_s == pytest.approx(warm * (HOST + DEVICE), rel=1e-9)


def test_checkpoint_time_is_neither_training_nor_evaluation(setup):
    clock, spec, trainer, data = setup
    spec = spec.model_copy(update={"checkpoint_every": 15})
    written = []

    def checkpoint(step, outcome, reason):
        clock.now += CKPT
        written.append(step)
        return CKPT

    out = loop.run_loop(spec, trainer, data, NullWriter(), checkpoint=checkpoint)
    assert written == [15, 30]
    assert out.train_s == pytest.approx(STEPS * (HOST + DEVICE), rel=1e-9)
    assert out.checkpoint_s == pytest.approx(2 * CKPT)
    assert clock.now - 100.0 == pytest.approx(out.train_s + out.eval_s + out.checkpoint_s, rel=1e-9)


def test_a_loop_that_read_the_clock_before_synchronising_would_be_caught(setup, monkeypatch):
    """The check above can fail: with synchronisation made a no-op (device time then passes
    only when losses are collected, after the clock was read), train_s falls short."""
    _, spec, trainer, data = setup
    monkeypatch.setattr(trainer, "synchronize", lambda: None)
    out = loop.run_loop(spec, trainer, data, NullWriter())
    assert out.train_s < 0.5 * STEPS * (HOST + DEVICE)
