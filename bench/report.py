"""``bench report``: tables, claim verdicts and plots into ``report.md``, from run directories only.

Plots (the report's Figures 5-11): one figure per (network, dataset), test accuracy
against epoch, iteration and training seconds, one colour per policy, one line style
per backend, the mean over seeds as a line and the min-max band; under it the
schedule (learning rate against iteration) of each policy.
"""

from __future__ import annotations

import datetime as dt
import platform
from collections import defaultdict
from pathlib import Path

import numpy as np
import yaml

from bench import claims as claims_mod
from bench import compare as compare_mod
from bench.plots import _plt, save_png
from bench.rundir import atomic_write, load_runs, make_out_dir


def _curves(runs):
    """(network, dataset) -> (policy label, backend) -> list of (steps, epochs, seconds, acc) arrays."""
    groups = defaultdict(lambda: defaultdict(list))
    for r in runs:
        s = r.summary
        if s.kind not in ("train", "reference") or not r.evals or s.status == "interrupted":
            continue
        spec = r.spec
        spe = s.steps_per_epoch or 0
        steps = np.array([e.step for e in r.evals], float)
        acc = np.array([e.acc for e in r.evals], float)
        secs = np.array([np.nan if e.train_s is None else e.train_s for e in r.evals], float)
        epochs = steps / spe if spe else np.full_like(steps, np.nan)
        key = (spec["network"]["name"], compare_mod.dataset_label(spec["dataset"]))
        pol = compare_mod.policy_label(spec["policy"]) + (f" [{spec['name']}]" if s.kind == "reference" else "")
        pkey = yaml.safe_dump(spec.get("policy"), sort_keys=True)  # hashable
        groups[key][(pol, s.backend, pkey, s.total_steps)].append((steps, epochs, secs, acc))
    return groups


def plot_group(key, series, out: Path) -> Path:
    from bench import backends as registry
    from bench.schedules import POLICIES, make_schedule

    plt = _plt()
    fig, axes = plt.subplots(2, 3, figsize=(15, 7.5), gridspec_kw={"height_ratios": [3, 1.2]})
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    # our backends as the registry draws them; imported reference runs dotted
    styles = {name: e.line_style for name, e in registry.BACKENDS.items()} | {"caffe": ":", "keras-csv": "-."}
    policies = sorted({k[0] for k in series})
    for (pol, backend, pkey, total), runs in sorted(series.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
        policy = yaml.safe_load(pkey)
        c = colours[policies.index(pol) % len(colours)]
        n = max(len(r[3]) for r in runs)  # a shorter (diverged) seed is padded, not the others cut
        acc = np.full((len(runs), n), np.nan)
        for k, r in enumerate(runs):
            acc[k, : len(r[3])] = r[3]
        longest = max(runs, key=lambda r: len(r[3]))
        with np.errstate(all="ignore"), __import__("warnings").catch_warnings():
            __import__("warnings").simplefilter("ignore", RuntimeWarning)
            mean, lo, hi = np.nanmean(acc, 0), np.nanmin(acc, 0), np.nanmax(acc, 0)
        for ax, xi in zip(axes[0], (1, 0, 2), strict=True):
            x = longest[xi]
            if np.all(np.isnan(x)):
                continue
            ax.plot(x, mean, styles.get(backend, "-"), color=c, label=f"{pol} ({backend}, n={len(runs)})")
            if len(runs) > 1:
                ax.fill_between(x, lo, hi, color=c, alpha=0.15)
        if policy and total and policy.get("name") in POLICIES and backend in registry.BACKENDS:
            try:
                sched = make_schedule(POLICIES[policy["name"]].model_validate(policy), int(total))
                xs = np.linspace(0, total - 1, min(int(total), 400)).astype(int)
                axes[1][1].plot(xs, [sched(int(s))[0] for s in xs], color=c)
            except Exception:  # a reference policy the schedules cannot rebuild: no schedule line
                pass
    for ax, xl in zip(axes[0], ("epoch", "iteration", "training seconds"), strict=True):
        ax.set_xlabel(xl)
        ax.set_ylabel("test accuracy")
        ax.grid(alpha=0.3)
    axes[0][1].legend(fontsize=7)
    axes[1][1].set_xlabel("iteration")
    axes[1][1].set_ylabel("learning rate")
    axes[1][0].axis("off")
    axes[1][2].axis("off")
    fig.suptitle(f"{key[0]} on {key[1]}: mean over seeds, band = min-max", fontsize=10)
    fig.tight_layout()
    path = out / f"accuracy-{key[0]}-{key[1].replace(' ', '_').replace('=', '')}.png"
    try:
        return save_png(fig, path, dpi=100)
    finally:
        plt.close(fig)


def make_report(paths, out_dir, claims_file=None, log: dict | None = None, tolerance: float = 0.01) -> Path:
    out = make_out_dir(out_dir)
    tab, md_table = compare_mod.compare(paths, out, tolerance)
    rows = claims_mod.verdicts(paths, claims_file)
    md_claims = claims_mod.render(rows)
    atomic_write(out / "claims.md", md_claims)
    import pandas as pd

    atomic_write(out / "claims.csv", pd.DataFrame(rows).to_csv(index=False))
    runs = load_runs(paths)
    plots = [plot_group(k, v, out) for k, v in sorted(_curves(runs).items())]
    lines = ["# Report", "",
             f"Generated {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')} on {platform.node()} "
             f"({platform.processor() or platform.machine()}), from {len(runs)} run directories in "
             + ", ".join(str(p) for p in paths) + ".", ""]
    if log:
        lines += [f"Suite `{log['suite']}`, budget `{log['budget']}`, backends {', '.join(log['backends'])} "
                  f"({log['why']}); {len(log['ran'])} runs made, {len(log['skipped'])} skipped, "
                  f"{len(log['failed'])} failed, wall clock {log.get('wall_s', 0) / 60:.1f} min.", ""]
        skipped = [s for s in log["skipped"] if not s["why"].startswith("already")]
        if skipped:
            lines += ["## Skipped", ""] + [f"- {s.get('cell', s['run'])}: {s['why']}" for s in skipped] + [""]
        if log["failed"]:
            lines += ["## Failed", ""] + [f"- {f['run']}: exit {f['exit']}" for f in log["failed"]] + [""]
    lines += ["## Claims", "", md_claims, "## Runs by experiment and backend", "", md_table, "## Plots", ""]
    lines += [f"![{p.stem}]({p.name})" for p in plots] + [""]
    path = out / "report.md"
    atomic_write(path, "\n".join(lines))
    return path
