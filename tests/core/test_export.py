"""bench export: each exporter's output read back by its own ecosystem's reader (TensorBoard's
event accumulator, the MLflow client on the store, mlperf-logging's parser) carries the
runs' evaluations as evals.csv holds them, at the run's start + training seconds. Runs: a
committed harness run (results/runs), one of the quick suite (no steps.csv kept), and the
three imported reference runs (results/reference). No framework is imported."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import types

import numpy as np
import pytest

from bench.errors import BenchError
from bench.judging.export import (
    STEP_METRICS,
    TIME_CONVENTION,
    add_parser,
    eval_rows,
    export_mlflow,
    export_mllog,
    export_tensorboard,
    flatten,
    start_time,
    step_rows,
)
from bench.records.rundir import load_runs

from common import REPO

RESULTS = REPO / "results"
HARNESS_RUN = RESULTS / "runs" / "simple-cnn-fmnist-one-cycle-torch-s0-87761379"
QUICK_RUN = RESULTS / "full-fashion-mnist-quick" / "runs" / "fm-cnn-10pct-constant-torch-s0-7c9c2e64"
REFERENCE = RESULTS / "reference"
PATHS = [HARNESS_RUN, QUICK_RUN, REFERENCE]


@pytest.fixture(scope="module")
def runs():
    found = load_runs(PATHS)
    assert len(found) == 5 and {r.summary.kind for r in found} == {"train", "reference"}
    return found


def _evals_csv(run) -> list[dict]:
    """evals.csv as the test reads it, independently of the exporter."""
    import csv

    with open(run.path / "evals.csv", newline="") as f:
        return list(csv.DictReader(f))


def _by_split(run) -> dict[str, list[tuple[int, float, float]]]:
    """split -> [(step, test_acc, train_wall_s)] in file order."""
    out: dict[str, list] = {}
    for r in _evals_csv(run):
        out.setdefault(r["split"], []).append((int(r["step"]), float(r.get("acc") or r["test_acc"]), float(r["train_wall_s"])))
    return out


def test_the_records_read_as_numbers(runs):
    harness = next(r for r in runs if r.path == HARNESS_RUN)
    assert start_time(harness) == 1795892599.0  # meta.json's started_at, 2026-11-28T...
    ref = next(r for r in runs if r.path.name.startswith("clr3SS5k"))
    assert start_time(ref) == (ref.path / "spec.yaml").stat().st_mtime  # the log does not say
    steps = step_rows(ref)
    assert steps[0]["train_acc"] is None and steps[0]["lr"] == 0.1  # an empty cell of the log: None
    evals = eval_rows(ref)
    assert evals[1]["loss"] == 2.15539 and evals[1]["epoch"] is None  # no steps_per_epoch in a Caffe log
    assert [e["acc"] for e in eval_rows(harness)] == [float(r.get("acc") or r["test_acc"]) for r in _evals_csv(harness)]
    assert flatten({"a": {"b": 1, "c": [1, 2]}, "d": None}) == {"a.b": 1, "a.c": [1, 2], "d": None}


# -- TensorBoard -----------------------------------------------------------------------------


def _accumulator(monkeypatch, folder):
    """TensorBoard's own event reader, on its TensorFlow-free stub (TensorBoard's switch for
    it: a module tensorboard.compat.notf), so the core's process imports no framework."""
    pytest.importorskip("tensorboard")
    monkeypatch.setitem(sys.modules, "tensorboard.compat.notf", types.ModuleType("tensorboard.compat.notf"))
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    return acc


def test_tensorboard_event_files_read_back(tmp_path, runs, monkeypatch):
    pytest.importorskip("tensorboardX")
    folders = export_tensorboard(runs, tmp_path)
    assert [d.name for d in folders] == [r.path.name for r in runs]
    export_tensorboard(runs, tmp_path)  # again: replaces, never adds a second file
    for run, d in zip(runs, folders):
        assert len(list(d.glob("events.out.tfevents.*"))) == 1
        acc = _accumulator(monkeypatch, d)
        t0 = start_time(run)
        for split, rows in _by_split(run).items():
            got = acc.Scalars(f"{split}/acc")
            # scalars are float32 in an event file (simple_value)
            assert [(e.step, e.value) for e in got] == [(s, float(np.float32(a))) for s, a, _ in rows], run.path
            assert [e.wall_time for e in got] == pytest.approx([t0 + w for _, _, w in rows], abs=1e-6)
        final = acc.Scalars("test/acc")[-1]
        assert final.value == pytest.approx(run.summary.final_test_acc, abs=1e-7)  # the run's test accuracy
        steps = step_rows(run)
        tags = acc.Tags()["scalars"]
        for col, tag, _ in STEP_METRICS:
            rows = [(r["step"], float(np.float32(r[col]))) for r in steps if r[col] is not None]
            assert [(e.step, e.value) for e in acc.Scalars(tag)] == rows if rows else tag not in tags
        # the spec as hparams
        from tensorboard.plugins.hparams import plugin_data_pb2

        content = acc.PluginTagToContent("hparams")
        start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
        hp = start.session_start_info.hparams
        assert hp["policy.name"].string_value == run.spec["policy"]["name"]
        assert hp["batch_size"].number_value == run.spec["batch_size"] and hp["run_id"].string_value == run.path.name
        assert "_hparams_/experiment" in content
    assert "tensorflow" not in sys.modules


