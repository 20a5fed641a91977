"""One factory for the run directories tests write: every file a reader reads, as the
harness writes it (spec.yaml through the spec model, summary.json and meta.json through
the records, evals.csv and steps.csv with the contract's columns).

``make_run(root, spec, seed=0, backend="torch", evals=[(step, acc), ...])`` writes one
complete training run and returns its directory; keyword arguments set what a test needs
to vary (the final accuracy, the status, the numerics version or commit in meta.json, a
spec key left out as a run made before it existed would lack it).
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from bench import numerics
from bench import spec as S
from bench.rundir import RunWriter


def make_run(root: Path, spec: dict, seed: int = 0, backend: str = "torch", *, sets=(),
             evals=((0, 0.1), (20, 0.5), (40, 0.8), (60, 0.9)), split: str | None = None, final: float | None = None,
             status: str = "completed", numerics_version: int | None | str = "current", git_commit: str | None = None,
             drop_keys: tuple[str, ...] = (), name: str | None = None, provenance: dict | None = None,
             summary: dict | None = None, meta: dict | None = None) -> Path:
    """A complete run directory under ``root`` (its name the run id). ``evals``: (step,
    accuracy) of the periodic evaluations, on ``split`` (default: ``eval`` where the spec has
    an evaluation subset, else ``test``); the final whole-test evaluation is ``final``
    (default: the last periodic accuracy). ``numerics_version``: "current" (this tree's),
    an int, or None (not recorded: a run made before versions, read from ``git_commit``).
    ``drop_keys``: top-level spec keys left out of spec.yaml."""
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
    periodic = split or ("eval" if s.dataset.eval_size else "test")
    total = s.budget.steps or 60
    for step, acc in evals:
        w.eval((step, 0, periodic, 1.0 - acc, acc, step / 10.0, step / 10.0 + 1.0))
    last = evals[-1][1] if evals else None
    final = last if final is None else final
    if periodic != "test" and final is not None:
        w.eval((total, 0, "test", 1.0 - final, final, total / 10.0, total / 10.0 + 1.0))
    targets = {}
    for t in s.targets:
        hit = next((st for st, a in evals if a >= t), None)
        targets[str(t)] = None if hit is None else {"step": hit, "train_s": hit / 10.0}
    w.write_summary({
        "run_id": run_id, "kind": "train", "status": status, "backend": backend, "steps_done": total,
        "total_steps": total, "steps_per_epoch": 20, "final_test_acc": None if status == "diverged" else final,
        "best_test_acc": max((a for _, a in evals), default=None), "best_step": 0, "targets": targets,
        "images_per_s": 1000.0 + seed, "train_s": total / 10.0, "eval_s": 1.0, "diverged_at": None,
        **(summary or {}),
    })
    w.close()
    return d
