"""Choosing rates: bench lr-find, bench sweep, bench tune."""

from __future__ import annotations

import sys
from pathlib import Path

from bench.cli.base import (
    _command,
    _range_args,
    _spec_path,
)
from bench.errors import (
    EXIT_OK,
    BenchError,
)


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
    from bench.records.schedules import RangeTest
    from bench.records.spec import validate_model

    validate_model(RangeTest, {"start_lr": p["start_lr"], "end_lr": p["end_lr"], "mode": p["mode"]},
                   prefix="range test", source="--start-lr/--end-lr/--mode")
    return p


def _load_spec(args):
    from bench.records import spec

    return spec.load(_spec_path(args.spec), args.set, {"backend": args.backend, "seed": args.seed,
                                                       "device": getattr(args, "device", None)})


def cmd_lr_find(args) -> int:
    from bench.rates import discovery

    s, p = _load_spec(args), _lr_params(args)
    d, res = discovery.lr_find(s, Path(args.out), p, progress=not args.quiet)
    sug = ", ".join(f"{k} {v:.4g}" for k, v in res.suggestions.items() if v)
    print(f"{res.stop_reason} after {len(res.rows)} steps; suggestions: {sug}", file=sys.stderr)
    print(d)
    return EXIT_OK


def cmd_sweep(args) -> int:
    from bench.rates import discovery

    s, p = _load_spec(args), _lr_params(args)
    sess = discovery.Session(s, Path(args.out), p, progress=not args.quiet)
    d, summary = discovery.sweep(sess, args.param, args.values)
    print(f"suggested {args.param}: {summary['suggestion']:g} ({summary['suggestion_rule']})", file=sys.stderr)
    print(d)
    return EXIT_OK


def cmd_tune(args) -> int:
    from bench.rates import discovery

    s, p = _load_spec(args), _lr_params(args)
    d, summary = discovery.tune(s, Path(args.out), p, k=args.k, clr_div=args.clr_div, progress=not args.quiet,
                                momenta=args.momenta, decays=args.decays)
    print(f"c = {summary['c']:.4g} (10^{summary['log10_c']:.2f}), momentum {summary['momentum']:g}, "
          f"weight decay {summary['weight_decay']:g}; specs: {', '.join(summary['specs'].values())}", file=sys.stderr)
    print(d)
    return EXIT_OK


def _add_lr_find(sub) -> None:
    """``bench lr-find``."""
    lf = _command(sub, "lr-find", "an LR range test: loss (or accuracy) against the rate, suggestions",
                 ["bench lr-find fashion_mnist_constant --start-lr 1e-4 --end-lr 10 --steps 400"])
    _range_args(lf)
    lf.set_defaults(func=cmd_lr_find)


def _add_sweep(sub) -> None:
    """``bench sweep``."""
    sw = _command(sub, "sweep", "range tests over momentum or weight decay",
                 ["bench sweep momentum fashion_mnist_constant", "bench sweep weight-decay fashion_mnist_constant"])
    sw.add_argument("param", choices=("momentum", "weight-decay"), help="momentum | weight-decay")
    _range_args(sw)
    sw.add_argument("--values", type=float, nargs="+", help="the values to sweep (default: momentum 0.8 0.85 0.9 "
                    "0.95 0.99; weight-decay the coarse grid 1e-3 .. 1e-7, then a fine grid 3x, x/3 around the best)")
    sw.set_defaults(func=cmd_sweep)


def _add_tune(sub) -> None:
    """``bench tune``."""
    tu = _command(sub, "tune", "lr-find, momentum and weight-decay sweeps on the validation split; "
                 "writes specs for both derivation rules",
                 ["bench tune fashion_mnist_constant --set dataset.val_size=2000 --start-lr 1e-4 --end-lr 10 "
                  "--steps 400 --eval-every 5"])
    _range_args(tu, metric_default="val_loss")
    tu.add_argument("--k", type=float, default=4, help="CLR step size in epochs (2-10)")
    tu.add_argument("--clr-div", type=int, default=4, choices=(3, 4), help="CLR min = c / this")
    tu.add_argument("--momenta", type=float, nargs="+", help="momentum sweep values (default: 0.8 0.85 0.9 0.95 0.99)")
    tu.add_argument("--decays", type=float, nargs="+", help="coarse weight-decay grid (default: 1e-3 .. 1e-7)")
    tu.set_defaults(func=cmd_tune)
