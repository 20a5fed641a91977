"""The Setup section: networks, data and budgets, seeds, hardware, the evaluation set, how
rates were chosen (the tuned cells' grids and choices) and the clock."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from bench.judging.report.common import _fmt_int, _is_tuning, _meta, _range_words, _seed_words
from bench.records import identity


def _choices_table(choices: list[dict]) -> list[str]:
    from tabulate import tabulate

    if not choices:
        return []
    table = []
    for ch in sorted(choices, key=lambda c: (c["cell"], c.get("metric_key", ""), c["backend"])):
        grid = []
        for g in ch["grid"]:
            score = g.get("score")
            if score is None:
                sc = "never" if ch["metric"].get("name") == "steps_to_target" else "—"
            else:
                sc = f"{score:.0f}" if ch["metric"].get("name") == "steps_to_target" else f"{score:.4f}"
            mark = "**" if g["value"] == ch["chosen"] else ""
            grid.append(f"{mark}{g['value']:.4g}: {sc}{mark}")
        table.append([ch["cell"], ch["backend"], ch.get("metric_label", ""), ch["param"], "; ".join(grid),
                      f"{ch['chosen']:.4g}", ch.get("why", ""), ", ".join(map(str, ch.get("tuning_seeds", []))),
                      Path(ch.get("_file", "")).name])
    return [tabulate(table, headers=["tuned cell", "backend", "chosen by", "param", "grid: value on the validation "
                                     "split (chosen in bold)", "chosen", "why", "tuning seeds", "choice file"],
                     tablefmt="github"), ""]


def _networks(ours) -> list[str]:
    """Setup: networks."""
    lines: list[str] = []
    nets = defaultdict(set)
    params = {}
    for r in ours:
        nets[r.head.network.name].add(r.summary.backend)
        m = _meta(r)
        if m is not None and m.trainable_params:
            params.setdefault(r.head.network.name, m.trainable_params)
    lines += ["**Networks.** " + "; ".join(
        f"{n} ({_fmt_int(params.get(n))} trainable parameters; {', '.join(sorted(b))})" for n, b in sorted(nets.items()))
        + ".", ""]
    return lines


def _data_table(judged, tune) -> list[str]:
    """Setup: data and sizes, budgets."""
    from tabulate import tabulate

    lines: list[str] = []
    rows = {}
    for r in judged + tune:
        m = _meta(r)
        d = m.data if m is not None else None
        ds, net = r.head.dataset, r.head.network.name
        spe = r.summary.steps_per_epoch
        key = (net, ds.label(), _is_tuning(r), r.summary.total_steps, r.head.batch_size)
        if key in rows:
            continue
        split = identity.periodic_split(e.split for e in r.evals)
        rows[key] = [net, ds.name, _fmt_int(d.train if d else ds.train_size),
                     _fmt_int(d.val) if d else str(ds.val_size or 0), _fmt_int(d.test if d else ds.test_size),
                     {"val": "validation split", "eval": f"eval subset ({_fmt_int(d.eval if d else ds.eval_size)})",
                      "test": "whole test split"}[split], r.head.batch_size, _fmt_int(r.summary.total_steps),
                     f"{r.summary.total_steps / spe:.3g}" if spe and r.summary.total_steps else "?",
                     "tuning" if _is_tuning(r) else "judged"]
    lines += ["**Data, sizes and budgets** (images; steps are optimizer updates; the final evaluation of every "
              "run is on the whole test split):", "",
              tabulate(sorted(rows.values(), key=lambda x: (x[-1], x[0], x[1])),
                       headers=["network", "dataset", "train", "val", "test", "periodic evaluations on", "batch",
                                "steps", "epochs", "runs"], tablefmt="github"), ""]
    return lines


def _seeds(judged, tune) -> list[str]:
    """Setup: seeds per backend."""
    lines: list[str] = []
    by_b = defaultdict(lambda: {"judged": set(), "tuning": set(), "n": 0, "nt": 0})
    for r in judged:
        by_b[r.summary.backend]["judged"].add(r.head.seed)
        by_b[r.summary.backend]["n"] += 1
    for r in tune:
        by_b[r.summary.backend]["tuning"].add(r.head.seed)
        by_b[r.summary.backend]["nt"] += 1
    per_cell = defaultdict(lambda: defaultdict(int))
    for r in judged:
        per_cell[r.summary.backend][r.head.name] += 1
    lines += ["**Seeds per backend.** " + "; ".join(
        f"{b}: {v['n']} judged runs on seeds {_seed_words(v['judged'])} "
        f"({_range_words(per_cell[b].values())} per cell)"
        + (f", {v['nt']} tuning runs on seeds {_seed_words(v['tuning'])}" if v["nt"] else "")
        for b, v in sorted(by_b.items())) + ". Tuning seeds are never judged seeds.", ""]
    return lines


def _hardware(ours) -> list[str]:
    """Setup: hardware."""
    lines: list[str] = []
    hw = Counter()
    for r in ours:
        m = _meta(r)
        if m is None:
            continue
        dev = m.device or {}
        fw = ", ".join(f"{k} {v}" for k, v in sorted((m.framework or {}).items()))
        hw[(m.hostname or "?", dev.get("type", "?"), dev.get("name", "?"), m.cpu_count, json.dumps(m.threads), fw)] += 1
    if hw:
        lines += ["**Hardware.** " + "; ".join(
            f"{n} runs on {h} ({t} {name}, {cpus} CPUs, threads {th}; {fw})"
            for (h, t, name, cpus, th, fw), n in sorted(hw.items())) + ".", ""]
    return lines


def _evaluation_set() -> list[str]:
    """Setup: evaluation set."""
    lines: list[str] = []
    lines += ["**Evaluation set.** Accuracy after training is on the whole test split; times to a target are read "
              "from the periodic evaluations, on a fixed subset of the test split where a run has one "
              "(`dataset.eval_size`), never the final whole-test evaluation. Tuning runs are evaluated on the "
              "validation split only (held out of the training split); nothing is chosen on the test split.", ""]
    return lines


def _rates(judged, choices) -> list[str]:
    """Setup: how rates were chosen."""
    lines: list[str] = []
    prov = Counter()
    for r in judged:
        p = r.head.provenance or {}
        prov[(p.get("tuned_by"), p.get("c"), p.get("rule"))] += 1
    said = []
    for (by, c, rule), n in sorted(prov.items(), key=lambda kv: str(kv[0])):
        if c is None and rule is None:
            continue
        what = {"smith": "one-cycle by Smith's rule (peak c, minimum c/10)",
                "report": "one-cycle by the report's rule (minimum c, peak 10c)",
                "grid-best": "the best value of a grid on the validation split (below)",
                None: "the range test's pick as given"}.get(rule, f"rule {rule}")
        said.append(f"{n} runs: {what}" + (f", c = {c:g}" if c is not None else "") + (f" ({by})" if by else ""))
    lines += ["**How rates were chosen.** " + ("; ".join(said) if said else "as each spec gives them") + ".", ""]
    if choices:
        lines += ["Tuned cells (bench/rates/tuning.py): each grid value was run on the tuning seeds with the validation "
                  "split held out of the training data and scored on that split by the claim's own metric; the "
                  "judged runs use the chosen value on other seeds.", ""] + _choices_table(choices)
    return lines


def _clock(ours) -> list[str]:
    """Setup: clock."""
    lines: list[str] = []
    cont = [r for r in ours if r.summary.get("contended") is True]
    measured = [r for r in ours if r.summary.get("contended") is not None]
    if measured:
        from bench.running.clock import WAIT_ABOVE

        waits = [r.summary.get("cpu_wait_share") for r in measured if r.summary.get("cpu_wait_share") is not None]
        lines += [f"**Clock.** {len(cont)} of {len(measured)} runs with a clock record were contended (their threads "
                  f"waited for a CPU more than {WAIT_ABOVE:g} of the time they were runnable: another process "
                  "competed; docs/clock.md)"
                  + (f"; median wait share {float(np.median(waits)):.2f}" if waits else "")
                  + ". Seconds to a target use uncontended runs only.", ""]
    else:
        lines += ["**Clock.** These runs carry no clock record (made before it existed): their seconds cannot be "
                  "told apart from a contended machine's; the report uses steps.", ""]
    return lines


def setup_section(runs, log: dict | None, choices: list[dict]) -> list[str]:
    """The Setup section: what was run, on what, and how its rates were chosen."""
    ours = [r for r in runs if r.summary.kind == "train"]
    judged = [r for r in ours if not _is_tuning(r)]
    tune = [r for r in ours if _is_tuning(r)]
    lines = ["## Setup", ""]
    if not ours:
        return lines + ["No training runs of this harness in these folders.", ""]
    lines += _networks(ours) + _data_table(judged, tune) + _seeds(judged, tune) + _hardware(ours)
    lines += _evaluation_set() + _rates(judged, choices) + _clock(ours)
    return lines
