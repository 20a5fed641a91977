"""One experiment identity (bench.records.identity), read alike by every reader: compare, claims,
the report, export and bench full's made-once jobs."""

import io

import pytest

from bench.grids import suites
from bench.judging import claims, compare, report
from bench.judging.export import identity_tags
from bench.records import identity
from bench.records import spec as S
from bench.records.rundir import load_runs

from rundirs import make_run


def _check(arms, min_runs=2, metric=None):
    c = {"id": "X", "source": "t", "statement": "t", "arms": arms, "metric": metric or {"name": "final_acc"},
         "kind": "superiority", "margin": 0.0, "min_runs": min_runs}
    return claims.checks(claims.validate([c]))[0]


def test_what_is_not_the_experiment(base_spec):
    key = identity.experiment_key(base_spec)
    for change in ({"name": "other"}, {"seed": 7}, {"compile": False}, {"checkpoint_every": 5}, {"device": "cpu"},
                   {"provenance": {"rule": "smith", "c": 0.2}}, {"backend": "keras"}):
        assert identity.experiment_key({**base_spec, **change}) == key, change
    assert identity.experiment_key({**base_spec, "backend": "keras"}, backend=True) != identity.experiment_key(
        base_spec, backend=True)
    for change in ({"batch_size": 32}, {"eval_every": 10}, {"precision": "float64"},
                   {"policy": {"name": "constant", "lr": 0.1}}):
        assert identity.experiment_key({**base_spec, **change}) != key, change
    # a default written or left out is the same experiment
    assert identity.experiment_key({**base_spec, "precision": "float32"}) == key


def test_runs_before_and_after_a_new_key_group_alike_in_every_reader(tmp_path, base_spec):
    """Runs made before a key existed (spec.yaml without it) and after (its default written)
    are one experiment for compare, claims, the report and export."""
    for seed in (0, 1):  # before: spec.yaml has no precision, eval_split, stop_on_explosion
        make_run(tmp_path, base_spec, seed, name="A", drop_keys=("precision", "compile"), final=0.90 + seed / 100)
    for seed in (2, 3):
        make_run(tmp_path, base_spec, seed, name="A", final=0.90 + seed / 100)
    for seed in range(4):
        make_run(tmp_path, base_spec, seed, name="B", sets=["policy={name: constant, lr: 0.05}"], final=0.8)
    runs = load_runs([tmp_path])
    a = [r for r in runs if r.spec["name"] == "A"]
    assert {"precision" in r.spec for r in a} == {True, False}
    # compare: one row for A with all four seeds
    tab = compare.table(compare.runs_frame([tmp_path]))
    row = tab[tab["cells"] == "A"]
    assert len(row) == 1 and row.iloc[0]["n"] == 4 and row.iloc[0]["seeds"] == "0,1,2,3"
    # claims: one arm, no mixed keys, judged on four runs
    assert claims.mixed_keys(a, {"spec.name": "A"}) == {}
    v = claims.judge(_check({"a": {"spec.name": "A"}, "b": {"spec.name": "B"}}), runs)
    assert v[0]["n"] == "4 / 4" and v[0]["verdict"] == "holds"
    # the report: the arms differ in the policy only
    b = [r for r in runs if r.spec["name"] == "B"]
    assert report.spec_differences(a[:1], b[:1]) == {}
    assert report.spec_differences(a[:1], a[-1:]) == {}
    # export: one experiment tag
    assert len({identity_tags(r)["experiment"] for r in a}) == 1
    # a key that does change the experiment is still seen
    make_run(tmp_path, base_spec, 4, name="A", sets=["precision=float64"])
    runs = load_runs([tmp_path])
    a = [r for r in runs if r.spec["name"] == "A"]
    assert set(claims.mixed_keys(a, {"spec.name": "A"})) == {"spec.precision"}


def test_one_experiment_read_by_two_cells_counts_once(tmp_path, base_spec):
    """The same experiment and seed under two cell names (a tuned cell whose two metrics chose
    one value) is one measurement: compare counts it once and names both cells; an arm that
    selects both pools it once."""
    for seed in range(3):
        make_run(tmp_path, base_spec, seed, name="cell-steps", provenance={"rule": "grid-best", "metric": "steps"})
        make_run(tmp_path, base_spec, seed, name="cell-final", provenance={"rule": "grid-best", "metric": "final"})
    frame = compare.runs_frame([tmp_path])
    assert (frame["repeat_of"] != "").sum() == 3
    tab = compare.table(frame)
    assert len(tab) == 1 and tab.iloc[0]["n"] == 3 and tab.iloc[0]["cells"] == "cell-final, cell-steps"
    shown = compare.display(tab)
    assert shown.iloc[0]["cells"] == "cell-final, cell-steps"
    kept, repeats = identity.distinct(load_runs([tmp_path]))
    assert len(kept) == 3 and len(repeats) == 3
    check = _check({"a": {"spec.name": ["cell-steps", "cell-final"]}, "b": {"spec.name": "cell-steps"}})
    assert claims.judge(check, load_runs([tmp_path]))[0]["n"] == "3 / 3"


