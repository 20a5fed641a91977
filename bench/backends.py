"""The backend registry: name -> the package under ``backends/`` that implements it.

Backends are imported lazily, by name, only when a run needs one, and never two
frameworks in one process (torch and TensorFlow crash or fight over GPU memory when
both are imported): ``bench smoke`` and the suites start a subprocess per run.

A backend package exposes ``create_trainer(spec, data) -> Trainer`` where a Trainer has:

- ``describe() -> dict``: framework versions, device, threads, fast paths (for meta.json);
- ``train_step(idx, draws, lr, momentum)``: one optimizer update on the training
  examples at positions ``idx`` with augmentation ``draws`` (:mod:`bench.augment`),
  after setting the optimizer's learning rate and momentum to exactly ``lr`` and
  ``momentum``; keeps the loss and the number correct on the device;
- ``collect() -> ndarray[n, 2]``: (loss, correct) of the steps since the last call;
- ``evaluate(split) -> (loss, accuracy)`` for split ``"eval"`` (the fixed evaluation
  subset), ``"test"`` (the whole test split) or ``"val"`` (the validation split);
- ``get_state()`` / ``set_state(state)``: snapshot and restore everything training
  changes (weights, batch-norm statistics, momentum buffers), in memory;
- ``synchronize()``: wait for queued device work (timing);
- ``set_weight_decay(decay)``: change the decay for the coming steps (sweeps).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import dataclass
from types import ModuleType

from bench.errors import BenchError


@dataclass(frozen=True)
class Entry:
    module: str
    requires: tuple[str, ...]  # top-level modules that must be importable
    extra: str  # pip extra that installs them
    conflicts: tuple[str, ...]  # frameworks that must not be in the same process


BACKENDS: dict[str, Entry] = {
    "torch": Entry("backends.torch", ("torch", "torchvision"), "torch", ("tensorflow", "keras")),
    "keras": Entry("backends.keras", ("tensorflow", "keras"), "keras", ("torch",)),
}


def _present(mod: str) -> bool:
    try:
        return importlib.util.find_spec(mod) is not None
    except (ImportError, ValueError):
        return False


def installed(name: str) -> bool:
    e = BACKENDS[name]
    return _present(e.module) and all(_present(m) for m in e.requires)


def available() -> list[str]:
    return [n for n in BACKENDS if installed(n)]


def load(name: str) -> ModuleType:
    if name not in BACKENDS:
        raise BenchError(f"unknown backend {name!r}; allowed: {' | '.join(BACKENDS)}")
    e = BACKENDS[name]
    if not _present(e.module):
        raise BenchError(f"backend {name!r} is not part of this version of the harness")
    missing = [m for m in e.requires if not _present(m)]
    if missing:
        raise BenchError(
            f"backend {name!r} needs {' and '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} "
            f"not installed; install the extra: pip install -e '.[{e.extra}]' (or pip install "
            f"'lr-policy-bench[{e.extra}]'); installed backends: {', '.join(available()) or 'none'}"
        )
    clash = [m for m in e.conflicts if m in sys.modules]
    if clash:
        raise BenchError(
            f"backend {name!r} cannot load in a process that already imported {', '.join(clash)}; "
            "run each backend in its own process (bench run --backend ...)"
        )
    return importlib.import_module(e.module)
