"""Numerics versions (bench/records/numerics.py): declared per backend, matched to the golden
records, recorded in meta.json, read from the commit for older runs, and never pooled."""

import subprocess

import pytest

from bench.errors import BenchError
from bench.judging import claims, compare
from bench.records import numerics
from bench.records.rundir import load_runs

from common import REPO
from rundirs import make_run

BACKENDS = ("torch", "keras")


def _check(min_runs=2):
    c = {"id": "X", "source": "t", "statement": "t", "arms": {"a": {"spec.name": "A"}, "b": {"spec.name": "B"}},
         "metric": {"name": "final_acc"}, "kind": "superiority", "margin": 0.0, "min_runs": min_runs}
    return claims.checks(claims.validate([c]))[0]


@pytest.mark.parametrize("backend", BACKENDS)
def test_declared_version_matches_the_golden_records(backend):
    """The golden records are what the current version computes: regenerating them without a
    new version (or a new version without new records) fails here."""
    d = numerics.declared(backend)
    versions = [h["version"] for h in d["history"]]
    assert versions == list(range(1, len(versions) + 1)) and d["version"] == versions[-1]
    for h in d["history"]:
        assert h.get("what"), h
        if h is not d["history"][-1]:  # the latest may begin at a commit made after the legacy list
            assert numerics._position(h["since"]) is not None, h
    latest = d["history"][-1]
    got = numerics.fingerprint(REPO / "tests" / "golden" / backend)
    assert latest["golden"] == got, (
        f"tests/golden/{backend} has fingerprint {got}, but {backend} numerics {d['version']} declares "
        f"{latest['golden']}: a change of what training produces adds a version (tests/golden_check.py says how)")
    earlier = [h.get("golden") for h in d["history"][:-1] if h.get("golden")]
    assert got not in earlier, "a new version whose golden records are those of an older one changed nothing"


def test_legacy_commits_are_the_history():
    """numerics-legacy-commits.txt lists main's history before versions were recorded, oldest
    first: the commits are this repository's, in its order."""
    out = subprocess.run(["git", "-C", str(REPO), "rev-list", "--reverse", "HEAD"], capture_output=True, text=True)
    shallow = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--is-shallow-repository"], capture_output=True,
                             text=True).stdout.strip()
    if out.returncode != 0 or shallow == "true":
        pytest.skip("no whole git history here (not a repository, or a shallow clone)")
    history = out.stdout.split()
    legacy = sorted(numerics._legacy(), key=numerics._legacy().get)
    assert legacy and history[: len(legacy)] == legacy


def test_version_from_a_legacy_commit():
    legacy = sorted(numerics._legacy(), key=numerics._legacy().get)
    for b in BACKENDS:
        hist = numerics.declared(b)["history"]
        for h in hist:
            if numerics._position(h["since"]) is None:
                continue
            assert numerics.from_commit(b, h["since"]) == h["version"]
            assert numerics.from_commit(b, h["since"][:7] + "-dirty") == h["version"]
        assert numerics.from_commit(b, legacy[-1]) == hist[-1]["version"]
    assert numerics.from_commit("torch", "0" * 40) is None and numerics.from_commit("caffe", legacy[0]) is None


def test_two_versions_in_one_verdict_are_refused_naming_both(tmp_path, base_spec):
    for seed in range(3):
        make_run(tmp_path, base_spec, seed, name="A", numerics_version=1 if seed == 0 else 2, final=0.95)
        make_run(tmp_path, base_spec, seed, name="B", sets=["policy={name: constant, lr: 0.05}"], numerics_version=2,
                 final=0.9)
    runs = load_runs([tmp_path])
    with pytest.raises(BenchError) as e:
        claims.judge(_check(), runs)
    msg = str(e.value)
    assert "torch numerics 1: A-torch-s0" in msg and "torch numerics 2:" in msg and "--pool-numerics" in msg
    rows = claims.judge(_check(), runs, pool_numerics=True)
    assert rows[0]["code"].startswith("POOLED numerics versions") and "torch numerics 1" in rows[0]["code"]
    # compare: one row per version, labelled, each with its own seeds
    tab = compare.table(compare.runs_frame([tmp_path]))
    a = tab[tab["cells"] == "A"].sort_values("numerics")
    assert list(a["numerics"]) == [1, 2] and list(a["n"]) == [1, 2] and list(a["current"]) == [False, True]
    assert a.iloc[0]["code"].startswith("torch numerics 1")
    shown = compare.display(tab)
    assert sum(shown["cells"] == "A") == 2