@pytest.mark.parametrize("splits, want", [({"val", "test"}, "val"), ({"eval", "test"}, "eval"), ({"test"}, "test")])
def test_periodic_split(splits, want):
    assert identity.periodic_split(splits) == want


def test_tuned_choice_on_another_cells_experiment_is_made_once(base_spec):
    """suites.made_once: a judged job whose chosen value makes it another cell's experiment
    (same seed and backend) is not run again; twin cells as written are still refused."""
    def job(name, role, prov=None, seed=0):
        return suites.Job(name, "torch", seed, S.build({**base_spec, "name": name, "seed": seed,
                                                          **({"provenance": prov} if prov else {})}), (), role=role)

    jobs = [job("smith", "run", {"rule": "smith"}), job("smith", "run", {"rule": "smith"}, seed=1),
            job("tuned-steps", "judged", {"rule": "grid-best", "metric": "steps"}),
            job("tuned-final", "judged", {"rule": "grid-best", "metric": "final"}, seed=1)]
    once, repeats = suites.made_once(jobs)
    assert [j.cell for j in once] == ["smith", "smith"]
    assert [(j.cell, src.cell, j.seed) for j, src in repeats] == [("tuned-steps", "smith", 0), ("tuned-final", "smith", 1)]
    suites.check_no_twins(jobs, "s", "quick")  # judged twins are made once, not refused
    with pytest.raises(Exception, match="become the same experiment"):
        suites.check_no_twins([job("a", "run"), job("b", "run")], "s", "quick")


def test_compare_names_repeats_in_runs_csv(tmp_path, base_spec):
    make_run(tmp_path, base_spec, 0, name="x")
    make_run(tmp_path, base_spec, 0, name="y")
    frame = compare.runs_frame([tmp_path], io.StringIO())
    assert sorted(frame["repeat_of"].astype(bool)) == [False, True]


def test_bench_full_links_a_repeat_and_supersedes_an_older_version(tmp_path, base_spec):
    """bench full's two moves on run directories: a job that repeats another's experiment gets
    a directory of its own holding the first's records (meta.json same_as); a completed run
    of an older numerics version moves to superseded/ (kept, never read) to be made again."""
    from bench.grids import full
    from bench.records import numerics
    from bench.records.rundir import read_meta, read_spec

    def job(name, prov, seed=0):
        return suites.Job(name, "torch", seed, S.build({**base_spec, "name": name, "seed": seed, "provenance": prov}),
                          (), role="judged")

    src, rep = job("smith", {"rule": "smith"}), job("tuned-steps", {"rule": "grid-best"})
    assert full.link_repeat(rep, src, tmp_path) == "waiting"  # the source has not run yet
    make_run(tmp_path, src.spec.resolved(), 0, evals=[(0, 0.1), (20, 0.6), (40, 0.7)], final=0.75)
    assert full.link_repeat(rep, src, tmp_path) == "linked"
    assert full.link_repeat(rep, src, tmp_path) == "already"
    d = tmp_path / rep.spec.run_id()
    assert read_meta(d).same_as == src.spec.run_id() and read_spec(d)["name"] == "tuned-steps"
    assert (d / "evals.csv").read_text() == (tmp_path / src.spec.run_id() / "evals.csv").read_text()
    assert len(compare.table(compare.runs_frame([tmp_path]))) == 1  # one measurement
    # an older numerics version: moved out of the way, and no reader sees it there
    old = make_run(tmp_path, base_spec, 3, name="old", numerics_version=numerics.current("torch") - 1)
    log, err = {}, io.StringIO()
    assert full._supersede_stale(old, "torch", tmp_path, err, log, "[1/1] old torch s3")
    assert not old.exists() and "made again" in err.getvalue() and log["superseded"][0]["run"] == old.name
    moved = tmp_path / "superseded" / f"torch-numerics{numerics.current('torch') - 1}" / old.name
    assert (moved / "summary.json").is_file()
    assert old.name not in {r.path.name for r in load_runs([tmp_path])}
    assert not full._supersede_stale(tmp_path / src.spec.run_id(), "torch", tmp_path, err, log, "x")
