"""``bench full``: a suite's grid, each run in its own process, then the report.

Tuned cells (a ``tune:`` block: :mod:`bench.rates.tuning`) go in two phases: their tuning runs
first (the grid on the validation split, on the tuning seeds), then the choice of each tuned
cell, metric and backend (``<out>/choices/*.json``, one line each on stderr), then, with every
other cell, their judged runs at the chosen values on fresh seeds.

Restartable: a completed run is skipped; an interrupted one, or one killed (a
directory without a summary), is resumed from its checkpoint (``bench run --resume``),
or rerun from the start when it has none; a diverged run is a result, kept, and run
again only with ``--retry-diverged``. Cells whose dataset is missing are skipped and the
report says so; the suite goes on. Interrupting ``bench full`` (Ctrl-C, SIGTERM) lets
the cell in progress write its checkpoint, stops the suite, and exits 4; running the
same command again continues.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path

from bench.errors import EXIT_INTERRUPTED, EXIT_RESTART, BenchError, DataError
from bench.grids import suites
from bench.records.rundir import (
    SUPERSEDED,
    is_complete,
    read_meta,
    read_summary,
    write_json,
    write_meta,
    write_summary,
)
from bench.records.rundir import atomic_write as write_text_atomic
from bench.records.spec import dump_yaml
from bench.running import registry


def dataset_available(ds) -> str | None:
    """None if the dataset's files are there; otherwise why not (nothing is downloaded)."""
    from bench import data as datasets

    try:
        datasets.info(ds.name).locate(ds.data_dir)
    except DataError as e:
        return str(e).splitlines()[0]
    return None


def default_suite() -> tuple[str, str, str]:
    """The suite a user most likely wants here, its budget, and why."""
    gpu = False
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10)
        gpu = out.returncode == 0 and "GPU" in out.stdout
    except (OSError, subprocess.SubprocessError):
        pass
    budget = "paper" if gpu else "quick"
    from bench.records.spec import DatasetSpec

    if dataset_available(DatasetSpec(name="cifar10")) is None:
        return "smith-topin", budget, f"CIFAR-10 is present; {'a GPU' if gpu else 'no GPU'}: budget {budget}"
    return "fashion-mnist", budget, f"CIFAR-10 is not present, Fashion-MNIST is; {'a GPU' if gpu else 'no GPU'}: budget {budget}"


_CHILD: list[subprocess.Popen] = []  # the cell running now (signals are forwarded to it)