def test_a_docs_only_commit_keeps_pooling(tmp_path, base_spec):
    """Runs of one version made at different commits (a documentation-only commit between
    them changes no version) pool, recorded or read from the commit."""
    legacy = sorted(numerics._legacy(), key=numerics._legacy().get)
    last = numerics.declared("torch")["history"][-1]
    start = numerics._position(last["since"]) if numerics._position(last["since"]) is not None else 0
    early, late = legacy[start], legacy[-1]  # the commits between change docs and readers only
    assert numerics.from_commit("torch", early) == numerics.from_commit("torch", late)
    for seed in range(3):
        make_run(tmp_path, base_spec, seed, name="A", numerics_version=None, git_commit=early if seed else late,
                 final=0.95)
        make_run(tmp_path, base_spec, seed, name="B", sets=["policy={name: constant, lr: 0.05}"],
                 git_commit="f" * 40 if seed else late, final=0.9)
    rows = claims.judge(_check(), load_runs([tmp_path]))
    assert rows[0]["verdict"] == "holds" and f"torch numerics {last['version']} @" in rows[0]["code"]


def test_unknown_version_is_its_own_group(tmp_path, base_spec):
    make_run(tmp_path, base_spec, 0, name="A", numerics_version=None, git_commit="0" * 40)
    make_run(tmp_path, base_spec, 1, name="A")
    (run0,) = [r for r in load_runs([tmp_path]) if r.spec["seed"] == 0]
    assert numerics.version_of(run0).version is None and numerics.version_of(run0).how == "unknown"
    assert set(numerics.mixed(load_runs([tmp_path]))["torch"]) == {None, numerics.current("torch")}


def test_the_runner_records_the_version():
    from common import meta_of_a_fake_run

    meta = meta_of_a_fake_run()
    assert meta["numerics_version"] == numerics.current("torch") and meta["harness_version"]


def test_the_committed_quick_suite_is_one_version_per_backend():
    """results/full-fashion-mnist-quick after the rerun under one code version: each experiment
    has one row per backend with all its seeds (the keras arms were split 2 + 3 by code
    version before), and no verdict needs --pool-numerics."""
    import pandas as pd

    tab = pd.read_csv(REPO / "results" / "full-fashion-mnist-quick" / "compare.csv")
    judged = tab[(tab["evaluated_on"] != "val") & tab["network"].eq("simple_cnn")]
    assert judged["current"].all() and set(judged.groupby("backend")["numerics"].unique().map(tuple)) == {(3,), (4,)}
    assert (judged.groupby(["experiment", "backend"]).size() == 1).all()
    assert set(judged["n"]) == {5}, judged[["cells", "backend", "n"]]
    runs = load_runs([REPO / "results" / "full-fashion-mnist-quick"])
    assert not numerics.mixed(runs)


def test_resume_under_another_numerics_version_is_refused(tmp_path):
    """bench run --resume of a run started under another version: exit 7 (start it over),
    nothing changed; the same version, recorded or read from the commit, continues."""
    from bench.errors import EXIT_RESTART
    from bench.records.rundir import write_meta
    from bench.running import runner
    from bench.running.checkpoint import CheckpointError

    now = numerics.current("torch")
    write_meta(tmp_path, {"numerics_version": now - 1, "run_id": "x"})
    before = (tmp_path / "meta.json").read_text()
    with pytest.raises(CheckpointError) as e:
        runner._check_numerics(tmp_path, "torch")
    assert e.value.exit_code == EXIT_RESTART == 7
    assert f"started under torch numerics {now - 1}" in str(e.value) and f"trains with torch numerics {now}" in str(e.value)
    assert (tmp_path / "meta.json").read_text() == before
    write_meta(tmp_path, {"numerics_version": now, "run_id": "x"})
    runner._check_numerics(tmp_path, "torch")
    legacy = sorted(numerics._legacy(), key=numerics._legacy().get)
    write_meta(tmp_path, {"git_commit": legacy[-1], "run_id": "x"})
    runner._check_numerics(tmp_path, "torch")
