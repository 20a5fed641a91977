"""The Limits section: devices, subsets, Fashion-MNIST standing in for the papers' data,
what was not run and why, contended runs."""

from __future__ import annotations

import os
from collections import Counter, defaultdict

from bench.judging.report.common import _fmt_int, _is_tuning, _label, _meta, _plural


def limits_section(runs, rows, log, checks) -> list[str]:
    ours = [r for r in runs if r.summary.kind == "train"]
    lines = ["## Limits", ""]
    devices = Counter()
    for r in ours:
        m = _meta(r)
        devices[((m.device or {}).get("type") if m else None) or "?"] += 1
    if ours and set(devices) <= {"cpu"}:
        cpus = {(_meta(r).cpu_count if _meta(r) else None) for r in ours} - {None}
        lines.append(f"- **CPU only.** Every run trained on a CPU ({', '.join(map(str, sorted(cpus)))} cores): budgets "
                     "are CPU budgets (a few epochs), far from the papers' (tens of epochs, tens of thousands of "
                     "iterations on GPUs). Differences that need long training to appear cannot appear here.")
    elif ours:
        lines.append("- **Devices.** " + ", ".join(f"{n} runs on {d}" for d, n in sorted(devices.items())) + ".")
    subsets: dict[tuple[str, int], list] = {}
    whole = set()  # networks with runs on the whole training split
    for r in ours:
        size = r.head.dataset.train_size
        if size:
            subsets.setdefault((r.head.network.name, size), []).append(r)
        else:
            whole.add(r.head.network.name)
    if subsets:
        parts = []
        for (net, size), rs in sorted(subsets.items(), key=str):
            names = sorted({x.head.name for x in rs})
            stem = os.path.commonprefix(names)
            cells = (", ".join(names) if len(names) <= 3
                     else f"{len(names)} cells" + (f", {stem}*" if len(stem) > 3 else ""))
            parts.append(f"{net} on {_fmt_int(size)} images ({_plural(len(rs), 'run')}: {cells})")
        rest = sorted(whole & {net for net, _ in subsets})
        lines.append("- **Subsets.** Trained on part of the training split: " + "; ".join(parts) + "."
                     + (f" The other runs of {', '.join(rest)} train on the whole training split." if rest else "")
                     + " Tuning runs hold out a validation split too.")
    datasets = {r.head.dataset.name for r in ours}
    if ours and datasets <= {"fashion_mnist"}:
        lines.append("- **Fashion-MNIST stands in for CIFAR-10.** The papers' claims are about CIFAR-10, Flowers 17 "
                     "and TinyImageNet; our runs are on Fashion-MNIST (28x28 greyscale, 10 classes), which the "
                     "simple CNN learns in a few epochs. Our FM claims say what holds there, not what holds on CIFAR.")
    single = sorted({r.head.name for r in ours if not _is_tuning(r)
                     and sum(1 for q in ours if q.head.name == r.head.name
                             and q.summary.backend == r.summary.backend) == 1})
    if single:
        lines.append(f"- **Single seeds.** {', '.join(single)}: one run per backend (a CPU budget); no claim is "
                     "judged on them.")
    absent = defaultdict(list)
    for r in rows:
        if r.get("backend") == "—":
            why = r["why"]
            if " not found in " in why:
                why = why.split(" not found in ")[0].rstrip(",") + " (not found on this machine)"
            elif why.startswith("no runs"):
                made = why.split("made by: ")[-1] if "made by: " in why else ""
                why = "no runs in these folders" + (f" (made by {made})" if made else "")
            absent[why].append(_label(r))
    if absent:
        lines.append("- **Not run here, and why.** " + "; ".join(
            f"{', '.join(ids)}: {why}" for why, ids in sorted(absent.items())) + ".")
    few = [r for r in rows if r["verdict"] == "inconclusive" and r.get("backend") != "—"
           and r["why"].startswith("too few runs")]
    if few:
        lines.append("- **Too few runs.** " + "; ".join(
            f"{_label(r)} on {r['backend']}: {r['why']}" for r in few) + ".")
    cont = sum(1 for r in ours if r.summary.get("contended") is True)
    if cont:
        lines.append(f"- **Contended runs.** {_plural(cont, 'run')} trained while another process competed for the "
                     f"CPUs; {'its' if cont == 1 else 'their'} seconds are left out of seconds-to-target numbers "
                     "(steps are unaffected).")
    if log:
        skipped = [s for s in log.get("skipped", []) if not s["why"].startswith("already")]
        if skipped:
            lines.append("- **Skipped cells.** " + "; ".join(f"{s.get('cell', s['run'])}: {s['why']}"
                                                              for s in skipped) + ".")
        waiting = [c for c in log.get("choices", []) if c.get("chosen") is None]
        if waiting:
            lines.append("- **Tuned cells not judged yet.** " + "; ".join(
                f"{c['cell']} [{c['metric']}, {c['backend']}]: {c['why']}" for c in waiting) + ".")
    lines.append("- **Verdicts are per backend**, each on its own seeds; a claim that holds on one backend and is "
                 "inconclusive on the other has not been replicated across frameworks.")
    return lines + [""]
