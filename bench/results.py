"""Results as a table, for notebooks: ``bench.results.load(PATHS)``.

::

    from bench.results import load
    df = load(["results/full-fashion-mnist-quick"])
    df[df.split == "test"].groupby(["policy", "backend"]).acc.mean()

One row per evaluation (each row of each run's ``evals.csv``), with the run's identity
beside it. Run directories are found and read through :func:`bench.records.rundir.load_runs`,
the harness's one run-directory reader: incomplete, damaged and repeated directories are
skipped with one warning line each, exactly as ``bench compare``, ``claims`` and
``report`` skip them.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

#: the run's identity, one value per run, repeated on each of its rows
RUN_COLUMNS = ("run_id", "run_dir", "backend", "seed", "network", "dataset", "policy", "policy_name", "rule",
               "budget", "kind", "status", "experiment", "numerics")
#: the evaluation: the columns of evals.csv (docs/contract.md), as numbers but ``split``; files
#: of records schema 1 (test_loss, test_acc) are read into the same columns
EVAL_COLUMNS = ("step", "epoch", "split", "loss", "acc", "train_wall_s", "eval_wall_s")
NUMERIC = ("seed", "budget", "step", "epoch", "loss", "acc", "train_wall_s", "eval_wall_s", "numerics")
OLD_NAMES = {"loss": "test_loss", "acc": "test_acc"}
#: of those, the counts: int64 when every row has one, else float64 with NaN where absent
INTEGER = ("seed", "budget", "step")


def _number(text) -> float:
    """A cell of evals.csv as a float; NaN where it is empty or absent."""
    if text is None or str(text).strip() == "":
        return float("nan")
    return float(text)


def _identity(run) -> dict:
    from bench.records.identity import experiment_key
    from bench.records.numerics import version_of
    from bench.records.schedules import label

    h, summary = run.head, run.summary
    budget = summary.get("total_steps")
    if budget is None:  # a record that does not say: the spec's budget when it is in steps
        budget = (h.budget or {}).get("steps")
    return {
        "run_id": run.path.name,
        "run_dir": str(run.path),
        "backend": summary.get("backend") or h.backend,
        "seed": h.seed,
        "network": h.network.name,
        "dataset": h.dataset.name,
        "policy": label(h.policy_data),
        "policy_name": h.policy.name,
        "rule": h.rule,
        "budget": budget,
        "kind": summary.get("kind"),
        "status": summary.get("status"),
        "experiment": experiment_key(run.spec),
        "numerics": version_of(run).version,
    }


def _eval_rows(run_dir: Path) -> list[dict]:
    """The rows of the run's evals.csv ([] if it has none). The file was read once already
    by load_runs (a damaged one skips the run there), so it parses here."""
    path = run_dir / "evals.csv"
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return [{c: (r.get(c) or "test") if c == "split" else _number(r.get(c, r.get(OLD_NAMES.get(c, c))))
                 for c in EVAL_COLUMNS} for r in csv.DictReader(f)]


def load(paths: str | Path | Iterable[str | Path], stream=None, kinds: Iterable[str] | None = None):
    """A pandas DataFrame, one row per evaluation of every complete run in ``paths`` (run
    directories, or folders searched recursively): the columns :data:`RUN_COLUMNS` and
    :data:`EVAL_COLUMNS`. ``policy`` is the policy's label (``one-cycle 0.01-0.1``),
    ``policy_name`` its name, ``rule`` the derivation rule of a tuned spec
    (``spec.provenance.rule``; None elsewhere), ``budget`` the run's total steps. The
    columns of :data:`NUMERIC` are numbers: floats with NaN where absent, and the counts
    (:data:`INTEGER`) int64 where no row lacks one. ``kinds`` keeps the runs
    whose summary is of those kinds (default: every kind; only runs that evaluate have
    rows). Skipped directories are named on ``stream`` (default stderr)."""
    import pandas as pd

    from bench.records.rundir import load_runs

    if isinstance(paths, str | Path):
        paths = [paths]
    rows = []
    for run in load_runs(list(paths), stream, kinds):
        ident = _identity(run)
        rows += [{**ident, **e} for e in _eval_rows(run.path)]
    df = pd.DataFrame(rows, columns=[*RUN_COLUMNS, *EVAL_COLUMNS])
    for c in NUMERIC:
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
        if c in INTEGER and df[c].notna().all() and (df[c] % 1 == 0).all():
            df[c] = df[c].astype("int64")
    df["rule"] = df["rule"].astype(object).where(df["rule"].notna(), None)  # None, as documented
    return df