# -- MLflow ----------------------------------------------------------------------------------


def _dedup(rows):
    """MLflow stores a metric point once: an identical (step, value, time) repeated in
    evals.csv (a run resumed at an evaluation) reads back once."""
    out = []
    for r in rows:
        if r not in out:
            out.append(r)
    return out


def test_mlflow_store_reads_back(tmp_path, runs):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    uri, ids = export_mlflow(runs, tmp_path)
    assert uri == f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}" and (tmp_path / "mlflow.db").is_file()
    _, again = export_mlflow(runs[:1], tmp_path)  # again: the earlier export of that run is replaced
    ids[0] = again[0]
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("lr-policy-bench")
    active = client.search_runs([exp.experiment_id])
    assert len(active) == len(runs) and again[0] in {r.info.run_id for r in active}
    for run, mid in zip(runs, ids):
        t0 = start_time(run)
        got = client.get_run(mid)
        assert got.info.run_name == run.path.name and got.data.tags["bench.run_id"] == run.path.name
        assert got.info.status == "FINISHED" and got.info.start_time == int(round(t0 * 1000))
        assert got.data.tags["bench.time"] == TIME_CONVENTION
        params = got.data.params
        assert params["policy.name"] == run.spec["policy"]["name"]
        assert set(params) == set(flatten(run.spec)) and params["seed"] == str(run.spec["seed"])
        for split, rows in _by_split(run).items():
            hist = client.get_metric_history(mid, f"{split}_acc")
            want = _dedup([(s, a, int(round((t0 + w) * 1000))) for s, a, w in rows])
            assert sorted((m.step, m.value, m.timestamp) for m in hist) == sorted(want), run.path
        test = client.get_metric_history(mid, "test_acc")
        assert max(test, key=lambda m: m.step).value == run.summary.final_test_acc
        steps = step_rows(run)
        lr = sorted((m.step, m.value) for m in client.get_metric_history(mid, "lr"))
        assert lr == [(r["step"], r["lr"]) for r in steps if r["lr"] is not None]
        files = {a.path for a in client.list_artifacts(mid)}
        assert {p.name for p in run.path.iterdir() if p.is_file()} == files


# -- mllog -----------------------------------------------------------------------------------


def test_every_mllog_line_parses_and_carries_the_evaluations(tmp_path, runs):
    pytest.importorskip("mlperf_logging")
    from mlperf_logging.compliance_checker import mlp_parser

    files = export_mllog(runs, tmp_path)
    for run, f in zip(runs, files):
        lines = f.read_text().splitlines()
        loglines, failed = mlp_parser.parse_file(str(f), ruleset="6.1.0")
        assert failed == [] and len(loglines) == len(lines) > 0
        raw = [json.loads(line.removeprefix(":::MLLOG ")) for line in lines]  # the documented format
        assert all(line.startswith(":::MLLOG {") for line in lines)
        keys = [r["key"] for r in raw]
        assert keys[0] == "run_start" and raw[0]["event_type"] == "INTERVAL_START"
        assert keys[-1] == "run_stop" and raw[-1]["event_type"] == "INTERVAL_END"
        t0 = int(round(start_time(run) * 1000))
        assert raw[0]["time_ms"] == t0
        assert raw[-1]["time_ms"] == int(round((start_time(run) + run.summary.train_s) * 1000))
        assert raw[-1]["metadata"]["status"] == ("success" if run.summary.status == "completed" else "aborted")
        by_key = {r["key"]: r["value"] for r in raw}
        assert by_key["seed"] == run.spec["seed"] and by_key["global_batch_size"] == run.spec["batch_size"]
        assert by_key["opt_name"] == "sgd" and by_key["opt_momentum_form"] == run.spec["optimizer"]["momentum_form"]
        assert by_key["opt_weight_decay"] == run.spec["optimizer"]["weight_decay"]
        assert by_key["opt_learning_rate_policy"] == run.spec["policy"]
        evals = [r for r in raw if r["key"] == "eval_accuracy"]
        csv_rows = _evals_csv(run)
        assert [(e["metadata"]["step_num"], e["value"], e["metadata"]["split"]) for e in evals] == \
               [(int(r["step"]), float(r.get("acc") or r["test_acc"]), r["split"]) for r in csv_rows]
        assert [e["time_ms"] for e in evals] == [int(round((start_time(run) + float(r["train_wall_s"])) * 1000))
                                                 for r in csv_rows]
        spe = run.summary.get("steps_per_epoch")
        for e, r in zip(evals, csv_rows):
            want = float(r["epoch"]) if r["epoch"] else (int(r["step"]) / spe if spe else None)
            assert e["metadata"]["epoch_num"] == want


