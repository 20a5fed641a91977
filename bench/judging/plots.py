"""Plots with matplotlib (Agg backend: no display needed), saved as PNG."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from bench.errors import BenchError

_MASK = os.umask(0)
os.umask(_MASK)
_FILE_MODE = 0o666 & ~_MASK  # the mode open(..., "w") gives a new file


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_png(fig, out: str | Path, dpi: int = 120) -> Path:
    """Save ``fig`` as PNG via a temporary file in the same folder and a rename: a reader
    (or a second writer) never sees a half-written image."""
    out = Path(out)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    except OSError as e:
        why = "does not exist" if not out.parent.is_dir() else f"is not writable ({e.strerror or e})"
        raise BenchError(f"cannot write {out}: the folder {out.parent} {why}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            fig.savefig(f, dpi=dpi, format="png")
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _FILE_MODE)  # mkstemp makes it private (0600); open() would honour the umask
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def schedule_figure(rows, policy, width_in: float = 7.0):
    """The figure of :func:`plot_schedule`: learning rate and momentum against step, one
    above the other, under a title (the policy and every parameter) wrapped to the figure's
    width, so that it is never cut off."""
    import textwrap

    plt = _plt()
    steps = [r[0] for r in rows]
    fig, (a, b) = plt.subplots(2, 1, sharex=True, figsize=(width_in, 5))
    a.plot(steps, [r[1] for r in rows], color="tab:blue")
    a.set_ylabel("learning rate")
    b.plot(steps, [r[2] for r in rows], color="tab:orange")
    b.set_ylabel("momentum")
    b.set_xlabel("step (optimizer update)")
    params = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                       for k, v in policy.model_dump().items() if k != "name")
    # 9 pt characters are about 5 pt wide on average: 12 per inch, less the margins
    a.set_title("\n".join(textwrap.wrap(f"{policy.name}: {params}", max(20, int(width_in * 11)))), fontsize=9)
    fig.tight_layout()
    return fig


def plot_schedule(rows, policy, out: str | Path) -> Path:
    """Learning rate and momentum against step, one above the other, as a PNG."""
    plt = _plt()
    fig = schedule_figure(rows, policy)
    try:
        return save_png(fig, out, dpi=120)
    finally:
        plt.close(fig)


def _finish(plt, fig, ax, title: str, out) -> Path:
    """Range-test plots: log-rate axis, wrapped title, legend, saved as PNG."""
    import textwrap

    ax.set_xlabel("log10(learning rate)")
    ax.set_title("\n".join(textwrap.wrap(title, 90)), fontsize=8)
    ax.legend(fontsize=7)
    fig.tight_layout()
    try:
        return save_png(fig, out, dpi=120)
    finally:
        plt.close(fig)


SUGGESTION_STYLE = {"report": "tab:red", "steepest": "tab:green", "valley": "tab:purple", "minimum": "tab:brown",
                    "peak": "tab:red"}


def plot_range_test(result, out: str | Path, title: str = "") -> Path:
    """The report's Figure 1: loss against log10(lr), raw and smoothed, suggestions marked."""
    import numpy as np

    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    rows = result.rows
    lrs = np.array([r["lr"] for r in rows], float)
    pos = lrs > 0
    if result.metric == "loss":
        ax.plot(np.log10(lrs[pos]), np.array([r["loss"] for r in rows], float)[pos], color="0.75", lw=0.8,
                label="loss (raw)")
        ax.plot(np.log10(lrs[pos]), np.array([r["smoothed"] for r in rows], float)[pos], color="tab:blue",
                label="loss (smoothed, beta 0.98)")
        ax.set_ylabel("training loss")
    else:
        xs, ys = result.curve()
        p = xs > 0
        if result.metric == "val_loss":
            raw = [(r["lr"], r["metric"]) for r in rows if r.get("metric") is not None and r["lr"] > 0]
            if raw:
                ax.plot(np.log10([a for a, _ in raw]), [b for _, b in raw], color="0.75", lw=0.8, label="val loss (raw)")
        ax.plot(np.log10(xs[p]), ys[p], color="tab:blue", marker="." if result.metric.endswith("acc") else None,
                label=result.metric.replace("_", " ") + (" (smoothed)" if result.metric == "val_loss" else ""))
        ax.set_ylabel(result.metric.replace("_", " "))
    for name, lr in result.suggestions.items():
        if lr and lr > 0:
            ax.axvline(np.log10(lr), color=SUGGESTION_STYLE.get(name, "k"), ls="--", lw=1,
                       label=f"{name}: {lr:.3g} (10^{np.log10(lr):.2f})")
    if result.metric == "loss":
        # from the lowest loss (raw or smoothed) to a little above the starting loss: the
        # divergence shoots off the top, as in the report's Figure 1
        vals = [v for r in rows for v in (r["loss"], r["smoothed"]) if np.isfinite(v)]
        if vals:
            lo, first = min(vals), rows[0]["smoothed"]
            ax.set_ylim(lo - 0.05 * abs(first - lo) - 1e-3, first + 0.3 * abs(first - lo) + 1e-3)
    return _finish(plt, fig, ax, title or f"LR range test ({result.mode}, momentum {result.momentum:g}); "
                                          f"stopped: {result.stop_reason}", out)


def plot_overlay(curves, out: str | Path, title: str, ylabel: str = "smoothed loss") -> Path:
    """Several range tests on one plot (the report's Figures 2-4): curves = [(label, lrs, values)]."""
    import numpy as np

    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    lows, firsts = [], []
    for label, lrs, v in curves:
        lrs, v = np.asarray(lrs, float), np.asarray(v, float)
        keep = (lrs > 0) & np.isfinite(v)
        if keep.any():
            ax.plot(np.log10(lrs[keep]), v[keep], label=label)
            lows.append(v[keep].min())
            firsts.append(v[keep][0])
    if lows and "loss" in ylabel:
        lo, hi = min(lows), max(firsts)
        ax.set_ylim(lo - 0.1 * abs(hi - lo) - 1e-3, hi + 0.5 * abs(hi - lo) + 1e-3)
    ax.set_ylabel(ylabel)
    return _finish(plt, fig, ax, title, out)
