"""An exploding run is visible: a finite loss that blows up (1e25 at update 2 with a huge
rate, then ~1e6 at chance accuracy) is recorded as exploded_at; stop_on_explosion ends it
there as diverged. Framework-free: a fake trainer hands the loop the losses."""

from __future__ import annotations

import numpy as np
import pytest

from bench.data import Prepared
from bench.judging.compare import display, table
from bench.records import spec as S
from bench.running import loop

LOSSES = [2.3, 2.1, 1e25] + [1e6] * 37


class Losses:
    rank = 0

    def __init__(self, losses):
        self.losses, self.i, self.pending = list(losses), 0, []

    def train_step(self, idx, draws, lr, momentum):
        self.pending.append((self.losses[self.i], 3.0))
        self.i += 1

    def synchronize(self):
        pass

    def collect(self):
        out = np.array(self.pending, dtype=np.float64).reshape(-1, 2)
        self.pending.clear()
        return out

    def evaluate(self, split):
        return 2.3, 0.1


class Writer:
    def steps(self, rows):
        pass

    def eval(self, row):
        pass


def _spec(base_spec, **over):
    return S.build({**base_spec, "batch_size": 32, "budget": {"steps": len(LOSSES)}, "eval_every": 10,
                    "policy": {"name": "constant", "lr": 1.0e6}, **over})


def _data():
    x = np.zeros((320, 4, 4, 1), np.uint8)
    y = np.arange(320) % 10
    return Prepared("fake", x, y, x[:0], y[:0], x[:50], y[:50], None, (0.5,), (0.25,), 10, tuple("0123456789"))


def test_explosion_is_recorded_and_the_run_completes(base_spec):
    out = loop.run_loop(_spec(base_spec), Losses(LOSSES), _data(), Writer())
    assert out.status == "completed" and out.steps_done == len(LOSSES)
    assert out.exploded_at == 2 and out.first_loss == 2.3 and out.diverged_at is None


def test_stop_on_explosion_ends_the_run_as_diverged(base_spec):
    out = loop.run_loop(_spec(base_spec, stop_on_explosion=True), Losses(LOSSES), _data(), Writer())
    assert out.status == "diverged" and out.diverged_at == 2 and out.exploded_at == 2 and out.steps_done == 3


def test_a_loss_just_under_the_factor_is_no_explosion(base_spec):
    losses = [2.0, 199.9] + [1.0] * 38
    out = loop.run_loop(_spec(base_spec), Losses(losses), _data(), Writer())
    assert out.exploded_at is None
    losses = [2.0, 200.1] + [1.0] * 38
    assert loop.run_loop(_spec(base_spec), Losses(losses), _data(), Writer()).exploded_at == 1


def test_the_key_is_in_the_run_id_only_when_set(base_spec):
    plain, stop = _spec(base_spec), _spec(base_spec, stop_on_explosion=True)
    assert "stop_on_explosion" not in plain.resolved() and stop.resolved()["stop_on_explosion"] is True
    assert plain.run_id() != stop.run_id()
    assert plain.run_id() == S.build(plain.resolved()).run_id()


def test_tables_flag_exploded_runs():
    import pandas as pd

    runs = pd.DataFrame([
        {"experiment": "e", "network": "n", "dataset": "d", "policy": "p", "batch_size": 32, "budget": 40,
         "backend": "torch", "seed": s, "status": "completed", "final_acc": acc, "best_acc": acc,
         "images_per_s": 1.0, "train_s": 1.0, "exploded_at": ex}
        for s, acc, ex in [(0, 0.1, 2), (1, 0.9, None)]])
    tab = table(runs)
    assert tab.iloc[0]["exploded"] == 1
    assert display(tab).iloc[0]["torch seeds"] == "2 (1 exploded)"


@pytest.mark.parametrize("value", ["maybe", 2])
def test_stop_on_explosion_must_be_a_boolean(base_spec, value):
    from bench.errors import BenchError

    with pytest.raises(BenchError, match="stop_on_explosion"):
        _spec(base_spec, stop_on_explosion=value)
