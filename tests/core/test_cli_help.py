"""A command line that explains itself: every option's default, the exit codes and the
environment in each --help; `bench list`; exit 6 when a check fails (framework-free: the
smoke and full checks are decided here on records written by the test, no training)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bench import cli
from bench.cli import ENVIRONMENT, LIST_KINDS, main, make_parser, smoke_verdict
from bench.data import DATASETS
from bench.errors import EXIT_CHECK_FAILED, EXIT_CODES
from bench.records.architectures import NETWORKS
from bench.records.rundir import TrainSummary, write_summary
from bench.records.schedules import POLICIES

from common import REPO


def _parsers():
    """(name, parser) of bench and of every command, data check included."""
    out, todo = [], [("bench", make_parser())]
    while todo:
        name, p = todo.pop(0)
        out.append((name, p))
        for a in p._actions:
            if isinstance(a, argparse._SubParsersAction):
                todo += [(f"{name} {n}", sp) for n, sp in a.choices.items()]
    return out


def test_every_option_has_help_that_says_its_default():
    parsers = _parsers()
    assert len(parsers) >= 16  # bench, its 14 commands, data check
    missing = []
    for name, p in parsers:
        fmt = p._get_formatter()
        for a in p._actions:
            if not a.option_strings or a.default is argparse.SUPPRESS or a.required:
                continue
            text = fmt._get_help_string(a) or ""
            if "default" not in text.lower():
                missing.append(f"{name} {a.option_strings[0]}: {a.help!r}")
    assert not missing, "options whose help does not say their default:\n" + "\n".join(missing)


def _help(capsys, *argv) -> str:
    with pytest.raises(SystemExit) as e:
        main([*argv, "--help"])
    assert e.value.code == 0
    return capsys.readouterr().out


def test_every_help_lists_the_exit_codes_and_the_environment(capsys):
    for name, _ in _parsers():
        text = _help(capsys, *name.split()[1:])
        assert "exit codes:" in text, name
        for code, what in EXIT_CODES:
            assert f"  {code}  {what.split()[0]}" in text, (name, code)
        assert "6  a check failed" in text and "diverged cell is a result" in " ".join(text.split()), name
        for var, _ in ENVIRONMENT:
            assert var in text, (name, var)
        for var in ("BENCH_DATA_DIR", "BENCH_OFFLINE", "BENCH_STOP_AT_STEP", "XDG_CACHE_HOME", "WORLD_SIZE"):
            assert var in text, (name, var)
    run = _help(capsys, "run")
    assert "(default: runs)" in run and "(default: off)" in run  # --out, --overwrite
    assert "(default: 0.01)" in _help(capsys, "compare")  # --tolerance


def test_the_environment_list_is_complete():
    """Every variable the harness reads (os.environ, getenv) is in the --help list."""
    import re

    listed = {v.strip() for names, _ in ENVIRONMENT for v in names.split(",")}
    read = set()
    for f in [*(REPO / "bench").rglob("*.py"), *(REPO / "backends").rglob("*.py")]:
        text = f.read_text()
        read |= set(re.findall(r"environ(?:\.get)?\(?\[?\s*\"([A-Z_]+)\"", text))
        read |= set(re.findall(r"getenv\(\s*\"([A-Z_]+)\"", text))
    read -= {"KERAS_BACKEND"}  # set by the harness, never read
    assert read <= listed, f"read but not in bench --help: {sorted(read - listed)}"


def test_bench_list_every_kind(capsys):
    expected = {
        "specs": [p.stem for p in (REPO / "bench" / "specs").glob("*.yaml")],
        "suites": [p.stem for p in (REPO / "bench" / "grids" / "suites").glob("*.yaml")],
        "claims": [c["id"] for c in yaml.safe_load((REPO / "bench" / "judging" / "claims" / "claims.yaml").read_text())["claims"]],
        "policies": list(POLICIES),
        "networks": list(NETWORKS),
        "datasets": list(DATASETS),
    }
    assert set(expected) == set(LIST_KINDS)
    for kind, names in expected.items():
        assert main(["list", kind]) == 0
        out = capsys.readouterr().out.splitlines()
        assert len(out) == len(names), (kind, out)
        for name in names:
            assert any(line == name or line.startswith(f"{name}: ") for line in out), (kind, name, out)
    main(["list", "policies"])
    lines = capsys.readouterr().out.splitlines()
    assert "one-cycle: min_lr, max_lr, tail [0.1], final_lr [min_lr/100], max_momentum [0.95], " \
           "min_momentum [0.85]" in lines
    main(["list", "claims"])
    claims = yaml.safe_load((REPO / "bench" / "judging" / "claims" / "claims.yaml").read_text())["claims"]
    assert f"{claims[0]['id']}: {' '.join(claims[0]['statement'].split())}" in capsys.readouterr().out


def test_bench_list_through_the_entry_point():
    out = subprocess.run([sys.executable, "-m", "bench", "list", "specs"], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0 and "fashion_mnist_one_cycle: simple_cnn on fashion_mnist" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "bench", "list", "gpus"], cwd=REPO, capture_output=True, text=True)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


# -- exit 6: a check failed ---------------------------------------------------------------


def test_smoke_verdict_accepts_divergence_and_names_it():
    runs = [("a-torch-s0-1", "torch", "completed", 0.76), ("b-torch-s0-2", "torch", "diverged", None),
            ("c-torch-s0-3", "torch", "diverged", None)]
    lines, failures = smoke_verdict(runs, ["torch"])
    assert failures == []
    assert len(lines) == 1 and lines[0].endswith("-> ok")
    assert "3 runs: 1 completed, 2 diverged (b-torch-s0-2, c-torch-s0-3)" in lines[0]
    assert "accepts: every run finished (diverged counts as finished" in lines[0]
    assert f">= {cli.SMOKE_MIN_ACC}" in lines[0]


@pytest.mark.parametrize("runs, failed, why", [
    ([("a-torch-s0-1", "torch", "completed", 0.3)], [], "best final test accuracy 0.3000 < 0.5"),
    ([("a-torch-s0-1", "torch", "diverged", None)], [], "best final test accuracy none < 0.5"),
    ([], [], "torch: no run finished"),
    ([("a-torch-s0-1", "torch", "completed", 0.8)], ["b-torch-s0-2: no summary"], "b-torch-s0-2: no summary"),
    ([("a-torch-s0-1", "torch", "completed", 0.8), ("b-torch-s0-2", "torch", "interrupted", None)], [],
     "b-torch-s0-2: torch run ended unfinished"),
])
def test_smoke_verdict_failures(runs, failed, why):
    lines, failures = smoke_verdict(runs, ["torch"], failed)
    assert lines[0].endswith("-> FAILED") and any(why in f for f in failures), (lines, failures)


def _summary(out: Path, run_id: str, status: str, acc):
    d = out / run_id
    d.mkdir(parents=True)
    (d / "spec.yaml").write_text(yaml.safe_dump({"name": run_id.split("-torch")[0], "backend": "torch", "seed": 0,
                                                 "network": {"name": "simple_cnn"},
                                                 "dataset": {"name": "fashion_mnist"},
                                                 "policy": {"name": "constant", "lr": 0.1}, "batch_size": 32}))
    write_summary(d, TrainSummary(run_id=run_id, status=status, backend="torch", steps_done=10, total_steps=10,
                                  final_test_acc=acc))


def _fake_full(monkeypatch, runs, failed=()):
    import bench.grids.full

    def run_full(suite, budget, backends, seeds, out, *a, **k):
        for run_id, status, acc in runs:
            _summary(Path(out), run_id, status, acc)
        return Path(out) / "report.md", {"failed": [{"run": r, "exit": "no summary", "log": f"{r}.log"}
                                                    for r in failed]}

    monkeypatch.setattr(bench.grids.full, "run_full", run_full)


def test_smoke_below_its_bar_exits_6(capsys, tmp_path, monkeypatch):
    _fake_full(monkeypatch, [("s1-torch-s0-aaaa0001", "completed", 0.2), ("s2-torch-s0-aaaa0002", "diverged", None)])
    assert main(["smoke", "--backends", "torch", "--out", str(tmp_path)]) == EXIT_CHECK_FAILED
    err = capsys.readouterr().err
    assert "-> FAILED" in err and "smoke FAILED: torch: best final test accuracy 0.2000 < 0.5" in err
    assert "1 diverged (s2-torch-s0-aaaa0002)" in err


def test_smoke_that_passes_says_what_it_accepted(capsys, tmp_path, monkeypatch):
    _fake_full(monkeypatch, [("s1-torch-s0-aaaa0001", "completed", 0.7), ("s2-torch-s0-aaaa0002", "diverged", None)])
    assert main(["smoke", "--backends", "torch", "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "2 runs: 1 completed, 1 diverged (s2-torch-s0-aaaa0002)" in err
    assert "accepts: every run finished (diverged counts as finished" in err and err.rstrip().endswith("-> ok")


def test_full_with_a_crashed_cell_exits_6_and_a_diverged_one_does_not(capsys, tmp_path, monkeypatch):
    _fake_full(monkeypatch, [("f1-torch-s0-aaaa0001", "diverged", None)])
    assert main(["full", "--suite", "fashion-mnist", "--out", str(tmp_path / "a")]) == 0
    _fake_full(monkeypatch, [("f1-torch-s0-aaaa0001", "completed", 0.9)], failed=["f2-torch-s0-aaaa0002"])
    assert main(["full", "--suite", "fashion-mnist", "--out", str(tmp_path / "b")]) == EXIT_CHECK_FAILED
    assert "1 cells crashed or stayed incomplete: f2-torch-s0-aaaa0002" in capsys.readouterr().err


def test_exit_codes_in_the_contract():
    text = " ".join((REPO / "docs" / "contract.md").read_text().split())
    assert "6 a check failed" in text
    for code, _ in EXIT_CODES:
        assert f"{code} " in text
    assert json.dumps([c for c, _ in EXIT_CODES]) == "[0, 1, 2, 3, 4, 5, 6, 7]"
