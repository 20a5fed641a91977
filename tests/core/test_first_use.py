"""What a new user tripped on, each fixed and kept fixed: a data_dir that does not exist,
a misspelled spec name, `bench schedule` without a required key, quoted YAML strings read
as numbers, the schedule PNG's title cut off. (`bench smoke`'s summary line:
tests/core/test_cli_help.py; no empty results folder after a data error:
tests/backends/torch/test_cli_torch.py.)"""

from __future__ import annotations

import pytest
import yaml

from bench.cli import main
from bench.data import DATASETS, prepare
from bench.errors import BenchError, DataError
from bench.records import spec as S
from bench.records.spec import DatasetSpec


def _bench(capsys, *argv) -> tuple[int, str, str]:
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:
        code = e.code
    cap = capsys.readouterr()
    assert "Traceback" not in cap.err, cap.err
    return code, cap.out, cap.err


@pytest.fixture(autouse=True)
def _offline(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("BENCH_OFFLINE", "1")


# -- dataset.data_dir that does not exist ---------------------------------------------------


@pytest.mark.parametrize("name", list(DATASETS))
def test_data_dir_that_does_not_exist_is_refused(tmp_path, name):
    """Before: ignored, and Fashion-MNIST read from the system copy without a word."""
    missing = tmp_path / "no-such-folder"
    with pytest.raises(DataError, match=r"^dataset\.data_dir: received .*no-such-folder; it does not exist") as e:
        prepare(DatasetSpec(name=name, data_dir=str(missing)), allow_download=False)
    assert str(missing) in str(e.value)
    with pytest.raises(DataError, match="dataset.data_dir: received .*; it does not exist"):
        DATASETS[name].locate(str(missing))  # what bench full asks before running a cell


def test_data_dir_that_is_a_file_is_refused(tmp_path):
    f = tmp_path / "a-file"
    f.write_text("x")
    with pytest.raises(DataError, match=r"dataset\.data_dir: received .*a-file; it is not a folder"):
        prepare(DatasetSpec(name="fashion_mnist", data_dir=str(f)), allow_download=False)


def test_data_check_with_a_data_dir_that_does_not_exist_exits_2(capsys, tmp_path):
    code, out, err = _bench(capsys, "data", "check", "fashion_mnist", "--data-dir", tmp_path / "x")
    assert code == 2 and out == ""
    assert f"bench: error: dataset.data_dir: received {tmp_path / 'x'}; it does not exist" in err


def test_full_skips_a_cell_whose_data_dir_does_not_exist(tmp_path):
    from bench.grids.full import dataset_available

    why = dataset_available(DatasetSpec(name="cifar10", data_dir=str(tmp_path / "gone")))
    assert why.startswith("dataset.data_dir: received") and "does not exist" in why


# -- a misspelled spec name -----------------------------------------------------------------


def test_misspelled_spec_lists_the_shipped_ones_and_the_closest(capsys, tmp_path):
    code, _, err = _bench(capsys, "run", "fashion_mnist_one_cyle", "--out", tmp_path / "r")
    assert code == 2
    assert "spec file not found: fashion_mnist_one_cyle; did you mean fashion_mnist_one_cycle?" in err
    for name in S.shipped_specs():
        assert name in err
    assert "bench list specs" in err
    assert not (tmp_path / "r").exists()
    with pytest.raises(BenchError, match="shipped specs") as e:  # nothing close: the list, no guess
        S.load(tmp_path / "zzzz.yaml")
    assert "did you mean" not in str(e.value)


# -- bench schedule without a required key ----------------------------------------------------


def test_schedule_missing_key_gives_a_working_example(capsys):
    code, out, err = _bench(capsys, "schedule", "one-cycle", "--steps", "1000", "--set", "max_lr=1.0")
    assert code == 2 and out == ""
    assert "policy.min_lr: required but missing" in err
    assert "one-cycle needs min_lr, max_lr; missing: min_lr" in err
    example = "bench schedule one-cycle --steps 1000 --set min_lr=0.1 --set max_lr=1.0"
    assert example in err
    assert main(example.split()[1:]) == 0  # the example works
    capsys.readouterr()


def test_schedule_without_steps_shows_an_example(capsys):
    code, _, err = _bench(capsys, "schedule", "one-cycle", "--set", "max_lr=1.0")
    assert code == 2 and "--steps" in err
    assert "for example: bench schedule one-cycle --steps 1000 --set min_lr=0.1 --set max_lr=1.0" in err


@pytest.mark.parametrize("policy", ["constant", "multistep", "triangular", "one-cycle-cosine", "range-test"])
def test_every_policys_example_works(capsys, policy):
    import shlex

    from bench.cli import schedule_example

    code, _, err = _bench(capsys, "schedule", policy, "--steps", "100")
    assert code == 2 and "For example:" in err
    example = schedule_example(policy, 100)
    assert example in err
    assert main(shlex.split(example)[1:]) == 0
    capsys.readouterr()


# -- quoted YAML strings stay strings ---------------------------------------------------------


def test_quoted_yaml_strings_are_strings_and_unquoted_exponents_numbers(tmp_path, base_spec):
    p = tmp_path / "s.yaml"
    text = yaml.safe_dump({**base_spec, "name": "NAME", "optimizer": {"weight_decay": 0.0}}).replace(
        "name: NAME", 'name: "1e5"').replace("weight_decay: 0.0", "weight_decay: 1e-4")
    p.write_text(text)
    assert 'name: "1e5"' in text and "weight_decay: 1e-4" in text
    s = S.load(p)
    assert s.name == "1e5" and isinstance(s.name, str)  # before: 100000.0, and the spec refused
    assert s.optimizer.weight_decay == 1e-4
    data = S.read_yaml(p)
    assert data["name"] == "1e5" and isinstance(data["optimizer"]["weight_decay"], float)
    # written and read back the same: the string is quoted in the resolved spec.yaml
    again = tmp_path / "again.yaml"
    again.write_text(S.dump_yaml(s.resolved()))
    assert S.load(again) == s and S.load(again).run_id() == s.run_id()


def test_set_values_follow_the_same_rule():
    assert S.parse_value("1e5") == 1e5 and isinstance(S.parse_value("1e5"), float)
    assert S.parse_value('"1e5"') == "1e5" and S.parse_value("'2e-3'") == "2e-3"
    assert S.parse_value("[1e-3, 2]") == [1e-3, 2]
    assert S.parse_value("1.5") == 1.5 and S.parse_value("abc") == "abc"


# -- the schedule PNG's title -------------------------------------------------------------------


@pytest.mark.parametrize("policy", [
    {"name": "one-cycle-cosine", "max_lr": 1.0},
    {"name": "one-cycle", "min_lr": 0.0001234, "max_lr": 1.0, "final_lr": 0.00000123},
    {"name": "triangular", "min_lr": 0.05, "max_lr": 0.2119, "step_size": 936, "mode": "exp_range", "gamma": 0.99},
])
def test_schedule_png_title_lies_within_the_figure(policy):
    from bench.judging.plots import _plt, schedule_figure
    from bench.records.schedules import make_schedule
    from bench.records.spec import parse_policy

    p = parse_policy(policy)
    fig = schedule_figure(make_schedule(p, 200).table(), p)
    try:
        fig.canvas.draw()
        title = fig.axes[0].title
        box, page = title.get_window_extent(), fig.bbox
        assert title.get_text().startswith(p.name)
        assert box.x0 >= page.x0 and box.x1 <= page.x1 and box.y0 >= page.y0 and box.y1 <= page.y1, (box, page)
    finally:
        _plt().close(fig)
