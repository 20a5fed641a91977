"""Reading results: bench import, claims, report, compare, data check, list."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bench.cli.base import (
    _check_paths,
    _command,
    _Parser,
    epilog,
)
from bench.errors import (
    EXIT_OK,
    BenchError,
)
from bench.records.schedules import POLICIES


def cmd_import(args) -> int:
    from bench.judging import importers

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
    from bench.errors import EXIT_CLAIM_FAILED
    from bench.judging import claims

    _check_paths(args.paths)
    rows = claims.verdicts(args.paths, args.claims, pool_numerics=args.pool_numerics)
    sys.stdout.write(claims.render(rows))
    failed = [r for r in rows if r["must_hold"] and r["verdict"] == "fails"]
    if args.strict and failed:
        print("must-hold claims failed: " + ", ".join(f"{r['id']} ({r['backend']})" for r in failed), file=sys.stderr)
        return EXIT_CLAIM_FAILED
    return EXIT_OK


def cmd_report(args) -> int:
    from bench.judging.report import make_report

    _check_paths(args.paths)
    print(make_report(args.paths, Path(args.out), args.claims, pool_numerics=args.pool_numerics))
    return EXIT_OK


def cmd_compare(args) -> int:
    from bench.judging.compare import compare

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
    from bench.records.spec import DatasetSpec, validate_model

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
        from bench.records import spec as spec_mod

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
        from bench.grids import suites

        lines = []
        for name in suites.available():
            data = yaml.safe_load((suites.SUITES_DIR / f"{name}.yaml").read_text()) or {}
            budgets = " | ".join(data.get("budgets") or {})
            lines.append(f"{name}: {' '.join(str(data.get('description', '')).split())} "
                         f"(budgets {budgets}; default {data.get('default_budget', 'quick')})")
        return lines
    if kind == "claims":
        from bench.judging.claims import load_claims

        return [f"{c.id}: {' '.join(c.statement.split())}" for c in load_claims(claims_file)]
    if kind == "policies":
        return [f"{name}: {_policy_keys(name, model)}" for name, model in POLICIES.items()]
    if kind == "networks":
        from bench.records.architectures import NETWORKS

        return list(NETWORKS)
    if kind == "datasets":
        from bench.data import DATASETS

        return [f"{n}: {i.num_classes} classes, {i.n_train} train + {i.n_test} test images of "
                f"{'x'.join(map(str, i.shape))}" for n, i in DATASETS.items()]
    raise BenchError(f"bench list: unknown kind {kind!r}; allowed: {' | '.join(LIST_KINDS)}")


def cmd_list(args) -> int:
    print("\n".join(list_items(args.kind, args.claims)))
    return EXIT_OK


def _add_import(sub) -> None:
    """``bench import``."""
    im = _command(sub, "import", "a reference run directory from another tool's log",
                 ["bench import caffe-log clr3SS5kFig1a.log --out results/reference",
                  "bench import keras-csv history.csv --set network.name=simple_cnn --out runs"])
    im.add_argument("kind", choices=("caffe-log", "keras-csv"), help="caffe-log | keras-csv")
    im.add_argument("file", help="the log file")
    im.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="spec fields the log cannot say (repeatable)")
    im.add_argument("--batch-size", type=int, help="caffe-log: the effective batch (default: per-GPU batch x GPUs)")
    im.add_argument("--out", required=True, help="results folder (required)")
    im.set_defaults(func=cmd_import)


def _judging_args(p) -> None:
    """What ``bench claims`` and ``bench report`` both take: the runs, the claims file, and
    whether runs of two numerics versions may be judged as one."""
    p.add_argument("paths", nargs="+", metavar="PATH", help="run directories or folders holding them")
    p.add_argument("--claims", help="a claims YAML file (default: the shipped bench/judging/claims/claims.yaml)")
    p.add_argument("--pool-numerics", action="store_true",
                   help="judge runs made under two numerics versions of a backend as one (default: refused, exit 2, "
                        "naming the runs and versions; the verdict row says it pooled them)")


def _add_claims(sub) -> None:
    """``bench claims``."""
    cl = _command(sub, "claims", "verdicts of the claims on run directories",
                 ["bench claims results", "bench claims runs/full results/reference --strict"])
    _judging_args(cl)
    cl.add_argument("--strict", action="store_true", help="exit 5 when a must-hold claim fails")
    cl.set_defaults(func=cmd_claims)


def _add_report(sub) -> None:
    """``bench report``."""
    rp = _command(sub, "report", "tables + verdicts + plots into report.md",
                 ["bench report runs/full", "bench report runs/full results/reference --out report"])
    _judging_args(rp)
    rp.add_argument("--out", help="output folder (default: a new folder report-YYYYmmdd-HHMMSS in the current one, named when written)")
    rp.set_defaults(func=cmd_report)


def _add_compare(sub) -> None:
    """``bench compare``."""
    c = _command(sub, "compare", "tables across policies and backends", ["bench compare runs --tolerance 0.02"])
    c.add_argument("paths", nargs="+", metavar="PATH", help="run directories or folders holding them")
    c.add_argument("--tolerance", type=float, default=0.01,
                   help="flag backend differences in mean final accuracy above this (a fraction)")
    c.add_argument("--out", help="write compare.md, compare.csv and runs.csv here (default: a new folder compare-YYYYmmdd-HHMMSS in the current one, named when written)")
    c.set_defaults(func=cmd_compare)


def _add_data(sub) -> None:
    """``bench data``."""
    d = _command(sub, "data", "dataset tools", ["bench data check fashion_mnist", "bench data check cifar10 --data-dir /data"])
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


def _add_list(sub) -> None:
    """``bench list``."""
    ls = _command(sub, "list", "what is shipped or known: specs, suites, claims, policies, networks, datasets",
                 [f"bench list {k}" for k in LIST_KINDS])
    ls.add_argument("kind", choices=LIST_KINDS, help=" | ".join(LIST_KINDS))
    ls.add_argument("--claims", help="with claims: a claims YAML file (default: the shipped bench/judging/claims/claims.yaml)")
    ls.set_defaults(func=cmd_list)
