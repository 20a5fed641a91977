"""The parser of every command, and main()."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.cli.base import (
    FOLDER_OUT,
    _new_out,
    _Parser,
    epilog,
)
from bench.cli.grids import _add_full, _add_perf
from bench.cli.rates import _add_lr_find, _add_sweep, _add_tune
from bench.cli.results import (
    _add_claims,
    _add_compare,
    _add_data,
    _add_import,
    _add_list,
    _add_report,
)
from bench.cli.runs import _add_run, _add_schedule, _add_smoke
from bench.errors import (
    EXIT_INTERRUPTED,
    BenchError,
)


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
    for add in (_add_run, _add_schedule, _add_smoke, _add_lr_find, _add_sweep, _add_tune, _add_import, _add_claims,
                _add_full, _add_perf, _add_report, _add_compare, _add_data, _add_list):
        add(sub)
    from bench.judging.export import add_parser as export_parser

    export_parser(sub, epilog)
    return ap


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
