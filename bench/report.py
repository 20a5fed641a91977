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
import json
import os
import platform
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import yaml

from bench import claims as claims_mod
from bench import compare as compare_mod
from bench import identity, tuning
from bench.plots import _plt, save_png
from bench.rundir import UNREADABLE, atomic_write, load_runs, make_out_dir

SPARSE = 10  # a run with fewer evaluations than this is drawn with markers (no trend between points)
LOG_LR = 10.0  # peaks of the learning rate this many times apart: the rate panel is drawn on a log scale
CHANCE_MARGIN = 0.02  # a mean final accuracy within this of 1 / classes is a collapse to chance


def _is_tuning(run) -> bool:
    return any(e.split == "val" for e in run.evals)


def _curves(runs):
    """(network, dataset) -> (policy label, backend, policy yaml, total steps) -> list of runs'
    (steps, epochs, seconds, acc) arrays, and the learning rate each run trained with."""
    groups = defaultdict(lambda: defaultdict(list))
    for r in runs:
        s = r.summary
        if s.kind not in ("train", "reference") or not r.evals or s.status == "interrupted" or _is_tuning(r):
            continue
        spec = r.spec
        spe = s.steps_per_epoch or 0
        pts = r.evals  # the periodic evaluations, then the final one (whole test split)
        steps = np.array([e.step for e in pts], float)
        acc = np.array([e.acc for e in pts], float)
        secs = np.array([np.nan if e.train_s is None else e.train_s for e in pts], float)
        epochs = steps / spe if spe else np.full_like(steps, np.nan)
        key = (spec["network"]["name"], compare_mod.dataset_label(spec["dataset"]))
        pol = compare_mod.policy_label(spec["policy"]) + (f" [{spec['name']}]" if s.kind == "reference" else "")
        pkey = yaml.safe_dump(spec.get("policy"), sort_keys=True)  # hashable
        groups[key][(pol, s.backend, pkey, s.total_steps)].append((steps, epochs, secs, acc, r))
    return groups


def _lr_curve(policy: dict, total, backend: str, run):
    """(steps, rates) of the policy: rebuilt from the schedule where it can be, else read from
    the run's steps.csv (an imported log); None where neither says."""
    from bench.schedules import POLICIES, make_schedule

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


def plot_group(key, series, out: Path) -> Path:
    from bench import registry

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


def _fmt_int(x) -> str:
    return f"{int(x):,}" if x is not None else "?"


def _meta(run):
    try:
        return run.meta
    except UNREADABLE:
        return None


def _num_classes(run) -> int | None:
    from bench.data import DATASETS

    ds = (run.spec.get("dataset") or {}).get("name")
    return DATASETS[ds].num_classes if ds in DATASETS else None


def spec_differences(a_runs, b_runs) -> dict[str, tuple]:
    """Spec keys (beyond the policy, and what is not the experiment: bench.identity) in which
    the two arms' runs differ: key -> (A's value, B's value), as JSON text."""
    if not a_runs or not b_runs:
        return {}
    fa, fb = (identity.flat(identity.normalized(r[0].spec)) for r in (a_runs, b_runs))
    return {k: (fa.get(k, "(absent)"), fb.get(k, "(absent)"))
            for k in identity.differing([a_runs[0].spec, b_runs[0].spec], ignore=["policy."])}


def _rate_drop(run, step: int, cadence: int):
    """(from, to, at) where the run's learning rate fell to half or less within the stretch
    before its first crossing at ``step`` (two evaluation intervals, or a tenth of the steps
    if longer); None if it did not."""
    look = max(2 * cadence, int(0.1 * step))
    try:
        rows = run.steps
    except UNREADABLE:
        return None
    lr = [(int(float(r["step"])), float(r["lr"])) for r in rows if r.get("lr") not in (None, "")]
    before = [v for s, v in lr if s <= step - look]
    inside = [(s, v) for s, v in lr if step - look < s <= step]
    if not before or not inside:
        return None
    low_s, low = min(inside, key=lambda x: x[1])
    if low > 0 and before[-1] / low >= 2.0:
        at = next(s for s, v in inside if v <= before[-1] / 2.0)
        return before[-1], low, at
    return None


