"""Results where users already look: ``bench export tensorboard|mlflow|mllog RESULTS... --out DIR``.

Reads complete run directories (``bench run`` runs and runs imported with ``bench
import``) through :func:`bench.records.rundir.load_runs` and writes them for another tool
(docs/export.md):

- ``tensorboard``: one TensorBoard run per run directory, ``DIR/<run_id>/events.out.tfevents.*``
  (tensorboardX): per step ``train/lr``, ``train/momentum``, ``train/loss``, ``train/acc``;
  per evaluation ``<split>/acc`` and ``<split>/loss`` (``split`` as in evals.csv: ``eval`` the
  fixed evaluation subset, ``test`` the whole test split); the spec as hparams.
- ``mlflow``: one MLflow run per run directory in ``sqlite:///DIR/mlflow.db`` (or a tracking
  URI): the flattened spec as params (``policy.name``), the metrics ``lr``, ``momentum``,
  ``train_loss``, ``train_acc``, ``<split>_loss``, ``<split>_acc`` with their step, the run
  directory's files as artifacts.
- ``mllog``: MLPerf-style ``:::MLLOG {json}`` lines (mlperf-logging), ``DIR/<run_id>.log``:
  run start and stop, seed, batch size, optimizer settings, ``eval_accuracy`` per evaluation
  with its epoch.

Time: every timestamp is the run's start plus training seconds (``wall_s`` of steps.csv,
``train_wall_s`` of evals.csv), evaluation excluded, as ``seconds_to_target`` and the
summaries' ``train_s`` count it: TensorBoard's relative axis then shows accuracy against
training time. The start is meta.json's ``started_at``, else the file time of spec.yaml.
An MLPerf time to train includes evaluation; the mllog lines here do not.

Each exporter imports its package when called (the ``export`` extra); the core imports no
framework. Exporting a run again replaces what an earlier export wrote for it.
"""

from __future__ import annotations

import datetime as dt
import importlib
import importlib.abc
import importlib.util
import json
import logging
import math
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bench.errors import EXIT_OK, BenchError
from bench.records.rundir import UNREADABLE, Run, load_runs, make_out_dir

FORMATS = ("tensorboard", "mlflow", "mllog")
KINDS = ("train", "reference")  # run directories that hold steps and evaluations
EXTRA = "export"
PACKAGES = {"tensorboard": ("tensorboardX", "tensorboardX"), "mlflow": ("mlflow", "mlflow"),
            "mllog": ("mlperf_logging.mllog.mllog", "mlperf-logging")}  # format -> (module, pip package)
DEFAULT_EXPERIMENT = "lr-policy-bench"
TIME_CONVENTION = "run start + training seconds (evaluation excluded, as seconds_to_target)"
# the step metrics: steps.csv column -> TensorBoard tag, MLflow key
STEP_METRICS = (("lr", "train/lr", "lr"), ("momentum", "train/momentum", "momentum"),
                ("train_loss", "train/loss", "train_loss"), ("train_acc", "train/acc", "train_acc"))
FRAMEWORKS = ("torch", "torchvision", "tensorflow", "keras", "jax")  # never imported by an exporter
MLFLOW_STATUS = {"completed": "FINISHED", "diverged": "FAILED", "interrupted": "KILLED"}


class _NoFrameworks(importlib.abc.MetaPathFinder):
    """Refuses framework imports while an exporter's package loads: tensorboardX's writer
    imports torch when it can (only to accept tensors), which would put a framework in the
    core's process (and torch beside TensorFlow in a Keras one). A framework already
    imported is not affected."""

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in FRAMEWORKS:
            raise ImportError(f"{name} is not imported by bench export")
        return None


def require(fmt: str):
    """The module an exporter writes with, imported without pulling a framework in; a clear
    error naming the extra when it is missing."""
    module, package = PACKAGES[fmt]
    guard = _NoFrameworks()
    sys.meta_path.insert(0, guard)
    try:
        return importlib.import_module(module)
    except ImportError as e:
        if importlib.util.find_spec(module.partition(".")[0]) is not None:
            raise BenchError(f"bench export {fmt}: {package} is installed but does not import: {e}") from None
        raise BenchError(f"bench export {fmt} needs the package {package}, which is not installed; install the "
                         f"extra: pip install -e '.[{EXTRA}]' (or pip install 'lr-policy-bench[{EXTRA}]', or "
                         f"pip install {package})") from None
    finally:
        sys.meta_path.remove(guard)


