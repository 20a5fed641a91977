"""Reference runs from other tools, as run directories: ``bench import caffe-log|keras-csv``.

A Caffe log (like Smith & Topin's, lnsmith54/super-convergence, Results/) gives:
- steps from ``Iteration N, lr = X`` and ``Iteration N, loss = Y`` (every ``display`` steps);
- evaluations from ``Iteration N, Testing net`` followed by ``Test net output #k: accuracy = A``
  (and ``loss = L``);
- the solver settings from the header (base_lr, max_lr, lr_policy, stepsize/stepvalue,
  gamma, momentum, weight_decay, max_iter, test_interval, test_iter);
- training wall clock from the timestamps with the testing time taken out: a test
  runs from ``Testing net`` to the next line that is not a test output (about a third
  of these logs' time).
The run directory has ``kind: reference`` and ``backend: caffe``. A Keras ``CSVLogger``
file (one row per epoch) becomes ``kind: reference``, ``backend: keras-csv``.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import math
import re
from pathlib import Path

from bench.errors import BenchError
from bench.records.rundir import (
    EVAL_COLUMNS,
    STEP_COLUMNS,
    Meta,
    ReferenceSummary,
    atomic_write,
    write_meta,
    write_summary,
)
from bench.records.spec import apply_sets, dump_yaml

_TS = re.compile(r"^[IWEF](\d{2})(\d{2}) (\d{2}):(\d{2}):(\d{2})\.(\d+)")
_LR = re.compile(r"Iteration (\d+), lr = ([-+0-9.eE]+)")
_LOSS = re.compile(r"Iteration (\d+)(?: \([^)]*\))?, loss = ([-+0-9.eEnaif]+)")
_TEST = re.compile(r"Iteration (\d+), Testing net")
_OUT = re.compile(r"Test net output #\d+: (\w+) = ([-+0-9.eEnaif]+)")
_KV = re.compile(r"^(\w+): (.+)$")


def _stamp(line: str, year: int = 2016):
    """glog stamps carry no year: a leap year (so 0229 parses); parse_caffe_log moves on a year
    when the month/day goes backwards (a run across New Year)."""
    m = _TS.match(line)
    if not m:
        return None
    mo, d, h, mi, s, frac = m.groups()
    return dt.datetime(year, int(mo), int(d), int(h), int(mi), int(s), int(frac[:6].ljust(6, "0")))


def _layer_params(line: str, ts, layer_params: dict) -> None:
    """The net's parameters a log line prints (outside timestamped lines): mirror and crop
    size of the training net (printed first), the GPUs, batch-norm fractions, batch sizes."""
    for key in ("mirror", "crop_size"):  # the training net's, printed first
        m = re.search(rf"\b{key}: (\S+)", line)
        if m and ts is None and layer_params[key] is None:
            layer_params[key] = m.group(1)
    if (m := re.search(r"Using GPUs ([0-9, ]+)", line)):
        layer_params["gpus"] = len(m.group(1).split(","))
    for key in ("moving_average_fraction", "batch_size"):
        m = re.search(rf"\b{key}: (\S+)", line)
        if m and ts is None:
            layer_params[key].append(m.group(1))


def parse_caffe_log(path: Path) -> dict:
    """Everything the harness needs from a Caffe training log."""
    try:
        lines = Path(path).read_text(errors="replace").splitlines()
    except OSError as e:
        raise BenchError(f"cannot read {path}: {e.strerror or e}") from None
    solver: dict = {}
    in_solver = False
    lrs, losses, evals = {}, {}, []
    t_first = t_last = None
    test_s = 0.0
    testing_since = None
    current = None
    done = False
    layer_params = {"mirror": None, "crop_size": None, "moving_average_fraction": [], "batch_size": []}
    year, prev = 2016, None
    for line in lines:
        ts = _stamp(line, year)
        if ts is not None and prev is not None and ts < prev - dt.timedelta(days=1):
            year += 1  # the log went past New Year
            ts = _stamp(line, year)
        if ts is not None:
            prev = ts
        if "Initializing solver from parameters" in line:
            in_solver = True
            continue
        if in_solver:
            if ts is not None:
                in_solver = False
            else:
                m = _KV.match(line.strip())
                if m:
                    k, v = m.groups()
                    solver.setdefault(k, []).append(v.strip().strip('"'))
                continue
        _layer_params(line, ts, layer_params)
        if ts is None:
            continue
        if testing_since is not None and "Test net output" not in line and "Testing net" not in line:
            test_s += (ts - testing_since).total_seconds()
            if current is not None:
                current["eval_wall_s"] = (ts - testing_since).total_seconds()
            testing_since = None
        if (m := _TEST.search(line)):
            current = {"step": int(m.group(1)), "at": ts}
            evals.append(current)
            testing_since = ts
            continue
        if (m := _OUT.search(line)) and current is not None:
            current[m.group(1)] = float(m.group(2))
            continue
        if (m := _LR.search(line)):
            lrs[int(m.group(1))] = (float(m.group(2)), ts)
        elif (m := _LOSS.search(line)):
            losses[int(m.group(1))] = float(m.group(2))
        if "Optimization Done" in line:
            done = True
        if "Solving" in line and t_first is None:
            t_first = ts
        t_last = ts
    if not solver:
        raise BenchError(f"{path}: no 'Initializing solver from parameters' header; not a Caffe training log")
    if not evals:
        raise BenchError(f"{path}: no 'Testing net' evaluations found")
    if not any("accuracy" in e for e in evals):
        names = sorted({k for e in evals for k in e if k not in ("step", "at", "eval_wall_s")})
        raise BenchError(f"{path}: no test output named 'accuracy' (found: {', '.join(names) or 'none'})")
    if testing_since is not None and t_last is not None:
        test_s += (t_last - testing_since).total_seconds()
    return {"solver": {k: (v if len(v) > 1 else v[0]) for k, v in solver.items()}, "lrs": lrs, "losses": losses,
            "evals": evals, "t_first": t_first or (evals[0]["at"]), "t_last": t_last, "test_s": test_s,
            "done": done, "layers": layer_params}


def _policy(s: dict) -> dict:
    kind = s.get("lr_policy", "fixed")
    base = float(s.get("base_lr", 0))
    max_iter = int(s.get("max_iter", 0))
    if kind == "triangular":
        hi, step = float(s.get("max_lr", base)), int(s.get("stepsize", 1))
        if step >= max_iter:  # one rising half-cycle over the whole run: the linear range test
            return {"name": "range-test", "start_lr": base, "end_lr": base + (hi - base) * (max_iter - 1) / step,
                    "mode": "linear", "momentum": float(s.get("momentum", 0))}
        return {"name": "triangular", "min_lr": base, "max_lr": hi, "step_size": step, "mode": "triangular",
                "gamma": 1.0, "momentum": float(s.get("momentum", 0))}
    if kind == "multistep":
        sv = s.get("stepvalue", [])
        sv = [sv] if isinstance(sv, str) else sv
        return {"name": "multistep", "lr": base, "gamma": float(s.get("gamma", 0.1)),
                "milestones": [int(v) for v in sv], "momentum": float(s.get("momentum", 0))}
    if kind == "fixed":
        return {"name": "constant", "lr": base, "momentum": float(s.get("momentum", 0))}
    raise BenchError(f"Caffe lr_policy {kind!r} has no equivalent here; allowed: triangular, multistep, fixed")


def _csv(header, rows) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def _run_dir(out: str | Path, run_id: str) -> Path:
    """The reference run's directory inside ``out`` (created); a clear error when it cannot be."""
    d = Path(out) / run_id
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise BenchError(f"cannot create {d} in the results folder {out}: {e.strerror or e}") from None
    return d