def _first_crossing(run, target: float):
    _, pts = claims_mod.periodic(run)
    return next((p.step for p in pts if p.acc >= target), None)


ARM_NAMES = {"a": "A", "b": "B", "c": "C", "d": "D"}


def _label(row: dict) -> str:
    return row["id"] + (f" ({row['part']})" if row.get("part") else "")


def caveats(check, arms: dict[str, list]) -> list[str]:
    """What a reader should know before citing the verdict, found from the arms' specs and data."""
    out = []
    names = {k: f"{ARM_NAMES[k]} ({', '.join(sorted({compare_mod.policy_label(r.spec['policy']) for r in rs}))})"
             for k, rs in arms.items() if rs}
    # spec differences between the compared arms (A vs B; C vs D)
    for x, y in (("a", "b"), ("c", "d")):
        diff = spec_differences(arms.get(x) or [], arms.get(y) or [])
        if not diff:
            continue
        words = []
        for k, (va, vb) in diff.items():
            va, vb = (x if x == "(absent)" else json.loads(x) for x in (va, vb))
            va, vb = (f"{x:.4g}" if isinstance(x, float) else x for x in (va, vb))
            if k == "network.bn_momentum":
                words.append(f"a different batch-norm momentum ({va} vs {vb}: part of the difference may be the "
                             "batch-norm statistics, not the schedule)")
            else:
                words.append(f"{k} ({va} vs {vb})")
        out.append(f"{ARM_NAMES[x]} and {ARM_NAMES[y]} differ in more than the policy: " + "; ".join(words) + ".")
    for k, rs in arms.items():
        if not rs:
            continue
        n = len(rs)
        if n == 1:
            out.append(f"{names[k]} is a single run: no error control, a coin toss under the null.")
        sizes = {(r.spec.get("dataset") or {}).get("train_size") for r in rs}
        sizes.discard(None)
        if sizes:
            out.append(f"{names[k]} trained on a subset of {', '.join(_fmt_int(s) for s in sorted(sizes))} "
                       "training images.")
        classes = _num_classes(rs[0])
        finals = [r.summary.final_test_acc for r in rs if r.summary.final_test_acc is not None]
        if classes and finals and abs(float(np.mean(finals)) - 1.0 / classes) <= CHANCE_MARGIN:
            out.append(f"{names[k]} collapsed to chance: mean final accuracy {np.mean(finals):.4f} with "
                       f"{classes} classes (chance {1 / classes:.4f}); the comparison is with a network that did "
                       "not learn" + (" (its loss exploded)" if any(r.summary.get("exploded_at") is not None
                                                                   for r in rs) else "") + ".")
        div = sum(1 for r in rs if r.summary.status == "diverged")
        if div:
            out.append(f"{names[k]}: {div} of {n} runs diverged (counted as 0, or never reaching the target).")
        cont = sum(1 for r in rs if r.summary.get("contended") is True)
        if cont and check.metric.name == "seconds_to_target":  # accuracy and steps do not depend on the machine
            out.append(f"{names[k]}: {cont} of {n} runs were contended (another process competed for the CPUs): "
                       "their seconds are not comparable and were left out.")
        if check.metric.name in claims_mod.TIMED:
            crossings = sorted(((s, r) for r in rs if (s := _first_crossing(r, check.metric.target)) is not None),
                               key=lambda x: x[0])
            if crossings:
                step, run = crossings[(len(crossings) - 1) // 2]
                cadence = run.spec.get("eval_every") if isinstance(run.spec.get("eval_every"), int) else 100
                drop = _rate_drop(run, step, cadence)
                if drop:
                    hi, lo, at = drop
                    out.append(f"{names[k]}'s median first crossing of {check.metric.target:g} (step {step:,}) "
                               f"comes {step - at:,} steps after its learning rate fell from {hi:g} to {lo:g} "
                               f"(step {at:,}): its time to target is set by where the schedule drops the rate.")
    if check.metric.name == "best_acc":
        out.append("best_acc is chosen on the test data: optimistic.")
    return out


def interpret(row: dict, check) -> str:
    """A short paragraph that says what the verdict means, from the row and the claim."""
    v, b = row["verdict"], row.get("backend", "")
    on = "" if b in ("—", "all") else f" on {b}"
    ours = row.get("ours") or ""
    timed = check.metric.name in claims_mod.TIMED
    what = {"holds": "support", "fails": "contradict", "inconclusive": "do not decide"}[v]
    who = "The authors' logs" if check.reference else f"Our runs{on}"
    first = f"{who} {what} it" + (f" ({ours})" if ours else "") + "."
    if row["why"].startswith("too few runs"):
        return f"{who} do not decide it yet: {row['why']}."
    if row.get("n1"):
        tail = (" With one run per arm there is no error control: the same comparison on another seed could "
                "come out the other way.")
    elif timed:
        tail = {"holds": f" B needed more than {check.ratio:g}x A's {'seconds' if 'seconds' in check.metric.name else 'steps'} "
                         "in enough pairs of runs for the 95% interval of B/A to clear the ratio.",
                "fails": f" A was proven faster than {check.ratio:g}x B in too few pairs, and B faster in enough: "
                         "the 95% interval of B/A lies below the ratio.",
                "inconclusive": " The 95% interval of B/A includes the ratio: the runs are compatible with the "
                                "claim and with its opposite; more seeds, or a finer evaluation cadence, would "
                                "narrow it."}[v]
    else:
        m = check.margin
        bound = {"superiority": f"above {m:g}", "non-inferiority": f"above {-m:g}",
                 "equivalence": f"inside ({-m:g}, {m:g})", "difference_of_differences": f"above {m:g}"}[check.kind]
        tail = {"holds": f" The 95% interval lies {bound}, as the claim needs.",
                "fails": " The 95% interval lies wholly on the other side of the bound the claim needs.",
                "inconclusive": f" The 95% interval is not wholly {bound}: the runs are compatible with the claim "
                                "and with its opposite; more seeds would narrow it."}[v]
    return first + tail


def _arm_runs(check, runs, backend: str) -> dict[str, list]:
    sel = {k: claims_mod.select(runs, s) for k, s in check.arms.items()}
    if backend not in ("all", "—"):
        sel = {k: [r for r in rs if r.summary.backend == backend] for k, rs in sel.items()}
    return sel


def claim_sections(rows: list[dict], checks: list, runs, heading: str = "###") -> list[str]:
    """Per check with runs: the question, the source, and per backend the verdict, its
    statistic, the baseline and a paragraph of interpretation with caveats."""
    by = defaultdict(list)
    for r in rows:
        by[(r["id"], r["part"])].append(r)
    lines = []
    for c in checks:
        rs = by.get((c.id, c.part or ""), [])
        if not rs or all(r.get("backend") == "—" for r in rs):
            continue
        said = ", ".join(f"{r['backend']} {r['verdict']}" for r in rs)
        lines += [f"{heading} {c.label}: {said}", ""]
        lines += [f"**Question.** {c.operational or c.statement}", ""]
        paper = f" The source's number: {c.paper}." if c.paper and c.paper != "—" else ""
        lines += [f"**Source.** {c.source}: \"{c.statement}\".{paper}", ""]
        for r in rs:
            verdict = r["verdict"] + (" (n=1)" if r.get("n1") else "")
            arms = _arm_runs(c, runs, r["backend"])
            how = "" if r["why"].startswith("too few runs") else f" How it was decided: {r['why']}."
            lines.append(f"**{c.label}, {r['backend']}: {verdict}.** {interpret(r, c)}{how}")
            if r.get("baseline"):
                lines.append(f"Baseline (B): {r['baseline']}.")
            cav = caveats(c, arms)
            lines.append("")
            if cav:
                lines += ["Caveats:", ""] + [f"- {x}" for x in cav]
            else:
                lines.append("No caveat found in the arms' specs or data.")
            lines.append("")
    return lines


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


def setup_section(runs, log: dict | None, choices: list[dict]) -> list[str]:
    from tabulate import tabulate

    ours = [r for r in runs if r.summary.kind == "train"]
    judged = [r for r in ours if not _is_tuning(r)]
    tune = [r for r in ours if _is_tuning(r)]
    lines = ["## Setup", ""]
    if not ours:
        return lines + ["No training runs of this harness in these folders.", ""]
    # networks
    nets = defaultdict(set)
    params = {}
    for r in ours:
        nets[r.spec["network"]["name"]].add(r.summary.backend)
        m = _meta(r)
        if m is not None and m.trainable_params:
            params.setdefault(r.spec["network"]["name"], m.trainable_params)
    lines += ["**Networks.** " + "; ".join(
        f"{n} ({_fmt_int(params.get(n))} trainable parameters; {', '.join(sorted(b))})" for n, b in sorted(nets.items()))
        + ".", ""]
    # data and sizes, budgets
    rows = {}
    for r in judged + tune:
        m = _meta(r)
        d = m.data if m is not None else None
        ds = r.spec["dataset"]
        spe = r.summary.steps_per_epoch
        key = (r.spec["network"]["name"], compare_mod.dataset_label(ds), _is_tuning(r), r.summary.total_steps,
               r.spec["batch_size"])
        if key in rows:
            continue
        split = identity.periodic_split(e.split for e in r.evals)
        rows[key] = [r.spec["network"]["name"], ds["name"], _fmt_int(d.train if d else ds.get("train_size")),
                     _fmt_int(d.val) if d else str(ds.get("val_size", 0)), _fmt_int(d.test if d else ds.get("test_size")),
                     {"val": "validation split", "eval": f"eval subset ({_fmt_int(d.eval if d else ds.get('eval_size'))})",
                      "test": "whole test split"}[split], r.spec["batch_size"], _fmt_int(r.summary.total_steps),
                     f"{r.summary.total_steps / spe:.3g}" if spe and r.summary.total_steps else "?",
                     "tuning" if _is_tuning(r) else "judged"]
    lines += ["**Data, sizes and budgets** (images; steps are optimizer updates; the final evaluation of every "
              "run is on the whole test split):", "",
              tabulate(sorted(rows.values(), key=lambda x: (x[-1], x[0], x[1])),
                       headers=["network", "dataset", "train", "val", "test", "periodic evaluations on", "batch",
                                "steps", "epochs", "runs"], tablefmt="github"), ""]
    # seeds per backend
    by_b = defaultdict(lambda: {"judged": set(), "tuning": set(), "n": 0, "nt": 0})
    for r in judged:
        by_b[r.summary.backend]["judged"].add(int(r.spec["seed"]))
        by_b[r.summary.backend]["n"] += 1
    for r in tune:
        by_b[r.summary.backend]["tuning"].add(int(r.spec["seed"]))
        by_b[r.summary.backend]["nt"] += 1
    per_cell = defaultdict(lambda: defaultdict(int))
    for r in judged:
        per_cell[r.summary.backend][r.spec["name"]] += 1
    lines += ["**Seeds per backend.** " + "; ".join(
        f"{b}: {v['n']} judged runs on seeds {_seed_words(v['judged'])} "
        f"({_range_words(per_cell[b].values())} per cell)"
        + (f", {v['nt']} tuning runs on seeds {_seed_words(v['tuning'])}" if v["nt"] else "")
        for b, v in sorted(by_b.items())) + ". Tuning seeds are never judged seeds.", ""]
    # hardware
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
    # evaluation set
    lines += ["**Evaluation set.** Accuracy after training is on the whole test split; times to a target are read "
              "from the periodic evaluations, on a fixed subset of the test split where a run has one "
              "(`dataset.eval_size`), never the final whole-test evaluation. Tuning runs are evaluated on the "
              "validation split only (held out of the training split); nothing is chosen on the test split.", ""]
    # how rates were chosen
    prov = Counter()
    for r in judged:
        p = r.spec.get("provenance") or {}
        if isinstance(p, dict):
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
        lines += ["Tuned cells (bench/tuning.py): each grid value was run on the tuning seeds with the validation "
                  "split held out of the training data and scored on that split by the claim's own metric; the "
                  "judged runs use the chosen value on other seeds.", ""] + _choices_table(choices)
    # clock
    cont = [r for r in ours if r.summary.get("contended") is True]
    measured = [r for r in ours if r.summary.get("contended") is not None]
    if measured:
        from bench.clock import WAIT_ABOVE

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


def _seed_words(seeds) -> str:
    s = sorted(seeds)
    if not s:
        return "none"
    if s == list(range(s[0], s[-1] + 1)) and len(s) > 2:
        return f"{s[0]}-{s[-1]}"
    return ", ".join(map(str, s))


def _range_words(values) -> str:
    v = sorted(set(values))
    if not v:
        return "0"
    return str(v[0]) if len(v) == 1 else f"{v[0]}-{v[-1]}"


def authors_logs_section(rows, checks, runs) -> list[str]:
    from tabulate import tabulate

    refs = [r for r in runs if r.summary.kind == "reference"]
    lines = ["## The authors' logs", ""]
    if not refs:
        return lines + ["No imported reference runs in these folders (bench import caffe-log; docs/reproducing.md).", ""]
    table = []
    for r in sorted(refs, key=lambda r: r.spec.get("name", "")):
        t = {k: (None if v is None else v.step) for k, v in r.summary.targets.items()}
        table.append([r.spec.get("name"), r.summary.backend, compare_mod.policy_label(r.spec["policy"]),
                      _fmt_int(r.summary.total_steps), r.spec.get("batch_size"),
                      "" if r.summary.final_test_acc is None else f"{r.summary.final_test_acc:.4f}",
                      "; ".join(f"{k}: {'never' if v is None else f'{v:,}'}" for k, v in t.items()),
                      "" if r.summary.train_s is None else f"{r.summary.train_s / 3600:.1f} h"])
    lines += ["Single runs of the authors' own code, imported from their logs: no seeds to repeat, so every claim "
              "on them is judged n=1 (no error control).", "",
              tabulate(table, headers=["log", "tool", "policy", "steps", "batch", "final acc", "first reached",
                                       "training (testing excluded)"], tablefmt="github"), ""]
    ref_checks = [c for c in checks if c.reference]
    lines += claim_sections(rows, ref_checks, runs)
    return lines


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


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
        size = (r.spec.get("dataset") or {}).get("train_size")
        if size:
            subsets.setdefault((r.spec["network"]["name"], size), []).append(r)
        else:
            whole.add(r.spec["network"]["name"])
    if subsets:
        parts = []
        for (net, size), rs in sorted(subsets.items(), key=str):
            names = sorted({x.spec["name"] for x in rs})
            stem = os.path.commonprefix(names)
            cells = (", ".join(names) if len(names) <= 3
                     else f"{len(names)} cells" + (f", {stem}*" if len(stem) > 3 else ""))
            parts.append(f"{net} on {_fmt_int(size)} images ({_plural(len(rs), 'run')}: {cells})")
        rest = sorted(whole & {net for net, _ in subsets})
        lines.append("- **Subsets.** Trained on part of the training split: " + "; ".join(parts) + "."
                     + (f" The other runs of {', '.join(rest)} train on the whole training split." if rest else "")
                     + " Tuning runs hold out a validation split too.")
    datasets = {(r.spec.get("dataset") or {}).get("name") for r in ours}
    if ours and datasets <= {"fashion_mnist"}:
        lines.append("- **Fashion-MNIST stands in for CIFAR-10.** The papers' claims are about CIFAR-10, Flowers 17 "
                     "and TinyImageNet; our runs are on Fashion-MNIST (28x28 greyscale, 10 classes), which the "
                     "simple CNN learns in a few epochs. Our FM claims say what holds there, not what holds on CIFAR.")
    single = sorted({r.spec["name"] for r in ours if not _is_tuning(r)
                     and sum(1 for q in ours if q.spec["name"] == r.spec["name"]
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
    plots = [plot_group(k, v, out) for k, v in sorted(_curves(runs).items())]
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
