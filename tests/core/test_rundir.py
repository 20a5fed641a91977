"""The run-directory records (bench/records/rundir.py): every committed run validates, every
summary kind round-trips, and damaged directories are skipped with one warning each."""

import io
import json
import math

import pytest

from bench.records import rundir

from common import REPO
from rundirs import make_run

RESULTS = REPO / "results"
COMMITTED = sorted(p.parent for p in RESULTS.rglob("summary.json"))


def test_every_committed_run_loads_and_round_trips():
    assert len(COMMITTED) >= 90
    err = io.StringIO()
    runs = rundir.load_runs([RESULTS], stream=err)
    # a tune's first range test and its momentum sweep's test at the same momentum are one
    # experiment (same spec and seed), so that run id is reached twice: counted once
    lines = err.getvalue().splitlines()
    assert all(line.startswith("warning: skipping repeated run directory ") for line in lines), lines
    assert len(runs) + len(lines) == len(COMMITTED)
    assert {r.summary.kind for r in runs} == {"train", "reference", "lr_find", "sweep", "tune"}
    for d in COMMITTED:
        for name, parse in (("summary.json", rundir.parse_summary), ("meta.json", rundir.parse_meta)):
            if not (d / name).is_file():  # sweeps and tunes have no meta.json
                continue
            text = (d / name).read_text()
            record = parse(json.loads(text), d / name)
            # written again, the record is the same file: same keys, same order, same values
            assert json.dumps(record.dump(), indent=2) + "\n" == text, d / name


def test_selectors_and_records_of_a_committed_run():
    run = rundir.load_runs([RESULTS / "full-fashion-mnist-quick"], stream=io.StringIO())[0]
    assert run.summary.kind == "train"
    assert run.get("summary.backend") == run.summary.backend in ("torch", "keras")
    assert run.get("spec.policy.name") == run.spec["policy"]["name"]
    assert run.get("summary.schema") in rundir.SCHEMAS == (1, 2)
    assert run.get("meta.data.train") == run.meta.data.train > 0
    assert run.get("summary.no_such_key") is None and run.get("spec.policy.no.such") is None
    assert run.get("elsewhere.x") is None
    assert run.evals and all(0 <= e.acc <= 1 for e in run.evals)
    # a key the file holds as null is None; one it does not hold gets the default
    assert run.summary.get("resumed_from", "absent") is None and run.summary.get("no_such", "absent") == "absent"


def _outcome(**kw) -> dict:
    return {"run_id": "x-torch-s0-00000000", "status": "completed", "backend": "torch", "steps_done": 60,
            "total_steps": 60, "final_test_acc": 0.9, "best_test_acc": 0.91, "best_step": 40,
            "targets": {"0.5": {"step": 20, "train_s": 2.0}, "0.99": None}, "images_per_s": None,
            "train_s": 6.0, "eval_s": 0.5, "diverged_at": None, **kw}


SUMMARIES = {
    "train": rundir.TrainSummary(**_outcome(
        steps_per_epoch=31, final_test_loss=0.3, checkpoint_s=0.0, warmup_steps=5, warmup_s=1.0,
        checkpoint_step=None, resumed_from=None, finished_at="2026-01-01T00:00:00+00:00")),
    "reference": rundir.ReferenceSummary(**_outcome(backend="keras-csv", step_unit="epoch")),
    "lr_find": rundir.LrFindSummary(**_outcome(
        status="diverged", diverged_at=33, final_test_acc=None, metric="loss", momentum=0.9, weight_decay=5e-4,
        start_lr=1e-7, end_lr=10.0, mode="exp", steps=100, beta=0.98, stop_factor=math.inf, eval_every=1,
        stop_reason="non-finite loss", stopped_at_lr=3.2, min_value=float("nan"), lr_at_min=0.1,
        suggestions={"report": 0.08, "steepest": None}, report_offset_decades=0.12,
        finished_at="2026-01-01T00:00:00+00:00")),
    "sweep": rundir.SweepSummary(
        param="momentum", backend="keras", seed=0, metric="val_loss", values=[0.8, 0.9], suggestion=0.9,
        suggestion_rule="lowest minimum", c_at_suggestion=None,
        rows=[{"value": 0.8, "min": 1.2, "run": "a"}, {"value": 0.9, "min": 1.1, "run": "b"}]),
    "tune": rundir.TuneSummary(
        backend="torch", seed=0, metric="val_loss", c=0.05, log10_c=math.log10(0.05), momentum=0.9,
        weight_decay=1e-4, first_lr_find={"dir": "a", "suggestions": {"report": 0.05}},
        specs={"report/one-cycle": "specs/report-one-cycle.yaml"}, k=4, clr_div=4),
}


