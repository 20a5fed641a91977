"""Which runs are the same experiment, and which evaluations of a run are its periodic ones.

One answer each, read by every reader (compare, claims, report, tuning, ``bench full``'s
reuse, export), so that they cannot drift apart:

- :func:`experiment_key`: two runs are the same experiment when their resolved specs agree
  on everything but the seed and the keys that cannot change what a run measures
  (:data:`NOT_THE_EXPERIMENT`). The spec is first read through the current schema
  (:func:`normalized`), so a run made before a key existed (absent) and one made after it
  (written with its default) are the same experiment. The backend is part of the key only
  when asked: the same experiment on two backends is what a cross-backend row compares.
- :func:`periodic`: the evaluations that decide crossings and curves: the validation
  split for a tuning run, else the fixed evaluation subset where the run has one, else
  the whole test split.
- :func:`distinct`: one run per experiment, backend, numerics version and seed. Two runs
  of one experiment and seed are one measurement (on one machine they are the same bits):
  pooling both would count it twice.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable
from typing import Any

# dotted spec keys that cannot change what a run measures: who it is (name, seed), where
# and how the same computation executes (device, compile), when it checkpoints (a resumed
# run continues exactly), where its data files are and whether their checksums were
# verified, and how a value was chosen (provenance: the value itself is in the spec).
# The backend is the run's, kept or not by the caller (experiment_key's backend=).
NOT_THE_EXPERIMENT = ("name", "seed", "device", "compile", "checkpoint_every", "provenance",
                      "dataset.data_dir", "dataset.verify")


def normalized(spec: dict) -> dict:
    """The spec as the current schema resolves it (every default filled in, keys written
    only when set as :meth:`bench.records.spec.Spec.resolved` writes them); a spec the schema does
    not take (an imported run's, one edited by hand) as it is."""
    if not isinstance(spec, dict):
        return {}
    return json.loads(_normalized(json.dumps(spec, sort_keys=True, default=str)))


@functools.lru_cache(maxsize=4096)
def _normalized(text: str) -> str:
    from pydantic import ValidationError

    from bench.records.spec import Spec

    spec = json.loads(text)
    try:
        spec = Spec.model_validate(spec).resolved()
    except (ValidationError, TypeError, ValueError):
        pass
    return json.dumps(spec, sort_keys=True, default=str)


def _drop(d: dict, dotted: str) -> None:
    head, _, rest = dotted.partition(".")
    if not rest:
        d.pop(head, None)
    elif isinstance(d.get(head), dict):
        _drop(d[head], rest)


def experiment(spec: dict, backend: bool = False) -> dict:
    """The part of ``spec`` that makes the experiment (normalised; backend kept if asked)."""
    d = normalized(spec)
    for k in NOT_THE_EXPERIMENT + (() if backend else ("backend",)):
        _drop(d, k)
    return d


def experiment_key(spec: dict, backend: bool = False) -> str:
    """8 hex naming the experiment ``spec`` belongs to: equal for runs that differ only in
    :data:`NOT_THE_EXPERIMENT` (and the backend, unless ``backend``)."""
    blob = json.dumps(experiment(spec, backend), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:8]


def same_experiment(a: dict, b: dict, backend: bool = False) -> bool:
    return experiment_key(a, backend) == experiment_key(b, backend)


def flat(d: Any, prefix: str = "") -> dict[str, str]:
    """Dotted key -> JSON text of every leaf of ``d`` (``policy.lr`` -> ``"0.2"``)."""
    if isinstance(d, dict):
        out = {}
        for k, v in d.items():
            out.update(flat(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: json.dumps(d, sort_keys=True, default=str)}


def differing(specs: Iterable[dict], ignore: Iterable[str] = ()) -> dict[str, list[str]]:
    """Dotted keys in which the normalised ``specs`` differ beyond what is not the
    experiment (the backend included) and the keys or key prefixes (ending in ``.``) in
    ``ignore``: key -> the distinct values as JSON text ("(absent)" where a spec lacks it)."""
    skip = set(NOT_THE_EXPERIMENT) | {"backend"}
    ignore = set(ignore)
    flats = [flat(normalized(s)) for s in specs]
    keys = set().union(*flats) if flats else set()

    def kept(k: str) -> bool:
        if k in ignore or any(k.startswith(p) for p in ignore if p.endswith(".")):
            return False
        return not any(k == s or k.startswith(s + ".") for s in skip)

    values = {k: sorted({f.get(k, "(absent)") for f in flats}) for k in keys if kept(k)}
    return {k: v for k, v in sorted(values.items()) if len(v) > 1}


# -- evaluations ------------------------------------------------------------------------


def periodic_split(splits: Iterable[str]) -> str:
    """The split of a run's periodic evaluations given the splits its evals.csv holds:
    ``val`` (a tuning run, ``eval_split: val``), ``eval`` (the fixed evaluation subset of
    the test split) or ``test`` (the whole test split, whose last row is the final
    evaluation on the same images)."""
    splits = set(splits)
    return "val" if "val" in splits else "eval" if "eval" in splits else "test"


def periodic(evals: list) -> tuple[str, list]:
    """(split, the evaluations on it) of a run's evaluations (rows with a ``split``). The
    final whole-test evaluation of a run with an evaluation subset or a validation split is
    not one of them (other images, another size)."""
    split = periodic_split(e.split for e in evals)
    return split, [e for e in evals if e.split == split]


# -- runs -------------------------------------------------------------------------------


def distinct(runs: Iterable) -> tuple[list, list[tuple]]:
    """(kept, repeats): the first run of each experiment, backend, numerics version and seed,
    in order, and (run, the kept run it repeats) for the others (an identical experiment
    made twice, or made once and read by two cells)."""
    from bench.records.numerics import version_of

    kept, repeats, first = [], [], {}
    for r in runs:
        k = (experiment_key(r.spec), r.summary.backend, version_of(r).version, r.head.seed, r.summary.kind)
        if k in first:
            repeats.append((r, first[k]))
        else:
            first[k] = r
            kept.append(r)
    return kept, repeats
