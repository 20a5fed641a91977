"""Tables across policies and backends, read from run directories only.

``bench compare PATH ...`` loads every complete run directory under PATH into a pandas
DataFrame (one row per run), groups runs of the same experiment (the resolved spec
without backend, seed, device and name) and prints one row per experiment with, per
backend: seeds, final test accuracy mean +- SD (and its 95% interval), best accuracy,
steps and training seconds to each target, images per second; then the backend
difference in mean final accuracy and a flag where it exceeds the tolerance.

``compare.csv`` and ``runs.csv`` hold numbers only (one row per experiment and backend,
and one per run); ``compare.md`` is the same table formatted for reading.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from bench.records import numerics, rundir
from bench.records.identity import distinct, experiment_key, periodic, periodic_split
from bench.records.rundir import atomic_write, make_out_dir
from bench.running.clock import WAIT_ABOVE


def policy_label(p: dict) -> str:
    """The policy's own label (:meth:`bench.records.schedules.Constant.label` and the others)."""
    from bench.records.schedules import label

    return label(p)


def runs_frame(paths, stream=None) -> pd.DataFrame:
    """One row per complete training run (:func:`bench.records.rundir.load_runs`, which names every
    directory it skips in a warning), with its experiment (:func:`bench.records.identity.experiment_key`),
    numerics version and commit; ``repeat_of`` names the run an identical one repeats
    (:func:`bench.records.identity.distinct`: the tables count it once)."""
    stream = stream or sys.stderr
    rows = []
    runs = rundir.load_runs(paths, stream, kinds={"train"})
    repeat_of = {id(r): first.path.name for r, first in distinct(runs)[1]}
    for run in runs:
        try:
            row = _row(run)
        except (KeyError, TypeError, AttributeError, ValueError) as e:  # a spec.yaml edited by hand
            rundir.warn_skip(stream, "unreadable", run.path, f"spec.yaml: {type(e).__name__}: {e}")
            continue
        row["repeat_of"] = repeat_of.get(id(run), "")
        rows.append(row)
    df = pd.DataFrame(rows)
    if not df.empty:
        df["run_id"] = [Path(p).name for p in df["run_dir"]]
    return df


def _row(run: rundir.Run) -> dict:
    h, s = run.head, run.summary
    v = numerics.version_of(run)
    try:
        commit = run.meta.get("git_commit") or ""
    except rundir.UNREADABLE:
        commit = ""
    row = {
        "run_dir": str(run.path), "experiment": experiment_key(run.spec), "cell": h.name,
        "numerics": v.version if v.version is not None else math.nan, "numerics_from": v.how,
        "git_commit": commit, "network": h.network.name,
        "dataset": h.dataset.label(), "policy": policy_label(h.policy_data),
        "batch_size": h.batch_size, "budget": s.total_steps,
        "backend": s.backend, "seed": h.seed, "status": s.status,
        "final_acc": s.final_test_acc, "best_acc": max((e.acc for e in periodic(run.evals)[1]), default=math.nan),
        "images_per_s": s.images_per_s, "train_s": s.train_s, "exploded_at": s.get("exploded_at"),
        "cpu_share": s.get("cpu_share"), "contended": s.get("contended"),
        "evaluated_on": periodic_split(e.split for e in run.evals), "role": role(h),
    }
    for t, hit in s.targets.items():  # never reached: no number, reached_t says so
        row[f"steps_to_{t}"] = math.nan if hit is None else hit.step
        row[f"seconds_to_{t}"] = math.nan if hit is None or hit.train_s is None else hit.train_s
        row[f"reached_{t}"] = hit is not None
    return row


def role(head) -> str:
    """What a run is for, where its spec's provenance says (``head``: a
    :class:`bench.records.specview.SpecHead`): ``tuning`` (a grid value of a tuned cell,
    evaluated on the validation split), ``tuned by <metric>`` (a judged run at the value a grid
    chose), else empty."""
    if head.rule == "tune-grid":
        return "tuning"
    if head.rule == "grid-best":
        return f"tuned by {head.provenance.get('metric_label') or 'a grid'}"
    return ""


