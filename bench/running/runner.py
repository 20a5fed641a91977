"""One run: check everything, load the data and the backend, train, record.

All checks that can fail on bad input (spec, backend installed, data present and
intact, output folder writable) happen before the run directory is created, so a bad
input leaves nothing behind and loses nothing already recorded.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import platform
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from bench import __version__
from bench import data as datasets
from bench.errors import EXIT_DIVERGED, EXIT_INTERRUPTED, EXIT_OK, BenchError
from bench.grids import slurm
from bench.records import numerics
from bench.records.rundir import (
    Meta,
    Resume,
    RunWriter,
    TrainSummary,
    is_complete,
    make_out_dir,
    read_meta,
    read_summary,
)
from bench.records.spec import Spec, dump_yaml
from bench.running import provenance, registry
from bench.running.loop import Stop, run_loop, warmup_steps
from bench.running.progress import Progress


def git_commit() -> str | None:
    here = Path(__file__).resolve().parent.parent.parent  # the repository
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        if out.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _check_out_dir(out_root: Path) -> None:
    make_out_dir(out_root, "results folder")


def targets_reached(spec: Spec, evals) -> dict[str, dict | None]:
    """For each target accuracy: the first evaluation that reached it (step, train seconds),
    on one set of images: the validation split for a tuning run (``eval_split: val``), else
    the evaluation subset where the run has one (the final evaluation on the whole test
    split is not one of them), else the test split (as bench.judging.claims)."""
    from bench.records.identity import periodic_split

    out: dict[str, dict | None] = {}
    periodic = periodic_split(e[1] for e in evals)
    for t in spec.targets:
        hit = next(((s, ts) for s, split, _l, acc, ts in evals if split == periodic and acc >= t), None)
        out[str(t)] = None if hit is None else {"step": hit[0], "train_s": hit[1]}
    return out


class NullWriter:
    """What ranks other than 0 of a data-parallel run write: nothing."""

    def __getattr__(self, name):
        return lambda *a, **k: None


def build_meta(spec: Spec, trainer, data, command: str | None = None) -> Meta:
    """meta.json: versions, device, threads, commit, seed, data provenance."""
    desc = trainer.describe()
    return Meta(
        harness_version=__version__,
        numerics_version=numerics.current(spec.backend),
        git_commit=git_commit(),
        command=command or " ".join(sys.argv),
        python=platform.python_version(),
        platform=platform.platform(),
        hostname=platform.node(),
        framework=desc.pop("framework"),
        device=desc.pop("device"),
        threads=desc.pop("threads"),
        world_size=desc.pop("world_size", 1),
        seed=spec.seed,
        started_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        run_id=spec.run_id(),
        data={"source": data.source, "train": len(data.train_y), "val": len(data.val_y),
              "test": len(data.test_y), "eval": None if data.eval_idx is None else len(data.eval_idx),
              "mean": data.mean, "std": data.std},
        image=provenance.image_identity(),
        accelerator=provenance.accelerator(),
        slurm=slurm.job_record(),
        **desc,
    )


def check_disk(out_root: Path, spec: Spec, trainer, total: int) -> dict:
    """Enough free space for the records and two checkpoints (old and new exist together
    for a moment), estimated from the parameter count, before any training."""
    params = int(trainer.describe().get("trainable_params") or 0)
    itemsize = 8 if spec.precision == "float64" else 4
    ckpt = 3 * params * itemsize + (1 << 20)  # weights + batch-norm statistics, momentum buffers, slack
    rows = 160 * total + 200 * (total // spec.eval_every + 2)  # csv rows of about 100-150 bytes
    need = 2 * ckpt + rows
    free = shutil.disk_usage(out_root).free
    if free < need:
        raise BenchError(f"not enough disk in {out_root}: {free / 2**20:.1f} MiB free, this run needs about "
                         f"{need / 2**20:.1f} MiB (records {rows / 2**20:.1f} MiB, two checkpoints of "
                         f"{ckpt / 2**20:.1f} MiB); free space or choose another --out")
    return {"checkpoint_bytes_estimate": ckpt, "records_bytes_estimate": rows}


def prepare(spec: Spec, out_root: Path):
    """Every check that can fail on bad input, then the data and a trainer (nothing written).

    Cheap checks first: the backend installed, the output folder writable; then the data
    (present, intact); then the trainer."""
    backend = registry.load(spec.backend)
    _check_out_dir(out_root)
    data = datasets.prepare(spec.dataset)
    return backend, data, backend.create_trainer(spec, data)


@contextlib.contextmanager
def run_lock(out_root: Path, run_id: str, rank: int = 0):
    """One process at a time on a run directory: an exclusive ``flock`` on
    ``<results>/.<run_id>.lock`` (held by rank 0 of a data-parallel run)."""
    if rank != 0:
        yield
        return
    path = Path(out_root) / f".{run_id}.lock"
    while True:
        f = open(path, "a+")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            f.close()
            raise BenchError(f"{run_id} in {out_root} is being run by {holder} (lock {path}); "
                             "wait for it, or choose another --out or --seed") from None
        try:  # the file may have been unlinked by its last holder between our open and flock
            if os.fstat(f.fileno()).st_ino == os.stat(path).st_ino:
                break
        except FileNotFoundError:
            pass
        f.close()
    f.seek(0)
    f.truncate()
    f.write(f"pid {os.getpid()} on {platform.node()}")
    f.flush()
    try:
        yield
    finally:
        path.unlink(missing_ok=True)
        f.close()


class _Signals:
    """SIGINT/SIGTERM (and SIGUSR2, which SLURM sends through submitit before a job's time
    limit): the first asks the loop to stop after the current update (checkpoint, records,
    status interrupted); a second one stops at once (records kept). A repeat within
    ``REPEAT_S`` is the same request delivered twice (a cancelled SLURM job's processes can
    get SIGTERM from both slurmstepd and srun), not a second one."""

    REPEAT_S = 2.0

    def __init__(self, stop: Stop):
        self.stop = stop
        self.old: dict[int, object] = {}
        self.first_at: float | None = None

    def _handle(self, signum, frame):
        import time

        if self.stop.requested:
            if self.first_at is not None and time.monotonic() - self.first_at < self.REPEAT_S:
                return
            raise KeyboardInterrupt
        self.stop.requested = True
        self.first_at = time.monotonic()
        self.stop.reason = signal.Signals(signum).name
        print(f"\n{self.stop.reason}: stopping after this update and writing a checkpoint "
              "(send it again to stop at once)", file=sys.stderr, flush=True)

    def __enter__(self):
        import threading

        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGUSR2", None)):
                if sig is not None:
                    self.old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc):
        for sig, h in self.old.items():
            signal.signal(sig, h)


def _check_budget(spec: Spec, n_train: int | None = None) -> int:
    from bench.records.schedules import make_schedule

    total = spec.total_steps(n_train)  # validates batch size against the data and the budget
    make_schedule(spec.policy, total)  # a budget too short for the policy fails here
    return total


def run(spec: Spec, out_root: str | Path, *, overwrite: bool = False, progress: bool = True,
        command: str | None = None, stop_at: int | None = None) -> tuple[Path, dict, int]:
    """One run from the start. ``stop_at``: stop as if interrupted after that many updates.

    Returns the run directory, the summary as written (summary.json's object) and the exit code."""
    out_root = Path(out_root)
    run_dir = out_root / spec.run_id()
    _check_budget(spec)
    _check_out_dir(out_root)
    rank = int(os.environ.get("RANK", "0"))
    with run_lock(out_root, spec.run_id(), rank):
        if run_dir.exists() and not overwrite and rank == 0:
            state = "a completed run" if is_complete(run_dir) else "an incomplete run (no summary.json)"
            hint = "" if is_complete(run_dir) else ", or continue it with bench run --resume " + str(run_dir)
            raise BenchError(
                f"{run_dir} already holds {state} of this exact spec and seed; "
                f"pass --overwrite to replace it{hint}, or change the seed or --out"
            )
        _, data, trainer = prepare(spec, out_root)
        if len(data.train_y) < spec.batch_size:
            raise BenchError(f"batch_size {spec.batch_size} is larger than the {len(data.train_y)} "
                             "training examples loaded")
        total = _check_budget(spec, len(data.train_y))  # epochs count the data actually loaded
        disk = check_disk(out_root, spec, trainer, total)
        rank = trainer.rank  # data parallel: rank 0 records, the others only train
        if rank == 0 and run_dir.exists():
            shutil.rmtree(run_dir)
        writer = RunWriter(run_dir) if rank == 0 else NullWriter()
        writer.write_spec(dump_yaml(spec.resolved()))
        meta = build_meta(spec, trainer, data, command)
        meta.disk = disk
        writer.write_meta(meta)
        return _train(spec, run_dir, trainer, data, writer, total, progress and rank == 0, rank,
                      stop=Stop(at=stop_at))


def resume(run_dir: str | Path, *, progress: bool = True, command: str | None = None,
           stop_at: int | None = None) -> tuple[Path, dict, int]:
    """Continue an interrupted (or killed) run from its checkpoint, exactly."""
    from bench.records.spec import load as load_spec
    from bench.running import checkpoint as ckpt_mod

    run_dir = Path(run_dir)
    if not (run_dir / "spec.yaml").is_file():
        what = "does not exist" if not run_dir.exists() else "is not a run directory (no spec.yaml)"
        raise BenchError(f"--resume {run_dir}: {what}")
    if is_complete(run_dir):
        status = read_summary(run_dir).get("status")
        if status in ("completed", "diverged"):
            raise BenchError(f"--resume {run_dir}: the run already ended ({status}); nothing to resume")
    spec = load_spec(run_dir / "spec.yaml")
    out_root = run_dir.parent
    rank = int(os.environ.get("RANK", "0"))
    with run_lock(out_root, run_dir.name, rank):
        ck = ckpt_mod.read(run_dir)
        if ck.run_id != spec.run_id() or ck.run_id != run_dir.name:
            raise ckpt_mod.CheckpointError(
                f"checkpoint in {run_dir} is of run {ck.run_id!r}, but the directory is {run_dir.name!r} "
                f"and its spec.yaml resolves to {spec.run_id()!r}")
        _check_numerics(run_dir, spec.backend)
        _, data, trainer = prepare(spec, out_root)
        total = _check_budget(spec, len(data.train_y))
        if total != ck.total_steps:
            raise ckpt_mod.CheckpointError(
                f"checkpoint in {run_dir} is for {ck.total_steps} steps, the data loaded now give {total}: "
                "the dataset changed since the run started")
        check_disk(out_root, spec, trainer, total)
        trainer.load_checkpoint(run_dir, ck.files)  # raises CheckpointError on a corrupt file
        rank = trainer.rank
        writer: RunWriter | NullWriter = NullWriter()
        if rank == 0:
            (run_dir / "summary.json").unlink(missing_ok=True)  # running again: incomplete until it ends
            ckpt_mod.truncate_records(run_dir, ck)
            writer = RunWriter(run_dir, resume=True)
            meta = read_meta(run_dir)
            meta.resumes = [*meta.resumes, Resume(
                at_step=ck.step, checkpoint=ck.reason, command=command or " ".join(sys.argv),
                at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), git_commit=git_commit(),
                hostname=platform.node(), slurm=slurm.job_record())]
            writer.write_meta(meta)
        return _train(spec, run_dir, trainer, data, writer, total, progress and rank == 0, rank,
                      stop=Stop(at=stop_at), start=ck)