def _run_cell(cmd: list[str], env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run one ``bench run`` in its own session (so a terminal's Ctrl-C reaches it only
    through :func:`_forward`, once per press) and return its exit code and stderr."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, env=None if env is None else {**os.environ, **env})
    _CHILD.append(proc)
    try:
        _, err = proc.communicate()
    finally:
        _CHILD.remove(proc)
    return proc.returncode, err


def _forward(signum, frame) -> None:
    """SIGINT/SIGTERM to ``bench full``: passed to the running cell, which finishes its
    update, writes a checkpoint and exits 4; the suite then stops."""
    for proc in _CHILD:
        proc.send_signal(signum)


def run_job(spec_text: str, run_id: str, out: str, asked: dict | None = None, container: dict | None = None,
            threads: dict | None = None) -> int:
    """One grid cell, in its own process: what a submitit job (local or SLURM) executes.

    Resumes the cell from its checkpoint when it has one, else runs it from the start.
    In a SLURM job the run's ``meta.json`` gets the job's record (:func:`bench.grids.slurm.job_record`,
    with ``asked``: the resources requested); ``threads`` sizes the thread pools;
    ``container`` (a :class:`bench.grids.slurm.Container` as a dict) runs ``bench run`` in an image,
    with ``out`` mounted at its own path and the data folders read-only."""
    from bench.grids import slurm

    out = str(Path(out).resolve())
    run_dir = Path(out) / run_id
    env = dict(threads or {})
    rec = slurm.job_record(asked=asked)
    if rec is not None:
        env[slurm.JOB_ENV] = json.dumps(rec, sort_keys=True)
    box = slurm.Container(**container) if container else None
    # the spec beside the results when a container runs it (one mount), else a temporary folder
    spec_root = Path(out) / ".specs" if box else None
    if spec_root:
        spec_root.mkdir(parents=True, exist_ok=True)
    name = f"bench-{run_id}-{rec.get('job_id', os.getpid()) if rec else os.getpid()}"
    with tempfile.TemporaryDirectory(dir=spec_root) as tmp:
        spec_file = Path(tmp) / f"{run_id}.yaml"
        spec_file.write_text(spec_text)
        if box:
            os.chmod(tmp, 0o755)  # readable by the container's user

        def command(args: list[str]) -> list[str]:
            if box is None:
                return [sys.executable, "-m", "bench", *args]
            asked_ = asked or {}
            return box.command(args, mounts=[Path(out)], env=env, gpus=bool(asked_.get("gpus_per_job")),
                               read_only=_data_mounts(spec_text), name=name, cpus=asked_.get("cpus_per_job"),
                               mem=asked_.get("mem"))

        try:
            fresh = command(["run", str(spec_file), "--out", out, "--quiet", "--overwrite"])
            if (run_dir / "checkpoint.json").is_file() and (run_dir / "spec.yaml").is_file():
                code, err = _run_cell(command(["run", "--resume", str(run_dir), "--quiet"]), env)
                if code == EXIT_RESTART:  # unusable (corrupt, other data, other numerics): start over
                    first = f"checkpoint unusable, rerun from the start: {err.strip()}\n"
                    code, err = _run_cell(fresh, env)
                    err = first + err
            else:
                code, err = _run_cell(fresh, env)
        finally:
            remove = box.remove_command(name) if box else None
            if remove:  # the client may have died before its container: remove what is left
                subprocess.run(remove, capture_output=True, timeout=60, check=False)
        if code not in (0, 3):  # keep why a cell failed or stopped
            write_text_atomic(Path(out) / f"{run_id}.log", err)
        return code


def _data_mounts(spec_text: str) -> dict[str, str]:
    """Host data folders a containerised run needs, read-only: BENCH_DATA_DIR at /data (where
    the images look), and the spec's own ``dataset.data_dir`` at its own path."""
    import yaml

    mounts = {}
    host = os.environ.get("BENCH_DATA_DIR")
    if host and Path(host).is_dir():
        mounts[str(Path(host).resolve())] = "/data"
    data_dir = ((yaml.safe_load(spec_text) or {}).get("dataset") or {}).get("data_dir")
    if data_dir and Path(data_dir).is_dir():
        mounts[str(Path(data_dir).resolve())] = str(Path(data_dir).resolve())
    return mounts


def _run_sequential(todo, out: Path, stream, log: dict) -> None:
    for spec_text, run_id, label in todo:
        t0 = time.perf_counter()
        if (out / run_id / "checkpoint.json").is_file():
            print(f"{label}: resuming from its checkpoint", file=stream, flush=True)
        code = run_job(spec_text, run_id, str(out))
        d = out / run_id
        if code == EXIT_INTERRUPTED:  # the signal reached the cell: stop the suite here
            print(f"{label}: interrupted (checkpoint written); run the same command again to continue",
                  file=stream, flush=True)
            log["interrupted"] = run_id
            return
        if is_complete(d):
            s = read_summary(d)
            acc = s.final_test_acc
            print(f"{label}: {s.status}, final acc {'n/a' if acc is None else f'{acc:.4f}'} "
                  f"({time.perf_counter() - t0:.0f}s)", file=stream, flush=True)


def _submit(todo, out: Path, launcher: str, resources, container, stream, wait: bool) -> None:
    """Submit the cells as one job array (submitit: 'slurm', or 'local' to run it here).
    SLURM: runs whose job from an earlier submission is still queued or running are not
    submitted again but collected; the job ids go to ``OUT/slurm-jobs.json``; with ``wait``
    the scheduler's queue is polled (squeue, not sacct) until every job has left it."""
    try:
        import submitit
    except ImportError:
        raise BenchError("--launcher needs submitit: pip install -e '.[cluster]'") from None
    from bench.grids import slurm
    from bench.grids.slurm import Resources

    resources = resources or Resources()
    logging.getLogger("submitit").addFilter(slurm.SacctOnce())
    folder = out / ".submitit"
    live = slurm.live_jobs(out) if launcher == "slurm" else {}
    if live:
        print(f"{len(live)} runs already have a job queued or running (jobs {', '.join(sorted(set(live.values())))}): "
              "collected, not submitted again", file=stream, flush=True)
    todo = [t for t in todo if t[1] not in live]
    ex = submitit.AutoExecutor(folder=str(folder), cluster=launcher)
    if launcher == "slurm":
        if not resources.partition:
            raise BenchError("--launcher slurm needs --partition")
        ex.update_parameters(**resources.executor_params())
    else:
        ex.update_parameters(timeout_min=resources.time_minutes())
    asked = resources.asked()
    box = None if container is None else asdict(container)
    threads = resources.thread_env()
    n = len(todo)
    jobs = ex.map_array(run_job, [t[0] for t in todo], [t[1] for t in todo], [str(out)] * n, [asked] * n,
                        [box] * n, [threads] * n) if todo else []
    ids = {t[1]: j.job_id for t, j in zip(todo, jobs, strict=True)}
    if launcher == "slurm" and ids:
        slurm.write_jobs(out, ids, asked, container)
    arrays = sorted({str(j).split("_")[0] for j in ids.values()})
    if jobs:
        print(f"submitted {len(jobs)} jobs to {launcher} (job array {', '.join(arrays)}; logs in {folder})"
              + ("" if wait else f"; not waiting: `bench full --status {out}` shows them, the same command "
                 "again collects or resumes"), file=stream, flush=True)
    if not wait:
        return
    if launcher != "slurm":
        for j in jobs:
            j.result()
        return
    _wait_for_queue(out, sorted(set(ids.values()) | set(live.values())), stream)


def _wait_for_queue(out: Path, job_ids: list[str], stream, poll_s: float = 5.0) -> None:
    from bench.grids import slurm

    last = None
    misses = 0
    while True:
        states = slurm.queue_states(job_ids)
        if states is None and misses < 5:  # a busy controller: ask again
            misses += 1
            time.sleep(poll_s * misses)
            continue
        if states is None:
            raise BenchError("squeue did not answer: is the SLURM controller up? (`bench full --status "
                             f"{out}` shows what finished; the same command again collects or resumes)")
        live = {j: s for j, s in states.items() if s in slurm.LIVE_STATES and j in job_ids}
        counts = Counter(live.values())
        line = (f"jobs: {len(job_ids) - len(live)} of {len(job_ids)} left the queue"
                + "".join(f", {v} {k.lower()}" for k, v in sorted(counts.items())))
        if line != last:
            print(line, file=stream, flush=True)
            last = line
        if not live:
            return
        misses = 0
        time.sleep(poll_s)


def _run_jobs(jobs, out: Path, stream, log: dict, retry_diverged: bool, launcher, resources, container, wait,
              missing_cache: dict) -> None:
    """Run ``jobs`` not yet finished (each in its own process, or through a launcher), and
    record in ``log`` what ran, was skipped and failed."""
    todo = []
    for k, job in enumerate(jobs, 1):
        d = out / job.spec.run_id()
        label = f"[{k}/{len(jobs)}] {job.cell} {job.backend} s{job.seed}"
        status = read_summary(d).status if is_complete(d) else None
        if status in ("completed", "diverged") and _supersede_stale(d, job.backend, out, stream, log, label):
            status = None
        if status == "completed" or (status == "diverged" and not retry_diverged):
            hint = " (--retry-diverged runs it again)" if status == "diverged" else ""
            print(f"{label}: already {status} ({d.name}){hint}", file=stream)
            log["skipped"].append({"run": d.name, "why": f"already {status}"})
            continue
        if status == "diverged":  # asked to retry: start over, the old record is replaced
            (d / "checkpoint.json").unlink(missing_ok=True)
        # interrupted, or killed (no summary): resumed from its checkpoint, else from the start
        key = f"{job.spec.dataset.name}|{job.spec.dataset.data_dir}"
        if key not in missing_cache:
            missing_cache[key] = dataset_available(job.spec.dataset)
        if missing_cache[key]:
            print(f"{label}: skipped, {missing_cache[key]}", file=stream)
            log["skipped"].append({"run": d.name, "cell": job.cell, "why": missing_cache[key]})
            continue
        todo.append((dump_yaml(job.spec.resolved()), d.name, label))
    if not todo:
        return
    if launcher:
        _submit(todo, out, launcher, resources, container, stream, wait)
        if not wait:
            log["submitted"] = log.get("submitted", 0) + len(todo)
            return
    else:
        import signal
        import threading

        main = threading.current_thread() is threading.main_thread()
        old = {sig: signal.signal(sig, _forward) for sig in (signal.SIGINT, signal.SIGTERM)} if main else {}
        try:
            _run_sequential(todo, out, stream, log)
        finally:
            for sig, h in old.items():
                signal.signal(sig, h)
    for _, run_id, label in todo:
        d = out / run_id
        status = read_summary(d).status if is_complete(d) else None
        if status in ("completed", "diverged"):
            log["ran"].append({"run": run_id, "status": status})
        elif log.get("interrupted"):
            continue  # stopped before it ended or was reached: the next `bench full` continues it
        elif status == "interrupted":  # e.g. a job cancelled or timed out: it wrote its checkpoint
            print(f"{label}: interrupted (checkpoint written); the same command again resumes it",
                  file=stream, flush=True)
            log["failed"].append({"run": run_id, "exit": "interrupted", "log": f"{run_id}.log"})
        else:
            print(f"{label}: FAILED ({status or 'no summary written'})", file=stream, flush=True)
            log["failed"].append({"run": run_id, "exit": status or "no summary", "log": f"{run_id}.log"})


def _supersede_stale(d: Path, backend: str, out: Path, stream, log: dict, label: str) -> bool:
    """A complete run made under another numerics version than this tree's is not this
    suite's result any more: moved to ``superseded/<backend>-numerics<v>/`` (kept, never read
    as a result) so that it is made again. True if it was moved."""
    from bench.records import numerics

    then, now = numerics.version_at(d), numerics.current(backend)
    if now is None or then.version == now:
        return False
    dest = out / SUPERSEDED / f"{backend}-numerics{then.version if then.version is not None else 'unknown'}" / d.name
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        shutil.rmtree(dest)
    os.replace(d, dest)
    print(f"{label}: made under {then.label()} ({then.how}), this tree trains with {backend} numerics {now}: "
          f"moved to {dest.relative_to(out)} and made again", file=stream, flush=True)
    log.setdefault("superseded", []).append({"run": d.name, "numerics": then.version, "to": str(dest.relative_to(out))})
    return True


def link_repeat(job, source, out: Path) -> str:
    """Give ``job`` (the same experiment, backend and seed as ``source``: suites.made_once) a
    run directory of its own holding ``source``'s records, once ``source`` has ended: its own
    spec.yaml (its cell's name and provenance), the records copied, ``meta.json`` with
    ``same_as`` naming the run that made them. Returns what happened: linked, already, or
    waiting (the source has not ended)."""
    src, dst = out / source.spec.run_id(), out / job.spec.run_id()
    if is_complete(dst):
        return "already"
    if not is_complete(src) or read_summary(src).status not in ("completed", "diverged"):
        return "waiting"
    tmp = out / f".{dst.name}.linking"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    (tmp / "spec.yaml").write_text(dump_yaml(job.spec.resolved()))
    for name in ("steps.csv", "evals.csv"):
        if (src / name).is_file():
            shutil.copy2(src / name, tmp / name)
    meta = read_meta(src)
    meta.run_id, meta.same_as = dst.name, src.name
    write_meta(tmp, meta)
    summary = read_summary(src).dump()
    summary["run_id"] = dst.name
    write_summary(tmp, summary)
    shutil.rmtree(dst, ignore_errors=True)  # an incomplete leftover
    os.replace(tmp, dst)
    return "linked"


def _link_repeats(repeats, out: Path, stream, log: dict) -> None:
    for job, source in repeats:
        what = link_repeat(job, source, out)
        if what == "linked":
            print(f"{job.cell} {job.backend} s{job.seed}: the same experiment as {source.cell} (made once): "
                  f"{job.spec.run_id()} holds {source.spec.run_id()}'s records", file=stream, flush=True)
            log.setdefault("made_once", []).append({"run": job.spec.run_id(), "same_as": source.spec.run_id()})


def run_full(suite_name: str | None, budget: str | None, backends: list[str] | None, seeds: int | None,
             out: Path, shard: str | None = None, stream=None, launcher: str | None = None,
             resources=None, retry_diverged: bool = False, container=None,
             wait: bool = True) -> tuple[Path | None, dict]:
    """A suite's grid at a budget, then the report. Tuned cells (bench/rates/tuning.py) go in two
    phases: their tuning runs first (on the validation split, tuning seeds), then the choice
    of each tuned cell, metric and backend (``<out>/choices/*.json``), then, with every other
    cell, their judged runs at the chosen value on fresh seeds.

    ``launcher``: slurm or local (submitit); ``resources``: a :class:`bench.grids.slurm.Resources`
    (partition, GPUs, CPUs, memory, time, array parallelism, other options); ``container``: a
    :class:`bench.grids.slurm.Container` each job's ``bench run`` goes through; ``wait=False``
    (SLURM): submit and return (no report: the same call again collects or resumes)."""
    stream = stream or sys.stderr
    if not wait and launcher != "slurm":
        raise BenchError("--no-wait is for --launcher slurm (received launcher "
                         f"{launcher or 'none'}): here the cells run in this process")
    if container is not None and not launcher:
        raise BenchError("--container runs each job through a container command: give --launcher slurm or local")
    why = "asked for"
    if suite_name is None:
        suite_name, auto_budget, why = default_suite()
        budget = budget or auto_budget
        print(f"bench full: suite {suite_name!r}, budget {budget!r} ({why})", file=stream)
    suite = suites.load(suite_name)
    budget = budget or suite.get("default_budget", "quick")
    backends = backends or registry.available()
    for b in backends:
        if b not in registry.BACKENDS:
            raise BenchError(f"unknown backend {b!r}; allowed: {' | '.join(registry.BACKENDS)}")
        if not registry.installed(b):
            raise BenchError(f"backend {b!r} is not installed: pip install -e '.[{registry.BACKENDS[b].extra}]'")
    jobs = suites.expand(suite, budget, backends, seeds)
    tune_jobs = [j for j in jobs if j.role == "tune"]
    plain = [j for j in jobs if j.role != "tune"]
    tune_once, tune_repeats = suites.made_once(tune_jobs)
    mine_tune = suites.shard(tune_once, shard) if shard else tune_once
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    log = {"suite": suite_name, "budget": budget, "backends": backends, "why": why, "ran": [], "skipped": [],
           "failed": [], "choices": [], "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    t_start = time.perf_counter()
    missing: dict[str, str | None] = {}
    if tune_jobs:
        print(f"tuning: {len(mine_tune)} runs on the validation split "
              f"({len({j.tunes for j in tune_jobs})} tuned cells)", file=stream, flush=True)
        _run_jobs(mine_tune, out, stream, log, retry_diverged, launcher, resources, container, wait, missing)
        _link_repeats(tune_repeats, out, stream, log)
    if log.get("submitted"):  # tuning jobs submitted, not waited for: the judged runs need their choice
        print("the judged runs are submitted once the tuning runs are done: run the same command again",
              file=stream, flush=True)
    elif not log.get("interrupted"):
        judged, choices = suites.judged(suite, budget, backends, seeds, out, tune_jobs) if tune_jobs else ([], [])
        for c in choices:
            print(f"choice {c.cell} [{c.metric_key}, {c.backend}]: "
                  + (f"{c.record['param']} = {c.chosen:g}: {c.why} ({c.path.relative_to(out)})" if c.chosen is not None
                     else f"not yet: {c.why}; the judged runs wait (run the same command again once every "
                          "tuning run is there)"), file=stream, flush=True)
            log["choices"].append({"cell": c.cell, "metric": c.metric_key, "backend": c.backend, "chosen": c.chosen,
                                   "why": c.why, "file": str(c.path.relative_to(out)) if c.path else None})
        suites.check_no_twins(plain + judged, suite["name"], budget)
        once, repeats = suites.made_once(plain + judged)
        if repeats:
            print(f"{len(once)} runs to make or keep; {len(repeats)} more are the same experiment and seed as one of "
                  "them (another cell's, or a tuned cell whose choices coincide): made once, read by both cells",
                  file=stream, flush=True)
        keep = {id(j) for j in once}
        plain, judged = [j for j in plain if id(j) in keep], [j for j in judged if id(j) in keep]
        # the judged runs are sharded by their cell, backend and seed (not by position: which
        # choices exist can differ between invocations), the rest as before
        phase2 = (suites.shard(plain, shard) + suites.shard_stable(judged, shard)) if shard else plain + judged
        _run_jobs(phase2, out, stream, log, retry_diverged, launcher, resources, container, wait, missing)
        _link_repeats(repeats, out, stream, log)
    log["wall_s"] = time.perf_counter() - t_start
    if log.get("submitted"):
        return None, log
    part = f"-shard{shard.replace('/', 'of')}" if shard else ""
    _write_log(out / f"full-{suite['name']}-{budget}{part}.json", log, stream)
    from bench.judging.report import make_report

    report = make_report([out], out, log=log)
    print(f"report: {report}", file=stream)
    return report, log


def _write_log(path: Path, log: dict, stream) -> None:
    """This invocation's record, with the earlier invocations' into the same folder kept
    under ``earlier`` (oldest first): a second ``bench full`` there (another backend, a
    resume) adds to the record instead of replacing it. An earlier file that does not read
    is kept beside it as ``<name>.unreadable`` (``.unreadable.1``, ... when that exists)."""
    earlier: list = []
    if path.exists():
        try:
            prev = json.loads(path.read_text())
            if not isinstance(prev, dict):
                raise ValueError(f"a {type(prev).__name__}, not an object")
            earlier = list(prev.pop("earlier", [])) + [prev]
        except (OSError, ValueError) as e:
            keep, n = path.with_name(path.name + ".unreadable"), 1
            while keep.exists():  # an earlier unreadable one stays too
                keep, n = path.with_name(f"{path.name}.unreadable.{n}"), n + 1
            os.replace(path, keep)
            print(f"bench full: {path} did not read ({e}); kept as {keep}", file=stream)
    write_json(path, {**log, "earlier": earlier} if earlier else log)


def status(out: Path) -> tuple[list[dict], list[dict]]:
    """``bench full --status OUT``: each run directory's state, and each run submitted to
    SLURM (``OUT/slurm-jobs.json``) with its job's state in the queue. Returns (cells, runs):
    one row per (cell, backend) with how many runs are in each state, and one row per run.

    States: completed, diverged (results); interrupted (a checkpoint: the same ``bench full``
    resumes it); running, pending (its job in the queue); started (a directory without a
    summary and no live job: killed; resumed or rerun by the same command); lost (submitted,
    no directory, no job in the queue: rerun by the same command)."""
    from bench.grids import slurm
    from bench.records.rundir import read_spec

    out = Path(out)
    if not out.is_dir():
        raise BenchError(f"--status: no results folder {out}")
    jobs = slurm.read_jobs(out).get("runs", {})
    queue = slurm.queue_states(sorted(set(jobs.values()))) if jobs else {}
    runs = []
    names = sorted({p.name for p in out.iterdir() if p.is_dir() and (p / "spec.yaml").is_file()} | set(jobs))
    for run_id in names:
        d = out / run_id
        job = jobs.get(run_id)
        q = (queue or {}).get(job) if job else None
        queued = "pending" if q in slurm.WAITING_STATES else "running" if q in slurm.STARTED_STATES else None
        if queued:  # a job on it now: resuming an interrupted run, retrying a diverged one, or a first run
            state = queued
        elif is_complete(d):
            state = read_summary(d).status
        elif (d / "checkpoint.json").is_file():
            state = "interrupted"
        elif d.is_dir():
            state = "started"
        else:
            state = "lost"
        try:
            spec = read_spec(d)
            cell, backend = spec["name"], spec["backend"]
        except (OSError, ValueError):  # not there yet (lost, pending), or damaged: from the run id
            parts = run_id.rsplit("-", 3)
            cell, backend = (parts[0], parts[1]) if len(parts) == 4 else (run_id, "?")
        runs.append({"run": run_id, "cell": cell, "backend": backend, "state": state, "job": job,
                     "queue": q if queue is not None else "squeue unavailable"})
    cells: dict[tuple[str, str], Counter] = {}
    for r in runs:
        cells.setdefault((r["cell"], r["backend"]), Counter())[r["state"]] += 1
    cell_rows = [{"cell": c, "backend": b, "runs": sum(n.values()),
                  **{s: n.get(s, 0) for s in ("completed", "diverged", "running", "pending", "interrupted",
                                              "started", "lost")}}
                 for (c, b), n in sorted(cells.items())]
    return cell_rows, runs
