"""The ``bench`` command line (docs/contract.md, "The command line").

Exit codes (bench/errors.py): 0 success; 1 internal error (a bug: traceback); 2 bad
input or usage (a clear message, no traceback, nothing created); 3 the run diverged;
4 the run was interrupted (resumable); 5 ``--strict`` and a must-hold claim failed;
6 a check failed (``bench smoke`` below its bar, ``bench full`` with crashed cells).
Every command's ``--help`` lists them, with the environment variables the harness reads.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import registry
from bench.errors import (
    EXIT_BAD_INPUT,
    EXIT_CHECK_FAILED,
    EXIT_CODES,
    EXIT_INTERRUPTED,
    EXIT_OK,
    BenchError,
)
from bench.schedules import POLICIES

SMOKE_SUITE = "fashion-mnist"  # the default suite; `bench smoke` runs it at budget smoke
SMOKE_MIN_ACC = 0.5  # chance is 0.1 on 10 classes; the best smoke cell reached 0.74-0.77 here

# The environment variables the harness reads (docs/contract.md), one line each.
ENVIRONMENT = (
    ("BENCH_DATA_DIR", "a folder to look for datasets in (and its <dataset>/ subfolder), after dataset.data_dir"),
    ("BENCH_OFFLINE", "1: never download a dataset; a missing one is an error naming every folder looked in"),
    ("BENCH_STOP_AT_STEP", "k: stop as if interrupted after k updates (checkpoint, exit 4; to try --resume)"),
    ("XDG_CACHE_HOME", "the cache root: downloads and decoded arrays go to $XDG_CACHE_HOME/lr-policy-bench "
                       "(default ~/.cache)"),
    ("RANK, WORLD_SIZE, LOCAL_RANK", "set by torchrun (bench run --nproc): this process's place in a "
                                     "data-parallel run"),
    ("TF_CPP_MIN_LOG_LEVEL", "TensorFlow's log level (keras backend; 2 unless set)"),
    ("SLURM_JOB_ID, SLURM_ARRAY_*, ...", "in a SLURM job: recorded in meta.json (slurm); BENCH_SLURM_JOB (set "
                                         "by bench full) carries them into a container"),
    ("BENCH_IMAGE_*", "set in the harness's images (commit, lock, base): recorded in meta.json (image)"),
    ("CUDA_VISIBLE_DEVICES", "with bench full --container: the job's GPUs, passed to the container"),
    ("BENCH_REFERENCE_LOGS", "tests only: the folder holding the authors' Caffe logs"),
)


def epilog(examples: list[str] = ()) -> str:
    """What every command's --help ends with: examples, the exit codes, the environment."""
    import textwrap

    def rows(items, width):
        return "\n".join(textwrap.fill(what, 100, initial_indent=f"  {name:<{width}}  ",
                                        subsequent_indent=" " * (width + 4)) for name, what in items)

    parts = []
    if examples:
        parts.append("examples:\n" + "\n".join(f"  {e}" for e in examples))
    parts.append("exit codes:\n" + rows([(str(c), w) for c, w in EXIT_CODES], 1))
    parts.append("environment:\n" + rows(ENVIRONMENT, max(len(n) for n, _ in ENVIRONMENT)))
    return "\n\n".join(parts)


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the epilog's lines, and shows each option's default: ``(default: X)`` after
    its help, unless the help already says what the default is (a default of None, "the
    spec's", is said in words there)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if not action.option_strings or action.default is argparse.SUPPRESS or "default" in text.lower():
            return text
        if action.nargs == 0 and isinstance(action.const, bool):  # store_true / store_false
            return f"{text} (default: {'on' if action.default else 'off'})".strip()
        if action.default == []:
            return f"{text} (default: none)".strip()
        if action.default is not None:
            return f"{text} (default: %(default)s)".strip()
        return text


class _Parser(argparse.ArgumentParser):
    example: str | None = None  # shown after a usage error

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message):  # usage errors exit 2 (argparse's own convention too)
        self.print_usage(sys.stderr)
        hint = f"\nfor example: {self.example}" if self.example else ""
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}{hint}\n"
                                  f"{self.prog} --help: every option with its default, the exit codes\n")


def _spec_path(text: str) -> Path:
    """A spec file, or the name of a shipped spec (``fashion_mnist_one_cycle``)."""
    from bench.spec import shipped_spec

    p = Path(text)
    if p.is_file():
        return p
    for cand in (shipped_spec(text), shipped_spec(text + ".yaml")):
        if cand.is_file():
            return cand
    return p  # the loader reports it missing


