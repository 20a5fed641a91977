"""Claims as data (bench/judging/claims/claims.yaml), judged on run directories: ``bench claims``.

A claim names its source, the statement, how it is measured (``operational``), the runs
it compares (selectors on each run's spec, summary and meta), a metric, a kind, a
tolerance (``margin``, or ``ratio`` for time to a target) and how many runs each arm
needs (``min_runs``). A claim with several parts (``parts:``) is judged part by part.
A verdict is one of ``holds``, ``fails`` or ``inconclusive``, with the numbers that
decided it. docs/claims.md explains every field and shows the calibration.

The engine is two layers. :func:`decide_interval` and :func:`decide_ratio` decide on
arrays of values (one experiment a row), so that :mod:`bench.judging.claims_sim` can calibrate
them on thousands of simulated experiments; :func:`judge` is a thin layer that reads the
values out of run directories and calls them.

Decisions (ALPHA = 0.05; A and B are the two arms; every interval is two-sided 95%, so a
false ``holds`` at the boundary of the claim has probability at most 2.5%):

- accuracy (``final_acc``, ``best_acc``, ``acc_at_step``, ``acc_at_epoch``): the Welch
  interval of mean(A) - mean(B) against the margin m. ``superiority`` holds when it lies
  above m and fails when it lies below; ``non-inferiority`` the same against -m;
  ``equivalence`` holds inside (-m, m) and fails wholly outside it;
  ``difference_of_differences`` (arms a, b, c, d): the Welch-Satterthwaite interval of
  (a - b) - (c - d) against m.
- time to a target (``steps_to_target``, ``seconds_to_target``; kind ``superiority``: A
  gets there ``ratio`` times sooner): a crossing is known only to the evaluation cadence,
  as the interval (previous evaluation, first evaluation at or above the target]; a run
  that never got there is censored at its last evaluation, and a diverged one never gets
  there (slowest). Pairs (A_i, B_j) whose intervals prove B_j > ratio x A_i, or prove the
  reverse, are counted; the verdict holds when the proven pairs reach the Mann-Whitney
  critical count of the 95% interval (equivalently: the interval of B/A, whose ends are
  order statistics of the pairwise bounds, lies above the ratio), fails when the reverse
  does, and is inconclusive otherwise. Ties (one cadence interval) prove nothing; a target
  met before training (step 0) counts as met within the first cadence interval.
  ``seconds_to_target`` counts only runs that had the machine to themselves: a run whose
  summary says ``contended`` (:mod:`bench.running.clock`) is left out, and the verdict says how many.
- n=1 (``min_runs: 1``, the authors' single logs, and an arm holding a single run): the
  values are compared directly, without error control, and the verdict says n=1.

An arm with fewer counting runs than ``min_runs`` is inconclusive; a run short of the
step or epoch a metric asks for does not count. A claim whose runs are all absent says
what data it needs and where it was looked for.
"""

from bench.judging.claims.evidence import (
    acc_value,
    crossing,
    eval_set,
    mixed_keys,
    periodic,
    select,
)
from bench.judging.claims.judge import judge, verdicts
from bench.judging.claims.schema import (
    CLAIMS_FILE,
    Check,
    Claim,
    Metric,
    Part,
    check_selector_key,
    checks,
    load_claims,
    validate,
)
from bench.judging.claims.stats import (
    ALPHA,
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    KINDS,
    METRICS,
    TIMED,
    VERDICTS,
    decide_interval,
    decide_ratio,
    mw_critical,
    ratio_interval,
    ratio_pairs,
    welch,
    welch_dd,
)
from bench.judging.claims.words import baseline_words, render
from bench.records.rundir import load_runs

__all__ = ["ALPHA", "CLAIMS_FILE", "FAILS", "HOLDS", "INCONCLUSIVE", "KINDS", "METRICS", "TIMED", "VERDICTS", "Check",
           "Claim", "Metric", "Part", "acc_value", "baseline_words", "check_selector_key", "checks", "crossing",
           "decide_interval", "decide_ratio", "eval_set", "judge", "load_claims", "load_runs", "mixed_keys",
           "mw_critical", "periodic", "ratio_interval", "ratio_pairs", "render", "select", "validate", "verdicts",
           "welch", "welch_dd"]
