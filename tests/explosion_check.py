"""A real run at a huge rate (lr 1e6) on a small Fashion-MNIST subset, in one backend: the
loss explodes (finite, 1e15 and more) before it stops being finite. The run records
exploded_at; stop_on_explosion ends it there as diverged (exit 3)."""

import json

from bench.records import spec as S
from bench.running import runner


def check(backend: str, tmp_path) -> int:
    base = {"name": "boom", "backend": backend, "seed": 0, "network": {"name": "simple_cnn"},
            "dataset": {"name": "fashion_mnist", "train_size": 1000, "test_size": 500, "eval_size": 200},
            "optimizer": {"weight_decay": 5e-4}, "policy": {"name": "constant", "lr": 1.0e6},
            "batch_size": 50, "budget": {"steps": 10}, "eval_every": 5}
    d, s, code = runner.run(S.build(base), tmp_path / "a", progress=False)
    first = float(open(d / "steps.csv").read().splitlines()[1].split(",")[4])
    ex = s["exploded_at"]
    assert ex is not None and ex >= 1
    assert json.loads((d / "summary.json").read_text())["exploded_at"] == ex
    losses = [float(r.split(",")[4]) for r in open(d / "steps.csv").read().splitlines()[1:]]
    assert losses[ex] > 100 * first and all(x <= 100 * first for x in losses[1:ex])  # the first such step
    d2, s2, code2 = runner.run(S.build({**base, "stop_on_explosion": True}), tmp_path / "b", progress=False)
    assert code2 == 3 and s2["status"] == "diverged" and s2["diverged_at"] == s2["exploded_at"] == ex
    assert len(open(d2 / "steps.csv").read().splitlines()) == ex + 2  # header + updates 0..ex
    return ex
