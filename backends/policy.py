"""A benchmarked policy for a user's own training loop: the harness's schedule, framework-free.

The adapters (``backends/torch/scheduler.py``: a PyTorch ``LRScheduler``;
``backends/keras/callbacks.py``: a Keras callback) take the policy from any of:

- a spec (``bench.records.spec.Spec``), a spec file, or a run directory (its ``spec.yaml``): the
  spec's policy over the spec's budget (an epoch budget counts
  ``floor(train examples / batch size)`` updates per epoch, the training examples being the
  spec's ``dataset.train_size`` or the dataset's official size less ``val_size``; give
  ``n_train`` or ``total_steps`` where the loop sees another number);
- a policy model (``bench.records.schedules.POLICIES[name](...)``) or a policy mapping
  (``{"name": "one-cycle", "min_lr": 0.01, "max_lr": 0.1}``, the keys of ``bench list
  policies``), with ``total_steps``;
- a :class:`bench.records.schedules.Schedule` (a policy already bound to its steps).

The values are exactly those of ``bench schedule`` and of the harness's runs: the rate and
momentum of update ``s`` (0-based) are ``schedule(s)``. A rate is per batch of the spec's
batch size.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.records.schedules import POLICIES, Schedule, make_schedule


def schedule_for(source: Any, total_steps: int | None = None, n_train: int | None = None) -> Schedule:
    """The harness's schedule (``schedule(step) -> (lr, momentum)``) for ``source``: a spec,
    a spec file or run directory, a policy model or mapping, or a schedule (module
    docstring). ``total_steps`` overrides the spec's budget (required for a bare policy);
    ``n_train`` is the number of training examples an epoch budget counts."""
    from bench.records import spec as spec_mod

    if isinstance(source, Schedule):
        if total_steps is not None and total_steps != source.total_steps:
            raise BenchError(f"the schedule is bound to {source.total_steps} steps; received total_steps={total_steps}")
        return source
    if isinstance(source, str | Path):
        path = Path(source)
        if path.is_dir():
            path = path / "spec.yaml"
        source = spec_mod.load(path)
    if isinstance(source, dict):
        if "policy" in source:  # a whole spec as data
            source = spec_mod.build(source)
        else:
            source = spec_mod.parse_policy(source)
    if isinstance(source, spec_mod.Spec):
        total = total_steps if total_steps is not None else source.total_steps(n_train)
        return make_schedule(source.policy, total)
    if isinstance(source, tuple(POLICIES.values())):
        if total_steps is None:
            raise BenchError(f"a bare policy ({source.name}) needs total_steps: the number of optimizer updates "
                             "the schedule spans")
        return make_schedule(source, total_steps)
    raise BenchError(f"cannot take a policy from {type(source).__name__}: give a bench.records.spec.Spec, a spec file or "
                     "run directory, a policy (bench.records.schedules.POLICIES[name](...)) or a policy mapping with "
                     "total_steps, or a bench.records.schedules.Schedule")
