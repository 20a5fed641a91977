"""bench.results.load: one row per evaluation, numeric columns, values as in the files."""

from __future__ import annotations

import csv
import io
import math

import pandas as pd
import yaml

from bench.records import spec as S
from bench.records.rundir import TrainSummary, write_meta, write_summary
from bench.records.schedules import label
from bench.results import EVAL_COLUMNS, NUMERIC, RUN_COLUMNS, load

from common import REPO

EVALS = {  # seed -> rows of evals.csv (step, epoch, split, test_loss, test_acc, train_wall_s, eval_wall_s)
    1: [(0, 0.0, "eval", 2.3, 0.1, 0.0, 0.05), (20, 0.625, "eval", 1.1, 0.55, 2.0, 0.04),
        (40, 1.25, "test", 0.7, 0.8, 4.0, 0.2)],
    2: [(0, 0.0, "eval", 2.31, 0.09, 0.0, 0.05), (40, 1.25, "test", 0.75, 0.78, 4.1, "")],  # eval_wall_s absent
}


def _write_run(root, base_spec, seed: int, policy: dict, provenance=None, budget=None):
    spec = S.build({**base_spec, "seed": seed, "policy": policy, "provenance": provenance,
                    **({"budget": budget} if budget else {})})
    d = root / spec.run_id()
    d.mkdir(parents=True)
    (d / "spec.yaml").write_text(yaml.safe_dump(spec.resolved()))
    rows = EVALS[seed]
    (d / "evals.csv").write_text("step,epoch,split,test_loss,test_acc,train_wall_s,eval_wall_s\n"
                                 + "".join(",".join(map(str, r)) + "\n" for r in rows))
    write_meta(d, {"seed": seed, "run_id": spec.run_id()})
    write_summary(d, TrainSummary(run_id=spec.run_id(), status="completed", backend="torch", steps_done=40,
                                  total_steps=40, steps_per_epoch=32, final_test_acc=rows[-1][4],
                                  train_s=4.0, eval_s=0.3))
    return d, spec


def test_one_row_per_evaluation_numeric_and_equal_to_the_files(tmp_path, base_spec):
    one_cycle = {"name": "one-cycle", "min_lr": 0.01, "max_lr": 0.1}
    d1, s1 = _write_run(tmp_path / "runs", base_spec, 1, one_cycle, provenance={"rule": "smith", "c": 0.1},
                        budget={"steps": 40})
    d2, s2 = _write_run(tmp_path / "runs" / "more", base_spec, 2, {"name": "constant", "lr": 0.05},
                        budget={"steps": 40})
    (tmp_path / "runs" / "killed").mkdir()
    (tmp_path / "runs" / "killed" / "spec.yaml").write_text("name: x\n")  # no summary: skipped, named

    stream = io.StringIO()
    df = load([tmp_path / "runs"], stream)
    assert "skipping incomplete run directory" in stream.getvalue() and "killed" in stream.getvalue()
    assert list(df.columns) == [*RUN_COLUMNS, *EVAL_COLUMNS]
    assert len(df) == len(EVALS[1]) + len(EVALS[2])  # one row per evaluation
    for c in NUMERIC:
        assert pd.api.types.is_numeric_dtype(df[c]), (c, df[c].dtype)

    for d, spec, seed in ((d1, s1, 1), (d2, s2, 2)):
        mine = df[df.run_id == d.name].reset_index(drop=True)
        with open(d / "evals.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        assert len(mine) == len(rows)
        for got, row in zip(mine.to_dict("records"), rows, strict=True):
            for c in ("step", "epoch", "loss", "acc", "train_wall_s", "eval_wall_s"):
                cell = row.get(c, row.get({"loss": "test_loss", "acc": "test_acc"}.get(c, c)))  # schema 1 names
                want = float(cell) if cell != "" else math.nan
                assert (math.isnan(got[c]) and math.isnan(want)) or got[c] == want, (c, got[c], cell)
            assert got["split"] == row["split"]
        first = mine.iloc[0]
        assert first.run_dir == str(d) and first.backend == "torch" and first.seed == seed
        assert first.network == "simple_cnn" and first.dataset == "fashion_mnist"
        assert first.policy == label(spec.resolved()["policy"]) and first.policy_name == spec.policy.name
        assert first.budget == 40 and first.kind == "train" and first.status == "completed"
    assert set(df[df.run_id == d1.name].rule) == {"smith"}
    assert all(r is None for r in df[df.run_id == d2.name].rule)  # no provenance.rule: None
    assert math.isnan(df[df.run_id == d2.name].eval_wall_s.iloc[-1])  # absent: NaN


def test_a_single_path_and_no_runs(tmp_path):
    df = load(tmp_path, io.StringIO())
    assert df.empty and list(df.columns) == [*RUN_COLUMNS, *EVAL_COLUMNS]


def test_the_committed_results_load():
    stream = io.StringIO()
    df = load([REPO / "results"], stream)
    assert len(df) > 100
    assert {"train", "reference"} <= set(df.kind)
    for c in NUMERIC:
        assert pd.api.types.is_numeric_dtype(df[c]), c
    assert df.acc.between(0, 1).all()
    assert set(df.split) <= {"eval", "test", "val"}  # val: the tuning runs' validation split
    assert set(df[df.split == "val"].run_id.str.contains("-tune-")) <= {True}