def _targets(runs: pd.DataFrame) -> list[str]:
    return sorted({c[len("steps_to_"):] for c in runs.columns if c.startswith("steps_to_")}, key=float)


def _censored_median(values: pd.Series, reached: pd.Series) -> float:
    """The median over runs with those that never got there counted slowest; NaN when that
    median is a run that never got there (no number to give)."""
    v = np.where(reached.fillna(False).to_numpy(dtype=bool), values.to_numpy(dtype=float), np.inf)
    med = float(np.median(v)) if len(v) else math.nan
    return med if math.isfinite(med) else math.nan


def _code(r: pd.DataFrame, backend: str) -> str:
    """The code a row rests on: the backend's numerics version and the commits of its runs."""
    v = r["numerics"].iloc[0]
    return numerics.code_label(backend, None if pd.isna(v) else int(v),
                               [c for c in r["git_commit"] if isinstance(c, str)])


def _stats(r: pd.DataFrame, targets: list[str]) -> dict:
    """One backend's numbers over the runs ``r`` of one experiment and numerics version."""
    from scipy import stats

    done = r[r["status"] == "completed"]
    acc = done["final_acc"].astype(float).dropna()
    n_acc = len(acc)
    mean = float(acc.mean()) if n_acc else math.nan
    sd = float(acc.std(ddof=1)) if n_acc > 1 else math.nan
    half = float(stats.t.ppf(0.975, n_acc - 1) * sd / math.sqrt(n_acc)) if n_acc > 1 else math.nan
    contended = r["contended"].eq(True) if "contended" in r else pd.Series(False, index=r.index)
    row = {"n": len(r), "seeds": ",".join(str(int(x)) for x in sorted(r["seed"])),
           "diverged": int((r["status"] == "diverged").sum()),
           "exploded": int(r["exploded_at"].notna().sum()) if "exploded_at" in r else 0,
           "contended": int(contended.sum()),
           "cpu_share_median": (float(r["cpu_share"].astype(float).median())
                                if "cpu_share" in r and r["cpu_share"].notna().any() else math.nan),
           "final_acc_n": n_acc, "final_acc_mean": mean, "final_acc_sd": sd,
           "final_acc_ci_low": mean - half, "final_acc_ci_high": mean + half,
           "best_acc_mean": float(done["best_acc"].astype(float).mean()) if n_acc else math.nan,
           "images_per_s_median": float(done["images_per_s"].astype(float).median()) if n_acc else math.nan}
    for t in targets:
        if f"steps_to_{t}" not in r:
            continue
        reached = r[f"reached_{t}"]
        row[f"steps_to_{t}_median"] = _censored_median(r[f"steps_to_{t}"], reached)
        # seconds only from runs that had the machine to themselves (bench.running.clock)
        row[f"seconds_to_{t}_median"] = _censored_median(r[f"seconds_to_{t}"][~contended], reached[~contended])
        row[f"reached_{t}"] = int(reached.fillna(False).astype(bool).sum())
        row[f"total_{t}"] = int(reached.notna().sum())
    return row


def _roles(runs: pd.DataFrame, experiment: str) -> str:
    """What the experiment's runs are for (:func:`role`), every one named where two cells that
    chose the same value by different metrics share the experiment."""
    if "role" not in runs:
        return ""
    return "; ".join(sorted({r for r in runs.loc[runs["experiment"] == experiment, "role"] if isinstance(r, str) and r}))


def _cells(runs: pd.DataFrame, experiment: str, backend: str, version) -> str:
    """The suite cells (spec names) whose runs are this experiment, backend and version,
    repeats included: one experiment read by two cells names both."""
    if "cell" not in runs:
        return ""
    m = (runs["experiment"] == experiment) & (runs["backend"] == backend)
    m &= runs["numerics"].isna() if pd.isna(version) else runs["numerics"] == version
    return ", ".join(sorted(set(runs.loc[m, "cell"])))


