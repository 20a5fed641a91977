"""Tables across policies and backends, read from run directories only.

``bench compare PATH ...`` loads every complete run directory under PATH into a pandas
DataFrame (one row per run), groups runs of the same experiment (the resolved spec
without backend, seed, device and name) and prints one row per experiment with, per
backend: seeds, final test accuracy mean +- std, best accuracy, steps and training
seconds to each target, images per second; then the backend difference in mean final
accuracy and a flag where it exceeds the tolerance.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from bench import rundir
from bench.rundir import atomic_write, make_out_dir


def experiment_key(spec: dict) -> str:
    """What makes two runs the same experiment: everything but backend, seed, device, name."""
    rest = {k: v for k, v in spec.items() if k not in ("backend", "seed", "device", "name")}
    return hashlib.sha256(json.dumps(rest, sort_keys=True).encode()).hexdigest()[:8]


def policy_label(p: dict) -> str:
    """The policy's own label (:meth:`bench.schedules.Constant.label` and the others)."""
    from bench.schedules import label

    return label(p)


def dataset_label(d: dict) -> str:
    extra = f" n={d['train_size']}" if d.get("train_size") else ""
    return d["name"] + extra


def load_runs(paths, stream=None) -> pd.DataFrame:
    """One row per complete training run (:func:`bench.rundir.load_runs`, which names every
    directory it skips in a warning)."""
    stream = stream or sys.stderr
    rows = []
    for run in rundir.load_runs(paths, stream, kinds={"train"}):
        try:
            rows.append(_row(run))
        except (KeyError, TypeError, AttributeError) as e:  # a spec.yaml edited by hand
            rundir.warn_skip(stream, "unreadable", run.path, f"spec.yaml: {type(e).__name__}: {e}")
    df = pd.DataFrame(rows)
    if not df.empty:
        df["run_id"] = [Path(p).name for p in df["run_dir"]]
    return df


def _row(run: rundir.Run) -> dict:
    spec, s = run.spec, run.summary
    row = {
        "run_dir": str(run.path), "experiment": experiment_key(spec), "network": spec["network"]["name"],
        "dataset": dataset_label(spec["dataset"]), "policy": policy_label(spec["policy"]),
        "batch_size": spec["batch_size"], "budget": s.total_steps,
        "backend": s.backend, "seed": spec["seed"], "status": s.status,
        "final_acc": s.final_test_acc, "best_acc": s.best_test_acc,
        "images_per_s": s.images_per_s, "train_s": s.train_s,
    }
    for t, hit in s.targets.items():
        row[f"steps@{t}"] = math.inf if hit is None else hit.step
        row[f"s@{t}"] = math.inf if hit is None else hit.train_s
    return row


def _fmt_target(values: pd.Series, digits: int) -> str:
    v = values.dropna()
    if v.empty:
        return ""
    reached = np.isfinite(v.to_numpy(dtype=float)).sum()
    med = float(np.median(v.to_numpy(dtype=float)))  # a run that never got there counts as slowest
    shown = "never" if not math.isfinite(med) else (f"{med:.0f}" if digits == 0 else f"{med:.1f}")
    return f"{shown} ({reached}/{len(v)})"


def table(runs: pd.DataFrame, tolerance: float = 0.01) -> pd.DataFrame:
    if runs.empty:
        return pd.DataFrame()
    backends = sorted(runs["backend"].unique())
    targets = sorted({c.split("@", 1)[1] for c in runs.columns if c.startswith("steps@")}, key=float)
    out = []
    for _, g in runs.groupby("experiment", sort=False):
        first = g.iloc[0]
        row = {"network": first["network"], "dataset": first["dataset"], "policy": first["policy"],
               "batch": first["batch_size"], "steps": first["budget"]}
        means = {}
        for b in backends:
            r = g[g["backend"] == b]
            done = r[r["status"] == "completed"]
            acc = done["final_acc"].astype(float)
            div = int((r["status"] == "diverged").sum())
            row[f"{b} seeds"] = f"{len(r)}" + (f" ({div} diverged)" if div else "")
            if len(acc):
                means[b] = acc.mean()
                row[f"{b} final acc"] = (f"{acc.mean():.4f} ± {acc.std(ddof=1):.4f}" if len(acc) > 1
                                         else f"{acc.mean():.4f}")
                row[f"{b} best acc"] = f"{done['best_acc'].astype(float).mean():.4f}"
                row[f"{b} img/s"] = f"{done['images_per_s'].astype(float).median():.0f}"
            else:
                row[f"{b} final acc"] = row[f"{b} best acc"] = row[f"{b} img/s"] = ""
            for t in targets:
                if f"steps@{t}" in r:
                    row[f"{b} steps→{t}"] = _fmt_target(r[f"steps@{t}"], 0)
                    row[f"{b} s→{t}"] = _fmt_target(r[f"s@{t}"], 1)
        if len(backends) == 2 and len(means) == 2:
            a, b = backends
            diff = means[b] - means[a]
            row[f"Δ final ({b}−{a})"] = f"{diff:+.4f}"
            row["flag"] = f"> {tolerance:g}" if abs(diff) > tolerance else ""
        out.append(row)
    return pd.DataFrame(out).fillna("")


def render(tab: pd.DataFrame) -> str:
    from tabulate import tabulate

    if tab.empty:
        return "(no complete training runs found)\n"
    return tabulate(tab, headers="keys", tablefmt="github", showindex=False, disable_numparse=True) + "\n\n" + LEGEND


LEGEND = ("final acc: mean ± one standard deviation (SD) over seeds, on the whole test split; best acc: the "
          "highest evaluation accuracy, chosen on the test data (optimistic, not a held-out result); steps→t and "
          "s→t: median over seeds of the first evaluation at or above t (on the evaluation subset where runs have "
          "one; a run that never got there counts as slowest), and how many got there.\n")


def compare(paths, out_dir: str | Path | None, tolerance: float = 0.01, stream=None) -> tuple[pd.DataFrame, str]:
    out = make_out_dir(out_dir) if out_dir is not None else None  # before any work: a bad --out fails first
    runs = load_runs(paths, stream)
    tab = table(runs, tolerance)
    md = render(tab)
    if out is not None:
        atomic_write(out / "compare.md", md)
        atomic_write(out / "compare.csv", tab.to_csv(index=False))
        atomic_write(out / "runs.csv", runs.to_csv(index=False))
    return tab, md
