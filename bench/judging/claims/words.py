"""The verdicts in words: ratios, medians, what is missing and where it was looked for,
the baseline, the refusal of two numerics versions, and the table."""

from __future__ import annotations

import math

import numpy as np

from bench.judging.claims.schema import Check
from bench.judging.claims.stats import TIMED
from bench.records.rundir import Run


def _fmt_ratio(x: float) -> str:
    return f"{x:.3g}"


def _ratio_words(lo: float, hi: float, single: bool) -> str:
    """B/A's interval in words; an end that is 0 or infinite is open (no infinite ratios)."""
    how = "from the cadence" if single else "95%"
    if math.isinf(lo):
        return "B/A unbounded: B's runs diverged before getting there"
    if lo == 0 and math.isinf(hi):
        return f"B/A unbounded ({how}: too few pairs ordered)"
    if math.isinf(hi):
        return f"B/A >= {_fmt_ratio(lo)} ({how}; upper end open)"
    if lo == 0:
        return f"B/A <= {_fmt_ratio(hi)} ({how}; lower end open)"
    return f"B/A in [{_fmt_ratio(lo)}, {_fmt_ratio(hi)}] ({how})"


def _median_words(iv: np.ndarray, unit: str) -> str:
    hi = np.sort(iv[:, 1])
    med = hi[(len(hi) - 1) // 2] if len(hi) % 2 else (hi[len(hi) // 2 - 1] + hi[len(hi) // 2]) / 2
    if not math.isfinite(med):
        return "not reached"
    return f"{med:.0f}" if unit == "steps" else f"{med:.1f} s"


def _absent(check: Check, paths) -> str:
    where = ", ".join(str(p) for p in paths) or "(no paths)"
    if check.reference:
        return f"no data: needs {check.reference}, not found in {where}"
    names = [check.needs] if check.needs else sorted({
        v for sel in check.arms.values() for k, w in sel.items() if k == "spec.dataset.name"
        for v in (w if isinstance(w, list) else [w]) if isinstance(v, str) and not any(ch in v for ch in "*?[")})
    from bench.data import DATASETS
    from bench.errors import DataError

    for name in names:
        if name not in DATASETS:
            continue
        try:
            DATASETS[name].locate(None)
        except DataError as e:
            return f"no data: needs {name}, not found in {_places(str(e))}"
    made = f"; made by: {check.produced_by}" if check.produced_by else ""
    have = f" ({', '.join(names)} present)" if names else ""
    return f"no runs: none in {where} match{have}{made}"


def _places(msg: str) -> str:
    """The places a DataError message says were looked in, on one line."""
    lines = msg.splitlines()
    for i, line in enumerate(lines):
        if line.rstrip().endswith("in:"):
            places = []
            for nxt in lines[i + 1:]:
                if not nxt.startswith(" "):
                    break
                places.append(" ".join(nxt.split()))
            if places:
                return "; ".join(places)
    return lines[0] if lines else msg


def _need_words(check: Check) -> str:
    m = check.margin
    what = "ratio" if check.metric.name in TIMED else "margin"
    by = {"source": f" ({what} from the source)", "ours": f" ({what} ours)"}.get(check.tolerance_by or "", "")
    if check.metric.name in TIMED:
        return f"needs B/A > {check.ratio:g}{by}"
    return {"superiority": f"needs A - B > {m:+.4f}", "non-inferiority": f"needs A - B > {-m:+.4f}",
            "equivalence": f"needs |A - B| < {m:.4f}",
            "difference_of_differences": f"needs (a - b) - (c - d) > {m:+.4f}"}[check.kind] + by



def _numerics_words(check: Check, backend: str, group: dict[str, list[Run]], two: dict) -> str:
    """Why a verdict is refused: its arms hold runs of two numerics versions of a backend."""
    lines = [f"claim {check.label} ({backend}): its runs were made under more than one numerics version, "
             "which one verdict never pools:"]
    arm_of = {r.path.name: k for k, rs in group.items() for r in rs}
    for b, vs in two.items():
        for v, ids in sorted(vs.items(), key=lambda kv: -1 if kv[0] is None else kv[0]):
            shown = ", ".join(f"{i} (arm {arm_of.get(i, '?')})" for i in ids[:4])
            more = f" and {len(ids) - 4} more" if len(ids) > 4 else ""
            lines.append(f"  {b} numerics {'unknown' if v is None else v}: {shown}{more}")
    lines.append("  rerun the older runs with this tree (bench full reruns runs made under an older version), or pass "
                 "--pool-numerics to pool them on purpose (the verdict row then says so)")
    return "\n".join(lines)


def baseline_words(check: Check, group: dict[str, list[Run]]) -> str:
    """Arm B in words: the claim's ``baseline`` (range-test pick, tuned best, ...), B's policy
    as run, and for a rate chosen from a grid how it was chosen (the choice file written by
    ``bench full``: bench/rates/tuning.py)."""
    if not check.baseline:
        return ""
    runs = group.get("b") or []
    if not runs:
        return check.baseline
    from bench.records.schedules import label

    labels = sorted({label(r.head.policy_data) for r in runs})
    words = f"{check.baseline}: {', '.join(labels)}"
    prov = runs[0].head.provenance or {}
    if prov.get("rule") == "grid-best":
        grid = prov.get("chosen_from") or []
        seeds = prov.get("tuning_seeds") or []
        split = prov.get("split", "val")
        words += (f" (best of {len(grid)} on the {split} split by {prov.get('metric_label', 'the claim metric')}, "
                  f"tuning seeds {', '.join(map(str, seeds))})")
    elif prov.get("c") is not None:
        words += f" (c = {prov['c']:g})"
    return words



def render(rows: list[dict]) -> str:
    from tabulate import tabulate

    cols = ["id", "backend", "verdict", "baseline", "metric", "kind", "n", "ours", "paper", "why", "code"]
    if not any(r.get("baseline") for r in rows):
        cols.remove("baseline")
    table = []
    for r in rows:
        row = dict(r, id=r["id"] + (f" ({r['part']})" if r.get("part") else ""),
                   verdict=r["verdict"] + (" (n=1)" if r.get("n1") else ""))
        table.append([row.get(c, "") for c in cols])
    # the claims themselves, once each, under the table (a reader sees what each id says)
    seen, said = set(), ["", "What each claim says:", ""]
    for r in rows:
        if r["id"] not in seen and r.get("statement"):
            seen.add(r["id"])
            said.append(f"- **{r['id']}** ({r.get('source', '')}): {r['statement']}")
    return tabulate(table, headers=cols, tablefmt="github") + "\n" + ("\n".join(said) + "\n" if seen else "")
