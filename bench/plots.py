"""Plots with matplotlib (Agg backend: no display needed), saved as PNG."""

from __future__ import annotations

from pathlib import Path


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_schedule(rows, policy, out: str | Path) -> Path:
    """Learning rate and momentum against step, one above the other."""
    plt = _plt()
    steps = [r[0] for r in rows]
    fig, (a, b) = plt.subplots(2, 1, sharex=True, figsize=(7, 5))
    a.plot(steps, [r[1] for r in rows], color="tab:blue")
    a.set_ylabel("learning rate")
    b.plot(steps, [r[2] for r in rows], color="tab:orange")
    b.set_ylabel("momentum")
    b.set_xlabel("step (optimizer update)")
    params = ", ".join(f"{k}={v}" for k, v in policy.model_dump().items() if k != "name")
    a.set_title(f"{policy.name}: {params}", fontsize=9)
    fig.tight_layout()
    out = Path(out)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
