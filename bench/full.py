"""``bench full``: a suite's grid, each run in its own process, then the report.

Tuned cells (a ``tune:`` block: :mod:`bench.tuning`) go in two phases: their tuning runs
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

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import backends as registry
from bench import suites
from bench.errors import EXIT_INTERRUPTED, BenchError, DataError
from bench.rundir import atomic_write as write_text_atomic
from bench.rundir import is_complete, read_summary, write_json
from bench.spec import dump_yaml


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
    from bench.spec import DatasetSpec

    if dataset_available(DatasetSpec(name="cifar10")) is None:
        return "smith-topin", budget, f"CIFAR-10 is present; {'a GPU' if gpu else 'no GPU'}: budget {budget}"
    return "fashion-mnist", budget, f"CIFAR-10 is not present, Fashion-MNIST is; {'a GPU' if gpu else 'no GPU'}: budget {budget}"


_CHILD: list[subprocess.Popen] = []  # the cell running now (signals are forwarded to it)


def _run_cell(cmd: list[str]) -> tuple[int, str]:
    """Run one ``bench run`` in its own session (so a terminal's Ctrl-C reaches it only
    through :func:`_forward`, once per press) and return its exit code and stderr."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
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


def run_job(spec_text: str, run_id: str, out: str) -> int:
    """One grid cell, in its own process: what a submitit job (local or SLURM) executes.

    Resumes the cell from its checkpoint when it has one, else runs it from the start."""
    run_dir = Path(out) / run_id
    with tempfile.TemporaryDirectory() as tmp:
        spec_file = Path(tmp) / f"{run_id}.yaml"
        spec_file.write_text(spec_text)
        fresh = [sys.executable, "-m", "bench", "run", str(spec_file), "--out", str(out), "--quiet", "--overwrite"]
        if (run_dir / "checkpoint.json").is_file() and (run_dir / "spec.yaml").is_file():
            code, err = _run_cell([sys.executable, "-m", "bench", "run", "--resume", str(run_dir), "--quiet"])
            if code == 2 and "checkpoint" in err:  # unusable (corrupt, other data): start over
                first = f"checkpoint unusable, rerun from the start: {err.strip()}\n"
                code, err = _run_cell(fresh)
                err = first + err
        else:
            code, err = _run_cell(fresh)
        if code not in (0, 3):  # keep why a cell failed or stopped
            write_text_atomic(Path(out) / f"{run_id}.log", err)
        return code


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


def _submit(todo, out: Path, launcher: str, partition: str | None, stream) -> None:
    """Submit the cells as one job array (submitit: 'slurm', or 'local' to run it here)."""
    try:
        import submitit
    except ImportError:
        raise BenchError("--launcher needs submitit: pip install -e '.[cluster]'") from None
    folder = out / ".submitit"
    ex = submitit.AutoExecutor(folder=str(folder), cluster=launcher)
    params = {"timeout_min": 24 * 60}
    if launcher == "slurm":
        if not partition:
            raise BenchError("--launcher slurm needs --partition")
        params["slurm_partition"] = partition
    ex.update_parameters(**params)
    jobs = ex.map_array(run_job, [t[0] for t in todo], [t[1] for t in todo], [str(out)] * len(todo))
    print(f"submitted {len(jobs)} jobs to {launcher} (logs in {folder}); waiting", file=stream, flush=True)
    for j in jobs:
        j.result()


def _run_jobs(jobs, out: Path, stream, log: dict, retry_diverged: bool, launcher, partition,
              missing_cache: dict) -> None:
    """Run ``jobs`` not yet finished (each in its own process, or through a launcher), and
    record in ``log`` what ran, was skipped and failed."""
    todo = []
    for k, job in enumerate(jobs, 1):
        d = out / job.spec.run_id()
        label = f"[{k}/{len(jobs)}] {job.cell} {job.backend} s{job.seed}"
        status = read_summary(d).status if is_complete(d) else None
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
        _submit(todo, out, launcher, partition, stream)
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
        else:
            print(f"{label}: FAILED ({status or 'no summary written'})", file=stream, flush=True)
            log["failed"].append({"run": run_id, "exit": status or "no summary", "log": f"{run_id}.log"})


def run_full(suite_name: str | None, budget: str | None, backends: list[str] | None, seeds: int | None,
             out: Path, shard: str | None = None, stream=None, launcher: str | None = None,
             partition: str | None = None, retry_diverged: bool = False) -> tuple[Path, dict]:
    """A suite's grid at a budget, then the report. Tuned cells (bench/tuning.py) go in two
    phases: their tuning runs first (on the validation split, tuning seeds), then the choice
    of each tuned cell, metric and backend (``<out>/choices/*.json``), then, with every other
    cell, their judged runs at the chosen value on fresh seeds."""
    stream = stream or sys.stderr
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
    mine_tune = suites.shard(tune_jobs, shard) if shard else tune_jobs
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    log = {"suite": suite_name, "budget": budget, "backends": backends, "why": why, "ran": [], "skipped": [],
           "failed": [], "choices": [], "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    t_start = time.perf_counter()
    missing: dict[str, str | None] = {}
    if tune_jobs:
        print(f"tuning: {len(mine_tune)} runs on the validation split "
              f"({len({j.tunes for j in tune_jobs})} tuned cells)", file=stream, flush=True)
        _run_jobs(mine_tune, out, stream, log, retry_diverged, launcher, partition, missing)
    if not log.get("interrupted"):
        judged, choices = suites.judged(suite, budget, backends, seeds, out, tune_jobs) if tune_jobs else ([], [])
        for c in choices:
            print(f"choice {c.cell} [{c.metric_key}, {c.backend}]: "
                  + (f"{c.record['param']} = {c.chosen:g}: {c.why} ({c.path.relative_to(out)})" if c.chosen is not None
                     else f"not yet: {c.why}; the judged runs wait (run the same command again once every "
                          "tuning run is there)"), file=stream, flush=True)
            log["choices"].append({"cell": c.cell, "metric": c.metric_key, "backend": c.backend, "chosen": c.chosen,
                                   "why": c.why, "file": str(c.path.relative_to(out)) if c.path else None})
        suites.check_no_twins(plain + judged, suite["name"], budget)
        # the judged runs are sharded by their cell, backend and seed (not by position: which
        # choices exist can differ between invocations), the rest as before
        phase2 = (suites.shard(plain, shard) + suites.shard_stable(judged, shard)) if shard else plain + judged
        _run_jobs(phase2, out, stream, log, retry_diverged, launcher, partition, missing)
    log["wall_s"] = time.perf_counter() - t_start
    part = f"-shard{shard.replace('/', 'of')}" if shard else ""
    write_json(out / f"full-{suite['name']}-{budget}{part}.json", log)
    from bench.report import make_report

    report = make_report([out], out, log=log)
    print(f"report: {report}", file=stream)
    return report, log