def _first_reach(evals, targets):
    out = {}
    for t in targets:
        hit = next((e for e in evals if e["acc"] >= t), None)
        out[str(t)] = None if hit is None else {"step": hit["step"], "train_s": hit["train_s"]}
    return out


def import_caffe_log(path: str | Path, out: str | Path, sets=(), batch_size: int | None = None) -> Path:
    path = Path(path)
    log = parse_caffe_log(path)
    s = log["solver"]
    max_iter = int(s.get("max_iter", max(log["lrs"] or [0])))
    bs = log["layers"]["batch_size"]
    spec = {
        "name": path.stem, "backend": "caffe", "seed": 0, "precision": "float32", "device": "cuda",
        # the authors' ResNet-56 on CIFAR-10 (claims.md); --set changes what the log cannot say
        "network": {"name": "resnet56",
                    "bn_momentum": (1.0 - float(log["layers"]["moving_average_fraction"][0])
                                    if log["layers"]["moving_average_fraction"] else 0.1)},
        "dataset": {"name": "cifar10", "augment": {"flip": log["layers"]["mirror"] == "true", "shift": 0, "rotate": 0}},
        "optimizer": {"name": "sgd", "momentum_form": "caffe", "weight_decay": float(s.get("weight_decay", 0))},
        "policy": _policy(s),
        # per-GPU batch x GPUs: the authors' 8 x 125 = 1000 (batch-norm statistics over 125)
        "batch_size": batch_size or (int(bs[0]) * log["layers"].get("gpus", 1) if bs else 1000),
        "budget": {"steps": max_iter},
        "eval_every": int(s.get("test_interval", 100)),
        "targets": [0.9],
        "provenance": {"imported_from": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                       "solver": s, "test_iter": s.get("test_iter")},
    }
    spec = apply_sets(spec, list(sets))
    # the id depends on the log's content and the spec, not on the path it was read from
    run_id = f"{spec['name']}-caffe-s{spec['seed']}-{hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:8]}"
    d = _run_dir(out, run_id)
    t0 = log["t_first"]
    # training seconds at time ts = wall seconds since start less the testing seconds so far
    tests = sorted((e["at"], e.get("eval_wall_s", 0.0)) for e in log["evals"])

    def train_s(ts):
        spent = sum(min(w, max(0.0, (ts - at).total_seconds())) for at, w in tests if at <= ts)
        return max(0.0, (ts - t0).total_seconds() - spent)

    spe = None
    rows = []
    for it in sorted(log["lrs"]):
        lr, ts = log["lrs"][it]
        rows.append((it, "" if spe is None else it / spe, lr, spec["policy"].get("momentum", ""),
                     log["losses"].get(it, ""), "", train_s(ts)))
    atomic_write(d / "steps.csv", _csv(STEP_COLUMNS, rows))
    evals = []
    for e in log["evals"]:
        if "accuracy" not in e:
            continue
        evals.append({"step": e["step"], "acc": e["accuracy"], "loss": e.get("loss", math.nan),
                      "train_s": train_s(e["at"]), "eval_s": e.get("eval_wall_s", 0.0)})
    atomic_write(d / "evals.csv", _csv(EVAL_COLUMNS, [(e["step"], "", "test", e["loss"], e["acc"], e["train_s"],
                                                       e["eval_s"]) for e in evals]))
    atomic_write(d / "spec.yaml", dump_yaml(spec))
    write_meta(d, Meta(harness_version=None, imported_from=str(path), command="bench import caffe-log",
                       device={"type": "cuda", "name": "from the log"}, seed=spec["seed"],
                       notes="evaluations are 200 x 125 = 25,000 images: the 10,000 test images wrap "
                             "(claims.md); batch-norm statistics per GPU over 125 images"))
    best = max(evals, key=lambda e: e["acc"])
    total_train = train_s(log["t_last"])
    write_summary(d, ReferenceSummary(
        run_id=run_id, status="completed" if log["done"] else "interrupted",
        backend="caffe", steps_done=max(e["step"] for e in evals), total_steps=max_iter,
        final_test_acc=evals[-1]["acc"], best_acc=best["acc"], best_step=best["step"],
        targets=_first_reach(evals, spec["targets"]), images_per_s=None, train_s=total_train,
        eval_s=log["test_s"], diverged_at=None,
        wall_s_with_testing=(log["t_last"] - t0).total_seconds(),
    ))
    return d


