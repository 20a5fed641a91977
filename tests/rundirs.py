"""One factory for the run directories tests write: every file a reader reads, as the
harness writes it (spec.yaml through the spec model, meta.json and summary.json through
the records, evals.csv with the contract's columns).

``make_run(root, spec, seed=0, backend="torch", evals=[(step, acc), ...])`` writes one
complete training run and returns its directory; keyword arguments set what a test needs
to vary: the curve (``curve(step) -> acc`` every ``every`` steps, or explicit ``evals``),
the final accuracy, the status and where it diverged, the training seconds per step, the
numerics version or commit in meta.json, a spec key left out as a run made before it
existed would lack it, and any summary or meta field.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import yaml

from bench.records import numerics
from bench.records import spec as S
from bench.records.rundir import RunWriter, TrainSummary

DEFAULT_EVALS = ((0, 0.1), (20, 0.5), (40, 0.8), (60, 0.9))


def make_run(root: Path, spec: dict, seed: int = 0, backend: str = "torch", *, sets=(), name: str | None = None,
             provenance: dict | None = None, evals=None, curve: Callable[[int], float] | None = None,
             every: int | None = None, split: str | None = None, final: float | None = None,
             final_row: bool | None = None, total: int | None = None, spe: int = 20, secs_per_step: float = 0.1,
             loss: float = 1.0, status: str = "completed", diverged_at: int | None = None,
             numerics_version: int | None | str = "current", git_commit: str | None = None,
             drop_keys: tuple[str, ...] = (), summary: dict | None = None, meta: dict | None = None) -> Path:
    """A complete run directory under ``root`` (its name the run id).

    Periodic evaluations: ``evals`` ((step, acc) or (step, acc, train_s) rows), else
    ``curve`` every ``every`` steps (default the spec's ``eval_every``) up to where the run
    stopped, else :data:`DEFAULT_EVALS`; on ``split`` (default ``eval`` where the spec has an
    evaluation subset, else ``test``). A completed run then gets its final whole-test row at
    ``total`` (``final``, default the curve's or the last periodic accuracy) when
    ``final_row`` (default: when the periodic split is not the test split).
    ``numerics_version``: "current" (this tree's), an int, or None (not recorded: a run made
    before versions, read from ``git_commit``). ``drop_keys``: top-level spec keys left out
    of spec.yaml. ``summary``, ``meta``: fields set on top of what is derived."""
    data = copy.deepcopy(spec)
    data.update(backend=backend, seed=seed)
    if name is not None:
        data["name"] = name
    if provenance is not None:
        data["provenance"] = provenance
    s = S.build(data, list(sets))
    resolved = s.resolved()
    for k in drop_keys:
        resolved.pop(k, None)
    run_id = s.run_id()
    d = Path(root) / run_id
    w = RunWriter(d)
    w.write_spec(yaml.safe_dump(resolved, sort_keys=False))
    version = numerics.current(backend) if numerics_version == "current" else numerics_version
    w.write_meta({"harness_version": "0.1.0", "numerics_version": version, "git_commit": git_commit,
                  "run_id": run_id, "seed": seed, **(meta or {})})

    total = total or s.budget.steps or s.total_steps(spe * s.batch_size)
    last = diverged_at if diverged_at is not None else total
    periodic = split or ("eval" if s.dataset.eval_size else "test")
    if evals is None and curve is not None:
        evals = [(st, curve(st)) for st in range(0, last, every or s.eval_every)]
    elif evals is None:
        evals = DEFAULT_EVALS
    rows = [(e[0], e[1], e[2] if len(e) > 2 else e[0] * secs_per_step) for e in evals]
    for step, acc, secs in rows:
        w.eval((step, step / spe, periodic, loss, acc, secs, 0.1))
    done = status == "completed"
    if final is None and done:
        final = curve(total) if curve is not None else (rows[-1][1] if rows else None)
    if final_row is None:
        final_row = periodic != "test"
    if done and final_row and final is not None:
        w.eval((total, total / spe, "test", loss, final, total * secs_per_step, 0.5))
    targets = {}
    for t in s.targets:
        hit = next(((st, secs) for st, a, secs in rows if a >= t), None)
        targets[str(t)] = None if hit is None else {"step": hit[0], "train_s": hit[1]}
    best = max(rows, key=lambda r: r[1], default=None)
    fields = dict(run_id=run_id, status=status, backend=backend, steps_done=last, total_steps=total,
                  steps_per_epoch=spe, final_test_acc=final if done else None,
                  best_acc=None if best is None else best[1], best_split=periodic if best else None,
                  best_step=None if best is None else best[0], targets=targets, images_per_s=1000.0 + seed,
                  train_s=last * secs_per_step, eval_s=1.0, diverged_at=diverged_at)
    fields.update(summary or {})
    w.write_summary(TrainSummary(**fields))
    w.close()
    return d