# -- the command -----------------------------------------------------------------------------


def _main(argv: list[str]) -> int:
    """``bench export ...`` as bench/cli.py runs a command: BenchError -> its exit code."""
    from bench.cli import _Parser, epilog

    ap = _Parser(prog="bench")
    add_parser(ap.add_subparsers(dest="command", required=True, parser_class=_Parser), epilog)
    try:
        args = ap.parse_args(argv)
        return args.func(args)
    except BenchError as e:
        print(f"bench: error: {e}", file=sys.stderr)
        return e.exit_code
    except SystemExit as e:
        return e.code


def test_the_command_writes_and_says_where(tmp_path, capsys):
    pytest.importorskip("mlperf_logging")
    assert _main(["export", "mllog", str(HARNESS_RUN), str(REFERENCE), "--out", str(tmp_path / "m")]) == 0
    out = capsys.readouterr().out
    assert f"{HARNESS_RUN.name}: {tmp_path / 'm' / HARNESS_RUN.name}.log" in out and "4 runs" in out


def test_bad_input_exits_2_and_creates_nothing(tmp_path, capsys, monkeypatch):
    pytest.importorskip("mlperf_logging")
    out = tmp_path / "out"
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = [
        (["export", "csv", str(HARNESS_RUN), "--out", str(out)], "invalid choice"),
        (["export", "mllog", str(empty), "--out", str(out)], "no complete run directory"),
        (["export", "mllog", str(tmp_path / "nope"), "--out", str(out)], "no such file or folder"),
        (["export", "tensorboard", str(HARNESS_RUN)], "needs --out DIR"),
        (["export", "mllog", str(HARNESS_RUN), "--out", str(out), "--tracking-uri", "sqlite:///x.db"],
         "--tracking-uri is for mlflow"),
    ]
    for argv, why in cases:
        assert _main(argv) == 2, argv
        assert why in capsys.readouterr().err, argv
        assert not out.exists()
    # a missing package: the message names the extra
    import bench.judging.export as ex

    monkeypatch.setitem(ex.PACKAGES, "mlflow", ("no_such_module_for_bench", "mlflow"))
    assert _main(["export", "mlflow", str(HARNESS_RUN), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "needs the package mlflow" in err and "pip install -e '.[export]'" in err
    assert not out.exists()


def test_help_says_every_default(capsys):
    from bench.cli import _Parser, epilog

    ap = _Parser(prog="bench")
    p = add_parser(ap.add_subparsers(dest="command", parser_class=_Parser), epilog)
    fmt = p._get_formatter()
    for a in p._actions:
        if a.option_strings and a.default is not argparse.SUPPRESS:
            assert "default" in (fmt._get_help_string(a) or "").lower(), a.option_strings
    text = p.format_help()
    assert "exit codes:" in text and "bench export tensorboard" in text


def test_exporting_imports_no_framework(tmp_path):
    """In a fresh process: the three exporters (tensorboardX's writer would import torch if let)."""
    pytest.importorskip("tensorboardX")
    pytest.importorskip("mlflow")
    pytest.importorskip("mlperf_logging")
    code = f"""
import sys
from bench.judging.export import export_tensorboard, export_mlflow, export_mllog
from bench.records.rundir import load_runs
runs = load_runs([{str(HARNESS_RUN)!r}])
export_tensorboard(runs, {str(tmp_path / 'tb')!r})
export_mlflow(runs, {str(tmp_path / 'ml')!r})
export_mllog(runs, {str(tmp_path / 'mll')!r})
print(sorted(m for m in ("torch", "torchvision", "tensorflow", "keras", "jax") if m in sys.modules))
"""
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().splitlines()[-1] == "[]"