# -- what a run holds, as numbers ------------------------------------------------------------


def _number(text: Any) -> float | None:
    """A cell of a CSV file as a float; None where it is empty or absent."""
    if text is None or str(text).strip() == "":
        return None
    return float(text)


def start_time(run: Run) -> float:
    """The run's start, seconds since the epoch: meta.json's ``started_at``, else the file
    time of spec.yaml (an imported run's log rarely says when it started)."""
    try:
        started = run.meta.started_at
    except UNREADABLE:
        started = None
    if started:
        try:
            t = dt.datetime.fromisoformat(started)
        except ValueError:
            t = None
        if t is not None:
            return (t if t.tzinfo else t.replace(tzinfo=dt.UTC)).timestamp()
    return (run.path / "spec.yaml").stat().st_mtime


def step_rows(run: Run) -> list[dict[str, Any]]:
    """steps.csv as numbers: ``step`` (int), ``wall_s`` and each of :data:`STEP_METRICS` (a
    float, or None where the cell is empty: an imported log need not say). [] without one."""
    out = []
    for r in run.steps:
        row = {"step": int(float(r["step"])), "wall_s": _number(r.get("wall_s"))}
        row.update({col: _number(r.get(col)) for col, _, _ in STEP_METRICS})
        out.append(row)
    return out


def eval_rows(run: Run) -> list[dict[str, Any]]:
    """Each evaluation: ``step``, ``split``, ``acc``, ``loss``, ``train_s``, ``epoch`` (None
    where unknown). Step, accuracy, split and training seconds are the reader's
    (:class:`bench.records.rundir.EvalPoint`); loss and epoch, which it does not carry, come from the
    same rows of evals.csv."""
    import csv

    extra: list[dict] = []
    path = run.path / "evals.csv"
    if run.evals and path.is_file():
        with open(path, newline="") as f:
            extra = list(csv.DictReader(f))
    if len(extra) != len(run.evals):
        extra = [{}] * len(run.evals)
    spe = run.summary.get("steps_per_epoch")
    per_epoch = run.summary.get("step_unit") == "epoch"  # a Keras CSVLogger import: steps count epochs
    out = []
    for e, r in zip(run.evals, extra, strict=True):
        epoch = _number(r.get("epoch"))
        if epoch is None:
            epoch = float(e.step) if per_epoch else (e.step / spe if spe else None)
        out.append({"step": e.step, "split": e.split, "acc": e.acc, "loss": _number(r.get("loss", r.get("test_loss"))),
                    "train_s": e.train_s, "epoch": epoch})
    return out


def train_seconds(run: Run, steps: list[dict], evals: list[dict]) -> float:
    """The run's training seconds: the summary's ``train_s``, else the last record's."""
    t = run.summary.get("train_s")
    if t is None:
        t = max([r["wall_s"] for r in steps if r["wall_s"] is not None]
                + [e["train_s"] for e in evals if e["train_s"] is not None], default=0.0)
    return float(t)


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """A nested mapping as dotted keys (``policy.name``); lists and other values kept as they are."""
    if not isinstance(data, dict):
        return {prefix: data}
    out: dict[str, Any] = {}
    for k, v in data.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        out.update(flatten(v, key) if isinstance(v, dict) and v else {key: v})
    return out


def _text(v: Any) -> str:
    """A value as a parameter string: strings as they are, the rest as JSON (null, true, [..])."""
    return v if isinstance(v, str) else json.dumps(v)


def _finite(v: float | None) -> bool:
    return v is not None and math.isfinite(v)


# -- TensorBoard -----------------------------------------------------------------------------


def identity_tags(run: Run) -> dict[str, str]:
    """What groups runs in the other tool as the harness groups them: the experiment
    (:func:`bench.records.identity.experiment_key`: runs that differ only in the seed share it) and
    the numerics version the run was made under (:mod:`bench.records.numerics`)."""
    from bench.records.identity import experiment_key
    from bench.records.numerics import version_of

    v = version_of(run)
    return {"experiment": experiment_key(run.spec), "numerics": "unknown" if v.version is None else str(v.version)}