def import_keras_csv(path: str | Path, out: str | Path, sets=()) -> Path:
    """A Keras CSVLogger file (epoch, accuracy, loss, val_accuracy, val_loss, ...) as a reference run."""
    path = Path(path)
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        raise BenchError(f"cannot read {path}: {e.strerror or e}") from None
    if not rows:
        raise BenchError(f"{path}: no rows (a Keras CSVLogger file has a header and one row per epoch)")
    if "epoch" not in rows[0]:
        raise BenchError(f"{path}: not a Keras CSVLogger file (no 'epoch' column; columns are {list(rows[0])})")
    acc_key = next((k for k in ("val_accuracy", "val_acc") if k in rows[0]), None)
    if acc_key is None:
        raise BenchError(f"{path}: no val_accuracy column; columns are {list(rows[0])}")
    spec = apply_sets({"name": path.stem, "backend": "keras-csv", "seed": 0, "network": {"name": "simple_cnn"},
                       "dataset": {"name": "cifar10"}, "policy": {"name": "constant", "lr": float(rows[0].get("lr", 0) or 0)},
                       "batch_size": 128, "budget": {"epochs": len(rows)}, "targets": [0.9],
                       "provenance": {"imported_from": str(path)}}, list(sets))
    run_id = f"{spec['name']}-keras-csv-s{spec['seed']}-{hashlib.sha256(str(sorted(spec.items())).encode()).hexdigest()[:8]}"
    evals = []
    for i, r in enumerate(rows, start=2):  # line 1 is the header
        try:
            evals.append({"step": int(r["epoch"]) + 1, "acc": float(r[acc_key]),
                          "loss": float(r.get("val_loss", "nan") or "nan"), "train_s": None})
        except (TypeError, ValueError) as e:
            raise BenchError(f"{path}, line {i}: epoch must be an integer and {acc_key}, val_loss numbers; "
                             f"received epoch={r.get('epoch')!r}, {acc_key}={r.get(acc_key)!r} ({e})") from None
    best = max(evals, key=lambda e: e["acc"])
    summary = ReferenceSummary(
        run_id=run_id, status="completed", backend="keras-csv",
        steps_done=len(rows), final_test_acc=evals[-1]["acc"], best_acc=best["acc"],
        best_step=best["step"], targets=_first_reach(evals, spec["targets"]), images_per_s=None,
        train_s=None, eval_s=None, diverged_at=None, step_unit="epoch")  # checked before anything is written
    d = _run_dir(out, run_id)  # only once the file has been read: a bad file leaves nothing behind
    atomic_write(d / "evals.csv", _csv(EVAL_COLUMNS, [(e["step"], e["step"], "test", e["loss"], e["acc"], "", "")
                                                      for e in evals]))
    atomic_write(d / "steps.csv", _csv(STEP_COLUMNS, []))
    atomic_write(d / "spec.yaml", dump_yaml(spec))
    write_meta(d, Meta(imported_from=str(path), command="bench import keras-csv",
                       notes="steps in evals.csv are epochs (a CSVLogger row per epoch)"))
    write_summary(d, summary)
    return d
