"""Hyper-parameter discovery (the report's sec. 4.2, after Smith 2018): ``bench lr-find``,
``bench sweep momentum|weight-decay`` and ``bench tune``, on any backend.

Every range test is written as a run directory of kind ``lr_find`` (``lr_find.csv``,
``lr_find.png``, ``summary.json`` with the suggestions). A sweep is a directory of kind
``sweep`` holding its range tests, an overlaid plot, a table and a suggestion. ``bench
tune`` runs lr-find, then the momentum sweep, then the weight-decay sweep, all judged
on the validation split, and writes one resolved spec per policy and derivation rule.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from bench.errors import BenchError
from bench.judging.plots import plot_overlay, plot_range_test
from bench.rates import derive as rules
from bench.rates import lrfind
from bench.records.rundir import (
    LrFindSummary,
    Meta,
    SweepSummary,
    TuneSummary,
    atomic_write,
    write_meta,
    write_summary,
)
from bench.records.spec import Spec, dump_yaml, validate_model
from bench.running.progress import Progress
from bench.running.runner import build_meta, prepare

MOMENTA = (0.8, 0.85, 0.9, 0.95, 0.99)
WD_COARSE = (1e-3, 1e-4, 1e-5, 1e-6, 1e-7)
LR_FIND_COLUMNS = ("step", "lr", "momentum", "loss", "smoothed", "metric", "metric_smoothed")


def _derived(spec: Spec, **changes) -> Spec:
    d = spec.resolved()
    for k, v in changes.items():
        d[k] = v
    return validate_model(Spec, d, source="derived spec")


def lr_find_spec(spec: Spec, p: dict, momentum: float | None = None, weight_decay: float | None = None) -> Spec:
    """The spec a range test ran: the base spec with the range-test policy and budget."""
    mom = momentum if momentum is not None else getattr(spec.policy, "momentum",
                                                        getattr(spec.policy, "max_momentum", 0.9))
    opt = spec.optimizer.model_dump()
    if weight_decay is not None:
        opt.update(weight_decay=weight_decay, l2=None)
    return _derived(spec, name=f"{spec.name}-lrfind-{p['metric'].replace('_', '')}",
                    policy={"name": "range-test", "start_lr": p["start_lr"], "end_lr": p["end_lr"],
                            "mode": p["mode"], "momentum": mom},
                    budget={"steps": p["steps"]}, optimizer=opt)


def _check_metric(data, metric: str) -> None:
    if metric in ("val_loss", "val_acc") and len(data.val_y) == 0:
        raise BenchError(f"--metric {metric} judges on the validation split, and this spec has none: "
                         "set dataset.val_size (e.g. --set dataset.val_size=5000)")


def write_lr_find(root: Path, spec: Spec, result: lrfind.RangeTestResult, meta: Meta, p: dict) -> Path:
    d = root / spec.run_id()
    d.mkdir(parents=True, exist_ok=True)
    atomic_write(d / "spec.yaml", dump_yaml(spec.resolved()))
    write_meta(d, meta.model_copy(update={"run_id": spec.run_id()}))
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(LR_FIND_COLUMNS)
    for r in result.rows:
        w.writerow([r.get(c) if r.get(c) is not None else "" for c in LR_FIND_COLUMNS])
    atomic_write(d / "lr_find.csv", buf.getvalue())
    plot_range_test(result, d / "lr_find.png",
                    title=f"{spec.name} ({spec.backend}): {result.mode} ramp {result.start_lr:g} -> {result.end_lr:g}, "
                          f"momentum {result.momentum:g}, weight decay {spec.optimizer.decay:g}; "
                          f"stopped: {result.stop_reason}")
    lrs, v = result.curve()
    write_summary(d, LrFindSummary(
        run_id=spec.run_id(), status="diverged" if result.stop_reason == "non-finite loss" else "completed",
        backend=spec.backend, steps_done=len(result.rows), final_test_acc=None, best_acc=None,
        best_step=None, targets={}, images_per_s=None, train_s=None, eval_s=None,
        diverged_at=result.stopped_at if result.stop_reason == "non-finite loss" else None,
        metric=result.metric, momentum=result.momentum, weight_decay=spec.optimizer.decay,
        start_lr=result.start_lr, end_lr=result.end_lr, mode=result.mode, steps=result.steps,
        beta=p["beta"], stop_factor=p["stop_factor"], eval_every=p["eval_every"],
        stop_reason=result.stop_reason, stopped_at_lr=result.rows[-1]["lr"] if result.rows else None,
        min_value=result.min_loss(), lr_at_min=_lr_at_best(result),
        suggestions=result.suggestions, report_offset_decades=lrfind.REPORT_OFFSET_DECADES,
        finished_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    ))
    return d


def _lr_at_best(result) -> float | None:
    lrs, v = result.curve()
    finite = [(a, b) for a, b in zip(lrs, v, strict=True) if math.isfinite(b)]
    if not finite:
        return None
    pick = max if result.metric.endswith("acc") else min
    return float(pick(finite, key=lambda t: t[1])[0])


class Session:
    """One backend process: data and a trainer, reused by every range test (state restored)."""

    def __init__(self, spec: Spec, out: Path, p: dict, command: str | None = None, progress: bool = True):
        self.spec, self.out, self.p, self.progress = spec, Path(out), p, progress
        _, self.data, self.trainer = prepare(spec, self.out)
        _check_metric(self.data, p["metric"])
        self.meta = build_meta(spec, self.trainer, self.data, command)
        self.momentum: float | None = None  # fixed by bench tune once the momentum sweep has chosen
        self.weight_decay: float | None = None

    def range_test(self, root: Path, momentum=None, weight_decay=None, label: str = ""):
        momentum = self.momentum if momentum is None else momentum
        weight_decay = self.weight_decay if weight_decay is None else weight_decay
        s = lr_find_spec(self.spec, self.p, momentum, weight_decay)
        self.trainer.set_weight_decay(s.optimizer.decay)
        bar = Progress(self.p["steps"], desc=label or s.name, enabled=self.progress)
        res = lrfind.range_test(self.trainer, self.data, s, start_lr=self.p["start_lr"], end_lr=self.p["end_lr"],
                                steps=self.p["steps"], mode=self.p["mode"], momentum=s.policy.momentum,
                                metric=self.p["metric"], eval_every=self.p["eval_every"], beta=self.p["beta"],
                                stop_factor=self.p["stop_factor"], progress=bar)
        self.trainer.set_weight_decay(self.spec.optimizer.decay)
        return write_lr_find(root, s, res, self.meta, self.p), res


def lr_find(spec: Spec, out: Path, p: dict, progress: bool = True) -> tuple[Path, lrfind.RangeTestResult]:
    sess = Session(spec, out, p, progress=progress)
    return sess.range_test(Path(out))


def _sweep_row(value, d: Path, res: lrfind.RangeTestResult) -> dict:
    if res.metric.endswith("acc"):
        _, acc = res.curve()
        peak = float(acc[np.isfinite(acc)].max()) if np.isfinite(acc).any() else None
        best = {"peak": peak, "lr_at_peak": _lr_at_best(res), "score": None if peak is None else -peak}
    else:
        best = {"min": res.min_loss(), "lr_at_min": _lr_at_best(res), "score": res.min_loss()}
    row = {"value": value, **best,
           "stopped_at_lr": res.rows[-1]["lr"] if res.rows else None, "stop_reason": res.stop_reason,
           "run": d.name}
    row.update({f"suggest_{k}": v for k, v in res.suggestions.items()})
    return row


TIE = 0.01  # minima within 1% of the lowest are ties: range tests are noisy


def pick(rows: list[dict], param: str) -> dict:
    """The sweep's suggestion: the lowest minimum of the metric (the highest peak for accuracy).

    Minima within 1% of the best are ties; among them, momentum takes the one whose loss
    diverged at the highest rate ("no divergence at higher rates"), weight decay the
    largest value (more regularisation at no cost in loss, Smith 2018 sec. 4.3).
    """
    ok = [r for r in rows if r["score"] is not None and math.isfinite(r["score"])]
    if not ok:
        raise BenchError("no range test of the sweep produced a finite loss or accuracy")
    best = min(r["score"] for r in ok)
    near = [r for r in ok if r["score"] <= best + TIE * abs(best)]
    if param == "weight-decay":
        return max(near, key=lambda r: r["value"])
    return max(near, key=lambda r: (r["stopped_at_lr"] or 0.0, -r["score"]))


def _write_table(root: Path, rows: list[dict], name: str) -> None:
    from tabulate import tabulate

    df = pd.DataFrame(rows)
    atomic_write(root / f"{name}.csv", df.to_csv(index=False))
    atomic_write(root / f"{name}.md", tabulate(df, headers="keys", tablefmt="github", showindex=False,
                                               floatfmt=".4g") + "\n")


def _sweep_dir(spec: Spec, out: Path, param: str, values, p: dict) -> Path:
    key = json.dumps({"spec": spec.resolved(), "param": param, "values": list(values), "p": p}, sort_keys=True)
    return Path(out) / f"{spec.name}-sweep-{param}-{spec.backend}-s{spec.seed}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"


def sweep(sess: Session, param: str, values=None, out: Path | None = None) -> tuple[Path, dict]:
    """Range tests over momentum or weight decay; overlaid plots, table, suggestion."""
    spec, p = sess.spec, sess.p
    if param == "momentum":
        values = list(values or MOMENTA)
        bad = [v for v in values if not 0 <= v < 1]
        if bad:
            raise BenchError(f"momentum values must be in [0, 1); received {bad}")
    elif param == "weight-decay":
        values = list(values or WD_COARSE)
        bad = [v for v in values if v < 0]
        if bad:
            raise BenchError(f"weight decay values must be >= 0; received {bad}")
    else:
        raise BenchError(f"sweep over momentum | weight-decay; received {param!r}")
    root = _sweep_dir(spec, out or sess.out, param, values, p)
    root.mkdir(parents=True, exist_ok=True)
    atomic_write(root / "spec.yaml", dump_yaml(spec.resolved()))

    def run(vals, stage):
        rows, curves = [], []
        for v in vals:
            kw = {"momentum": v} if param == "momentum" else {"weight_decay": v}
            d, res = sess.range_test(root, label=f"{param}={v:g}", **kw)
            rows.append({**_sweep_row(v, d, res), "stage": stage})
            lrs, vals_ = res.curve()
            curves.append((f"{param} {v:g}", lrs, vals_))
        return rows, curves

    rows, curves = run(values, "coarse")
    ylabel = "smoothed " + p["metric"].replace("_", " ") if p["metric"].endswith("loss") else p["metric"]
    plot_overlay(curves, root / "sweep.png", f"{spec.name} ({spec.backend}): range tests over {param}", ylabel)
    if param == "weight-decay":
        # fine grid around the best decade x: 3x, x, x/3 (the report's Figures 3 then 4)
        x = pick(rows, param)["value"]
        fine = [v for v in (3 * x, x / 3) if not any(math.isclose(v, r["value"]) for r in rows)]
        frows, fcurves = run(fine, "fine")
        rows += frows
        around = [c for c, r in zip(curves, rows, strict=False) if math.isclose(r["value"], x)]
        plot_overlay(around + fcurves, root / "sweep-fine.png",
                     f"{spec.name} ({spec.backend}): fine weight-decay search around {x:g}", ylabel)
    best = pick(rows, param)
    _write_table(root, rows, "sweep")
    summary = write_summary(root, SweepSummary(
        param=param, backend=spec.backend, seed=spec.seed, metric=p["metric"], values=[r["value"] for r in rows],
        suggestion=best["value"],
        suggestion_rule="lowest minimum of the metric; ties within 1%: "
                        + ("the largest weight decay" if param == "weight-decay" else "the latest divergence"),
        c_at_suggestion=best.get("suggest_report"), rows=rows))
    return root, summary.dump()


def tune(spec: Spec, out: Path, p: dict, k: float = 4, clr_div: float = 4, progress: bool = True,
         momenta=None, decays=None) -> tuple[Path, dict]:
    """lr-find, momentum sweep, weight-decay sweep on the validation split; specs for both rules."""
    if spec.dataset.val_size == 0:
        raise BenchError("bench tune judges on the validation split and never on the test set; this spec holds "
                         "no validation split: set dataset.val_size (e.g. --set dataset.val_size=5000)")
    if p["metric"] not in ("val_loss", "val_acc"):
        raise BenchError(f"bench tune judges on the validation split: --metric val_loss or val_acc; received {p['metric']}")
    sess = Session(spec, out, p, progress=progress)
    key = json.dumps({"spec": spec.resolved(), "p": p, "k": k, "clr_div": clr_div}, sort_keys=True)
    root = Path(out) / f"{spec.name}-tune-{spec.backend}-s{spec.seed}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"
    root.mkdir(parents=True, exist_ok=True)
    atomic_write(root / "spec.yaml", dump_yaml(spec.resolved()))
    first_dir, first = sess.range_test(root, label="lr-find")
    _, msweep = sweep(sess, "momentum", momenta, root)
    m = msweep["suggestion"]
    sess.momentum = m  # the weight-decay sweep runs at the chosen momentum
    _, wsweep = sweep(sess, "weight-decay", decays, root)
    wd = wsweep["suggestion"]
    row = next(r for r in wsweep["rows"] if math.isclose(r["value"], wd))
    c = row.get("suggest_report") or row.get("suggest_peak")
    if not c:
        raise BenchError("the range test at the chosen momentum and weight decay gave no suggestion")
    spe = spec.steps_per_epoch(len(sess.data.train_y))
    written = {}
    for rule in rules.RULES:
        for pol_name, policy in rules.derive(rule, c, m, spe, k, clr_div).items():
            opt = {**spec.optimizer.model_dump(), "weight_decay": wd, "l2": None}
            s = _derived(spec, name=f"{spec.name}-{rule}-{pol_name}", policy=policy, optimizer=opt,
                         provenance={"by": "bench tune", "rule": rule, "c": c, "momentum": m, "weight_decay": wd,
                                     "k": k, "clr_div": clr_div, "metric": p["metric"], "tune_dir": root.name,
                                     "backend": spec.backend})
            path = root / "specs" / f"{rule}-{pol_name}.yaml"
            path.parent.mkdir(exist_ok=True)
            header = (f"# generated by bench tune ({spec.backend}): rule {rule!r}, c = {c:.6g} "
                      f"(10^{math.log10(c):.2f}), momentum {m:g}, weight decay {wd:g}\n")
            atomic_write(path, header + dump_yaml(s.resolved()))
            written[f"{rule}/{pol_name}"] = str(path.relative_to(root))
    table = [{"step": "lr-find", "value": f"spec momentum, wd {spec.optimizer.decay:g}",
              "pick": first.suggestions.get("report") or first.suggestions.get("peak")},
             {"step": "momentum sweep", "value": m, "pick": msweep["c_at_suggestion"]},
             {"step": "weight-decay sweep", "value": wd, "pick": c}]
    _write_table(root, table, "tune")
    summary = write_summary(root, TuneSummary(
        backend=spec.backend, seed=spec.seed, metric=p["metric"], c=c, log10_c=math.log10(c), momentum=m,
        weight_decay=wd, first_lr_find={"dir": first_dir.name, "suggestions": first.suggestions},
        specs=written, k=k, clr_div=clr_div))
    return root, summary.dump()
