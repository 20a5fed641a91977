"""bench run, bench schedule, bench smoke."""

from __future__ import annotations

import io
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.cli.base import (
    SMOKE_MIN_ACC,
    SMOKE_SUITE,
    _command,
    _spec_options,
    _spec_path,
)
from bench.errors import (
    EXIT_CHECK_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    BenchError,
)
from bench.records.schedules import POLICIES
from bench.running import registry


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
    from bench.errors import EXIT_DIVERGED, EXIT_INTERNAL, EXIT_INTERRUPTED
    from bench.records import spec as spec_mod

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
    from bench.records.rundir import is_complete, read_summary

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

    from bench.records import spec
    from bench.running import runner

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


def cmd_schedule(args) -> int:
    from bench.errors import SpecInvalid
    from bench.records.schedules import make_schedule
    from bench.records.spec import apply_sets, parse_policy

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
        from bench.judging.plots import plot_schedule

        plot_schedule(rows, policy, args.out)
        print(args.out)
        return EXIT_OK
    if fmt == "csv":
        text = "step,lr,momentum\n" + "".join(f"{s},{lr!r},{m!r}\n" for s, lr, m in rows)
    else:
        from tabulate import tabulate

        text = tabulate(rows, headers=("step", "lr", "momentum"), floatfmt=".6g") + "\n"
    if args.out:
        from bench.records.rundir import atomic_write

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
    from bench.grids.full import run_full
    from bench.records.rundir import load_runs

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


def _add_run(sub) -> None:
    """``bench run``."""
    r = _command(sub, "run", "one run; prints the run directory as its last line",
                ["bench run fashion_mnist_one_cycle", "bench run my_spec.yaml --seed 1 --set policy.max_lr=0.2",
                 "bench run --resume runs/RUN_ID"])
    r.add_argument("spec", nargs="?", help="a spec YAML file, or the name of a shipped spec (bench list specs); "
                   "optional with --resume")
    _spec_options(r)
    r.add_argument("--out", default="runs", help="results folder; the run directory is made inside it")
    r.add_argument("--overwrite", action="store_true", help="replace an existing run directory of this spec")
    r.add_argument("--quiet", action="store_true", help="no progress output")
    r.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted or killed run from its "
                   "checkpoint, exactly (schedule, momentum, weights, RNG, batch order) (default: none, a new run)")
    r.add_argument("--nproc", type=int, help="data parallel: N processes through torchrun (PyTorch DDP); the "
                   "global batch, steps per epoch and schedule stay those of a one-process run (default: 1 process)")
    r.set_defaults(func=cmd_run)


def _add_schedule(sub) -> None:
    """``bench schedule``."""
    s = _command(sub, "schedule", "print or plot a policy's schedule, one row per step",
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


def _add_smoke(sub) -> None:
    """``bench smoke``."""
    m = _command(sub, "smoke", "a short real run per installed backend; fails (exit 6) unless accuracy rose",
                ["bench smoke", "bench smoke --backends torch --out smoke-runs"],
                description="The default suite at budget smoke on every installed backend. Accepts: "
                + SMOKE_ACCEPTS.format(bar=SMOKE_MIN_ACC) + "; else exit 6.")
    m.add_argument("--backends", help="comma-separated (default: every installed backend)")
    m.add_argument("--out", help="results folder (default: a new temporary folder)")
    m.set_defaults(func=cmd_smoke)
