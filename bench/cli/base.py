"""What every command shares: the parser with its epilog (examples, exit codes, environment), spec options, output folders."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.errors import (
    EXIT_BAD_INPUT,
    EXIT_CODES,
    BenchError,
)
from bench.running import registry

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
    from bench.records.spec import shipped_spec

    p = Path(text)
    if p.is_file():
        return p
    for cand in (shipped_spec(text), shipped_spec(text + ".yaml")):
        if cand.is_file():
            return cand
    return p  # the loader reports it missing


def _check_paths(paths) -> None:
    for p in paths:
        if not Path(p).exists():
            raise BenchError(f"no such run directory or folder: {p}")


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


def _command(sub, name, help, examples=(), description=None):
    return sub.add_parser(name, help=help, description=description or help, epilog=epilog(list(examples)))


def _spec_options(p, device_help="auto | cpu | cuda | cuda:N (default: the spec's device, auto: CUDA if available)"):
    p.add_argument("--backend", choices=registry.names(), help="the framework (default: the spec's backend, torch)")
    p.add_argument("--seed", type=int, help="the run's seed (default: the spec's seed, 0)")
    p.add_argument("--device", help=device_help)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a spec value by dotted path, e.g. policy.max_lr=1.0 (repeatable)")


def _range_args(p, metric_default="loss"):
    """The options of the range-test commands (lr-find, sweep, tune)."""
    p.add_argument("spec", help="a spec YAML file, or the name of a shipped spec (bench list specs)")
    _spec_options(p)
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


# commands whose --out is a folder they create (bench schedule and perf write a file)
FOLDER_OUT = ("run", "lr-find", "sweep", "tune", "import", "full", "smoke", "compare", "report")
