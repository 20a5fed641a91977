"""Bad inputs and faults, framework-free: each row of docs/bad-inputs.md that no other test
asserts the message of is tested here (the rows that need a training backend are in
tests/backends/torch/test_bad_inputs_torch.py), plus a check that every test the table names exists.

Nothing here imports torch or TensorFlow: the file runs under `pytest` and
`pytest --backend keras tests/core/test_bad_inputs.py` alike.
"""

from __future__ import annotations

import ast
import io
import os
import pickle
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
import yaml

from bench.cli import main
from bench.data import cifar, flowers17, tiny_imagenet
from bench.errors import BenchError, DataError
from bench.running import registry

import datasets_fixtures as fx
from common import REPO
from rundirs import make_run

TABLE = REPO / "docs" / "bad-inputs.md"


def _bench(capsys, *argv) -> tuple[int, str]:
    """``bench ARGV`` in this process: (exit code, stderr). Usage errors exit through argparse."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:
        code = e.code
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return code, err


@pytest.fixture
def spec_file(tmp_path, base_spec) -> Path:
    p = tmp_path / "spec.yaml"
    p.write_text(yaml.safe_dump(base_spec))
    return p


@pytest.fixture(autouse=True)
def _offline(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("BENCH_OFFLINE", "1")


# -- the spec ----------------------------------------------------------------------------


@pytest.mark.parametrize("sets, expected", [
    (["batch_size=abc"], "- batch_size: received 'abc'; Input should be a valid integer"),
    (["seed=1.5"], "- seed: received 1.5; Input should be a valid integer"),
    (["budget=3"], "- budget: received 3; allowed: a mapping with keys epochs | steps"),
    (["targets=0.5"], "- targets: received 0.5; Input should be a valid tuple"),
    (["dataset=cifar10"], "- dataset: received 'cifar10'; allowed: a mapping with keys name | data_dir"),
    (["policy.name=cosine"], "- policy.name: received 'cosine'; allowed: constant | multistep | triangular | one-cycle"),
    (["network.width=wide"], "- network.width: received 'wide'; Input should be a valid number"),
    (["optimizer.nesterov=maybe"], "- optimizer.nesterov: received 'maybe'; Input should be a valid boolean"),
    (["policy.max_lr=fast"], "- policy.max_lr (policy one-cycle): received 'fast'; Input should be a valid number"),
])
def test_wrong_type_is_named_with_what_was_received(capsys, tmp_path, spec_file, sets, expected):
    argv = ["run", spec_file, "--out", tmp_path / "r"]
    for s in sets:
        argv += ["--set", s]
    code, err = _bench(capsys, *argv)
    assert code == 2 and "invalid spec" in err and expected in err, err
    assert not (tmp_path / "r").exists()  # nothing created on bad input


@pytest.mark.parametrize("sets, expected", [
    (["colour=red"], "- colour: received 'red'; unknown key; allowed keys: name, backend, seed"),
    (["policy.warmup=3"], "- policy.warmup (policy one-cycle): received 3; unknown key; allowed keys: name, min_lr"),
    (["novalue"], "--set expects KEY=VALUE with a dotted key; received 'novalue'"),
    (["seed.x=1"], "--set 'seed.x=1': seed is 0, not a mapping"),
    ([".x=1"], "--set: bad key '.x'"),
])
def test_unknown_set_key_exits_2(capsys, tmp_path, spec_file, sets, expected):
    argv = ["run", spec_file, "--out", tmp_path / "r"]
    for s in sets:
        argv += ["--set", s]
    code, err = _bench(capsys, *argv)
    assert code == 2 and expected in err, err


@pytest.mark.parametrize("policy, steps, expected", [
    ("{name: one-cycle, min_lr: 0.01, max_lr: 0.1}", 2, "budget: received '2 steps'; allowed: at least 3 steps for "
                                                        "policy 'one-cycle'"),
    ("{name: one-cycle, min_lr: 0.01, max_lr: 0.1, tail: 0.9}", 15, "at least 16 steps for policy 'one-cycle'"),
    ("{name: range-test, start_lr: 1.0e-4, end_lr: 1}", 1, "at least 2 steps for policy 'range-test'"),
])
def test_budget_shorter_than_the_policy_needs(capsys, tmp_path, spec_file, policy, steps, expected):
    code, err = _bench(capsys, "run", spec_file, "--out", tmp_path / "r", "--set", f"policy={policy}",
                       "--set", f"budget.steps={steps}")
    assert code == 2 and expected in err, err
    assert not list((tmp_path / "r").glob("*/spec.yaml"))  # no run directory


def test_unknown_backend(capsys, spec_file, tmp_path):
    code, err = _bench(capsys, "run", spec_file, "--backend", "jax", "--out", tmp_path / "r")
    assert code == 2 and "invalid choice: 'jax' (choose from 'torch', 'keras')" in err, err
    with pytest.raises(BenchError, match=r"unknown backend 'jax'; allowed: torch \| keras"):
        registry.load("jax")


@pytest.mark.parametrize("backend, modules", [("torch", "torch and torchvision"), ("keras", "tensorflow and keras")])
def test_backend_not_installed_names_the_extra(capsys, monkeypatch, tmp_path, spec_file, backend, modules):
    real = registry._present
    monkeypatch.setattr(registry, "_present", lambda m: m not in registry.BACKENDS[backend].requires and real(m))
    with pytest.raises(BenchError) as e:
        registry.load(backend)
    assert f"backend '{backend}' needs {modules}, which are not installed" in str(e.value)
    assert f"install the extra: pip install -e '.[{backend}]'" in str(e.value)
    # through the command line: exit 2 before any data is read or any compute is spent
    code, err = _bench(capsys, "run", spec_file, "--backend", backend, "--out", tmp_path / "r")
    assert code == 2 and f"pip install -e '.[{backend}]'" in err, err
    assert not list((tmp_path / "r").glob("*/spec.yaml"))


def test_spec_problems_all_at_once_through_the_cli(capsys, tmp_path, spec_file):
    code, err = _bench(capsys, "run", spec_file, "--out", tmp_path / "r", "--set", "seed=-1", "--set",
                       "network.name=resnet50", "--set", "dataset.augment.rotate=400")
    assert code == 2
    assert "- seed: received -1; Input should be greater than or equal to 0" in err
    assert "- network.name: received 'resnet50'; Input should be 'simple_cnn'" in err
    assert "- dataset.augment.rotate: received 400; Input should be less than or equal to 180" in err


def test_lr_find_options_out_of_range(capsys, spec_file, tmp_path):
    for opt, val, expected in (("--beta", "2", "--beta must be in (0, 1); received 2.0"),
                               ("--stop-factor", "1", "--stop-factor must be > 1; received 1.0"),
                               ("--steps", "1", "--steps must be >= 2; received 1")):
        code, err = _bench(capsys, "lr-find", spec_file, opt, val, "--out", tmp_path / "r")
        assert code == 2 and expected in err, err


def test_unknown_suite(capsys, tmp_path):
    code, err = _bench(capsys, "full", "--suite", "nope", "--out", tmp_path / "full")
    assert code == 2 and "unknown suite 'nope'; allowed: fashion-mnist | paper | smith-topin" in err, err


# -- data files --------------------------------------------------------------------------


def _cifar_with(tmp_path, member: str, blob: bytes | None) -> Path:
    """cifar-10-python.tar.gz in tmp_path with ``member`` replaced by ``blob`` (None: left out)."""
    src = fx.cifar10_tar(tmp_path / "ok.tar.gz")
    out = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(src) as a, tarfile.open(out, "w:gz") as b:
        for m in a.getmembers():
            data = a.extractfile(m).read()
            if m.name.endswith(member):
                if blob is None:
                    continue
                data = blob
                m.size = len(data)
            b.addfile(m, io.BytesIO(data))
    src.unlink()
    return out


def test_cifar_batch_truncated_pickle(tmp_path):
    with tarfile.open(fx.cifar10_tar(tmp_path / "x.tar.gz")) as t:
        good = t.extractfile("cifar-10-batches-py/data_batch_2").read()
    (tmp_path / "x.tar.gz").unlink()
    _cifar_with(tmp_path, "data_batch_2", good[: len(good) // 2])
    with pytest.raises(DataError, match=r"data_batch_2: not a readable pickle \(.*\); truncated or corrupt"):
        cifar.load("cifar10", tmp_path, verify=False)


def test_cifar_batch_not_a_batch(tmp_path):
    _cifar_with(tmp_path, "data_batch_3", pickle.dumps({b"labels": [1, 2]}, protocol=2))
    with pytest.raises(DataError, match="data_batch_3: not a cifar10 batch \\(expected a dict with data and labels\\)"):
        cifar.load("cifar10", tmp_path, verify=False)


def test_cifar_archive_member_missing(tmp_path):
    _cifar_with(tmp_path, "test_batch", None)
    with pytest.raises(DataError, match="member test_batch missing; not a complete cifar10 archive"):
        cifar.load("cifar10", tmp_path, verify=False)


def test_cifar_archive_not_an_archive_through_the_cli(capsys, tmp_path):
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(b"this is not a tar archive" * 40)
    code, err = _bench(capsys, "data", "check", "cifar10", "--data-dir", tmp_path, "--no-verify")
    assert code == 2 and "cifar-10-python.tar.gz is not a readable tar archive" in err and "truncated or corrupt" in err


def test_tiny_imagenet_truncated_zip(tmp_path):
    fx.tiny_imagenet_zip(tmp_path / "full.zip")
    blob = (tmp_path / "full.zip").read_bytes()
    (tmp_path / "full.zip").unlink()
    (tmp_path / "tiny-imagenet-200.zip").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataError, match="tiny-imagenet-200.zip is not a readable zip archive .*truncated or corrupt"):
        tiny_imagenet.load(tmp_path, verify=False)


def test_tiny_imagenet_zip_without_wnids(tmp_path):
    with zipfile.ZipFile(tmp_path / "tiny-imagenet-200.zip", "w") as z:
        z.writestr("tiny-imagenet-200/words.txt", "n1\tthing\n")
    with pytest.raises(DataError, match="no wnids.txt; not a TinyImageNet archive"):
        tiny_imagenet.load(tmp_path, verify=False)


def test_flowers_archive_without_images(tmp_path):
    with tarfile.open(tmp_path / "17flowers.tgz", "w:gz") as t:
        info = tarfile.TarInfo("jpg/files.txt")
        info.size = 0
        t.addfile(info, io.BytesIO(b""))
    with pytest.raises(DataError, match="no Flowers 17 images found"):
        flowers17.load(tmp_path, verify=False)


def test_dataset_subset_larger_than_the_files(capsys, tmp_path):
    """A fixture archive of 20 training images and train_size 50: the subset cannot be drawn."""
    from bench import data as datasets
    from bench.errors import SpecError
    from bench.records.spec import DatasetSpec, validate_model

    fx.cifar10_tar(tmp_path / "cifar-10-python.tar.gz", per_batch=4)
    ds = validate_model(DatasetSpec, {"name": "cifar10", "data_dir": str(tmp_path), "verify": False,
                                      "train_size": 50})
    with pytest.raises(SpecError, match=r"dataset.train_size: received 50; allowed: an integer in \[1, 20\]"):
        datasets.prepare(ds)


# -- readers: damaged and incomplete run directories --------------------------------------


def _fake_run(root: Path, base: dict, seed: int, final: float = 0.9, evals=((0, 0.1), (60, 0.9))) -> Path:
    return make_run(root, base, seed, evals=evals, split="test", final=final, total=60, spe=31,
                    summary={"targets": {"0.5": {"step": 60, "train_s": 6.0}}, "images_per_s": 1000.0, "eval_s": 0.2})


def test_unreadable_summary_is_skipped_by_every_reader(capsys, tmp_path, base_spec):
    root = tmp_path / "runs"
    _fake_run(root, base_spec, 0)
    bad = _fake_run(root, base_spec, 1)
    (bad / "summary.json").write_text('{"schema": 1, "run_')  # cut short by hand or by another tool
    for argv in (["compare", root, "--out", tmp_path / "c"], ["claims", root], ["report", root, "--out", tmp_path / "r"]):
        code, err = _bench(capsys, *argv)
        assert code == 0, (argv, err)
        assert f"warning: skipping unreadable run directory {bad} (JSONDecodeError" in err, (argv, err)
    assert "seeds" in (tmp_path / "c" / "compare.md").read_text()


def test_output_folder_is_a_file(capsys, tmp_path, base_spec):
    root = tmp_path / "runs"
    _fake_run(root, base_spec, 0)
    (tmp_path / "taken").write_text("x")
    for cmd in ("compare", "report"):
        code, err = _bench(capsys, cmd, root, "--out", tmp_path / "taken")
        assert code == 2 and f"the output folder {tmp_path / 'taken'} exists and is not a folder" in err, err


def test_png_into_a_missing_folder(capsys, tmp_path):
    out = tmp_path / "no" / "such" / "lr.png"
    code, err = _bench(capsys, "schedule", "one-cycle", "--steps", "20", "--set", "min_lr=0.1", "--set", "max_lr=1",
                       "--format", "png", "--out", out)
    assert code == 2 and f"cannot write {out}: the folder {out.parent} does not exist" in err, err


def test_schedule_csv_into_a_missing_folder(capsys, tmp_path):
    out = tmp_path / "no" / "such" / "lr.csv"
    code, err = _bench(capsys, "schedule", "one-cycle", "--steps", "20", "--set", "min_lr=0.1", "--set", "max_lr=1",
                       "--out", out)
    assert code == 2 and f"cannot write {out}: the folder {out.parent} does not exist" in err, err
    assert "Traceback" not in err


def test_claims_file_missing_or_malformed(capsys, tmp_path):
    code, err = _bench(capsys, "claims", tmp_path, "--claims", tmp_path / "none.yaml")
    assert code == 2 and f"cannot read claims file {tmp_path / 'none.yaml'}" in err, err
    (tmp_path / "c.yaml").write_text("claims: [{id: X}]\n")
    code, err = _bench(capsys, "claims", tmp_path, "--claims", tmp_path / "c.yaml")
    assert code == 2 and "claim X lacks source, statement, arms, metric" in err, err


@pytest.mark.parametrize("text, expected", [
    ("epoch,val_accuracy\n", "no rows (a Keras CSVLogger file has a header and one row per epoch)"),
    ("step,acc\n0,0.5\n", "not a Keras CSVLogger file (no 'epoch' column; columns are ['step', 'acc'])"),
    ("epoch,loss\n0,0.5\n", "no val_accuracy column"),
    ("epoch,val_accuracy\n0,high\n", "line 2: epoch must be an integer and val_accuracy, val_loss numbers; "
                                     "received epoch='0', val_accuracy='high'"),
])
def test_keras_csv_import_of_a_bad_file(capsys, tmp_path, text, expected):
    (tmp_path / "h.csv").write_text(text)
    code, err = _bench(capsys, "import", "keras-csv", tmp_path / "h.csv", "--out", tmp_path / "ref")
    assert code == 2 and expected in err, err
    assert not (tmp_path / "ref").exists()


# -- atomic outputs ----------------------------------------------------------------------


def test_report_written_twice_concurrently_is_well_formed(tmp_path, base_spec):
    """Two `bench report` processes writing the same folder at once: each file is whole, from
    one writer or the other (temp file + rename), and no temporary file is left behind."""
    root = tmp_path / "runs"
    for seed in range(3):
        _fake_run(root, base_spec, seed, final=0.9 + 0.01 * seed)
    out = tmp_path / "report"
    env = {**os.environ, "MPLBACKEND": "Agg"}
    procs = [subprocess.Popen([sys.executable, "-m", "bench", "report", str(root), "--out", str(out)], cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    for p in procs:
        stdout, stderr = p.communicate(timeout=120)
        assert p.returncode == 0, stderr[-3000:]
    report = (out / "report.md").read_text()
    assert report.startswith("# Report\n") and report.rstrip().endswith(")")  # the last plot link
    assert "## Claims" in report and "## Runs by experiment and backend" in report
    pngs = re.findall(r"\]\((accuracy-[^)]+\.png)\)", report)
    assert pngs
    for name in pngs:
        blob = (out / name).read_bytes()
        assert blob[:8] == b"\x89PNG\r\n\x1a\n" and blob[-8:] == b"IEND\xaeB`\x82"  # whole PNG
    assert (out / "compare.md").read_text().startswith("| network")
    assert len((out / "runs.csv").read_text().splitlines()) == 4  # header + 3 runs
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]


# -- the table ---------------------------------------------------------------------------


def _table_rows() -> list[list[str]]:
    rows = []
    for line in TABLE.read_text().splitlines():
        if line.startswith("|") and not re.match(r"^\|\s*-", line):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            if cells[0] != "bad input":  # each section's header
                rows.append(cells)
    return rows


def _defined_tests() -> dict[str, set[str]]:
    found = {}
    for f in sorted((REPO / "tests").rglob("test_*.py")):
        tree = ast.parse(f.read_text())
        found[str(f.relative_to(REPO))] = {n.name for n in ast.walk(tree)
                                    if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name.startswith("test")}
    return found


def test_bad_input_table_names_existing_tests():
    """Every test named in docs/bad-inputs.md exists (file::function), every row names at
    least one test or is marked TODO, and every row gives an exit code."""
    rows = _table_rows()
    assert len(rows) >= 30, len(rows)
    defined = _defined_tests()
    missing, untested = [], []
    for row in rows:
        assert len(row) == 4, row
        bad_input, _seen, code, tests = row
        assert re.search(r"\b[0-7]\b", code), row
        refs = re.findall(r"(tests/[\w/]+\.py)::(\w+)", tests)
        if not refs and "TODO(" not in tests:
            untested.append(bad_input)
        for path, name in refs:
            if name not in defined.get(path, set()):
                missing.append(f"{path}::{name}")
    assert not missing, f"docs/bad-inputs.md names tests that do not exist: {missing}"
    assert not untested, f"rows without a test: {untested}"


def test_compile_value_is_checked(base_spec):
    from bench.errors import SpecInvalid
    from bench.records.spec import build

    with pytest.raises(SpecInvalid, match=r"- compile: received 'maybe'; Input should be 'auto', True or False"):
        build(base_spec, ["compile=maybe"])
    assert build(base_spec, ["compile=off"]).compile is False  # YAML's off/on are booleans
