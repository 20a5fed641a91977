"""``bench report``: a report a researcher can cite, from run directories only.

``report.md`` has these sections, each generated from the runs, their records and the
claims file (docs/reproducing.md#the-report):

- **Setup**: networks (trainable parameters), data and sizes (training, validation, test,
  evaluation subset), budgets, seeds per backend (judged and tuning), hardware, the
  evaluation set of each kind of number, how rates were chosen (the range test's pick, the
  derivation rules, and each tuned cell's grid and choice), and the clock (how many runs were
  contended);
- **Verdicts**: the verdict table (one row per claim, part and backend, naming its baseline);
- **Claims on our runs**: per claim and part, the question, the source's statement and
  number, the verdict with its statistic and interval per backend, and a generated paragraph
  that interprets it, with caveats found by comparing the arms' specs (a different
  batch-norm momentum, budget, data size) and from the data (single runs, subsets, a collapse
  to chance, a rate drop just before the first crossing, diverged and contended runs);
- **The authors' logs**: the imported reference runs and the claims judged on them;
- **Runs by experiment and backend**: the numeric table (tuning runs are in Setup);
- **Limits**: the hardware, subsets, Fashion-MNIST standing in for CIFAR-10, what was not
  run and why;
- **Plots**: per (network, dataset), test accuracy against epoch, iteration and training
  seconds (panels without data are left out), one colour per policy, one line style per
  backend, the mean over seeds and the min-max band, markers where a run has fewer than 10
  evaluations; under them the learning rate of each policy (log scale when the peaks differ
  tenfold or more).
"""

from __future__ import annotations

import datetime as dt
import platform
from pathlib import Path

from bench.judging import claims as claims_mod
from bench.judging import compare as compare_mod
from bench.judging.report.curves import _curves, plot_group, targets_of
from bench.judging.report.limits import limits_section
from bench.judging.report.setup import setup_section
from bench.judging.report.verdicts import (
    authors_logs_section,
    caveats,
    claim_sections,
    interpret,
    spec_differences,
)
from bench.rates import tuning
from bench.records.rundir import atomic_write, load_runs, make_out_dir

__all__ = ["authors_logs_section", "caveats", "claim_sections", "interpret", "limits_section", "make_report",
           "plot_group", "setup_section", "spec_differences"]


def make_report(paths, out_dir, claims_file=None, log: dict | None = None, tolerance: float = 0.01,
                pool_numerics: bool = False) -> Path:
    import pandas as pd
    from tabulate import tabulate  # noqa: F401  (the tables below)

    out = make_out_dir(out_dir)
    tab, _ = compare_mod.compare(paths, out, tolerance)
    rows = claims_mod.verdicts(paths, claims_file, pool_numerics=pool_numerics)
    md_claims = claims_mod.render(rows)
    atomic_write(out / "claims.md", md_claims)
    atomic_write(out / "claims.csv", pd.DataFrame(rows).to_csv(index=False))
    runs = load_runs(paths)
    checks = claims_mod.checks(claims_mod.load_claims(claims_file))
    choices = tuning.read_choices(paths)
    plots = [plot_group(k, v, out, targets_of(v)) for k, v in sorted(_curves(runs).items())]
    judged_tab = tab[tab["evaluated_on"] != "val"] if not tab.empty and "evaluated_on" in tab else tab
    lines = ["# Report", "",
             f"Generated {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')} on {platform.node()} "
             f"({platform.processor() or platform.machine()}), from {len(runs)} run directories in "
             + ", ".join(str(p) for p in paths) + ".", ""]
    if log:
        lines += [f"Suite `{log['suite']}`, budget `{log['budget']}`, backends {', '.join(log['backends'])} "
                  f"({log['why']}); {len(log['ran'])} runs made, {len(log['skipped'])} skipped, "
                  f"{len(log['failed'])} failed, wall clock {log.get('wall_s', 0) / 60:.1f} min.", ""]
        if log["failed"]:
            lines += ["Failed: " + "; ".join(f"{f['run']}: exit {f['exit']}" for f in log["failed"]), ""]
    lines += setup_section(runs, log, choices)
    lines += ["## Verdicts", "", "Every claim, part and backend (B is the baseline each row names; the claims "
              "are explained in docs/claims.md):", "", md_claims]
    ours_checks = [c for c in checks if not c.reference]
    body = claim_sections(rows, ours_checks, runs)
    lines += ["## Claims on our runs", ""]
    lines += body if body else ["No claim has runs of ours in these folders.", ""]
    lines += authors_logs_section(rows, checks, runs)
    lines += ["## Runs by experiment and backend", "", compare_mod.render(judged_tab, tolerance)]
    lines += limits_section(runs, rows, log, checks)
    lines += ["## Plots", ""] + [f"![{p.stem}]({p.name})" for p in plots] + [""]
    path = out / "report.md"
    atomic_write(path, "\n".join(lines))
    return path
