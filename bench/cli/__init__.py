"""The ``bench`` command line (docs/contract.md, "The command line").

Exit codes (bench/errors.py): 0 success; 1 internal error (a bug: traceback); 2 bad
input or usage (a clear message, no traceback, nothing created); 3 the run diverged;
4 the run was interrupted (resumable); 5 ``--strict`` and a must-hold claim failed;
6 a check failed (``bench smoke`` below its bar, ``bench full`` with crashed cells).
Every command's ``--help`` lists them, with the environment variables the harness reads.
"""

from bench.cli.base import ENVIRONMENT, SMOKE_MIN_ACC, SMOKE_SUITE, _Parser, epilog
from bench.cli.main import main, make_parser
from bench.cli.results import LIST_KINDS, list_items
from bench.cli.runs import schedule_example, smoke_verdict

__all__ = ["ENVIRONMENT", "LIST_KINDS", "SMOKE_MIN_ACC", "SMOKE_SUITE", "_Parser", "epilog", "list_items", "main",
           "make_parser", "schedule_example", "smoke_verdict"]