def export_tensorboard(runs: Iterable[Run], out: str | Path) -> list[Path]:
    """One TensorBoard run per run directory: ``out/<run_id>/events.out.tfevents.*``. Returns
    the folders written. Scalars are float32 (TensorBoard's ``simple_value``)."""
    tbx = require("tensorboard")
    from tensorboardX.summary import hparams

    out = Path(out)
    written = []
    for run in runs:
        d = out / run.path.name
        d.mkdir(parents=True, exist_ok=True)
        for old in d.glob("events.out.tfevents.*"):  # an earlier export of this run
            old.unlink()
        t0 = start_time(run)
        steps, evals = step_rows(run), eval_rows(run)
        with tbx.SummaryWriter(logdir=str(d), flush_secs=3600, max_queue=1000) as w:
            for r in steps:
                when = t0 + (r["wall_s"] or 0.0)
                for col, tag, _ in STEP_METRICS:
                    if r[col] is not None:
                        w.add_scalar(tag, r[col], r["step"], walltime=when)
            metric_tags = {}
            for e in evals:
                when = t0 + (e["train_s"] or 0.0)
                w.add_scalar(f"{e['split']}/acc", e["acc"], e["step"], walltime=when)
                metric_tags[f"{e['split']}/acc"] = e["acc"]
                if e["loss"] is not None:
                    w.add_scalar(f"{e['split']}/loss", e["loss"], e["step"], walltime=when)
                    metric_tags[f"{e['split']}/loss"] = e["loss"]
            hp = {k: (v if isinstance(v, str | bool | int | float) else _text(v))
                  for k, v in flatten(run.spec).items() if v is not None}
            hp["run_id"] = run.path.name
            hp.update(identity_tags(run))
            for summary in hparams(hp, metric_tags):  # experiment, session start, session end
                w.file_writer.add_summary(summary, walltime=t0)
        written.append(d)
    return written


# -- MLflow ----------------------------------------------------------------------------------


