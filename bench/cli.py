"""The ``bench`` command line (docs/contract.md, "The command line").

Exit codes: 0 success; 1 internal error (a bug: traceback); 2 bad input or usage (a
clear message, no traceback); 3 the run diverged; 4 the run was interrupted.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import backends as registry
from bench.errors import EXIT_BAD_INPUT, EXIT_OK, BenchError
from bench.schedules import POLICIES

SMOKE_SUITE = "fashion-mnist"  # the default suite; `bench smoke` runs it at budget smoke
SMOKE_MIN_ACC = 0.5  # chance is 0.1 on 10 classes; the best smoke cell reached 0.74-0.77 here


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # usage errors exit 2 (argparse's own convention too)
        self.print_usage(sys.stderr)
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


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


def cmd_schedule(args) -> int:
    from bench.schedules import make_schedule
    from bench.spec import apply_sets, parse_policy

    policy = parse_policy(apply_sets({"name": args.policy}, args.set))
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


def cmd_smoke(args) -> int:
    """The default suite at budget smoke on every installed backend, each run in its own process.

    Fails unless every run finished (diverging is a result) and, per backend, the best
    final test accuracy of the suite's cells is well above chance.
    """
    from bench.full import run_full
    from bench.rundir import find_runs, read_summary

    names = args.backends.split(",") if args.backends else registry.available()
    if not names:
        raise BenchError("no backend is installed: pip install -e '.[torch]' (or '.[keras]')")
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="bench-smoke-"))
    report, log = run_full(SMOKE_SUITE, "smoke", names, None, out)
    failed = [f"{f['run']}: exit {f['exit']}" for f in log["failed"]]
    for b in names:
        accs = [s.final_test_acc or 0.0 for s in (read_summary(d) for d in find_runs([out], warn=False))
                if s.kind == "train" and s.backend == b]
        best = max(accs, default=0.0)
        ok = bool(accs) and best >= SMOKE_MIN_ACC
        print(f"smoke [{b}]: {len(accs)} runs, best final test acc {best:.4f} (needs >= {SMOKE_MIN_ACC}) -> "
              f"{'ok' if ok else 'FAILED'}", file=sys.stderr)
        if not ok:
            failed.append(f"{b}: best final test accuracy {best:.4f} < {SMOKE_MIN_ACC}")
    print(out)
    if failed:
        print("smoke FAILED: " + "; ".join(failed), file=sys.stderr)
        return 1
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
    rows = claims.verdicts(args.paths, args.claims)
    sys.stdout.write(claims.render(rows))
    failed = [r for r in rows if r["must_hold"] and r["verdict"] == "fails"]
    if args.strict and failed:
        print("must-hold claims failed: " + ", ".join(f"{r['id']} ({r['backend']})" for r in failed), file=sys.stderr)
        return EXIT_CLAIM_FAILED
    return EXIT_OK


def cmd_full(args) -> int:
    from bench.full import run_full

    backends = args.backends.split(",") if args.backends else None
    report, log = run_full(args.suite, args.budget, backends, args.seeds, Path(args.out), args.shard,
                           launcher=args.launcher, partition=args.partition, retry_diverged=args.retry_diverged)
    print(report)
    if log.get("interrupted"):
        from bench.errors import EXIT_INTERRUPTED

        return EXIT_INTERRUPTED
    return 1 if log["failed"] else EXIT_OK


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
    print(make_report(args.paths, Path(args.out or args.paths[0]), args.claims))
    return EXIT_OK


def cmd_compare(args) -> int:
    from bench.compare import compare

    _check_paths(args.paths)
    if not 0 <= args.tolerance <= 1:
        raise BenchError(f"--tolerance is an accuracy fraction in [0, 1]; received {args.tolerance}")
    out = args.out if args.out is not None else (args.paths[0] if Path(args.paths[0]).is_dir() else ".")
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


def make_parser() -> argparse.ArgumentParser:
    from bench import __version__

    ap = _Parser(prog="bench", description="Learning-rate policy benchmark harness")
    ap.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = ap.add_subparsers(dest="command", required=True, parser_class=_Parser)

    r = sub.add_parser("run", help="one run; prints the run directory as its last line")
    r.add_argument("spec", nargs="?", help="a spec YAML file, or the name of a shipped spec "
                   "(optional with --resume)")
    r.add_argument("--backend", choices=registry.names())
    r.add_argument("--seed", type=int)
    r.add_argument("--device", help="auto (default) | cpu | cuda | cuda:N")
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a spec value by dotted path, e.g. policy.max_lr=1.0")
    r.add_argument("--out", default="runs", help="results folder (default: ./runs)")
    r.add_argument("--overwrite", action="store_true", help="replace an existing run directory of this spec")
    r.add_argument("--quiet", action="store_true", help="no progress output")
    r.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted or killed run from its "
                   "checkpoint, exactly (schedule, momentum, weights, RNG, batch order)")
    r.add_argument("--nproc", type=int, help="data parallel: N processes through torchrun (PyTorch DDP); the "
                   "global batch, steps per epoch and schedule stay those of a one-process run")
    r.set_defaults(func=cmd_run)

    s = sub.add_parser("schedule", help="print or plot a policy's schedule, one row per step")
    s.add_argument("policy", help=" | ".join(POLICIES))
    s.add_argument("--steps", type=int, required=True, help="total optimizer steps")
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a policy key, e.g. max_lr=1.0")
    s.add_argument("--format", choices=("csv", "table", "png"), default="csv")
    s.add_argument("--out", help="write to this file instead of stdout (required for png)")
    s.set_defaults(func=cmd_schedule)

    m = sub.add_parser("smoke", help="a short real run per installed backend; fails unless accuracy rose")
    m.add_argument("--backends", help="comma-separated (default: every installed backend)")
    m.add_argument("--out", help="results folder (default: a temporary folder)")
    m.set_defaults(func=cmd_smoke)

    def range_args(p, metric_default="loss"):
        p.add_argument("spec", help="a spec YAML file, or the name of a shipped spec")
        p.add_argument("--backend", choices=registry.names())
        p.add_argument("--seed", type=int)
        p.add_argument("--device")
        p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
        p.add_argument("--out", default="runs", help="results folder (default: ./runs)")
        p.add_argument("--start-lr", type=float, default=1e-7)
        p.add_argument("--end-lr", type=float, default=10.0)
        p.add_argument("--steps", type=int, default=100, help="length of the ramp, in optimizer steps")
        p.add_argument("--mode", choices=("exp", "linear"), help="ramp (default exp; linear for accuracy metrics)")
        p.add_argument("--metric", choices=("loss", "val_loss", "val_acc", "test_acc"), default=metric_default)
        p.add_argument("--eval-every", type=int, help="steps between evaluations for val_/test_ metrics")
        p.add_argument("--beta", type=float, default=0.98, help="smoothing of the debiased EMA")
        p.add_argument("--stop-factor", type=float, default=4.0, help="stop once smoothed loss > this x its best")
        p.add_argument("--quiet", action="store_true")

    lf = sub.add_parser("lr-find", help="an LR range test: loss (or accuracy) against the rate, suggestions")
    range_args(lf)
    lf.set_defaults(func=cmd_lr_find)

    sw = sub.add_parser("sweep", help="range tests over momentum or weight decay")
    sw.add_argument("param", choices=("momentum", "weight-decay"))
    range_args(sw)
    sw.add_argument("--values", type=float, nargs="+", help="momentum: 0.8 0.85 0.9 0.95 0.99; "
                    "weight-decay: the coarse grid, default 1e-3 .. 1e-7 (a fine grid 3x, x/3 follows)")
    sw.set_defaults(func=cmd_sweep)

    tu = sub.add_parser("tune", help="lr-find, momentum and weight-decay sweeps on the validation split; "
                        "writes specs for both derivation rules")
    range_args(tu, metric_default="val_loss")
    tu.add_argument("--k", type=float, default=4, help="CLR step size in epochs (2-10)")
    tu.add_argument("--clr-div", type=int, default=4, choices=(3, 4), help="CLR min = c / this")
    tu.add_argument("--momenta", type=float, nargs="+", help="momentum sweep values (default 0.8 0.85 0.9 0.95 0.99)")
    tu.add_argument("--decays", type=float, nargs="+", help="coarse weight-decay grid (default 1e-3 .. 1e-7)")
    tu.set_defaults(func=cmd_tune)

    im = sub.add_parser("import", help="a reference run directory from another tool's log")
    im.add_argument("kind", choices=("caffe-log", "keras-csv"))
    im.add_argument("file")
    im.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="spec fields the log cannot say")
    im.add_argument("--batch-size", type=int, help="caffe-log: the effective batch (default: per-GPU batch x GPUs)")
    im.add_argument("--out", required=True, help="results folder")
    im.set_defaults(func=cmd_import)

    cl = sub.add_parser("claims", help="verdicts of the claims on run directories")
    cl.add_argument("paths", nargs="+", metavar="PATH")
    cl.add_argument("--claims", help="a claims YAML file (default: the shipped bench/claims/claims.yaml)")
    cl.add_argument("--strict", action="store_true", help="exit 5 when a must-hold claim fails")
    cl.set_defaults(func=cmd_claims)

    fu = sub.add_parser("full", help="a suite's grid (each run its own process), then the report")
    fu.add_argument("--suite", help="fashion-mnist | paper | smith-topin (default: the one this machine can run)")
    fu.add_argument("--budget", choices=("smoke", "quick", "paper"))
    fu.add_argument("--backends", help="comma-separated (default: every installed backend)")
    fu.add_argument("--seeds", type=int, help="seeds per cell and backend (default: the budget's)")
    fu.add_argument("--out", default="runs/full", help="results folder (default: ./runs/full)")
    fu.add_argument("--shard", help="i/n: run every n-th job starting at the i-th (for many machines)")
    fu.add_argument("--launcher", choices=("slurm", "local"),
                    help="submit the grid as one job array through submitit (slurm), or run it that way here (local)")
    fu.add_argument("--partition", help="SLURM partition (with --launcher slurm)")
    fu.add_argument("--retry-diverged", action="store_true",
                    help="run diverged cells again (by default a divergence is a result, kept)")
    fu.set_defaults(func=cmd_full)

    pf = sub.add_parser("perf", help="training throughput of the harness against the raw framework loop")
    pf.add_argument("--backend", choices=registry.names(), help="default: every installed backend")
    from bench.perf import add_arguments as perf_arguments

    perf_arguments(pf)
    pf.add_argument("--out", help="also write the results as JSON to this file")
    pf.set_defaults(func=cmd_perf)

    rp = sub.add_parser("report", help="tables + verdicts + plots into report.md")
    rp.add_argument("paths", nargs="+", metavar="PATH")
    rp.add_argument("--out", help="output folder (default: the first PATH)")
    rp.add_argument("--claims")
    rp.set_defaults(func=cmd_report)

    c = sub.add_parser("compare", help="tables across policies and backends")
    c.add_argument("paths", nargs="+", metavar="PATH", help="run directories or folders holding them")
    c.add_argument("--tolerance", type=float, default=0.01,
                   help="flag backend differences in mean final accuracy above this (fraction; default 0.01)")
    c.add_argument("--out", help="write compare.md, compare.csv and runs.csv here (default: the first PATH)")
    c.set_defaults(func=cmd_compare)

    d = sub.add_parser("data", help="dataset tools")
    dsub = d.add_subparsers(dest="data_command", required=True, parser_class=_Parser)
    dc = dsub.add_parser("check", help="load a dataset through the run's readers; counts, shapes, checksums")
    dc.add_argument("name", help="fashion_mnist | cifar10 | cifar100 | oxflower17 | tiny_imagenet")
    dc.add_argument("--data-dir")
    dc.add_argument("--no-verify", action="store_true", help="read files whose checksums are not the official ones")
    dc.add_argument("--image-size", type=int, help="resize to this square (Flowers 17 default 224)")
    dc.set_defaults(func=cmd_data_check)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return args.func(args)
    except BenchError as e:
        print(f"bench: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 4
