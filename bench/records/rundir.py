"""The run directory: the one interface between a run and everything that reads results.

``<results>/<run_id>/`` holds ``spec.yaml`` (the resolved spec), ``meta.json``,
``steps.csv``, ``evals.csv`` and, written last and atomically, ``summary.json``.
A directory without ``summary.json`` is incomplete; readers skip it with a warning.

``summary.json`` and ``meta.json`` are typed records (the pydantic models below): every
writer builds one, every reader gets one back validated. A record holds the keys its
writer set and no others (a key a kind does not measure is absent, not null), and keeps
keys it does not know. :func:`load_runs` reads whole directories for every reader.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import tempfile
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple

import yaml
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from bench.errors import BenchError
from bench.records.specview import SpecHead

STEP_COLUMNS = ("step", "epoch", "lr", "momentum", "train_loss", "train_acc", "wall_s")
# evals.csv: loss and accuracy on the row's split (test, eval, val). Before records schema 2
# the two were named test_loss and test_acc whatever the split; readers take both
EVAL_COLUMNS = ("step", "epoch", "split", "loss", "acc", "train_wall_s", "eval_wall_s")
EVAL_COLUMNS_SCHEMA1 = ("step", "epoch", "split", "test_loss", "test_acc", "train_wall_s", "eval_wall_s")
# the version of the records' format (summary.json's ``schema``): 2 names evals.csv's columns
# loss and acc and the summary's best accuracy best_acc, over one set of images (best_split);
# a reader takes 1 and 2 and skips any other
SUMMARY_SCHEMA = 2
SCHEMAS = (1, 2)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()  # what open(..., "w") would give; mkstemp alone gives 0600


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and rename: never half-written."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, _FILE_MODE)
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def make_out_dir(path: str | Path, what: str = "output folder") -> Path:
    """A folder to write into (results, tables, reports), created if missing; a clear error
    (``what`` names it) if it is a file, cannot be created or is not writable."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise BenchError(f"the {what} {out} exists and is not a folder; give --out a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise BenchError(f"cannot create the {what} {out}: {e.strerror or e}") from None
    if not os.access(out, os.W_OK):
        raise BenchError(f"the {what} {out} is not writable")
    return out


