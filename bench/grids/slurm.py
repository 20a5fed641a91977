"""SLURM for ``bench full --launcher slurm``: what a job asks for, what it records, the
container it may run in, and the scheduler's view of a grid (framework-free).

- :class:`Resources`: ``--gpus-per-job``, ``--cpus-per-job`` (the run's thread counts follow
  it), ``--mem``, ``--time``, ``--array-parallelism`` and ``--slurm-option KEY=VALUE``
  (account, qos, constraint, ...), turned into submitit's parameters.
- :func:`job_record`: the SLURM job a run ran in (job id, array job and index, node,
  partition) and the resources asked for; :mod:`bench.running.runner` writes it into ``meta.json``
  (``slurm``). The submitting side passes it to ``bench run`` as ``BENCH_SLURM_JOB`` (JSON),
  so it reaches a run inside a container too.
- :class:`Container`: ``--container IMAGE`` runs each job's ``bench run`` through a container
  command: docker or podman (``--container-engine "podman --runtime runc"``: the results
  folder mounted at the same path, the job's user, no network) or apptainer
  (``apptainer exec --nv``).
- :data:`JOBS_FILE`: ``OUT/slurm-jobs.json``, which job runs which run directory, written at
  submission: ``bench full --status OUT`` and a rerun of ``bench full`` read it.
- :class:`SacctOnce`: submitit warns on every poll when accounting is off ("Bypassing sacct
  error"); this filter lets one line through.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import shlex
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.errors import BenchError

JOBS_FILE = "slurm-jobs.json"
JOB_ENV = "BENCH_SLURM_JOB"  # the job record, JSON, for the run process (in a container too)
# squeue states of a job that is not over: waiting to start, and started
WAITING_STATES = {"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "SPECIAL_EXIT", "RESV_DEL_HOLD"}
STARTED_STATES = {"RUNNING", "CONFIGURING", "COMPLETING", "RESIZING", "SUSPENDED", "STOPPED", "SIGNALING",
                  "STAGE_OUT"}
LIVE_STATES = WAITING_STATES | STARTED_STATES
# the environment variables that set a framework's thread pools (torch: OpenMP, MKL; TensorFlow)
THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS")
_MEM = re.compile(r"^\d+[KMGT]?$", re.I)
_TIME = re.compile(r"^(\d+-)?\d+(:\d{1,2}){0,2}$")


@dataclass(frozen=True)
class Resources:
    """What each job of the array asks the scheduler for (None: the cluster's default)."""

    partition: str | None = None
    gpus_per_job: int | None = None
    cpus_per_job: int | None = None
    mem: str | None = None  # SLURM's --mem: 16G, 4000M, ...
    time: str | None = None  # SLURM's --time: minutes, HH:MM:SS, D-HH:MM
    array_parallelism: int | None = None  # at most this many array tasks at once
    options: dict[str, str] = field(default_factory=dict)  # --slurm-option KEY=VALUE: account, qos, ...

    def __post_init__(self):
        for name in ("gpus_per_job", "cpus_per_job", "array_parallelism"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or v < (0 if name == "gpus_per_job" else 1)):
                raise BenchError(f"--{name.replace('_', '-')} needs a whole number >= "
                                 f"{0 if name == 'gpus_per_job' else 1}; received {v!r}")
        if self.mem is not None and not _MEM.match(self.mem):
            raise BenchError(f"--mem takes SLURM's form (a number with K, M, G or T: 16G, 4000M); received {self.mem!r}")
        if self.time is not None and not _TIME.match(self.time):
            raise BenchError(f"--time takes SLURM's form (minutes, HH:MM:SS or D-HH:MM); received {self.time!r}")

    @staticmethod
    def parse_options(items: list[str] | None) -> dict[str, str]:
        """``--slurm-option KEY=VALUE`` items (``account=abc``, ``qos=high``) as a dict."""
        out = {}
        for item in items or []:
            key, sep, value = item.partition("=")
            key = key.strip().lstrip("-")
            if not sep or not key or not value:
                raise BenchError(f"--slurm-option takes KEY=VALUE (e.g. account=abc, qos=high, constraint=a100); "
                                 f"received {item!r}")
            out[key.replace("-", "_")] = value
        return out

    def asked(self) -> dict:
        """The non-default requests, as recorded in meta.json."""
        return {k: v for k, v in asdict(self).items() if v not in (None, {})}

    def time_minutes(self) -> int:
        """``time`` in minutes (submitit's timeout_min); 24 hours when not given."""
        if self.time is None:
            return 24 * 60
        days, _, rest = self.time.rpartition("-")
        parts = [int(p) for p in rest.split(":")]
        if days:  # D-HH[:MM[:SS]]
            parts += [0] * (3 - len(parts))
            h, m, s = parts
        elif len(parts) == 1:  # minutes
            h, m, s = 0, parts[0], 0
        elif len(parts) == 2:  # MM:SS
            h, m, s = 0, parts[0], parts[1]
        else:
            h, m, s = parts
        return max(1, (int(days or 0) * 24 + h) * 60 + m + (1 if s else 0))

    def executor_params(self) -> dict:
        """submitit's parameters for an AutoExecutor with cluster='slurm'."""
        p: dict = {"timeout_min": self.time_minutes(), "slurm_partition": self.partition}
        if self.gpus_per_job is not None:
            p["gpus_per_node"] = self.gpus_per_job
        if self.cpus_per_job is not None:
            p["cpus_per_task"] = self.cpus_per_job
        if self.mem is not None:
            p["slurm_mem"] = self.mem
        if self.array_parallelism is not None:
            p["slurm_array_parallelism"] = self.array_parallelism
        if self.options:
            p["slurm_additional_parameters"] = dict(self.options)
        return {k: v for k, v in p.items() if v is not None}

    def thread_env(self) -> dict[str, str]:
        """The run's thread pools sized to the CPUs asked for (nothing when none asked)."""
        if self.cpus_per_job is None:
            return {}
        return {k: str(self.cpus_per_job) for k in THREAD_ENV}


def job_record(environ: dict[str, str] | None = None, asked: dict | None = None) -> dict | None:
    """The SLURM job this process runs in, from SLURM's variables, with the resources asked
    for; None outside a SLURM job. ``BENCH_SLURM_JOB`` (set by the submitting side) wins."""
    env = os.environ if environ is None else environ
    if env.get(JOB_ENV):
        try:
            rec = json.loads(env[JOB_ENV])
            return rec if isinstance(rec, dict) else None
        except ValueError:
            return None
    if not env.get("SLURM_JOB_ID"):
        return None
    rec = {
        "job_id": env.get("SLURM_JOB_ID"),
        "array_job_id": env.get("SLURM_ARRAY_JOB_ID"),
        "array_task_id": _int(env.get("SLURM_ARRAY_TASK_ID")),
        "node": env.get("SLURMD_NODENAME") or env.get("SLURM_NODELIST"),
        "partition": env.get("SLURM_JOB_PARTITION"),
        "cpus_on_node": _int(env.get("SLURM_CPUS_ON_NODE")),
        "gpus": env.get("SLURM_GPUS_ON_NODE") or env.get("SLURM_JOB_GPUS"),
        "mem_per_node_mb": _int(env.get("SLURM_MEM_PER_NODE")),
        "account": env.get("SLURM_JOB_ACCOUNT"),
        "qos": env.get("SLURM_JOB_QOS"),
    }
    rec = {k: v for k, v in rec.items() if v is not None}
    if asked:
        rec["asked"] = asked
    return rec


def _int(v):
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class Container:
    """Run a job's ``bench run`` inside an image. ``engine``: the command with any global
    flags (``docker``, ``podman --runtime runc``, ``apptainer``); ``flags``: more flags for its
    run (``--ulimit nofile=4096:4096``).

    docker and podman start the container beside the job, not inside its cgroup: the
    command passes the job's CPUs and memory as ``--cpus``/``--memory``, its GPUs
    (``CUDA_VISIBLE_DEVICES``) as devices, and names the container after the job so that
    :func:`remove_command` can remove it if the client dies first."""

    image: str
    engine: str = "docker"
    flags: str = ""

    def __post_init__(self):
        name = Path(shlex.split(self.engine)[0]).name if self.engine.strip() else ""
        if name not in ("docker", "podman", "apptainer", "singularity"):
            raise BenchError(f"--container-engine: docker, podman or apptainer (with global flags, e.g. "
                             f"'podman --runtime runc'); received {self.engine!r}")

    @property
    def kind(self) -> str:
        return Path(shlex.split(self.engine)[0]).name

    def command(self, bench_args: list[str], mounts: list[Path], env: dict[str, str], gpus: bool,
                read_only: dict[str, str] | None = None, name: str | None = None,
                cpus: int | None = None, mem: str | None = None) -> list[str]:
        """The command that runs ``bench BENCH_ARGS`` in the image, with ``mounts`` (host
        folders, at the same path inside, writable), ``read_only`` (host folder -> path inside)
        and ``env``. ``gpus``: the job's GPUs (``CUDA_VISIBLE_DEVICES`` when set, else all)."""
        engine = shlex.split(self.engine)
        flags = shlex.split(self.flags)
        paths = sorted({str(Path(m).resolve()) for m in mounts})
        visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").strip()
        if self.kind in ("apptainer", "singularity"):
            cmd = [*engine, "exec", "--cleanenv"] + (["--nv"] if gpus else [])
            for p in paths:
                cmd += ["--bind", p]
            for host, inside in (read_only or {}).items():
                cmd += ["--bind", f"{host}:{inside}:ro"]
            for k, v in {**env, **({"CUDA_VISIBLE_DEVICES": visible} if gpus and visible else {})}.items():
                cmd += ["--env", f"{k}={v}"]
            return cmd + flags + [self.image, "bench", *bench_args]
        cmd = [*engine, "run", "--rm", "--network", "none", "--user", f"{os.getuid()}:{os.getgid()}",
               "--shm-size", "8g", "--workdir", paths[0] if paths else "/results"]
        if self.kind == "podman" and os.getuid() != 0:
            cmd += ["--userns", "keep-id"]  # rootless: the folders' owner inside is you
        if name:
            cmd += ["--name", name]
        if cpus:
            cmd += ["--cpus", str(cpus)]
        if mem:
            cmd += ["--memory", mem.lower() if mem[-1].isalpha() else f"{mem}m"]  # SLURM's bare number: MB
        if gpus:
            ids = [i for i in visible.split(",") if i] or ["all"]
            if self.kind == "podman":
                for i in ids:
                    cmd += ["--device", f"nvidia.com/gpu={i}"]
            else:
                cmd += ["--gpus", "all" if ids == ["all"] else f"device={','.join(ids)}"]
        for p in paths:
            cmd += ["-v", f"{p}:{p}"]
        for host, inside in (read_only or {}).items():
            cmd += ["-v", f"{host}:{inside}:ro"]
        for k, v in env.items():
            cmd += ["-e", f"{k}={v}"]
        return cmd + flags + [self.image, *bench_args]  # the image's entrypoint is bench

    def remove_command(self, name: str) -> list[str] | None:
        """Removes a named container left behind (docker, podman); None for apptainer."""
        if self.kind in ("apptainer", "singularity"):
            return None
        return [*shlex.split(self.engine), "rm", "-f", name]


# --- the grid's jobs: written at submission, read by --status and by a rerun -------------------

def write_jobs(out: Path, entries: dict[str, str], asked: dict, container: Container | None) -> None:
    """Add ``run_id -> job id`` entries to ``OUT/slurm-jobs.json``."""
    import fcntl

    from bench.records.rundir import write_json

    path = Path(out) / JOBS_FILE
    with open(Path(out) / f".{JOBS_FILE}.lock", "w") as lock:  # shards submitting into one OUT
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = read_jobs(out)
        data.setdefault("runs", {}).update(entries)
        data["submissions"] = [*data.get("submissions", []), {
            "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "jobs": sorted(set(entries.values())),
            "asked": asked, "container": None if container is None else asdict(container)}]
        write_json(path, data)


def read_jobs(out: Path) -> dict:
    path = Path(out) / JOBS_FILE
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def queue_states(job_ids: list[str]) -> dict[str, str] | None:
    """squeue's state of each job id still known to the scheduler (array tasks as
    ``ARRAY_TASK``); None when squeue cannot be asked."""
    if not job_ids:
        return {}
    arrays = sorted({j.split("_")[0] for j in job_ids})
    try:
        out = subprocess.run(["squeue", "-h", "-r", "-o", "%i %T", "-j", ",".join(arrays)],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        # squeue refuses ids it no longer knows ("Invalid job id specified"): none is queued
        return {} if "Invalid job id" in out.stderr else None
    states = {}
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2:
            states[parts[0]] = parts[1]
    return states


def live_jobs(out: Path) -> dict[str, str]:
    """run_id -> job id of the runs whose job is still queued or running. Raises when the
    scheduler cannot be asked: submitting again then could run one directory twice at once."""
    runs = read_jobs(out).get("runs", {})
    if not runs:
        return {}
    states = queue_states(sorted(set(runs.values())))
    if states is None:
        raise BenchError(f"squeue did not answer, so which of the {len(runs)} runs in {Path(out) / JOBS_FILE} "
                         "still have a job queued or running is unknown; nothing submitted (try again when the "
                         "controller answers)")
    return {r: j for r, j in runs.items() if states.get(j) in LIVE_STATES}


class SacctOnce(logging.Filter):
    """Let submitit's "Bypassing sacct error" warning through once, as one line."""

    def __init__(self):
        super().__init__()
        self.seen = False

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        if "sacct" not in msg:
            return True
        if self.seen:
            return False
        self.seen = True
        record.msg = ("sacct is unavailable (accounting storage disabled?): job states come from squeue "
                      "and the run directories; this is said once")
        record.args = ()
        return True