def _torchrun(args, argv) -> int:
    """Relaunch this ``bench run`` under torchrun with ``--nproc`` processes (PyTorch DDP)."""
    parallel = [n for n, e in registry.BACKENDS.items() if e.data_parallel]
    if args.backend is not None and args.backend not in parallel:
        raise BenchError(f"--nproc runs data-parallel training, which {' | '.join(parallel)} can do; "
                         f"received --backend {args.backend}")
    rest, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a == "--nproc":
            skip = True
            continue
        if a.startswith("--nproc="):
            continue
        rest.append(a)
    from bench import spec as spec_mod
    from bench.errors import EXIT_DIVERGED, EXIT_INTERNAL, EXIT_INTERRUPTED

    if args.resume:
        if not (Path(args.resume) / "spec.yaml").is_file():
            raise BenchError(f"--resume {args.resume}: not a run directory (no spec.yaml)")
        s = spec_mod.load(Path(args.resume) / "spec.yaml")
    else:
        s = spec_mod.load(_spec_path(args.spec), args.set, {"backend": args.backend, "seed": args.seed,
                                                             "device": args.device})  # bad input: exit 2 here
    if s.batch_size % args.nproc:
        raise BenchError(f"batch_size {s.batch_size} does not split over {args.nproc} processes; "
                         "the global batch must be a multiple of --nproc")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={args.nproc}",
           "-m", "bench", *rest]
    code = subprocess.run(cmd).returncode
    from bench.rundir import is_complete, read_summary

    # torchrun reports any failing worker as its own exit 1: the run's summary says what happened
    run_dir = Path(args.resume) if args.resume else Path(args.out) / s.run_id()
    if is_complete(run_dir):
        status = read_summary(run_dir).status
        return {"completed": EXIT_OK, "diverged": EXIT_DIVERGED, "interrupted": EXIT_INTERRUPTED}[status]
    return code or EXIT_INTERNAL


def _stop_at() -> int | None:
    """BENCH_STOP_AT_STEP=k: stop as if interrupted after k updates (the tests' deterministic
    interrupt; also handy to try a resume by hand)."""
    import os

    v = os.environ.get("BENCH_STOP_AT_STEP")
    if not v:
        return None
    if not v.isdigit() or int(v) < 1:
        raise BenchError(f"BENCH_STOP_AT_STEP must be a positive integer; received {v!r}")
    return int(v)


def cmd_run(args) -> int:
    import os

    from bench import runner, spec

    if args.resume:
        given = [f for f, v in (("--set", args.set), ("--backend", args.backend), ("--seed", args.seed),
                                ("--device", args.device), ("--overwrite", args.overwrite)) if v]
        if given:
            raise BenchError(f"--resume continues the run as it was specified; received {', '.join(given)} too "
                             "(a changed experiment is a new run: bench run SPEC ...)")
    if args.nproc and args.nproc > 1 and "WORLD_SIZE" not in os.environ:
        return _torchrun(args, args.argv)
    if args.resume:
        if args.spec:
            s = spec.load(_spec_path(args.spec))
            if s.run_id() != Path(args.resume).name:
                raise BenchError(f"SPEC resolves to run {s.run_id()}, but --resume names {Path(args.resume).name}; "
                                 "give --resume RUN_DIR alone")
        run_dir, summary, code = runner.resume(args.resume, progress=not args.quiet, stop_at=_stop_at())
    else:
        if not args.spec:
            raise BenchError("bench run needs a SPEC (a YAML file or a shipped spec's name); "
                             "usage: bench run SPEC [options] | bench run --resume RUN_DIR")
        s = spec.load(_spec_path(args.spec), args.set, {"backend": args.backend, "seed": args.seed,
                                                       "device": args.device})
        run_dir, summary, code = runner.run(s, args.out, overwrite=args.overwrite, progress=not args.quiet,
                                            stop_at=_stop_at())
    if int(os.environ.get("RANK", "0")) != 0:
        return code
    acc = summary["final_test_acc"]
    print(
        f"{summary['status']}: {summary['steps_done']}/{summary['total_steps']} steps, "
        f"final test acc {'n/a' if acc is None else f'{acc:.4f}'}, "
        f"train {summary['train_s']:.1f}s, eval {summary['eval_s']:.1f}s"
        + (f", diverged at step {summary['diverged_at']}" if summary["diverged_at"] is not None else ""),
        file=sys.stderr,
    )
    if summary["status"] == "interrupted":
        at = summary.get("checkpoint_step")
        print(f"interrupted; checkpoint at step {at}: continue with bench run --resume {run_dir}" if at is not None
              else "interrupted before any checkpoint: rerun with --overwrite", file=sys.stderr)
    print(run_dir)
    return code


def _check_paths(paths) -> None:
    for p in paths:
        if not Path(p).exists():
            raise BenchError(f"no such run directory or folder: {p}")