def _batches(items: list, n: int) -> Iterable[list]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def export_mlflow(runs: Iterable[Run], out: str | Path | None, tracking_uri: str | None = None,
                  experiment: str = DEFAULT_EXPERIMENT) -> tuple[str, list[str]]:
    """One MLflow run per run directory, in experiment ``experiment`` of ``tracking_uri``
    (default ``sqlite:///<out>/mlflow.db``, artifacts in ``<out>/artifacts``). Returns the
    tracking URI and the MLflow run ids. A run exported before (tag ``bench.run_id``) is
    deleted first."""
    require("mlflow")
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient
    from mlflow.utils.validation import (
        MAX_METRICS_PER_BATCH,
        MAX_PARAM_VAL_LENGTH,
        MAX_PARAMS_TAGS_PER_BATCH,
    )

    artifacts = None
    if tracking_uri is None:
        if out is None:
            raise BenchError("bench export mlflow needs --out DIR (the store sqlite:///DIR/mlflow.db) or "
                             "--tracking-uri URI")
        out = Path(out).resolve()
        tracking_uri = f"sqlite:///{out / 'mlflow.db'}"
        artifacts = (out / "artifacts").as_uri()
    from mlflow.exceptions import MlflowException

    # a new store's schema migrations log each step at INFO
    quiet = [logging.getLogger(name) for name in ("alembic", "mlflow.store.db.utils")]
    levels = [q.level for q in quiet]
    for q in quiet:
        q.setLevel(logging.WARNING)
    try:
        client = MlflowClient(tracking_uri=tracking_uri)
        exp = client.get_experiment_by_name(experiment)
        exp_id = exp.experiment_id if exp else client.create_experiment(experiment, artifact_location=artifacts)
    except MlflowException as e:
        raise BenchError(f"mlflow tracking store {tracking_uri}: {e.message}") from None
    finally:
        for q, level in zip(quiet, levels, strict=True):
            q.setLevel(level)
    ids = []
    for run in runs:
        run_id = run.path.name
        for old in client.search_runs([exp_id], filter_string=f"tags.`bench.run_id` = '{run_id}'"):
            client.delete_run(old.info.run_id)
        t0 = start_time(run)
        steps, evals = step_rows(run), eval_rows(run)
        tags = {"bench.run_id": run_id, "bench.kind": run.summary.kind, "bench.status": run.summary.get("status"),
                "bench.backend": run.summary.get("backend"), "bench.run_dir": str(run.path.resolve()),
                "bench.time": TIME_CONVENTION, **{f"bench.{k}": v for k, v in identity_tags(run).items()}}
        r = client.create_run(exp_id, start_time=int(round(t0 * 1000)), run_name=run_id,
                              tags={k: str(v) for k, v in tags.items() if v is not None})
        mid = r.info.run_id
        params = [Param(k, _text(v)[:MAX_PARAM_VAL_LENGTH]) for k, v in flatten(run.spec).items()]
        for chunk in _batches(params, MAX_PARAMS_TAGS_PER_BATCH):
            client.log_batch(mid, params=chunk)
        metrics = []
        for s in steps:
            ms = int(round((t0 + (s["wall_s"] or 0.0)) * 1000))
            metrics += [Metric(key, s[col], ms, s["step"]) for col, _, key in STEP_METRICS if s[col] is not None]
        for e in evals:
            ms = int(round((t0 + (e["train_s"] or 0.0)) * 1000))
            metrics.append(Metric(f"{e['split']}_acc", e["acc"], ms, e["step"]))
            if e["loss"] is not None:
                metrics.append(Metric(f"{e['split']}_loss", e["loss"], ms, e["step"]))
        for chunk in _batches(metrics, MAX_METRICS_PER_BATCH):
            client.log_batch(mid, metrics=chunk)
        client.log_artifacts(mid, str(run.path))
        client.set_tag(mid, "bench.exported_at", dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
        end = int(round((t0 + train_seconds(run, steps, evals)) * 1000))
        client.set_terminated(mid, MLFLOW_STATUS.get(run.summary.get("status"), "FINISHED"), end_time=end)
        ids.append(mid)
    return tracking_uri, ids


# -- MLPerf logging --------------------------------------------------------------------------


def _peak_lr(policy: dict) -> float | None:
    """The policy's largest rate by its keys: ``lr`` (constant, multistep), ``max_lr``
    (triangular, one-cycle, one-cycle-cosine), ``end_lr`` (range-test)."""
    for key in ("lr", "max_lr", "end_lr"):
        if isinstance(policy.get(key), int | float):
            return float(policy[key])
    return None


def export_mllog(runs: Iterable[Run], out: str | Path) -> list[Path]:
    """MLPerf-style log lines per run directory: ``out/<run_id>.log``. Returns the files."""
    mllog = require("mllog")
    from mlperf_logging.mllog import constants as C

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    root = re.escape(str(Path(__file__).resolve().parent.parent.parent))  # the repository
    for run in runs:
        path = out / f"{run.path.name}.log"
        logger = logging.getLogger(f"bench.judging.export.mllog.{run.path.name}")
        logger.propagate = False
        logger.setLevel(logging.INFO)
        handler = logging.FileHandler(path, mode="w", encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(message)s"))
        for h in list(logger.handlers):
            logger.removeHandler(h)
        logger.addHandler(handler)
        try:
            _mllog_run(mllog.MLLogger(logger=logger, default_namespace="", root_dir=root), C, run)
        finally:
            logger.removeHandler(handler)
            handler.close()
        written.append(path)
    return written


def _mllog_run(ml, C, run: Run) -> None:
    summary = run.summary
    t0 = start_time(run)
    steps, evals = step_rows(run), eval_rows(run)

    def ms(seconds: float | None) -> int:
        return int(round((t0 + (seconds or 0.0)) * 1000))

    ml.start(key=C.RUN_START, time_ms=ms(0), metadata={"run_id": run.path.name, "kind": summary.kind,
                                                       "backend": summary.get("backend"),
                                                       "time_convention": TIME_CONVENTION})
    opt = run.head.optimizer or {}
    policy = run.head.policy_data
    try:
        data = run.meta.data
    except UNREADABLE:
        data = None
    decay = opt.get("weight_decay")
    if decay is None and opt.get("l2") is not None:
        decay = 2 * opt["l2"]  # l2 = x is weight_decay = 2x (docs/contract.md)
    events = [(C.SEED, run.head.seed), (C.GLOBAL_BATCH_SIZE, run.head.batch_size),
              (C.TRAIN_SAMPLES, data.train if data else None),
              (C.EVAL_SAMPLES, data.test if data else None),
              (C.OPT_NAME, opt.get("name", "sgd")), (C.OPT_BASE_LR, _peak_lr(policy)),
              ("opt_learning_rate_policy", policy or None), ("opt_momentum_form", opt.get("momentum_form")),
              ("opt_nesterov", opt.get("nesterov")), (C.OPT_WEIGHT_DECAY, decay)]
    for key, value in events:
        if value is not None:
            ml.event(key=key, value=value, time_ms=ms(0))
    for e in evals:
        meta = {C.EPOCH_NUM: e["epoch"], "step_num": e["step"], "split": e["split"]}
        if _finite(e["loss"]):
            meta["eval_loss"] = e["loss"]
        ml.event(key=C.EVAL_ACCURACY, value=e["acc"], time_ms=ms(e["train_s"]), metadata=meta)
    status = summary.get("status")
    ml.end(key=C.RUN_STOP, time_ms=ms(train_seconds(run, steps, evals)),
           metadata={C.STATUS: C.SUCCESS if status == "completed" else C.ABORTED, "bench_status": status,
                     "train_s": summary.get("train_s"), "eval_s": summary.get("eval_s")})


# -- the command -----------------------------------------------------------------------------


def add_parser(subparsers, epilog=None):
    """``bench export``: added to ``bench``'s subcommands (``subparsers``); ``epilog(examples)``
    gives the help's closing text (bench/cli.py's: examples, exit codes, environment)."""
    examples = ["bench export tensorboard runs --out tb  &&  tensorboard --logdir tb",
                "bench export mlflow runs results/reference --out mlruns",
                "bench export mlflow runs --tracking-uri http://localhost:5000 --experiment fmnist",
                "bench export mllog runs/RUN_ID --out mllog"]
    help_ = "write run directories for TensorBoard, MLflow or as MLPerf-style mllog lines"
    p = subparsers.add_parser("export", help=help_, description=help_ + " (docs/export.md)",
                              epilog=epilog(examples) if epilog else None)
    p.example = "bench export tensorboard runs --out tb"
    p.add_argument("format", choices=FORMATS, help=" | ".join(FORMATS))
    p.add_argument("paths", nargs="+", metavar="RESULTS",
                   help="run directories or folders holding them (bench run and bench import runs)")
    p.add_argument("--out", help="output folder (default: none; required, except for mlflow with --tracking-uri, "
                   "which then writes no folder)")
    p.add_argument("--tracking-uri", help="mlflow: the tracking URI (default: sqlite:///OUT/mlflow.db, artifacts "
                   "in OUT/artifacts)")
    p.add_argument("--experiment", default=DEFAULT_EXPERIMENT, help="mlflow: the experiment the runs go into")
    p.set_defaults(func=cmd_export)
    return p


def cmd_export(args) -> int:
    """Export: 0 when written; :class:`BenchError` (exit 2) on bad input (a format needing
    --out without it, no runs found, a missing package), nothing created then."""
    fmt = args.format
    if fmt not in FORMATS:
        raise BenchError(f"unknown export format {fmt!r}; allowed: {' | '.join(FORMATS)}")
    tracking_uri = getattr(args, "tracking_uri", None)
    if tracking_uri and fmt != "mlflow":
        raise BenchError(f"--tracking-uri is for mlflow; received it with {fmt}")
    if args.out is None and not tracking_uri:
        raise BenchError(f"bench export {fmt} needs --out DIR" + (" (or --tracking-uri URI)" if fmt == "mlflow" else ""))
    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        raise BenchError(f"no such file or folder: {', '.join(map(str, missing))}")
    require(fmt)
    runs = load_runs(args.paths, kinds=KINDS)
    if not runs:
        raise BenchError(f"no complete run directory (bench run or bench import) in {', '.join(map(str, args.paths))}")
    out = make_out_dir(args.out, "export folder") if args.out and not tracking_uri else None
    if fmt == "tensorboard":
        for run, d in zip(runs, export_tensorboard(runs, out), strict=True):
            print(f"{run.path.name}: {d}")
        print(f"{len(runs)} runs; view them: tensorboard --logdir {out}")
    elif fmt == "mlflow":
        uri, ids = export_mlflow(runs, out, tracking_uri, getattr(args, "experiment", DEFAULT_EXPERIMENT))
        for run, mid in zip(runs, ids, strict=True):
            print(f"{run.path.name}: mlflow run {mid}")
        print(f"{len(runs)} runs in {uri}; view them: mlflow ui --backend-store-uri {uri}")
    else:
        for run, f in zip(runs, export_mllog(runs, out), strict=True):
            print(f"{run.path.name}: {f}")
        print(f"{len(runs)} runs")
    return EXIT_OK
