"""Errors a user can act on, and the exit codes of docs/contract.md."""

from __future__ import annotations

# Exit codes (docs/contract.md, "The command line").
EXIT_OK = 0
EXIT_INTERNAL = 1  # a bug: traceback allowed
EXIT_BAD_INPUT = 2  # bad input or usage: a clear message, no traceback
EXIT_DIVERGED = 3  # the run diverged (NaN/inf loss); everything recorded is kept
EXIT_INTERRUPTED = 4  # the run was interrupted (SIGINT/SIGTERM); records kept
EXIT_CLAIM_FAILED = 5  # --strict and a must-hold claim failed
EXIT_CHECK_FAILED = 6  # a check failed: bench smoke below its bar, bench full with cells that crashed
EXIT_RESTART = 7  # bench run --resume cannot continue this run (checkpoint unusable, other numerics): start over

# One line each, for the commands' --help (bench/cli.py) and docs/contract.md.
EXIT_CODES = (
    (EXIT_OK, "success"),
    (EXIT_INTERNAL, "internal error (a bug: traceback shown)"),
    (EXIT_BAD_INPUT, "bad input or usage (a clear message, no traceback, nothing created)"),
    (EXIT_DIVERGED, "the run diverged (everything recorded is kept)"),
    (EXIT_INTERRUPTED, "interrupted (SIGINT/SIGTERM); resumable (bench run --resume, or bench full again)"),
    (EXIT_CLAIM_FAILED, "--strict and a must-hold claim failed"),
    (EXIT_CHECK_FAILED, "a check failed: bench smoke below its bar, or bench full with cells that crashed "
                        "or stayed incomplete (a diverged cell is a result, not a failure)"),
    (EXIT_RESTART, "bench run --resume: the run cannot continue from its checkpoint (corrupt, other data, "
                   "or made under another numerics version); nothing was changed: start it over"),
)


class BenchError(Exception):
    """Bad input or an environment problem the user can fix. Exit code 2, no traceback."""

    exit_code = EXIT_BAD_INPUT


class SpecError(BenchError):
    """A spec value that is not allowed: names the field, what was received, what is allowed."""

    def __init__(self, field: str, received: object, allowed: str):
        self.field = field
        self.received = received
        self.allowed = allowed
        super().__init__(f"{field}: received {received!r}; allowed: {allowed}")


class SpecInvalid(BenchError):
    """Several problems found in one spec, one line each (field, received, allowed)."""

    def __init__(self, source: str, problems: list[str]):
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid spec ({source}):\n{lines}")


class DataError(BenchError):
    """A dataset that is missing, corrupt or not what it claims to be."""


class StepOutOfRange(IndexError):
    """A schedule asked for a step outside [0, total_steps): never wraps silently."""