def schedule_example(policy: str, steps: int | None = None, given: dict[str, str] | None = None) -> str:
    """A ``bench schedule`` command line that works: the policy's required keys, with the
    values given where they were (``given``: key -> the text after =; keys the policy does
    not have are left out)."""
    import shlex

    steps = steps or 1000
    known = POLICIES[policy].model_fields if policy in POLICIES else {}
    values = {**(POLICIES[policy].example(steps) if policy in POLICIES else {}), **{k: v for k, v in (given or {}).items() if k in known}}
    sets = "".join(f" --set {shlex.quote(f'{k}={v}')}" for k, v in values.items())
    return f"bench schedule {policy} --steps {steps}{sets}"


def _required_keys(policy: str) -> list[str]:
    model = POLICIES[policy]
    return [k for k, f in model.model_fields.items() if f.is_required()]


def _new_out(what: str) -> Path:
    """The default output folder of compare and report: a new folder in the current one,
    never a PATH given to read (a run directory, or the committed results/ tree)."""
    import datetime as dt

    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = Path(f"{what}-{stamp}")
    n = 1
    while out.exists():
        n += 1
        out = Path(f"{what}-{stamp}-{n}")
    print(f"writing into {out}/ (a new folder; --out chooses another)", file=sys.stderr)
    return out


def cmd_schedule(args) -> int:
    from bench.errors import SpecInvalid
    from bench.schedules import make_schedule
    from bench.spec import apply_sets, parse_policy

    data = apply_sets({"name": args.policy}, args.set)
    try:
        policy = parse_policy(data)
    except SpecInvalid as e:
        missing = [k for k in _required_keys(args.policy) if k not in data]
        if not missing:
            raise
        given = dict(item.partition("=")[::2] for item in args.set if "=" in item)
        raise BenchError(f"{e}\n{args.policy} needs {', '.join(_required_keys(args.policy))}; missing: "
                         f"{', '.join(missing)}. For example:\n  "
                         f"{schedule_example(args.policy, args.steps, given)}\n"
                         f"(every policy and its keys: bench list policies)") from None
    rows = make_schedule(policy, args.steps).table()
    fmt = args.format
    if fmt == "png":
        if not args.out:
            raise BenchError("--format png needs --out FILE.png")
        from bench.plots import plot_schedule

        plot_schedule(rows, policy, args.out)
        print(args.out)
        return EXIT_OK
    if fmt == "csv":
        text = "step,lr,momentum\n" + "".join(f"{s},{lr!r},{m!r}\n" for s, lr, m in rows)
    else:
        from tabulate import tabulate

        text = tabulate(rows, headers=("step", "lr", "momentum"), floatfmt=".6g") + "\n"
    if args.out:
        from bench.rundir import atomic_write

        if not Path(args.out).parent.is_dir():
            raise BenchError(f"cannot write {args.out}: the folder {Path(args.out).parent} does not exist")
        atomic_write(Path(args.out), text)
        print(args.out)
    else:
        sys.stdout.write(text)
    return EXIT_OK


SMOKE_ACCEPTS = ("every run finished (diverged counts as finished: a result), and per backend the best "
                 "final test accuracy >= {bar}")


def smoke_verdict(runs, backends: list[str], failed: list[str] = (), bar: float = SMOKE_MIN_ACC
                  ) -> tuple[list[str], list[str]]:
    """What ``bench smoke`` decides, from the runs in its folder (no training here).

    ``runs``: ``(run_id, backend, status, final_test_acc)`` of each train run; ``failed``:
    the cells that crashed or stayed incomplete (``bench full``'s log), one line each.
    Returns the summary lines (one per backend: its runs, which diverged, the best final
    accuracy, what is accepted, ok or FAILED) and the failures ([] when the check passed)."""
    failures = list(failed)
    lines = []
    accepts = SMOKE_ACCEPTS.format(bar=bar)
    for b in backends:
        mine = [r for r in runs if r[1] == b]
        completed = [r for r in mine if r[2] == "completed"]
        diverged = [r[0] for r in mine if r[2] == "diverged"]
        unfinished = [r[0] for r in mine if r[2] not in ("completed", "diverged")]
        best = max((r[3] for r in completed if r[3] is not None), default=None)
        crashed = [f for f in failed if f"-{b}-s" in f]
        ok = bool(completed) and best is not None and best >= bar and not crashed and not unfinished
        what = f"{len(mine)} runs: {len(completed)} completed, {len(diverged)} diverged"
        if diverged:
            what += f" ({', '.join(diverged)})"
        if unfinished or crashed:
            what += f", {len(unfinished) + len(crashed)} crashed or incomplete"
        best_text = "none" if best is None else f"{best:.4f}"
        lines.append(f"smoke [{b}]: {what}; best final test acc {best_text}; accepts: {accepts} -> "
                     f"{'ok' if ok else 'FAILED'}")
        if not mine:
            failures.append(f"{b}: no run finished")
        elif best is None or best < bar:
            failures.append(f"{b}: best final test accuracy {best_text} < {bar}")
        failures += [f"{run_id}: {b} run ended unfinished" for run_id in unfinished]
    return lines, failures