def _check_numerics(run_dir: Path, backend: str) -> None:
    """A run started under another numerics version cannot be continued by this tree: its
    records would mix two versions of the arithmetic."""
    from bench.running.checkpoint import CheckpointError

    meta = read_meta(run_dir)
    then = meta.numerics_version
    if then is None:
        then = numerics.from_commit(backend, meta.git_commit)
    now = numerics.current(backend)
    if then != now:
        raise CheckpointError(
            f"--resume {run_dir}: the run was started under {backend} numerics {then if then is not None else '(unknown)'}"
            f" and this tree trains with {backend} numerics {now} (backends/{backend}/numerics.yaml); continuing "
            "would mix the two in one run: start it over")


def clock_fields(outcome, threads, on_gpu: bool, gpu=None) -> dict:
    """The summary's clock record (:mod:`bench.running.clock`): CPU seconds in training steps, the
    threads the run could use, its share of them, involuntary context switches, the threads'
    run-queue wait (Linux), and ``contended`` (:func:`bench.running.clock.contended` on a CPU; on a
    GPU, another compute process on the device; absent where nothing could be measured)."""
    from bench.running import clock

    n = clock.share_threads(threads)
    out = {"cpu_s": outcome.cpu_s, "cpu_threads": n, "involuntary_switches": outcome.involuntary_switches}
    share = clock.cpu_share(outcome.cpu_s, outcome.train_s, n)
    if share is not None:
        out["cpu_share"] = share
    queue = clock.RunQueue(outcome.sched_run_s, outcome.sched_wait_s, outcome.sched_measured)
    wait = queue.share()
    if wait is not None:
        out["cpu_wait_s"] = queue.wait_s
        out["cpu_wait_share"] = wait
    if on_gpu:
        out.update(gpu.result() if gpu is not None else {})
    else:
        flag = clock.contended(wait, share)
        if flag is not None:
            out["contended"] = flag
    return out