def table(runs: pd.DataFrame, tolerance: float = 0.01) -> pd.DataFrame:
    """One row per experiment, backend and numerics version (runs that repeat another of the
    same experiment and seed counted once), every statistic a number: seeds run (``n``),
    diverged, final accuracy mean, SD and 95% t-interval of the mean over completed seeds,
    best evaluation accuracy (chosen on the test data), median images/s, and per target the
    censored median steps and seconds with ``reached`` of ``total``; ``exploded`` counts runs
    whose loss blew up (``exploded_at``); ``code`` names the numerics version and commits the
    row rests on, ``cells`` the suite cells (spec names) its runs came from. Among each
    backend's newest version, ``delta_final`` is the mean final accuracy minus that of
    ``delta_vs`` (the experiment's first backend) and ``flag`` marks a difference larger than
    ``tolerance``; rows of an older version (``current`` false) are compared with nothing."""
    if runs.empty:
        return pd.DataFrame()
    for c in ("numerics", "git_commit", "cell"):  # a frame made by hand (a notebook, a test) may lack them
        if c not in runs:
            runs = runs.assign(**{c: math.nan if c == "numerics" else ""})
    all_runs = runs
    if "repeat_of" in runs:
        runs = runs[runs["repeat_of"].fillna("") == ""]
    targets = _targets(runs)
    out = []
    for _, g in runs.groupby("experiment", sort=False):
        first = g.iloc[0]
        ref_mean, ref_backend = None, None
        for b in sorted(g["backend"].unique()):
            gb = g[g["backend"] == b]
            versions = sorted(gb["numerics"].dropna().unique(), reverse=True) + (
                [math.nan] if gb["numerics"].isna().any() else [])
            for i, v in enumerate(versions):
                r = gb[gb["numerics"].isna()] if pd.isna(v) else gb[gb["numerics"] == v]
                row = {"experiment": first["experiment"], "network": first["network"], "dataset": first["dataset"],
                       "policy": first["policy"], "batch_size": int(first["batch_size"]), "budget": first["budget"],
                       "evaluated_on": first.get("evaluated_on", "test"), "role": _roles(all_runs, first["experiment"]),
                       "cells": _cells(all_runs, first["experiment"], b, v),
                       "backend": b, "numerics": v, "current": i == 0, "code": _code(r, b), **_stats(r, targets)}
                mean, n_acc = row["final_acc_mean"], row["final_acc_n"]
                row["delta_vs"], row["delta_final"], row["flag"] = None, math.nan, False
                if i == 0 and ref_backend is None and n_acc:
                    ref_mean, ref_backend = mean, b
                elif i == 0 and ref_mean is not None:
                    delta = mean - ref_mean
                    row["delta_vs"], row["delta_final"] = ref_backend, delta
                    row["flag"] = bool(math.isfinite(delta) and abs(delta) > tolerance)
                out.append(row)
    return pd.DataFrame(out)


def _num(v, fmt: str, missing: str = "") -> str:
    return missing if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, fmt)


def display(tab: pd.DataFrame, tolerance: float = 0.01) -> pd.DataFrame:
    """The numeric table pivoted for reading: one row per experiment, a column group per
    backend. One number format: accuracy 4 decimals, steps and images/s whole numbers with
    thousands separators, seconds one decimal."""
    if tab.empty:
        return pd.DataFrame()
    targets = sorted({c[len("steps_to_"):-len("_median")] for c in tab.columns
                      if c.startswith("steps_to_") and c.endswith("_median")}, key=float)
    out = []
    for _, g in tab.groupby("experiment", sort=False):
        # the backends' newest numerics versions side by side, then each older version on a row
        # of its own: runs of two versions are never in one cell
        current = g[g["current"]] if "current" in g else g
        older = [r.to_frame().T for _, r in g[~g["current"]].iterrows()] if "current" in g else []
        for part in [current, *older]:
            out.append(_display_row(part, targets, tolerance))
    return pd.DataFrame(out).fillna("")