def cmd_smoke(args) -> int:
    """The default suite at budget smoke on every installed backend, each run in its own process.

    Fails (exit 6) unless every run finished (diverging is a result) and, per backend, the
    best final test accuracy of the suite's cells is well above chance.
    """
    from bench.full import run_full
    from bench.rundir import load_runs

    names = args.backends.split(",") if args.backends else registry.available()
    if not names:
        raise BenchError("no backend is installed: pip install -e '.[torch]' (or '.[keras]')")
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="bench-smoke-"))
    report, log = run_full(SMOKE_SUITE, "smoke", names, None, out)
    print(out)
    if log.get("interrupted"):
        print("smoke interrupted: run the same command again to continue", file=sys.stderr)
        return EXIT_INTERRUPTED
    runs = [(r.path.name, r.summary.backend, r.summary.status, r.summary.final_test_acc)
            for r in load_runs([out], io.StringIO(), kinds=["train"])]
    lines, failures = smoke_verdict(runs, names, [f"{f['run']}: {f['exit']}" for f in log["failed"]])
    for line in lines:
        print(line, file=sys.stderr)
    if failures:
        print("smoke FAILED: " + "; ".join(failures), file=sys.stderr)
        return EXIT_CHECK_FAILED
    return EXIT_OK


def _lr_params(args) -> dict:
    metric = args.metric
    acc = metric.endswith("acc")
    p = {"start_lr": args.start_lr, "end_lr": args.end_lr, "steps": args.steps,
         "mode": args.mode or ("linear" if acc else "exp"), "metric": metric,
         "eval_every": args.eval_every or (max(1, args.steps // 50) if acc else 1),
         "beta": args.beta, "stop_factor": args.stop_factor}
    if not 0 < p["beta"] < 1:
        raise BenchError(f"--beta must be in (0, 1); received {p['beta']}")
    if p["stop_factor"] <= 1:
        raise BenchError(f"--stop-factor must be > 1; received {p['stop_factor']}")
    if p["steps"] < 2:
        raise BenchError(f"--steps must be >= 2; received {p['steps']}")
    if p["eval_every"] < 1:
        raise BenchError(f"--eval-every must be >= 1; received {p['eval_every']}")
    from bench.schedules import RangeTest
    from bench.spec import validate_model

    validate_model(RangeTest, {"start_lr": p["start_lr"], "end_lr": p["end_lr"], "mode": p["mode"]},
                   prefix="range test", source="--start-lr/--end-lr/--mode")
    return p


def _load_spec(args):
    from bench import spec

    return spec.load(_spec_path(args.spec), args.set, {"backend": args.backend, "seed": args.seed,
                                                       "device": getattr(args, "device", None)})


def cmd_lr_find(args) -> int:
    from bench import discovery

    s, p = _load_spec(args), _lr_params(args)
    d, res = discovery.lr_find(s, Path(args.out), p, progress=not args.quiet)
    sug = ", ".join(f"{k} {v:.4g}" for k, v in res.suggestions.items() if v)
    print(f"{res.stop_reason} after {len(res.rows)} steps; suggestions: {sug}", file=sys.stderr)
    print(d)
    return EXIT_OK


def cmd_sweep(args) -> int:
    from bench import discovery

    s, p = _load_spec(args), _lr_params(args)
    sess = discovery.Session(s, Path(args.out), p, progress=not args.quiet)
    d, summary = discovery.sweep(sess, args.param, args.values)
    print(f"suggested {args.param}: {summary['suggestion']:g} ({summary['suggestion_rule']})", file=sys.stderr)
    print(d)
    return EXIT_OK


def cmd_tune(args) -> int:
    from bench import discovery

    s, p = _load_spec(args), _lr_params(args)
    d, summary = discovery.tune(s, Path(args.out), p, k=args.k, clr_div=args.clr_div, progress=not args.quiet,
                                momenta=args.momenta, decays=args.decays)
    print(f"c = {summary['c']:.4g} (10^{summary['log10_c']:.2f}), momentum {summary['momentum']:g}, "
          f"weight decay {summary['weight_decay']:g}; specs: {', '.join(summary['specs'].values())}", file=sys.stderr)
    print(d)
    return EXIT_OK


def cmd_import(args) -> int:
    from bench import importers

    src = Path(args.file)
    if not src.is_file():
        raise BenchError(f"no such file: {src}")
    if args.kind == "caffe-log":
        d = importers.import_caffe_log(src, args.out, args.set, batch_size=args.batch_size)
    else:
        d = importers.import_keras_csv(src, args.out, args.set)
    print(d)
    return EXIT_OK


def cmd_claims(args) -> int:
    from bench import claims
    from bench.errors import EXIT_CLAIM_FAILED

    _check_paths(args.paths)
    rows = claims.verdicts(args.paths, args.claims, pool_numerics=args.pool_numerics)
    sys.stdout.write(claims.render(rows))
    failed = [r for r in rows if r["must_hold"] and r["verdict"] == "fails"]
    if args.strict and failed:
        print("must-hold claims failed: " + ", ".join(f"{r['id']} ({r['backend']})" for r in failed), file=sys.stderr)
        return EXIT_CLAIM_FAILED
    return EXIT_OK


def cmd_full(args) -> int:
    from bench.full import run_full

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
    """--partition, --gpus-per-job, ... as a bench.slurm.Resources; --container as a Container."""
    from bench.slurm import Container, Resources

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

    from bench.full import status

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
    from bench.perf import gpu_lines, run_perf, table

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


def cmd_report(args) -> int:
    from bench.report import make_report

    _check_paths(args.paths)
    print(make_report(args.paths, Path(args.out), args.claims, pool_numerics=args.pool_numerics))
    return EXIT_OK


def cmd_compare(args) -> int:
    from bench.compare import compare

    _check_paths(args.paths)
    if not 0 <= args.tolerance <= 1:
        raise BenchError(f"--tolerance is an accuracy fraction in [0, 1]; received {args.tolerance}")
    out = args.out
    tab, md = compare(args.paths, out, args.tolerance)
    sys.stdout.write(md)
    print(f"wrote {Path(out) / 'compare.md'}, {Path(out) / 'compare.csv'} and {Path(out) / 'runs.csv'}", file=sys.stderr)
    return EXIT_OK


def cmd_data_check(args) -> int:
    import numpy as np

    from bench import data as datasets
    from bench.spec import DatasetSpec, validate_model

    ds = validate_model(DatasetSpec, {"name": args.name, "data_dir": args.data_dir, "verify": not args.no_verify,
                                      "image_size": args.image_size}, prefix="dataset")
    p = datasets.prepare(ds)
    report = {
        "dataset": p.name,
        "classes_count": p.num_classes,
        "train": {"images": list(p.train_x.shape), "labels": np.bincount(p.train_y).tolist()},
        "test": {"images": list(p.test_x.shape), "labels": np.bincount(p.test_y).tolist()},
        "dtype": str(p.train_x.dtype),
        "classes": list(p.class_names),
        "mean": p.mean,
        "std": p.std,
        "files": p.source,
    }
    print(json.dumps(report, indent=2))
    return EXIT_OK


LIST_KINDS = ("specs", "suites", "claims", "policies", "networks", "datasets")


def _policy_keys(name: str, model) -> str:
    """``min_lr, max_lr, tail [0.1], ...``: required keys bare, the others with their
    default in brackets (and their allowed values, where they are a few names)."""
    import typing

    keys = []
    for k, f in model.model_fields.items():
        if k == "name":
            continue
        text = k
        if not f.is_required():
            text += f" [{model.derived.get(k, 'null' if f.default is None else f.default)}]"
        if typing.get_origin(f.annotation) is typing.Literal:
            text += f" ({' | '.join(map(str, typing.get_args(f.annotation)))})"
        keys.append(text)
    return ", ".join(keys)


def list_items(kind: str, claims_file: str | None = None) -> list[str]:
    """What ``bench list KIND`` prints: one line per shipped or known item."""
    import yaml

    if kind == "specs":
        from bench import spec as spec_mod

        lines = []
        for name in spec_mod.shipped_specs():
            try:
                s = spec_mod.load(spec_mod.shipped_spec(name + ".yaml"))
                budget = f"{s.budget.epochs} epochs" if s.budget.epochs else f"{s.budget.steps} steps"
                what = f"{s.network.name} on {s.dataset.name}, {s.policy.label()}, batch {s.batch_size}, {budget}"
            except BenchError as e:
                what = f"(invalid: {str(e).splitlines()[0]})"
            lines.append(f"{name}: {what}")
        return lines
    if kind == "suites":
        from bench import suites

        lines = []
        for name in suites.available():
            data = yaml.safe_load((suites.SUITES_DIR / f"{name}.yaml").read_text()) or {}
            budgets = " | ".join(data.get("budgets") or {})
            lines.append(f"{name}: {' '.join(str(data.get('description', '')).split())} "
                         f"(budgets {budgets}; default {data.get('default_budget', 'quick')})")
        return lines
    if kind == "claims":
        from bench.claims import load_claims

        return [f"{c.id}: {' '.join(c.statement.split())}" for c in load_claims(claims_file)]
    if kind == "policies":
        return [f"{name}: {_policy_keys(name, model)}" for name, model in POLICIES.items()]
    if kind == "networks":
        from bench.architectures import NETWORKS

        return list(NETWORKS)
    if kind == "datasets":
        from bench.data import DATASETS

        return [f"{n}: {i.num_classes} classes, {i.n_train} train + {i.n_test} test images of "
                f"{'x'.join(map(str, i.shape))}" for n, i in DATASETS.items()]
    raise BenchError(f"bench list: unknown kind {kind!r}; allowed: {' | '.join(LIST_KINDS)}")


def cmd_list(args) -> int:
    print("\n".join(list_items(args.kind, args.claims)))
    return EXIT_OK


# commands whose --out is a folder they create (bench schedule and perf write a file)
FOLDER_OUT = ("run", "lr-find", "sweep", "tune", "import", "full", "smoke", "compare", "report")


def make_parser() -> argparse.ArgumentParser:
    from bench import __version__

    ap = _Parser(prog="bench", description="Learning-rate policy benchmark harness. Every command: "
                 "bench COMMAND --help (its options with their defaults, examples).",
                 epilog=epilog(["bench list specs", "bench run fashion_mnist_one_cycle --set budget.epochs=1",
                                "bench schedule one-cycle --steps 1000 --set min_lr=0.1 --set max_lr=1.0",
                                "bench smoke", "bench full --suite fashion-mnist --budget quick",
                                "bench compare runs"]))
    ap.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = ap.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")

    def command(name, help, examples=(), description=None):
        return sub.add_parser(name, help=help, description=description or help, epilog=epilog(list(examples)))

    def spec_options(p, device_help="auto | cpu | cuda | cuda:N (default: the spec's device, auto: CUDA if available)"):
        p.add_argument("--backend", choices=registry.names(), help="the framework (default: the spec's backend, torch)")
        p.add_argument("--seed", type=int, help="the run's seed (default: the spec's seed, 0)")
        p.add_argument("--device", help=device_help)
        p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a spec value by dotted path, e.g. policy.max_lr=1.0 (repeatable)")

    r = command("run", "one run; prints the run directory as its last line",
                ["bench run fashion_mnist_one_cycle", "bench run my_spec.yaml --seed 1 --set policy.max_lr=0.2",
                 "bench run --resume runs/RUN_ID"])
    r.add_argument("spec", nargs="?", help="a spec YAML file, or the name of a shipped spec (bench list specs); "
                   "optional with --resume")
    spec_options(r)
    r.add_argument("--out", default="runs", help="results folder; the run directory is made inside it")
    r.add_argument("--overwrite", action="store_true", help="replace an existing run directory of this spec")
    r.add_argument("--quiet", action="store_true", help="no progress output")
    r.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted or killed run from its "
                   "checkpoint, exactly (schedule, momentum, weights, RNG, batch order) (default: none, a new run)")
    r.add_argument("--nproc", type=int, help="data parallel: N processes through torchrun (PyTorch DDP); the "
                   "global batch, steps per epoch and schedule stay those of a one-process run (default: 1 process)")
    r.set_defaults(func=cmd_run)

    s = command("schedule", "print or plot a policy's schedule, one row per step",
                [schedule_example(name, 1000) for name in POLICIES]
                + ["bench schedule one-cycle --steps 1000 --set min_lr=0.1 --set max_lr=1.0 --format png "
                   "--out one-cycle.png"])
    s.example = "bench schedule one-cycle --steps 1000 --set min_lr=0.1 --set max_lr=1.0"
    s.add_argument("policy", help=" | ".join(POLICIES) + " (their keys: bench list policies)")
    s.add_argument("--steps", type=int, required=True, help="total optimizer steps (required)")
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a policy key, e.g. max_lr=1.0 (repeatable)")
    s.add_argument("--format", choices=("csv", "table", "png"), default="csv", help="csv | table | png")
    s.add_argument("--out", help="write to this file (required for png) (default: stdout)")
    s.set_defaults(func=cmd_schedule)

    m = command("smoke", "a short real run per installed backend; fails (exit 6) unless accuracy rose",
                ["bench smoke", "bench smoke --backends torch --out smoke-runs"],
                description="The default suite at budget smoke on every installed backend. Accepts: "
                + SMOKE_ACCEPTS.format(bar=SMOKE_MIN_ACC) + "; else exit 6.")
    m.add_argument("--backends", help="comma-separated (default: every installed backend)")
    m.add_argument("--out", help="results folder (default: a new temporary folder)")
    m.set_defaults(func=cmd_smoke)

    def range_args(p, metric_default="loss"):
        p.add_argument("spec", help="a spec YAML file, or the name of a shipped spec (bench list specs)")
        spec_options(p)
        p.add_argument("--out", default="runs", help="results folder")
        p.add_argument("--start-lr", type=float, default=1e-7, help="the ramp's first rate")
        p.add_argument("--end-lr", type=float, default=10.0, help="the ramp's last rate")
        p.add_argument("--steps", type=int, default=100, help="length of the ramp, in optimizer steps")
        p.add_argument("--mode", choices=("exp", "linear"), help="ramp (default: exp; linear for accuracy metrics)")
        p.add_argument("--metric", choices=("loss", "val_loss", "val_acc", "test_acc"), default=metric_default,
                       help="what the rate is judged on")
        p.add_argument("--eval-every", type=int, help="steps between evaluations for val_/test_ metrics "
                       "(default: steps/50 for accuracy metrics, else 1)")
        p.add_argument("--beta", type=float, default=0.98, help="smoothing of the debiased EMA")
        p.add_argument("--stop-factor", type=float, default=4.0, help="stop once smoothed loss > this x its best")
        p.add_argument("--quiet", action="store_true", help="no progress output")

    lf = command("lr-find", "an LR range test: loss (or accuracy) against the rate, suggestions",
                 ["bench lr-find fashion_mnist_constant --start-lr 1e-4 --end-lr 10 --steps 400"])
    range_args(lf)
    lf.set_defaults(func=cmd_lr_find)

    sw = command("sweep", "range tests over momentum or weight decay",
                 ["bench sweep momentum fashion_mnist_constant", "bench sweep weight-decay fashion_mnist_constant"])
    sw.add_argument("param", choices=("momentum", "weight-decay"), help="momentum | weight-decay")
    range_args(sw)
    sw.add_argument("--values", type=float, nargs="+", help="the values to sweep (default: momentum 0.8 0.85 0.9 "
                    "0.95 0.99; weight-decay the coarse grid 1e-3 .. 1e-7, then a fine grid 3x, x/3 around the best)")
    sw.set_defaults(func=cmd_sweep)

    tu = command("tune", "lr-find, momentum and weight-decay sweeps on the validation split; "
                 "writes specs for both derivation rules",
                 ["bench tune fashion_mnist_constant --set dataset.val_size=2000 --start-lr 1e-4 --end-lr 10 "
                  "--steps 400 --eval-every 5"])
    range_args(tu, metric_default="val_loss")
    tu.add_argument("--k", type=float, default=4, help="CLR step size in epochs (2-10)")
    tu.add_argument("--clr-div", type=int, default=4, choices=(3, 4), help="CLR min = c / this")
    tu.add_argument("--momenta", type=float, nargs="+", help="momentum sweep values (default: 0.8 0.85 0.9 0.95 0.99)")
    tu.add_argument("--decays", type=float, nargs="+", help="coarse weight-decay grid (default: 1e-3 .. 1e-7)")
    tu.set_defaults(func=cmd_tune)

    im = command("import", "a reference run directory from another tool's log",
                 ["bench import caffe-log clr3SS5kFig1a.log --out results/reference",
                  "bench import keras-csv history.csv --set network.name=simple_cnn --out runs"])
    im.add_argument("kind", choices=("caffe-log", "keras-csv"), help="caffe-log | keras-csv")
    im.add_argument("file", help="the log file")
    im.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="spec fields the log cannot say (repeatable)")
    im.add_argument("--batch-size", type=int, help="caffe-log: the effective batch (default: per-GPU batch x GPUs)")
    im.add_argument("--out", required=True, help="results folder (required)")
    im.set_defaults(func=cmd_import)

    cl = command("claims", "verdicts of the claims on run directories",
                 ["bench claims results", "bench claims runs/full results/reference --strict"])
    cl.add_argument("paths", nargs="+", metavar="PATH", help="run directories or folders holding them")
    cl.add_argument("--claims", help="a claims YAML file (default: the shipped bench/claims/claims.yaml)")
    cl.add_argument("--strict", action="store_true", help="exit 5 when a must-hold claim fails")
    cl.add_argument("--pool-numerics", action="store_true",
                    help="judge runs made under two numerics versions of a backend as one (default: refused, exit 2, "
                         "naming the runs and versions; the verdict row says it pooled them)")
    cl.set_defaults(func=cmd_claims)

    fu = command("full", "a suite's grid (each run its own process), then the report; exit 6 if cells crashed",
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

    pf = command("perf", "training throughput of the harness against the raw framework loop",
                 ["bench perf --backend torch --steps 200", "bench perf --suite gpu"])
    pf.add_argument("--backend", choices=registry.names(), help="the framework (default: every installed backend)")
    from bench.perf import add_arguments as perf_arguments

    perf_arguments(pf)
    pf.add_argument("--out", help="also write the results as JSON to this file (default: none)")
    _say_defaults(pf, {"--precision": "float32 | float64 | bf16 (default: float32; the gpu suite: bf16)",
                       "--suite": "gpu: the ResNet-56 batch-1000 check (PyTorch) (default: none, the "
                                  "single configuration above)"})
    pf.set_defaults(func=cmd_perf)

    rp = command("report", "tables + verdicts + plots into report.md",
                 ["bench report runs/full", "bench report runs/full results/reference --out report"])
    rp.add_argument("paths", nargs="+", metavar="PATH", help="run directories or folders holding them")
    rp.add_argument("--out", help="output folder (default: a new folder report-YYYYmmdd-HHMMSS in the current one, named when written)")
    rp.add_argument("--claims", help="a claims YAML file (default: the shipped bench/claims/claims.yaml)")
    rp.add_argument("--pool-numerics", action="store_true",
                    help="judge runs made under two numerics versions of a backend as one (default: refused, exit 2)")
    rp.set_defaults(func=cmd_report)

    c = command("compare", "tables across policies and backends", ["bench compare runs --tolerance 0.02"])
    c.add_argument("paths", nargs="+", metavar="PATH", help="run directories or folders holding them")
    c.add_argument("--tolerance", type=float, default=0.01,
                   help="flag backend differences in mean final accuracy above this (a fraction)")
    c.add_argument("--out", help="write compare.md, compare.csv and runs.csv here (default: a new folder compare-YYYYmmdd-HHMMSS in the current one, named when written)")
    c.set_defaults(func=cmd_compare)

    d = command("data", "dataset tools", ["bench data check fashion_mnist", "bench data check cifar10 --data-dir /data"])
    dsub = d.add_subparsers(dest="data_command", required=True, parser_class=_Parser, metavar="TOOL")
    dc = dsub.add_parser("check", help="load a dataset through the run's readers; counts, shapes, checksums",
                         description="load a dataset through the run's readers; counts, shapes, checksums",
                         epilog=epilog(["bench data check fashion_mnist", "bench data check cifar10 --data-dir /data"]))
    dc.add_argument("name", help="fashion_mnist | cifar10 | cifar100 | oxflower17 | tiny_imagenet")
    dc.add_argument("--data-dir", help="a folder to look in first; it must exist (default: none: $BENCH_DATA_DIR, "
                    "the Debian package's folder for Fashion-MNIST, the cache)")
    dc.add_argument("--no-verify", action="store_true", help="read files whose checksums are not the official ones")
    dc.add_argument("--image-size", type=int, help="resize to this square (default: native; Flowers 17: 224)")
    dc.set_defaults(func=cmd_data_check)

    ls = command("list", "what is shipped or known: specs, suites, claims, policies, networks, datasets",
                 [f"bench list {k}" for k in LIST_KINDS])
    ls.add_argument("kind", choices=LIST_KINDS, help=" | ".join(LIST_KINDS))
    ls.add_argument("--claims", help="with claims: a claims YAML file (default: the shipped bench/claims/claims.yaml)")
    ls.set_defaults(func=cmd_list)
    from bench.export import add_parser as export_parser

    export_parser(sub, epilog)
    return ap


def _say_defaults(parser, helps: dict[str, str]) -> None:
    """Give options defined elsewhere (bench/perf.py) a help that says their default."""
    for action in parser._actions:
        for flag in action.option_strings:
            if flag in helps:
                action.help = helps[flag]


def _new_folders(path) -> list[Path]:
    """The folders that do not exist yet on the way to ``path``, deepest first."""
    p, made = Path(path), []
    while not p.exists() and p != p.parent:
        made.append(p)
        p = p.parent
    return made


def _remove_if_empty(folders: list[Path]) -> None:
    """Remove the folders a failed command created and left empty (deepest first; a folder
    something was written into stays, and so do those above it)."""
    for d in folders:
        try:
            d.rmdir()
        except OSError:
            return


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.command in ("compare", "report") and args.out is None:
        args.out = str(_new_out(args.command))  # never into a PATH that is read
    out = getattr(args, "out", None) if args.command in FOLDER_OUT else None
    new = _new_folders(out) if out else []
    try:
        return args.func(args)
    except BenchError as e:
        _remove_if_empty(new)  # bad input creates nothing: no empty results folder left behind
        print(f"bench: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