def write_json(path: Path, obj: Any) -> None:
    atomic_write(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


# -- the records ----------------------------------------------------------------------------


class RecordError(BenchError):
    """A summary.json or meta.json that does not hold its record: names the file and the field."""


class _Record(BaseModel):
    """A JSON record: unknown keys are kept, and it is written with exactly the keys set."""

    model_config = ConfigDict(extra="allow", validate_by_name=True, serialize_by_alias=True)

    def get(self, key: str, default: Any = None) -> Any:
        """The value of ``key`` if the record holds it (a field set or a kept unknown key),
        else ``default``: what ``dict.get`` gives on the file's JSON object."""
        fields = type(self).model_fields
        name = next((n for n, f in fields.items() if f.alias == key), key)
        return getattr(self, name) if name in self.model_fields_set else default

    def dump(self) -> dict:
        """What the file holds: the keys set, fields in declaration order, then unknown keys.
        Python mode, so that NaN and infinities are written as ``json.dumps`` writes them."""
        return self.model_dump(by_alias=True, exclude_unset=True)


class TargetHit(_Record):
    """The first evaluation that reached a target accuracy."""

    step: int  # updates done by then (epochs where the summary's step_unit says so)
    train_s: float | None  # training seconds by then; None where the source does not say


Fraction = Annotated[float, Field(ge=0, le=1)]
Status = Literal["completed", "diverged", "interrupted"]


class _Summary(_Record):
    """summary.json, any kind: ``schema`` (:data:`SUMMARY_SCHEMA`) and ``kind``."""

    schema_version: Literal[SCHEMAS] = Field(SUMMARY_SCHEMA, alias="schema")  # type: ignore[valid-type]

    def model_post_init(self, context: Any) -> None:
        # schema and kind are part of every file, also where a writer leaves them to their defaults
        self.model_fields_set.update({"schema_version", "kind"})


class _Outcome(_Summary):
    """What a run that trains records (train runs, reference runs, range tests). Steps are
    optimizer updates, times are seconds, accuracies fractions in [0, 1]; a field a kind
    does not measure is absent from its file (None here)."""

    run_id: str
    kind: str
    status: Status
    backend: str
    steps_done: int | None = None  # updates done
    total_steps: int | None = None  # updates the budget asks for
    steps_per_epoch: int | None = None
    final_test_acc: Fraction | None = None  # on the whole test split at the end; None if diverged
    final_test_loss: float | None = None
    # the best periodic evaluation (bench.records.identity.periodic: one set of images, best_split says
    # which); schema 1 wrote it as best_test_acc, the best of every evaluation whatever its split
    best_acc: Fraction | None = Field(None, validation_alias=AliasChoices("best_acc", "best_test_acc"),
                                      serialization_alias="best_acc")
    best_split: str | None = None  # test | eval | val
    best_step: int | None = None  # where the best was reached
    targets: dict[str, TargetHit | None] = {}  # target accuracy (as written, "0.9") -> first reach; None: never
    images_per_s: float | None = None  # training throughput after the warm-up steps
    train_s: float | None = None  # training seconds, evaluation excluded
    eval_s: float | None = None  # evaluation seconds
    checkpoint_s: float | None = None  # seconds spent writing checkpoints
    warmup_steps: int | None = None  # the first updates, left out of images_per_s
    warmup_s: float | None = None  # training seconds of those
    diverged_at: int | None = None  # the first update whose loss was not finite
    # the first update whose finite loss exceeded 100x the first update's (bench.running.loop.EXPLOSION_FACTOR)
    exploded_at: int | None = None


    def dump(self) -> dict:
        """As :meth:`_Record.dump`; a records-schema-1 file keeps its own name for the best
        accuracy (``best_test_acc``), so that it reads back as it was written."""
        d = super().dump()
        if self.schema_version == 1 and "best_acc" in d:
            d = {("best_test_acc" if k == "best_acc" else k): v for k, v in d.items()}
        return d


class TrainSummary(_Outcome):
    """A training run of this harness (``bench run``)."""

    kind: Literal["train"] = "train"
    checkpoint_step: int | None = None  # updates done at the last checkpoint written
    resumed_from: int | None = None  # the checkpoint's step this run was last resumed from
    finished_at: str | None = None  # ISO 8601, UTC, seconds
    # the clock (bench.running.clock): what a reader needs to judge train_s. Over the training steps:
    cpu_s: float | None = None  # the process's own CPU seconds, all threads (user + system)
    cpu_threads: int | None = None  # threads it could keep busy: min(framework threads, usable CPUs)
    cpu_share: float | None = None  # cpu_s / (train_s * cpu_threads): its share of those CPUs
    involuntary_switches: int | None = None  # times the kernel took a CPU from it (ru_nivcsw)
    # over the training loop: seconds its threads were runnable but waited for a CPU (the kernel's
    # run-queue delay, /proc/self/task/*/schedstat), and that as a share of their runnable time
    cpu_wait_s: float | None = None
    cpu_wait_share: float | None = None
    gpu_util: float | None = None  # a GPU run: the device's mean utilisation, percent (nvidia-smi)
    gpu_processes: int | None = None  # a GPU run: the most compute processes seen on its device
    # CPU: cpu_wait_share above bench.running.clock.WAIT_ABOVE (bench.running.clock.contended); GPU: another
    # compute process on the device.
    # Absent where not measured (runs made before the key, GPU runs without nvidia-smi)
    contended: bool | None = None


class ReferenceSummary(_Outcome):
    """A run imported from someone else's log (``bench import``); ``steps_per_epoch`` is
    absent where the log does not say."""

    kind: Literal["reference"] = "reference"
    wall_s_with_testing: float | None = None  # the log's wall-clock seconds, testing included
    step_unit: Literal["epoch"] | None = None  # steps count epochs (a Keras CSVLogger file)


class LrFindSummary(_Outcome):
    """One learning-rate range test (``bench lr-find``; also each test of a sweep): the
    ramp, where and why it stopped, and the suggested rates."""

    kind: Literal["lr_find"] = "lr_find"
    metric: str  # loss | val_loss | val_acc | test_acc
    momentum: float
    weight_decay: float
    start_lr: float
    end_lr: float
    mode: str  # exp | linear
    steps: int  # updates the ramp takes
    beta: float  # smoothing of the loss (debiased exponential moving average)
    stop_factor: float  # stops once the smoothed loss exceeds this times its best
    eval_every: int  # updates between evaluations of a val or test metric
    stop_reason: str
    stopped_at_lr: float | None
    min_value: float | None  # the lowest smoothed value of the metric
    lr_at_min: float | None  # the rate at the best value of the metric
    suggestions: dict[str, float | None]  # rule -> suggested rate
    report_offset_decades: float  # the report rule's step left of the divergence onset
    finished_at: str  # ISO 8601, UTC, seconds


class SweepSummary(_Summary):
    """Range tests over momentum or weight decay (``bench sweep``), one row per test."""

    kind: Literal["sweep"] = "sweep"
    param: Literal["momentum", "weight-decay"]
    backend: str
    seed: int
    metric: str
    values: list[float]  # the values tried, coarse grid then fine
    suggestion: float
    suggestion_rule: str
    c_at_suggestion: float | None  # the report rule's rate at the suggested value
    rows: list[dict[str, Any]]  # per test: value, best of the metric, where it stopped, run directory


class FirstLrFind(_Record):
    """The range test ``bench tune`` starts with."""

    dir: str  # its run directory, inside the tune directory
    suggestions: dict[str, float | None]


class TuneSummary(_Summary):
    """``bench tune``: the rate, momentum and weight decay chosen, and the specs written."""

    kind: Literal["tune"] = "tune"
    backend: str
    seed: int
    metric: str  # val_loss | val_acc
    c: float  # the learning rate the rules derive from
    log10_c: float
    momentum: float
    weight_decay: float
    first_lr_find: FirstLrFind
    specs: dict[str, str]  # "rule/policy" -> spec file, relative to the tune directory
    k: int | float  # CLR step size in epochs
    clr_div: int  # CLR min rate = c / clr_div


Summary = Annotated[TrainSummary | ReferenceSummary | LrFindSummary | SweepSummary | TuneSummary,
                    Field(discriminator="kind")]
_SUMMARY: TypeAdapter[Summary] = TypeAdapter(Summary)


class DataInfo(_Record):
    """The data a run used: where each file came from and how it was checked, split sizes
    (examples), per-channel mean and standard deviation of pixels in [0, 1]."""

    source: Any
    train: int
    val: int
    test: int
    eval: int | None  # the fixed evaluation subset; None: the whole test split
    mean: list[float]
    std: list[float]


class Resume(_Record):
    """One ``bench run --resume`` of the run."""

    at_step: int  # the checkpoint's updates done
    checkpoint: str  # why that checkpoint was written
    command: str
    at: str  # ISO 8601, UTC, seconds
    git_commit: str | None
    hostname: str
    slurm: dict[str, Any] | None = None  # the SLURM job that resumed it (bench.grids.slurm.job_record)


class Meta(_Record):
    """meta.json: what ran, where and on what. A backend's ``describe()`` adds keys of its
    own (kept as they are); an imported run holds only the few its log can say."""

    harness_version: str | None = None
    # the backend's numerics version (bench/records/numerics.py; backends/<name>/numerics.yaml); absent
    # in runs made before versions were recorded (read from git_commit) and in imported runs
    numerics_version: int | None = None
    imported_from: str | None = None  # the log an imported run was read from
    # bench full: this run directory holds the records of that run (same experiment and seed,
    # made once for two suite cells), not a training of its own
    same_as: str | None = None
    git_commit: str | None = None  # with "-dirty" if the tree had changes
    command: str | None = None
    python: str | None = None
    platform: str | None = None
    hostname: str | None = None
    framework: dict[str, str] | None = None  # package -> version
    device: dict[str, Any] | None = None  # type, name, count
    threads: int | dict[str, int] | None = None
    world_size: int | None = None  # data-parallel processes
    seed: int | None = None
    started_at: str | None = None  # ISO 8601, UTC, seconds
    run_id: str | None = None
    data: DataInfo | None = None
    cpu_count: int | None = None
    trainable_params: int | None = None
    fast_paths: dict[str, Any] | None = None  # which of the backend's fast paths were on
    notes: str | None = None
    disk: dict[str, int] | None = None  # bytes estimated for checkpoints and records
    resumes: list[Resume] = []
    # bench.running.provenance: the image the run ran in (target, commit, lock, lock_sha256, base,
    # base_digest; None outside the harness's images) and the accelerator stack (cuda_runtime,
    # cudnn: wheel -> version; driver; gpus: name, memory_mib)
    image: dict[str, str] | None = None
    accelerator: dict[str, Any] | None = None
    # bench.grids.slurm.job_record: the SLURM job (job_id, array_job_id, array_task_id, node, partition,
    # cpus_on_node, gpus, mem_per_node_mb, account, qos) and the resources asked for (asked);
    # None outside SLURM
    slurm: dict[str, Any] | None = None


def _record_error(path: Path, err: ValidationError, tagged: bool = False) -> RecordError:
    """One line: the file, then each field with what is wrong and the value received."""
    problems = []
    for e in err.errors(include_url=False):
        bad_kind = e["type"].startswith("union_tag")  # no kind, or one no record has
        loc = e["loc"][1:] if tagged else e["loc"]  # a union's errors start with the kind's tag
        field = "kind" if bad_kind else ".".join(map(str, loc))
        problem = e["msg"] + ("" if bad_kind or isinstance(e["input"], dict) else f" (received {e['input']!r})")
        problems.append(f"{field}: {problem}" if field else problem)
    return RecordError(f"{path}: " + "; ".join(problems))


def parse_summary(data: Any, path: Path | str = "summary.json") -> Summary:
    """``data`` (a summary as JSON data) validated as the record of its kind."""
    try:
        return _SUMMARY.validate_python(data)
    except ValidationError as e:
        raise _record_error(Path(path), e, tagged=True) from None


def _read(run_dir: str | Path, name: str, parse):
    path = Path(run_dir) / name
    with open(path) as f:
        return parse(json.load(f), path)


def _write(run_dir: str | Path, name: str, record, parse):
    path = Path(run_dir) / name
    record = parse(record, path) if isinstance(record, dict) else record
    write_json(path, record.dump())
    return record


def read_summary(run_dir: str | Path) -> Summary:
    """The run's summary.json, validated; :class:`RecordError` names the file and field of a
    bad one (a file cut short raises ``json.JSONDecodeError``, a missing one ``OSError``)."""
    return _read(run_dir, "summary.json", parse_summary)


def write_summary(run_dir: str | Path, summary: Summary | dict) -> Summary:
    """Write ``summary`` (a record, or a dict validated as one) as the run's summary.json."""
    return _write(run_dir, "summary.json", summary, parse_summary)


def parse_meta(data: Any, path: Path | str = "meta.json") -> Meta:
    try:
        return Meta.model_validate(data)
    except ValidationError as e:
        raise _record_error(Path(path), e) from None


def read_meta(run_dir: str | Path) -> Meta:
    return _read(run_dir, "meta.json", parse_meta)


def write_meta(run_dir: str | Path, meta: Meta | dict) -> Meta:
    return _write(run_dir, "meta.json", meta, parse_meta)


class RunWriter:
    """Appends rows to steps.csv and evals.csv as the run goes; writes the summary last."""

    def __init__(self, path: Path, resume: bool = False):
        """A new run directory, or (``resume``) an existing one whose records are appended to
        (cut back to the checkpoint first: :func:`bench.running.checkpoint.truncate_records`)."""
        self.path = Path(path)
        if resume:
            self._steps_f = open(self.path / "steps.csv", "a", newline="")
            self._evals_f = open(self.path / "evals.csv", "a", newline="")
        else:
            self.path.mkdir(parents=True, exist_ok=False)
            self._steps_f = open(self.path / "steps.csv", "w", newline="")
            self._evals_f = open(self.path / "evals.csv", "w", newline="")
        self._steps = csv.writer(self._steps_f)
        self._evals = csv.writer(self._evals_f)
        if not resume:
            self._steps.writerow(STEP_COLUMNS)
            self._evals.writerow(EVAL_COLUMNS)

    def write_spec(self, yaml_text: str) -> None:
        atomic_write(self.path / "spec.yaml", yaml_text)

    def write_meta(self, meta: Meta | dict) -> None:
        write_meta(self.path, meta)

    def steps(self, rows: Iterable[tuple]) -> None:
        # floats are written with repr(): they read back bit-identical
        self._steps.writerows(rows)
        self._steps_f.flush()

    def eval(self, row: tuple) -> None:
        self._evals.writerow(row)
        self._evals_f.flush()

    def sync(self) -> None:
        """Everything written so far on disk (before a checkpoint records the files' lengths)."""
        for f in (self._steps_f, self._evals_f):
            f.flush()
            os.fsync(f.fileno())

    def close(self) -> None:
        self._steps_f.close()
        self._evals_f.close()

    def write_summary(self, summary: Summary | dict) -> None:
        self.close()
        write_summary(self.path, summary)


def is_complete(run_dir: Path) -> bool:
    return (Path(run_dir) / "summary.json").is_file()


# where bench full keeps runs made under an older numerics version that it made again
# (superseded/<backend>-numerics<version>/<run id>): kept, never read as results
SUPERSEDED = "superseded"


def _run_dirs(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Every directory in ``paths`` holding a spec.yaml or a summary.json, each once (not
    those under a ``superseded`` folder of a searched folder)."""
    seen = set()
    for p in paths:
        p = Path(p)
        if (p / "spec.yaml").is_file() or (p / "summary.json").is_file():
            candidates = [p]
        else:
            candidates = sorted({q.parent for name in ("spec.yaml", "summary.json") for q in p.rglob(name)
                                 if SUPERSEDED not in q.relative_to(p).parts})
        for d in candidates:
            if d not in seen:
                seen.add(d)
                yield d


def find_runs(paths: Iterable[str | Path], warn: bool = True) -> Iterator[Path]:
    """Complete run directories in ``paths`` (each a run directory or a folder searched
    recursively). Incomplete ones (no summary.json) are skipped with a warning naming them."""
    for d in _run_dirs(paths):
        if is_complete(d):
            yield d
        elif warn:
            warnings.warn(f"skipping incomplete run directory {d} (no summary.json)", stacklevel=2)


# what a damaged run directory raises when read (a file edited or cut short by hand or by
# another tool, a record of the wrong shape): readers skip such a directory with a warning
UNREADABLE = (OSError, ValueError, KeyError, TypeError, AttributeError, yaml.YAMLError, RecordError)


class EvalPoint(NamedTuple):
    """One row of evals.csv: a periodic evaluation or the final test."""

    step: int  # updates done
    acc: float  # accuracy on the row's split, a fraction in [0, 1]
    train_s: float | None  # training seconds by then; None where the source does not say
    # "eval": the fixed evaluation subset of the test split (periodic evaluations when the
    # spec sets dataset.eval_size); "test": the whole test split (the final evaluation, and
    # the periodic ones without an eval subset)
    split: str = "test"


def read_evals(run_dir: str | Path) -> list[EvalPoint]:
    """Every row of the run's evals.csv, in order ([] if it has none)."""
    path = Path(run_dir) / "evals.csv"
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return [EvalPoint(int(float(r["step"])), float(r["acc"] if "acc" in r else r["test_acc"]),
                          float(r["train_wall_s"]) if r.get("train_wall_s") not in (None, "") else None,
                          r.get("split") or "test")
                for r in csv.DictReader(f)]


def read_spec(run_dir: str | Path) -> dict:
    """The run's spec.yaml as data; :class:`RecordError` names the field of one that lacks
    what readers rely on (:class:`SpecHead`)."""
    path = Path(run_dir) / "spec.yaml"
    spec = yaml.safe_load(path.read_text()) or {}
    if not isinstance(spec, dict):
        raise ValueError("spec.yaml must hold a mapping")
    try:
        SpecHead.model_validate(spec)
    except ValidationError as e:
        raise _record_error(path, e) from None
    return spec


@dataclass
class Run:
    """A complete run directory, read through the records; meta.json and steps.csv are read
    when first asked for."""

    path: Path
    spec: dict  # spec.yaml as data
    summary: Summary
    evals: list[EvalPoint]  # read with the summary: a damaged evals.csv skips the run at loading

    @cached_property
    def head(self) -> SpecHead:
        """The spec as readers see it, typed (:class:`bench.records.specview.SpecHead`):
        ``run.head.network.name``, ``run.head.dataset.train_size``, ``run.head.policy_data``."""
        return SpecHead.model_validate(self.spec)

    @cached_property
    def meta(self) -> Meta:
        return read_meta(self.path)

    @cached_property
    def steps(self) -> list[dict[str, str]]:
        """The rows of steps.csv (:data:`STEP_COLUMNS`), as written ([] if it has none)."""
        path = self.path / "steps.csv"
        if not path.is_file():
            return []
        with open(path, newline="") as f:
            return list(csv.DictReader(f))

    def get(self, dotted: str) -> Any:
        """``spec.policy.name``, ``summary.backend``, ``meta.device.type``: None where absent."""
        head, *parts = dotted.split(".")
        if head not in ("spec", "summary", "meta"):
            return None
        cur = getattr(self, head)
        for part in parts:
            if not isinstance(cur, dict | _Record):
                return None
            cur = cur.get(part)
        return cur


def warn_skip(stream, what: str, run_dir: Path, why: str) -> None:
    """The one warning line of a reader that skips a run directory: what kind of skip, the
    directory, and why."""
    print(f"warning: skipping {what} run directory {run_dir} ({why})", file=stream)


def load_runs(paths: Iterable[str | Path], stream=None, kinds: Iterable[str] | None = None) -> list[Run]:
    """Every complete and readable run directory in ``paths`` whose summary is of one of
    ``kinds`` (default: any). Each one skipped gets one warning line on ``stream`` (default
    stderr) naming it and why: incomplete (no summary.json), unreadable (a file cut short or
    missing, a record of the wrong shape), or repeated (a run id already loaded through
    another path: counted once)."""
    stream = stream or sys.stderr
    kinds = None if kinds is None else set(kinds)
    runs, seen = [], set()
    for d in _run_dirs(paths):
        if not is_complete(d):
            warn_skip(stream, "incomplete", d, "no summary.json")
            continue
        if d.name in seen:
            warn_skip(stream, "repeated", d, "repeats a run id already loaded, same spec and seed: counted once")
            continue
        seen.add(d.name)
        try:
            summary = read_summary(d)
            if kinds is None or summary.kind in kinds:
                runs.append(Run(d, read_spec(d), summary, read_evals(d)))
        except UNREADABLE as e:
            warn_skip(stream, "unreadable", d, f"{type(e).__name__}: {e}")
    return runs
