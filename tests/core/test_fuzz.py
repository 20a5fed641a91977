"""Fuzzed loaders (hypothesis): whatever a user or another tool feeds them, the spec loader
and the run-directory readers behind ``bench compare``, ``bench claims`` and ``bench
report`` answer with a clear error (exit 2, the field named) or skip a damaged run
directory with a warning naming it: never a traceback.

Example counts (fixed, ``derandomize``: the same examples every run) are those of
``max_examples`` below; docs/development.md quotes them.
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from bench import cli
from bench.errors import BenchError
from bench.records import spec as S
from bench.records.rundir import TrainSummary, load_runs, write_meta, write_summary

SPEC_EXAMPLES = 400
RUNDIR_EXAMPLES = 100
REPORT_EXAMPLES = 12
# run directories: no shrinking (each example runs a command; a failure is reported as found)
NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)

BASE = {
    "name": "fz", "backend": "torch", "seed": 0, "network": {"name": "simple_cnn"},
    "dataset": {"name": "fashion_mnist", "train_size": 2000, "eval_size": 500, "test_size": 2000},
    "optimizer": {"name": "sgd", "momentum_form": "caffe", "weight_decay": 5e-4},
    "policy": {"name": "one-cycle", "min_lr": 0.01, "max_lr": 0.1},
    "batch_size": 64, "budget": {"steps": 60}, "eval_every": 20, "targets": [0.5, 0.99],
}

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
                    st.sampled_from(["1e5", "nan", "-inf", "yes", "~", "[", "{a: 1}", "0x10", "1_000"]))
values = st.recursive(scalars, lambda kids: st.one_of(st.lists(kids, max_size=3),
                                                      st.dictionaries(st.text(max_size=8), kids, max_size=3)),
                      max_leaves=8)


def _paths(d: dict, prefix: str = "") -> list[str]:
    out = []
    for k, v in d.items():
        out.append(prefix + k)
        if isinstance(v, dict):
            out += _paths(v, prefix + k + ".")
    return out


PATHS = _paths(BASE)


def _set(d: dict, path: str, value, delete: bool = False) -> dict:
    d = json.loads(json.dumps(d))
    cur = d
    *head, last = path.split(".")
    for k in head:
        cur = cur[k]
    if delete:
        cur.pop(last, None)
    else:
        cur[last] = value
    return d


def _load_text(text: str):
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "spec.yaml"
        p.write_text(text)
        return S.load(p)


@settings(max_examples=SPEC_EXAMPLES, deadline=None, derandomize=True)
@given(path=st.sampled_from(PATHS), value=values, delete=st.booleans())
def test_spec_loader_names_the_field_it_refuses(path, value, delete):
    data = _set(BASE, path, value, delete)
    try:
        _load_text(yaml.safe_dump(data))
    except BenchError as e:
        msg = str(e)
        top = path.split(".")[0]
        assert msg and "Traceback" not in msg
        # the field named: the key changed or its section (a nested value may fail lower down)
        assert top in msg or path in msg, (path, value, msg)


@settings(max_examples=SPEC_EXAMPLES, deadline=None, derandomize=True)
@given(st.one_of(values, st.text(max_size=60), st.binary(max_size=60).map(lambda b: b.decode("latin-1"))))
def test_spec_loader_on_any_yaml_or_text(doc):
    text = doc if isinstance(doc, str) else yaml.safe_dump(doc)
    try:
        _load_text(text)
    except BenchError as e:
        assert str(e) and "Traceback" not in str(e)


# -- damaged run directories ----------------------------------------------------------------

FILES = ("summary.json", "spec.yaml", "evals.csv", "steps.csv", "meta.json")


def _write_run(root: Path, policy: str, seed: int) -> Path:
    spec = {**BASE, "name": f"fz-{policy}", "seed": seed,
            "policy": {"name": "constant", "lr": 0.05} if policy == "constant" else BASE["policy"]}
    run_id = f"fz-{policy}-torch-s{seed}-0000000{seed}"
    d = root / run_id
    d.mkdir(parents=True)
    (d / "spec.yaml").write_text(yaml.safe_dump(S.build(spec).resolved()))
    evals = [(0, 0.1), (20, 0.5 + 0.01 * seed), (40, 0.7), (60, 0.8)]
    (d / "evals.csv").write_text("step,epoch,split,test_loss,test_acc,train_wall_s,eval_wall_s\n" + "".join(
        f"{s},{s / 31},{'test' if s == 60 else 'eval'},1.0,{a},{s * 0.1},0.01\n" for s, a in evals))
    (d / "steps.csv").write_text("step,epoch,lr,momentum,train_loss,train_acc,wall_s\n" + "".join(
        f"{s},{s / 31},0.05,0.9,1.0,0.5,{s * 0.1}\n" for s in range(60)))
    write_meta(d, {"seed": seed, "run_id": run_id})
    write_summary(d, TrainSummary(run_id=run_id, status="completed", backend="torch", steps_done=60,
                                  total_steps=60, steps_per_epoch=31, final_test_acc=0.8, best_test_acc=0.8,
                                  best_step=60, targets={"0.5": {"step": 20, "train_s": 2.0}, "0.99": None},
                                  train_s=6.0, eval_s=0.04))
    return d


junk = st.one_of(st.sampled_from(["", "nan", "NaN", "inf", "-1", "1e400", "abc", "null", "[]", "{}", "\x00",
                                  "0.5,0.5", '"', "\n"]), st.text(max_size=8))

damage = st.one_of(
    st.tuples(st.just("truncate"), st.sampled_from(FILES), st.floats(0, 1)),
    st.tuples(st.just("delete"), st.sampled_from(FILES), st.none()),
    st.tuples(st.just("cell"), st.sampled_from(("evals.csv", "steps.csv")), st.tuples(st.integers(0, 80), junk)),
    st.tuples(st.just("summary"), st.sampled_from(["schema", "kind", "status", "steps_done", "final_test_acc",
                                                    "best_acc", "targets", "backend", "run_id", "train_s"]),
              values),
    st.tuples(st.just("spec"), st.sampled_from(PATHS), values),
    st.tuples(st.just("bytes"), st.sampled_from(FILES), st.binary(min_size=1, max_size=40)),
)


def _damage(d: Path, how) -> None:
    kind, name, arg = how
    if kind == "truncate":
        raw = (d / name).read_bytes()
        (d / name).write_bytes(raw[: int(len(raw) * arg)])
    elif kind == "delete":
        (d / name).unlink()
    elif kind == "cell":
        idx, text = arg
        cells = (d / name).read_text().split(",")
        cells[idx % len(cells)] = text
        (d / name).write_text(",".join(cells))
    elif kind == "summary":
        s = json.loads((d / "summary.json").read_text())
        s[name] = arg
        (d / "summary.json").write_text(json.dumps(s, allow_nan=True))
    elif kind == "spec":
        s = yaml.safe_load((d / "spec.yaml").read_text())
        (d / "spec.yaml").write_text(yaml.safe_dump(_set(s, name, arg)))
    else:
        (d / name).write_bytes(arg)


def _bench(argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(argv)
    return code, out.getvalue(), err.getvalue()


def _check(command: list[str], how, tmp: Path) -> None:
    root = tmp / "runs"
    dirs = [_write_run(root, p, s) for p in ("constant", "one-cycle") for s in (1, 2, 3)]
    victim = dirs[len(repr(how)) % len(dirs)]
    _damage(victim, how)
    # the reader: each directory is loaded, or skipped with one warning naming it (not both)
    stream = io.StringIO()
    loaded = {r.path.name for r in load_runs([root], stream)}
    warnings = stream.getvalue()
    for d in dirs:
        named = sum(f"{d} " in line or line.endswith(str(d)) for line in warnings.splitlines())
        assert named <= 1, warnings
        assert (d.name in loaded) != (named == 1), (how, d.name, warnings)
    # the command on top of it: exit 0, or 2 with a message; never a traceback
    argv = [*command, str(root)] + ([] if command[0] == "claims" else ["--out", str(tmp / "out")])
    code, out, err = _bench(argv)
    assert code in (0, 2), (how, code, err[-2000:])
    assert "Traceback" not in err + out
    if code == 2:
        assert err.startswith("bench: error:") and len(err.strip()) > len("bench: error:"), err


def _property(command: str, examples: int):
    @settings(max_examples=examples, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow], phases=NO_SHRINK)
    @given(how=damage)
    def prop(how):
        with tempfile.TemporaryDirectory() as tmp:
            _check([command], how, Path(tmp))

    return prop


test_compare_on_damaged_run_directories = _property("compare", RUNDIR_EXAMPLES)
test_claims_on_damaged_run_directories = _property("claims", RUNDIR_EXAMPLES)
test_report_on_damaged_run_directories = _property("report", REPORT_EXAMPLES)


def test_the_fuzzed_run_directories_are_valid_before_damage(tmp_path):
    """The property tests start from readable runs: undamaged, every reader loads all six."""
    root = tmp_path / "runs"
    for p in ("constant", "one-cycle"):
        for s in (1, 2, 3):
            _write_run(root, p, s)
    code, out, err = _bench(["compare", str(root), "--out", str(tmp_path / "o")])
    assert code == 0 and "warning" not in err, err