@contextlib.contextmanager
def _gpu_sampler(device: dict | None):
    """nvidia-smi sampled while a GPU run trains (None on a CPU). The trainer's ``describe()``
    names the GPU by its PCI bus id where the framework says (``device.pci_bus_id``), which
    nvidia-smi takes whatever CUDA_VISIBLE_DEVICES remaps; else the first GPU."""
    if device is None:
        yield None
        return
    from bench.running import clock

    with clock.GpuSampler(device.get("pci_bus_id")) as sampler:
        yield sampler


def _train(spec, run_dir, trainer, data, writer, total, progress, rank, *, stop, start=None):
    from bench.running import checkpoint as ckpt_mod

    def save(step, outcome, reason):
        return ckpt_mod.save(run_dir, trainer, step=step, total=total, run_id=spec.run_id(), backend=spec.backend,
                             outcome=outcome, writer=writer, reason=reason)

    desc = trainer.describe()
    device = desc.get("device") or {}
    on_gpu = device.get("type") == "cuda"
    with _Signals(stop), _gpu_sampler(device if on_gpu else None) as gpu:
        bar = Progress(total, desc=spec.name, enabled=progress)
        outcome = run_loop(spec, trainer, data, writer, bar, start=start, checkpoint=save if rank == 0 else None,
                           stop=stop)
    evals = outcome.evals
    from bench.records.identity import periodic_split

    best_split = periodic_split(e[1] for e in evals) if evals else None
    best = max((e for e in evals if e[1] == best_split), key=lambda e: e[3], default=None)
    warm = warmup_steps(total)
    timed_steps = outcome.steps_done - warm
    timed_s = outcome.train_s - outcome.warmup_s
    if timed_steps > 0 and timed_s > 0:
        ips = timed_steps * spec.batch_size / timed_s
    else:
        ips = outcome.steps_done * spec.batch_size / outcome.train_s if outcome.train_s else None
    summary = TrainSummary(
        run_id=spec.run_id(),
        status=outcome.status,
        backend=spec.backend,
        steps_done=outcome.steps_done,
        total_steps=total,
        steps_per_epoch=spec.steps_per_epoch(len(data.train_y)),
        final_test_acc=outcome.final_test_acc,
        final_test_loss=outcome.final_test_loss,
        best_acc=None if best is None else best[3],
        best_split=best_split if best is not None else None,
        best_step=None if best is None else best[0],
        targets=targets_reached(spec, evals),
        images_per_s=ips,
        train_s=outcome.train_s,
        eval_s=outcome.eval_s,
        checkpoint_s=outcome.checkpoint_s,
        warmup_steps=warm,
        warmup_s=outcome.warmup_s,
        diverged_at=outcome.diverged_at,
        exploded_at=outcome.exploded_at,
        checkpoint_step=outcome.checkpointed_at,
        resumed_from=None if start is None else start.step,
        finished_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        **clock_fields(outcome, desc.get("threads"), on_gpu, gpu),
    )
    writer.write_summary(summary)
    if rank == 0 and outcome.status != "interrupted":
        ckpt_mod.remove(run_dir)  # a checkpoint is for resuming: an ended run needs none
    code = {"completed": EXIT_OK, "diverged": EXIT_DIVERGED, "interrupted": EXIT_INTERRUPTED}[outcome.status]
    return run_dir, summary.dump(), code
