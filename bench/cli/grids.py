"""Launching grids: bench full (local, SLURM, containers), bench perf."""

from __future__ import annotations

import sys
from pathlib import Path

from bench.cli.base import (
    _command,
)
from bench.errors import (
    EXIT_CHECK_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    BenchError,
)
from bench.running import registry


def cmd_full(args) -> int:
    from bench.grids.full import run_full

    if args.status:
        return _full_status(Path(args.status))
    backends = args.backends.split(",") if args.backends else None
    resources, container = _cluster_args(args)
    report, log = run_full(args.suite, args.budget, backends, args.seeds, Path(args.out), args.shard,
                           launcher=args.launcher, resources=resources, retry_diverged=args.retry_diverged,
                           container=container, wait=not args.no_wait)
    if report is None:  # --no-wait: submitted
        return EXIT_OK
    print(report)
    if log.get("interrupted"):
        return EXIT_INTERRUPTED
    if log["failed"]:  # cells that crashed or stayed incomplete (a diverged cell is a result)
        print(f"bench full: {len(log['failed'])} cells crashed or stayed incomplete: "
              + ", ".join(f["run"] for f in log["failed"]) + f" (why: their .log files in {args.out})",
              file=sys.stderr)
        return EXIT_CHECK_FAILED
    return EXIT_OK


def _cluster_args(args):
    """--partition, --gpus-per-job, ... as a bench.grids.slurm.Resources; --container as a Container."""
    from bench.grids.slurm import Container, Resources

    slurm_only = {"--gpus-per-job": args.gpus_per_job, "--cpus-per-job": args.cpus_per_job, "--mem": args.mem,
                  "--time": args.time, "--array-parallelism": args.array_parallelism,
                  "--slurm-option": args.slurm_option, "--partition": args.partition}
    given = [k for k, v in slurm_only.items() if v]
    if given and args.launcher != "slurm":
        raise BenchError(f"{', '.join(given)}: for --launcher slurm (received launcher {args.launcher or 'none'})")
    resources = Resources(partition=args.partition, gpus_per_job=args.gpus_per_job, cpus_per_job=args.cpus_per_job,
                          mem=args.mem, time=args.time, array_parallelism=args.array_parallelism,
                          options=Resources.parse_options(args.slurm_option))
    container = None
    if args.container:
        container = Container(image=args.container, engine=args.container_engine, flags=args.container_flags or "")
    elif args.container_flags or args.container_engine != "docker":
        raise BenchError("--container-engine and --container-flags go with --container IMAGE")
    return resources, container


def _full_status(out: Path) -> int:
    from tabulate import tabulate

    from bench.grids.full import status

    cells, runs = status(out)
    if not runs:
        print(f"no runs in {out} yet")
        return EXIT_OK
    print(tabulate(cells, headers="keys", tablefmt="github"))
    queued = [r for r in runs if r["job"]]
    if queued:
        print()
        print(tabulate([{k: r[k] for k in ("run", "state", "job", "queue")} for r in queued], headers="keys",
                       tablefmt="github"))
    left = sum(1 for r in runs if r["state"] not in ("completed", "diverged"))
    print(f"\n{len(runs) - left} of {len(runs)} runs finished"
          + (f"; {left} not: the same `bench full` command collects or resumes them" if left else ""))
    return EXIT_OK


def cmd_perf(args) -> int:
    from bench.running.perf import gpu_lines, run_perf, table

    if args.suite == "gpu":
        names = [n for n, e in registry.BACKENDS.items() if e.gpu_check]
        if args.backend is not None and args.backend not in names:
            raise BenchError(f"--suite gpu runs on {' | '.join(names)} only; received --backend {args.backend}")
        names = [args.backend or names[0]]
    else:
        names = [args.backend] if args.backend else registry.available()
    if not names:
        raise BenchError("no backend is installed: pip install -e '.[torch]' (or '.[keras]')")
    for n in names:
        if not registry.installed(n):
            raise BenchError(f"backend {n!r} is not installed: pip install -e '.[{registry.BACKENDS[n].extra}]'")
    if args.steps < 60 or args.repeats < 1:
        raise BenchError(f"--steps must be >= 60 and --repeats >= 1; received --steps {args.steps}, "
                         f"--repeats {args.repeats}")
    argv = ["--network", args.network, "--steps", str(args.steps), "--repeats", str(args.repeats)]
    for flag, v in (("--batch-size", args.batch_size), ("--device", args.device), ("--precision", args.precision),
                    ("--suite", args.suite), ("--slice", args.slice)):
        if v is not None:
            argv += [flag, str(v)]
    argv += ["--synthetic"] * args.synthetic + ["--no-compile"] * args.no_compile + ["--compile"] * args.compile
    out = Path(args.out) if args.out else None
    results = run_perf(names, argv, out)
    text = table(results)
    lines = gpu_lines(results)
    print("\n".join(([text] if text.count("\n") > 1 else []) + lines))
    if out:
        print(out)
    return EXIT_OK