def _display_row(g: pd.DataFrame, targets: list[str], tolerance: float) -> dict:
    first = g.iloc[0]
    tuning = " (tuning: on val)" if first.get("evaluated_on") == "val" else (
        f" ({first['role']})" if isinstance(first.get("role"), str) and first.get("role") else "")
    row = {"network": first["network"], "dataset": first["dataset"], "policy": first["policy"] + tuning,
           "batch": _num(first["batch_size"], ","), "steps": _num(first["budget"], ",")}
    for _, r in g.iterrows():
        b = r["backend"]
        notes = [f"{r[k]} {k}" for k in ("diverged", "exploded", "contended") if r.get(k)]
        row[f"{b} seeds"] = f"{r['n']}" + (f" ({', '.join(notes)})" if notes else "")
        acc = _num(r["final_acc_mean"], ".4f")
        row[f"{b} final acc"] = acc + (f" ± {r['final_acc_sd']:.4f}" if acc and r["final_acc_n"] > 1 else "")
        row[f"{b} best acc"] = _num(r["best_acc_mean"], ".4f")
        row[f"{b} img/s"] = _num(r["images_per_s_median"], ",.0f")
        for t in targets:
            if f"total_{t}" not in r or pd.isna(r[f"total_{t}"]):
                continue
            k = f"({int(r[f'reached_{t}'])}/{int(r[f'total_{t}'])})"
            row[f"{b} steps→{t}"] = f"{_num(r[f'steps_to_{t}_median'], ',.0f', 'not reached')} {k}"
            if r.get("contended") and int(r["contended"]) >= int(r[f"total_{t}"]):
                row[f"{b} s→{t}"] = f"— (all {int(r['contended'])} contended)"
            else:
                out_c = f", {int(r['contended'])} contended left out" if r.get("contended") else ""
                row[f"{b} s→{t}"] = f"{_num(r[f'seconds_to_{t}_median'], ',.1f', 'not reached')} {k}{out_c}"
    deltas = g[g["delta_final"].notna()]
    for _, r in deltas.iterrows():
        row[f"Δ final ({r['backend']}−{r['delta_vs']})"] = f"{r['delta_final']:+.4f}"
        row["flag"] = f"> {tolerance:g}" if r["flag"] else ""
    row["code"] = "; ".join(g["code"]) if "code" in g else ""
    row["cells"] = ", ".join(sorted({c for cs in g.get("cells", []) for c in str(cs).split(", ") if c}))
    return row


def render(tab: pd.DataFrame, tolerance: float = 0.01) -> str:
    from tabulate import tabulate

    if tab.empty:
        return "(no complete training runs found)\n"
    return (tabulate(display(tab, tolerance), headers="keys", tablefmt="github", showindex=False,
                     disable_numparse=True) + "\n\n" + LEGEND)


LEGEND = ("seeds: runs made; diverged: ended on a non-finite loss; exploded: a finite loss above 100x the first "
          "update's (recorded as exploded_at; such a run may still end 'completed', at chance accuracy). "
          "final acc: mean ± one standard deviation (SD) over seeds, on the whole test split (compare.csv also "
          "gives the 95% t-interval of the mean); best acc: the highest periodic evaluation's accuracy, on one set "
          "of images (the evaluation subset, else the test split; a tuning run's validation split): chosen on the "
          "data it reports (optimistic, not a held-out result); steps→t and s→t: median over seeds of the first evaluation "
          "at or above t (on the evaluation subset where runs have one; a run that never got there counts as "
          "slowest, 'not reached' when the median is such a run), and how many got there; s→t only from runs "
          "that had the machine to themselves. contended: runs whose threads waited for a CPU more than "
          f"{WAIT_ABOVE:g} of the time they were runnable (another process competed: their seconds are not "
          "comparable; docs/clock.md). (tuning: on val): a tuning run, evaluated on the validation split. "
          "code: each backend's numerics version and the commits that made the runs (runs of two versions are "
          "never pooled: an older version gets a row of its own); cells: the suite cells whose runs these are "
          "(one experiment read by two cells is made once and counted once).\n")


def compare(paths, out_dir: str | Path | None, tolerance: float = 0.01, stream=None) -> tuple[pd.DataFrame, str]:
    out = make_out_dir(out_dir) if out_dir is not None else None  # before any work: a bad --out fails first
    runs = runs_frame(paths, stream)
    tab = table(runs, tolerance)
    md = render(tab, tolerance)
    if out is not None:
        atomic_write(out / "compare.md", md)
        atomic_write(out / "compare.csv", tab.to_csv(index=False))
        atomic_write(out / "runs.csv", runs.to_csv(index=False))
    return tab, md
