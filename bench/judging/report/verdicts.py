"""Per claim and part: the question, the verdict per backend, a paragraph that interprets it
and the caveats found in the arms' specs and data; the authors' logs."""

from __future__ import annotations

import json
from collections import defaultdict

import numpy as np

from bench.judging import claims as claims_mod
from bench.judging import compare as compare_mod
from bench.judging.report.common import _fmt_int, _num_classes
from bench.records import identity
from bench.records.rundir import UNREADABLE

CHANCE_MARGIN = 0.02  # a mean final accuracy within this of 1 / classes is a collapse to chance


def spec_differences(a_runs, b_runs) -> dict[str, tuple]:
    """Spec keys (beyond the policy, and what is not the experiment: bench.records.identity) in which
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




def caveats(check, arms: dict[str, list]) -> list[str]:
    """What a reader should know before citing the verdict, found from the arms' specs and data."""
    out = []
    names = {k: f"{ARM_NAMES[k]} ({', '.join(sorted({compare_mod.policy_label(r.head.policy_data) for r in rs}))})"
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
        sizes = {r.head.dataset.train_size for r in rs}
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
                cadence = run.head.eval_every or 100
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



def authors_logs_section(rows, checks, runs) -> list[str]:
    from tabulate import tabulate

    refs = [r for r in runs if r.summary.kind == "reference"]
    lines = ["## The authors' logs", ""]
    if not refs:
        return lines + ["No imported reference runs in these folders (bench import caffe-log; docs/reproducing.md).", ""]
    table = []
    for r in sorted(refs, key=lambda r: r.head.name):
        t = {k: (None if v is None else v.step) for k, v in r.summary.targets.items()}
        table.append([r.head.name, r.summary.backend, compare_mod.policy_label(r.head.policy_data),
                      _fmt_int(r.summary.total_steps), r.head.batch_size,
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
