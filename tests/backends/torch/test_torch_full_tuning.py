"""bench full with a tuned cell, end to end on real PyTorch runs: the grid on the validation
split, the choice written, the judged runs on fresh seeds at the chosen value, the report's
table of choices; restartable like every suite."""

import json
import os
import subprocess
import sys

import pytest
import yaml

from common import REPO, needs_fmnist

pytest.importorskip("torch")
pytestmark = [pytest.mark.torch, needs_fmnist]

GRID = [0.003, 0.01, 0.03, 0.1, 0.3]


def test_full_tunes_on_validation_then_judges_on_fresh_seeds(tmp_path):
    suite = {
        "name": "tiny-tune", "default_budget": "smoke",
        "base": {"network": {"name": "simple_cnn"}, "dataset": {"name": "fashion_mnist", "train_size": 400,
                 "test_size": 300, "eval_size": 200}, "batch_size": 32, "eval_every": 4, "targets": [0.4]},
        "cells": [{"name": "tt-constant-tuned", "policy": {"name": "constant", "lr": 0.1},
                   "tune": {"param": "policy.lr", "grid": GRID, "val_size": 300, "seeds": [100],
                            "metrics": {"steps": {"name": "steps_to_target", "target": 0.4},
                                        "final": {"name": "final_acc"}}}}],
        "budgets": {"smoke": {"seeds": 2, "set": ["budget={steps: 8}"]}},
    }
    p = tmp_path / "tiny.yaml"
    p.write_text(yaml.safe_dump(suite))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "bench", "full", "--suite", str(p), "--backends", "torch", "--out", str(out)]
    env = {**os.environ, "BENCH_OFFLINE": "1"}
    res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "tuning: 5 runs on the validation split (1 tuned cells)" in res.stderr
    # the tuning runs: one per grid value, on the validation split, seed 100
    tune_dirs = sorted(out.glob("tt-constant-tuned-tune-torch-s100-*"))
    assert len(tune_dirs) == 5
    for d in tune_dirs:
        spec = yaml.safe_load((d / "spec.yaml").read_text())
        assert spec["eval_split"] == "val" and spec["dataset"]["val_size"] == 300
        splits = [line.split(",")[2] for line in (d / "evals.csv").read_text().splitlines()[1:]]
        assert set(splits[:-1]) == {"val"} and splits[-1] == "test"  # val throughout, the whole test split last
    # the choices, written as JSON, one per metric
    for key in ("steps", "final"):
        rec = json.loads((out / "choices" / f"tt-constant-tuned-{key}-torch.json").read_text())
        assert [g["value"] for g in rec["grid"]] == GRID and rec["chosen"] in GRID
        assert rec["tuning_seeds"] == [100] and rec["judged_seeds"] == [0, 1] and rec["split"] == "val"
        judged = sorted(out.glob(f"tt-constant-tuned-{key}-torch-s*"))
        assert [d.name.split("-s")[-1][0] for d in judged] == ["0", "1"]  # fresh seeds
        spec = yaml.safe_load((judged[0] / "spec.yaml").read_text())
        assert spec["policy"]["lr"] == rec["chosen"] and spec["provenance"]["rule"] == "grid-best"
        assert spec["provenance"]["choice_file"] == f"choices/tt-constant-tuned-{key}-torch.json"
        assert "eval_split" not in spec and spec["dataset"]["val_size"] == 0  # judged runs: all the training data
    report = (out / "report.md").read_text()
    assert "## Setup" in report and "| tt-constant-tuned" in report and "## Limits" in report
    # two metrics that chose one value make one experiment: its runs are made once, and the
    # other cell's directories hold their records (meta.json same_as)
    chosen = {k: json.loads((out / "choices" / f"tt-constant-tuned-{k}-torch.json").read_text())["chosen"]
              for k in ("steps", "final")}
    same = chosen["steps"] == chosen["final"]
    if same:
        assert "2 more are the same experiment and seed as one of them" in res.stderr
        links = {d.name: json.loads((d / "meta.json").read_text()).get("same_as")
                 for d in out.glob("tt-constant-tuned-*-torch-s[01]-*")}
        made = {k for k, v in links.items() if v is None}
        assert len(made) == 2 and sorted(v for v in links.values() if v) == sorted(made)  # one cell's runs, read twice
    again = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env)
    # tuning, then the judged runs made (the linked ones are not made again either)
    assert again.returncode == 0 and again.stderr.count("already completed") == 5 + (2 if same else 4)