@pytest.mark.parametrize("kind", sorted(SUMMARIES))
def test_each_summary_kind_round_trips(tmp_path, kind):
    written = SUMMARIES[kind]
    rundir.write_summary(tmp_path, written)
    data = json.loads((tmp_path / "summary.json").read_text())
    assert data["schema"] == rundir.SUMMARY_SCHEMA == 2 and data["kind"] == kind
    assert list(data) == list(written.dump())  # exactly the keys set, schema and kind first
    read = rundir.read_summary(tmp_path)
    assert type(read) is type(written)
    assert read.dump().keys() == written.dump().keys()
    # NaN never equals itself: compare the text
    assert json.dumps(read.dump()) == json.dumps(written.dump())
    if kind == "tune":
        assert '"k": 4,' in (tmp_path / "summary.json").read_text()  # an int stays an int


def test_absent_keys_stay_absent(tmp_path):
    """A writer's keys, no more: a field it leaves out is not written as null."""
    rundir.write_summary(tmp_path, {"run_id": "r", "kind": "train", "status": "completed", "backend": "torch",
                                    "final_test_acc": None, "custom": [1, 2]})
    assert json.loads((tmp_path / "summary.json").read_text()) == {
        "schema": 2, "run_id": "r", "kind": "train", "status": "completed", "backend": "torch",
        "final_test_acc": None, "custom": [1, 2]}
    s = rundir.read_summary(tmp_path)
    assert s.get("custom") == [1, 2] and s.get("total_steps", "absent") == "absent" and s.total_steps is None


def test_meta_keeps_a_backends_own_keys(tmp_path):
    meta = rundir.Meta(harness_version="0.1.0", seed=3, world_size=1, fast_paths={"compile": False},
                       backend_specific={"x": 1})
    meta.resumes = [*meta.resumes, rundir.Resume(at_step=5, checkpoint="periodic", command="bench run",
                                                 at="2026-01-01T00:00:00+00:00", git_commit=None, hostname="h")]
    rundir.write_meta(tmp_path, meta)
    data = json.loads((tmp_path / "meta.json").read_text())
    assert list(data) == ["harness_version", "world_size", "seed", "fast_paths", "resumes", "backend_specific"]
    assert rundir.read_meta(tmp_path).resumes[0].at_step == 5


def _good_run(root, base, seed):
    return make_run(root, base, seed, evals=[(60, 0.9)], split="test", total=60, spe=31, loss=0.3,
                    summary={k: v for k, v in _outcome().items() if k not in ("run_id", "best_test_acc")})


DAMAGE = {
    "truncated": ('{"schema": 1, "run_', "JSONDecodeError"),
    "unknown kind": ({"kind": "nonsense"}, "kind: Input tag 'nonsense'"),
    "wrong type": ({"steps_done": "abc"}, "steps_done: Input should be a valid integer"),
    "foreign schema": ({"schema": 3}, "schema: Input should be 1 or 2 (received 3)"),
    "accuracy not a fraction": ({"final_test_acc": 91.2}, "final_test_acc: Input should be less than or equal to 1"),
    "no spec.yaml": (None, "FileNotFoundError"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_directory_is_skipped_with_one_warning(tmp_path, base_spec, damage):
    good = _good_run(tmp_path, base_spec, 0)
    bad = _good_run(tmp_path, base_spec, 1)
    change, why = DAMAGE[damage]
    if change is None:
        (bad / "spec.yaml").unlink()
    elif isinstance(change, str):
        (bad / "summary.json").write_text(change)
    else:
        data = json.loads((bad / "summary.json").read_text())
        (bad / "summary.json").write_text(json.dumps({**data, **change}))
    err = io.StringIO()
    runs = rundir.load_runs([tmp_path], stream=err)
    assert [r.path for r in runs] == [good]
    lines = err.getvalue().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"warning: skipping unreadable run directory {bad} (") and why in lines[0], lines[0]
    if damage != "truncated" and change is not None:  # a record error also names the file
        assert f"{bad / 'summary.json'}: " in lines[0]


def test_incomplete_and_repeated_directories(tmp_path, base_spec):
    good = _good_run(tmp_path, base_spec, 0)
    (tmp_path / "killed").mkdir()
    (tmp_path / "killed" / "spec.yaml").write_text("name: x\n")
    err = io.StringIO()
    runs = rundir.load_runs([tmp_path, tmp_path / ".." / tmp_path.name], stream=err)
    assert [r.path for r in runs] == [good]
    lines = err.getvalue().splitlines()
    assert f"warning: skipping incomplete run directory {tmp_path / 'killed'} (no summary.json)" in lines
    assert any(line.startswith("warning: skipping repeated run directory ") for line in lines)
    assert len(lines) == 3  # incomplete (reached twice: named twice), repeated once
    with pytest.warns(UserWarning, match="skipping incomplete run directory"):
        assert list(rundir.find_runs([tmp_path])) == [good]


def test_kinds_filter_and_read_errors(tmp_path, base_spec):
    good = _good_run(tmp_path, base_spec, 0)
    assert rundir.load_runs([tmp_path], stream=io.StringIO(), kinds={"reference"}) == []
    assert [r.path for r in rundir.load_runs([tmp_path], stream=io.StringIO(), kinds={"train"})] == [good]
    (good / "summary.json").write_text(json.dumps({"schema": 1, "kind": "train"}))
    with pytest.raises(rundir.RecordError, match=r"summary.json: run_id: Field required; status: Field required"):
        rundir.read_summary(good)
