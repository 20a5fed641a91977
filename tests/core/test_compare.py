"""bench compare: grouping, statistics, flags and files, on run directories the test writes."""

import json
import subprocess
import sys

import pandas as pd
import pytest

from bench.judging.compare import compare, display, runs_frame, table

from common import REPO
from rundirs import make_run


def _run(root, base, backend, seed, final, targets, status="completed", sets=()):
    """A run whose summary says ``final`` and ``targets`` (its evaluations: one at step 60)."""
    return make_run(root, base, seed, backend, sets=sets, evals=[(60, 0.0 if final is None else final + 0.01)],
                    final=final, final_row=False, status=status, summary={"targets": targets, "train_s": 10.0})


@pytest.fixture
def runs(tmp_path, base_spec):
    hit = lambda step: {"step": step, "train_s": step / 10}  # noqa: E731
    for seed, acc, st in [(0, 0.90, 100), (1, 0.92, 200), (2, 0.94, None)]:
        _run(tmp_path, base_spec, "torch", seed, acc, {"0.5": hit(20), "0.99": None if st is None else hit(st)})
    for seed, acc in [(0, 0.88), (1, 0.90)]:
        _run(tmp_path, base_spec, "keras", seed, acc, {"0.5": hit(40), "0.99": None})
    # another experiment (constant policy), torch only, one diverged seed
    const = ["policy={name: constant, lr: 0.05}"]
    _run(tmp_path, base_spec, "torch", 0, 0.8, {"0.5": hit(20), "0.99": None}, sets=const)
    _run(tmp_path, base_spec, "torch", 1, None, {"0.5": None, "0.99": None}, status="diverged", sets=const)
    return tmp_path


def test_grouping_statistics_and_flag(runs):
    tab = display(table(runs_frame([runs]), tolerance=0.01))
    assert len(tab) == 2
    oc = tab[tab["policy"] == "one-cycle 0.01-0.1"].iloc[0]
    assert oc["torch seeds"] == "3" and oc["keras seeds"] == "2"
    assert oc["torch final acc"] == "0.9200 ± 0.0200"
    assert oc["keras final acc"] == "0.8900 ± 0.0141"
    assert oc["torch steps→0.99"] == "200 (2/3)"  # median with the run that never got there slowest
    assert oc["keras steps→0.99"] == "not reached (0/2)"
    assert oc["torch steps→0.5"] == "20 (3/3)" and oc["keras s→0.5"] == "4.0 (2/2)"
    assert oc["Δ final (torch−keras)"] == "+0.0300" and oc["flag"] == "> 0.01"
    assert display(table(runs_frame([runs]), tolerance=0.05), 0.05).iloc[0]["flag"] == ""
    const = tab[tab["policy"] == "constant 0.05"].iloc[0]
    assert const["torch seeds"] == "2 (1 diverged)" and const["torch final acc"] == "0.8000"


def test_incomplete_and_duplicate_runs_are_named(runs, tmp_path_factory, base_spec, capsys):
    broken = runs / "half-written"
    broken.mkdir()
    (broken / "spec.yaml").write_text("name: x\n")
    other = tmp_path_factory.mktemp("copy")
    _run(other, base_spec, "torch", 0, 0.5, {})
    df = runs_frame([runs, other])
    err = capsys.readouterr().err
    assert "half-written" in err and "incomplete" in err
    assert "repeats a run id" in err
    assert len(df) == 7


def test_files_written(runs, tmp_path):
    out = tmp_path / "out"
    tab, md = compare([runs], out)
    assert (out / "compare.md").read_text() == md and md.startswith("| network")
    assert len(pd.read_csv(out / "compare.csv")) == 3  # one row per experiment and backend
    assert len(pd.read_csv(out / "runs.csv")) == 7


def test_compare_csv_holds_numbers(runs, tmp_path):
    """compare.csv loads into pandas with numeric dtypes: statistics, counts and intervals as
    separate columns, no display strings."""
    compare([runs], tmp_path / "out")
    df = pd.read_csv(tmp_path / "out" / "compare.csv")
    numeric = ["n", "diverged", "final_acc_n", "final_acc_mean", "final_acc_sd", "final_acc_ci_low",
               "final_acc_ci_high", "best_acc_mean", "images_per_s_median", "steps_to_0.99_median",
               "seconds_to_0.99_median", "reached_0.99", "total_0.99", "delta_final"]
    for c in numeric:
        assert pd.api.types.is_numeric_dtype(df[c]), (c, df[c].dtype)
    oc = df[(df["policy"] == "one-cycle 0.01-0.1") & (df["backend"] == "torch")].iloc[0]
    assert oc["final_acc_mean"] == pytest.approx(0.92) and oc["final_acc_sd"] == pytest.approx(0.02)
    # 95% t-interval of the mean of 3: 0.92 +- t(0.975, 2) * 0.02 / sqrt(3)
    assert oc["final_acc_ci_high"] - oc["final_acc_mean"] == pytest.approx(4.302653 * 0.02 / 3**0.5, rel=1e-5)
    assert oc["steps_to_0.99_median"] == 200 and oc["reached_0.99"] == 2 and oc["total_0.99"] == 3
    assert oc["delta_final"] == pytest.approx(0.03) and oc["delta_vs"] == "keras" and bool(oc["flag"])
    ke = df[(df["policy"] == "one-cycle 0.01-0.1") & (df["backend"] == "keras")].iloc[0]
    assert pd.isna(ke["steps_to_0.99_median"]) and ke["reached_0.99"] == 0  # no infinity, a count
    runs_csv = pd.read_csv(tmp_path / "out" / "runs.csv")
    assert pd.api.types.is_numeric_dtype(runs_csv["steps_to_0.99"]) and not (runs_csv["steps_to_0.99"] == float("inf")).any()


def test_cli(runs, tmp_path_factory):
    before = sorted(p.name for p in runs.iterdir())
    here = tmp_path_factory.mktemp("cwd")
    env = {**__import__("os").environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-m", "bench", "compare", str(runs), "--tolerance", "0.02"], cwd=here,
                         capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert "one-cycle 0.01-0.1" in out.stdout and "> 0.02" in out.stdout
    # by default into a new folder in the current one, named in the output; never into a PATH read
    (made,) = here.glob("compare-*")
    assert f"writing into {made.name}/" in out.stderr and (made / "compare.csv").is_file()
    assert sorted(p.name for p in runs.iterdir()) == before
    bad = subprocess.run([sys.executable, "-m", "bench", "compare", str(runs / "nope")], cwd=here,
                         capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and "no such run directory" in bad.stderr
    assert len(list(here.glob("compare-*"))) == 1  # the failed call left no folder behind
    bad = subprocess.run([sys.executable, "-m", "bench", "compare", str(runs), "--tolerance", "5", "--out",
                          str(here / "o")], cwd=REPO, capture_output=True, text=True)
    assert bad.returncode == 2 and "received 5.0" in bad.stderr
    assert json.loads((next(runs.glob("*/summary.json"))).read_text())["schema"] == 2