def _add_full(sub) -> None:
    """``bench full``."""
    fu = _command(sub, "full", "a suite's grid (each run its own process), then the report; exit 6 if cells crashed",
                 ["bench full", "bench full --suite fashion-mnist --budget quick --seeds 5",
                  "bench full --suite paper --shard 1/4"])
    fu.add_argument("--suite", help="fashion-mnist | paper | smith-topin, or a suite YAML file (bench list suites) "
                    "(default: the one this machine can run)")
    fu.add_argument("--budget", choices=("smoke", "quick", "paper"),
                    help="smoke | quick | paper (default: the suite's default_budget; with no --suite, paper on "
                    "a GPU, else quick)")
    fu.add_argument("--backends", help="comma-separated (default: every installed backend)")
    fu.add_argument("--seeds", type=int, help="seeds per cell and backend (default: the budget's)")
    fu.add_argument("--out", default="runs/full", help="results folder")
    fu.add_argument("--shard", help="i/n: run every n-th job starting at the i-th, for many machines "
                    "(default: the whole grid)")
    fu.add_argument("--launcher", choices=("slurm", "local"),
                    help="submit the grid as one job array through submitit (slurm), or run it that way here "
                    "(local) (default: none, the cells one after another in this process)")
    fu.add_argument("--partition", help="SLURM partition, with --launcher slurm (default: none)")
    cl = fu.add_argument_group("SLURM resources, per job (with --launcher slurm; recorded in each meta.json)")
    cl.add_argument("--gpus-per-job", type=int, help="GPUs (default: none asked)")
    cl.add_argument("--cpus-per-job", type=int,
                    help="CPUs; the run's thread pools are sized to them (default: the cluster's)")
    cl.add_argument("--mem", help="memory, SLURM's form: 16G, 4000M (default: the cluster's)")
    cl.add_argument("--time", help="time limit: minutes, HH:MM:SS or D-HH:MM (default: 24:00:00)")
    cl.add_argument("--array-parallelism", type=int, help="at most this many jobs at once (default: no limit)")
    cl.add_argument("--slurm-option", action="append", metavar="KEY=VALUE",
                    help="another sbatch option, repeatable: account=abc, qos=high, constraint=a100 (default: none)")
    cl.add_argument("--no-wait", action="store_true",
                    help="submit, print the job ids and return; the same command again collects or resumes")
    co = fu.add_argument_group("containers (with --launcher slurm or local)")
    co.add_argument("--container", metavar="IMAGE",
                    help="run each job's bench run inside IMAGE (one of the harness's images) (default: none)")
    co.add_argument("--container-engine", default="docker",
                    help="docker | podman | apptainer, with global flags: 'podman --runtime runc' (default: docker)")
    co.add_argument("--container-flags", help="more flags for the engine's run/exec (default: none)")
    fu.add_argument("--status", metavar="OUT",
                    help="show each cell's runs in OUT by state, with their SLURM jobs, and return (default: off)")
    fu.add_argument("--retry-diverged", action="store_true",
                    help="run diverged cells again (by default a divergence is a result, kept)")
    fu.set_defaults(func=cmd_full)


def _add_perf(sub) -> None:
    """``bench perf``."""
    pf = _command(sub, "perf", "training throughput of the harness against the raw framework loop",
                 ["bench perf --backend torch --steps 200", "bench perf --suite gpu"])
    pf.add_argument("--backend", choices=registry.names(), help="the framework (default: every installed backend)")
    from bench.running.perf import add_arguments as perf_arguments

    perf_arguments(pf)
    pf.add_argument("--out", help="also write the results as JSON to this file (default: none)")
    _say_defaults(pf, {"--precision": "float32 | float64 | bf16 (default: float32; the gpu suite: bf16)",
                       "--suite": "gpu: the ResNet-56 batch-1000 check (PyTorch) (default: none, the "
                                  "single configuration above)"})
    pf.set_defaults(func=cmd_perf)


def _say_defaults(parser, helps: dict[str, str]) -> None:
    """Give options defined elsewhere (bench/running/perf.py) a help that says their default."""
    for action in parser._actions:
        for flag in action.option_strings:
            if flag in helps:
                action.help = helps[flag]
