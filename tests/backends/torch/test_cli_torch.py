"""`bench run` with bad data after --out was given: nothing is left behind (PyTorch: the
run loads the backend before the data). No training here."""

from __future__ import annotations

import pytest
import yaml

import datasets_fixtures as fx

pytest.importorskip("torch")

from bench.cli import main  # noqa: E402

pytestmark = pytest.mark.torch


@pytest.fixture
def spec_file(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("BENCH_OFFLINE", "1")
    spec = {"name": "tiny", "backend": "torch", "device": "cpu", "network": {"name": "simple_cnn"},
            "dataset": {"name": "cifar10", "data_dir": str(tmp_path / "data"), "verify": False},
            "policy": {"name": "constant", "lr": 0.01}, "batch_size": 4, "budget": {"steps": 5}}
    p = tmp_path / "tiny.yaml"
    p.write_text(yaml.safe_dump(spec))
    return p


def _run(capsys, *argv) -> tuple[int, str]:
    code = main([str(a) for a in argv] + ["--quiet"])
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return code, err


@pytest.mark.parametrize("data", ["missing", "empty", "corrupt"])
def test_a_data_error_leaves_no_results_folder(capsys, tmp_path, spec_file, data):
    if data != "missing":
        (tmp_path / "data").mkdir()
    if data == "corrupt":
        (tmp_path / "data" / "cifar-10-python.tar.gz").write_bytes(b"not a tar archive")
    out = tmp_path / "new" / "results"
    code, err = _run(capsys, "run", spec_file, "--out", out)
    assert code == 2, err
    expected = {"missing": "dataset.data_dir: received", "empty": "cifar10 not found",
                "corrupt": "is not a readable tar archive"}[data]
    assert expected in err
    assert not out.exists() and not (tmp_path / "new").exists()  # bad input creates no folder


def test_an_existing_results_folder_is_kept(capsys, tmp_path, spec_file):
    out = tmp_path / "results"
    out.mkdir()
    code, err = _run(capsys, "run", spec_file, "--out", out, "--set", f"dataset.data_dir={tmp_path / 'gone'}")
    assert code == 2 and "dataset.data_dir: received" in err
    assert out.is_dir() and list(out.iterdir()) == []  # it was there before: left as it was


def test_a_run_still_makes_its_folder(capsys, tmp_path, spec_file):
    (tmp_path / "data").mkdir()
    fx.cifar10_tar(tmp_path / "data" / "cifar-10-python.tar.gz", per_batch=4)
    out = tmp_path / "new" / "results"
    code, err = _run(capsys, "run", spec_file, "--out", out, "--set", "budget.steps=2", "--set", "eval_every=1000")
    assert code == 0, err
    assert len([d for d in out.iterdir() if (d / "summary.json").is_file()]) == 1
