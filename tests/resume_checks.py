"""Shared by the torch and Keras resume tests (no framework imported here)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from bench.records import spec as S
from bench.records.schedules import make_schedule
from bench.running import runner

WALL = ("wall_s", "train_wall_s", "eval_wall_s")


def rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def without_wall(rs: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in WALL} for r in rs]


def max_rel_diff(a: list[dict], b: list[dict]) -> float:
    """Largest relative difference over the numeric non-wall-clock cells (0.0 = bitwise)."""
    assert len(a) == len(b), (len(a), len(b))
    worst = 0.0
    for ra, rb in zip(a, b, strict=True):
        assert ra.keys() == rb.keys()
        for k in ra:
            if k in WALL or ra[k] == rb[k]:
                continue
            x, y = float(ra[k]), float(rb[k])  # a differing non-number (split) fails here
            worst = max(worst, abs(x - y) / max(abs(x), abs(y), 1e-30))
    return worst


def resume_spec(base: dict, tmp_path: Path, backend: str, **over) -> S.Spec:
    d = json.loads(json.dumps(base))
    d.update({"backend": backend, "checkpoint_every": 25, "eval_every": 20, "budget": {"steps": 60}}, **over)
    return S.build(d)


def stopped_and_resumed(spec: S.Spec, tmp_path: Path, stop_at: int):
    """The uninterrupted run, and the same run stopped after ``stop_at`` updates then resumed."""
    ref, ref_summary, code = runner.run(spec, tmp_path / "ref", progress=False)
    assert code == 0
    d, s1, code1 = runner.run(spec, tmp_path / "cut", progress=False, stop_at=stop_at)
    assert code1 == 4 and s1["status"] == "interrupted" and s1["steps_done"] == stop_at
    assert s1["checkpoint_step"] == stop_at and (d / "checkpoint.json").is_file()
    assert len(rows(d / "steps.csv")) == stop_at
    d2, s2, code2 = runner.resume(d, progress=False)
    assert code2 == 0 and d2 == d and s2["status"] == "completed" and s2["resumed_from"] == stop_at
    assert not (d / "checkpoint.json").exists() and not list(d.glob("checkpoint-*"))  # ended: removed
    return ref, ref_summary, d, s2


def check_schedule_continued(spec: S.Spec, run_dir: Path) -> None:
    """The lr and momentum columns are the schedule at every step: continued, not restarted."""
    rs = rows(run_dir / "steps.csv")
    sched = make_schedule(spec.policy, spec.budget.steps)
    assert [int(r["step"]) for r in rs] == list(range(spec.budget.steps))
    for r in rs:
        lr, mom = sched(int(r["step"]))
        assert float(r["lr"]) == lr and float(r["momentum"]) == mom
        assert math.isfinite(float(r["train_loss"]))
