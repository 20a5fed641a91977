"""The report's plots: test accuracy per (network, dataset) against epoch, iteration and
training seconds, one colour per policy, one line style per backend, the learning rate below."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import yaml

from bench.judging import compare as compare_mod
from bench.judging.plots import _plt, save_png
from bench.judging.report.common import _is_tuning
from bench.records import identity
from bench.records.rundir import UNREADABLE

SPARSE = 10  # a run with fewer evaluations than this is drawn with markers (no trend between points)
LOG_LR = 10.0  # peaks of the learning rate this many times apart: the rate panel is drawn on a log scale


def _curves(runs):
    """(network, dataset) -> (policy label, backend, policy yaml, total steps) -> list of runs'
    (steps, epochs, seconds, acc) arrays, and the learning rate each run trained with; a run
    that repeats another's experiment and seed (two cells read it) is drawn once."""
    groups = defaultdict(lambda: defaultdict(list))
    for r in identity.distinct(runs)[0]:
        s = r.summary
        if s.kind not in ("train", "reference") or not r.evals or s.status == "interrupted" or _is_tuning(r):
            continue
        h = r.head
        spe = s.steps_per_epoch or 0
        pts = r.evals  # the periodic evaluations, then the final one (whole test split)
        steps = np.array([e.step for e in pts], float)
        acc = np.array([e.acc for e in pts], float)
        secs = np.array([np.nan if e.train_s is None else e.train_s for e in pts], float)
        epochs = steps / spe if spe else np.full_like(steps, np.nan)
        key = (h.network.name, h.dataset.label())
        pol = compare_mod.policy_label(h.policy_data) + (f" [{h.name}]" if s.kind == "reference" else "")
        pkey = yaml.safe_dump(h.policy_data, sort_keys=True)  # hashable
        groups[key][(pol, s.backend, pkey, s.total_steps)].append((steps, epochs, secs, acc, r))
    return groups


def _lr_curve(policy: dict, total, backend: str, run):
    """(steps, rates) of the policy: rebuilt from the schedule where it can be, else read from
    the run's steps.csv (an imported log); None where neither says."""
    from bench.records.schedules import POLICIES, make_schedule

    if policy and total and policy.get("name") in POLICIES:
        try:
            sched = make_schedule(POLICIES[policy["name"]].model_validate(policy), int(total))
            xs = np.linspace(0, total - 1, min(int(total), 400)).astype(int)
            return xs, np.array([sched(int(s))[0] for s in xs], float)
        except Exception:  # noqa: BLE001 - a reference policy the schedules cannot rebuild: read the log
            pass
    try:
        rows = run.steps
    except UNREADABLE:
        return None
    pairs = [(float(r["step"]), float(r["lr"])) for r in rows if r.get("lr") not in (None, "")]
    if not pairs:
        return None
    if len(pairs) > 2000:
        pairs = pairs[:: len(pairs) // 2000 + 1]
    return np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])


def targets_of(series) -> list[float]:
    """The accuracies the group's runs time (their specs' targets): where arms are compared."""
    return sorted({t for runs in series.values() for r in runs for t in r[4].head.targets})


def plot_group(key, series, out: Path, targets=()) -> Path:
    """One figure per (network, dataset): accuracy against iteration, epoch and training
    seconds, ``targets`` drawn as dotted lines, the learning rate below."""
    from bench.running import registry

    plt = _plt()
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    # our backends as the registry draws them; imported reference runs dotted
    styles = {name: e.line_style for name, e in registry.BACKENDS.items()} | {"caffe": ":", "keras-csv": "-."}
    policies = sorted({k[0] for k in series})
    # which panels have something to draw: epochs need steps per epoch, seconds need times
    panels = [(xi, xl) for xi, xl in ((0, "iteration"), (1, "epoch"), (2, "training seconds"))
              if any(not np.all(np.isnan(r[xi])) for runs in series.values() for r in runs)]
    lrs = {}
    for (pol, backend, pkey, total), runs in series.items():
        curve = _lr_curve(yaml.safe_load(pkey), total, backend, runs[0][4])
        if curve is not None and np.any(np.asarray(curve[1]) > 0):
            lrs[(pol, backend)] = curve
    fig = plt.figure(figsize=(5 * len(panels), 7.5 if lrs else 4.8))
    grid = fig.add_gridspec(2 if lrs else 1, len(panels), height_ratios=[3, 1.2] if lrs else [1])
    axes = [fig.add_subplot(grid[0, i]) for i in range(len(panels))]
    for (pol, backend, _pkey, _total), runs in sorted(series.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
        c = colours[policies.index(pol) % len(colours)]
        n = max(len(r[3]) for r in runs)  # a shorter (diverged) seed is padded, not the others cut
        acc = np.full((len(runs), n), np.nan)
        for k, r in enumerate(runs):
            acc[k, : len(r[3])] = r[3]
        longest = max(runs, key=lambda r: len(r[3]))
        with np.errstate(all="ignore"), __import__("warnings").catch_warnings():
            __import__("warnings").simplefilter("ignore", RuntimeWarning)
            mean, lo, hi = np.nanmean(acc, 0), np.nanmin(acc, 0), np.nanmax(acc, 0)
        marker = "o" if n < SPARSE else None  # a few evaluations: points, not a trend
        for ax, (xi, _) in zip(axes, panels, strict=True):
            x = longest[xi]
            if np.all(np.isnan(x)):
                continue
            label = f"{pol} ({backend}, n={len(runs)})"
            if marker:  # the points are the data; a faint line only joins them
                ax.plot(x, mean, styles.get(backend, "-"), color=c, lw=0.8, alpha=0.35)
                shape = {"-": "o", "--": "s", ":": "^", "-.": "D"}.get(styles.get(backend, "-"), "o")  # per backend
                ax.plot(x, mean, shape, color=c, markersize=5, label=label)
            else:
                ax.plot(x, mean, styles.get(backend, "-"), color=c, label=label)
            if len(runs) > 1:
                ax.fill_between(x, lo, hi, color=c, alpha=0.15)
    for ax, (_, xl) in zip(axes, panels, strict=True):
        for t in targets:
            ax.axhline(t, color="0.25", ls=":", lw=1, label=f"target {t:g}" if ax is axes[0] else None)
        ax.set_xlabel(xl)
        ax.set_ylabel("test accuracy")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    if lrs:
        ax_lr = fig.add_subplot(grid[1, 0])
        peaks = [float(np.max(v)) for _, v in lrs.values()]
        log = max(peaks) / max(min(peaks), 1e-300) >= LOG_LR
        for (pol, backend), (xs, ys) in sorted(lrs.items()):
            c = colours[policies.index(pol) % len(colours)]
            ys = np.where(ys > 0, ys, np.nan) if log else ys
            ax_lr.plot(xs, ys, styles.get(backend, "-"), color=c)
        if log:
            ax_lr.set_yscale("log")
        ax_lr.set_xlabel("iteration")
        ax_lr.set_ylabel("learning rate" + (" (log)" if log else ""))
        ax_lr.grid(alpha=0.3)
    fig.suptitle(f"{key[0]} on {key[1]}: mean over seeds, band = min-max"
                 + (f"; points: fewer than {SPARSE} evaluations" if any(
                     max(len(r[3]) for r in runs) < SPARSE for runs in series.values()) else ""), fontsize=10)
    fig.tight_layout()
    path = out / f"accuracy-{key[0]}-{key[1].replace(' ', '_').replace('=', '')}.png"
    try:
        return save_png(fig, path, dpi=100)
    finally:
        plt.close(fig)


# -- helpers ----------------------------------------------------------------------------------
