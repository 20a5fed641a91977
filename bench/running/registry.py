"""The backend registry and the trainer contract.

A backend is a package under ``backends/`` (``backends/torch``, ``backends/keras``) with
the same module names in each (``networks``, ``optim``, ``augment``, ``trainer``,
``perf``). Backends are imported lazily, by name, only when a run needs one, and never
two frameworks in one process (torch and TensorFlow crash or fight over GPU memory when
both are imported): ``bench smoke`` and the suites start a subprocess per run.

A backend package exposes ``create_trainer(spec, data) -> Trainer``. :class:`Trainer`
below is the whole contract between the framework-free core and a framework: every
method and attribute the core uses, with units. It is the only description of the
contract; tests/test_*_conformance.py build a real trainer per backend and check every
member against it.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol, runtime_checkable

import numpy as np

from bench.errors import BenchError


@runtime_checkable
class Trainer(Protocol):
    """One model, its optimizer and the run's data on one device, driven by
    :func:`bench.running.loop.run_loop`, the range test, the sweeps, checkpoints, ``bench perf``
    and the cross-backend parity tool (:mod:`bench.running.parity_tool`).

    The core owns everything that must be the same in every backend: the schedule, the
    batch order and the augmentation draws of update ``s`` (:class:`bench.running.updates.Updates`),
    timing, records and divergence. A trainer only executes what it is handed.
    """

    rank: int
    """This process's rank in a data-parallel run (0 when there is one process). Rank 0
    records; the other ranks only train."""

    def describe(self) -> dict[str, Any]:
        """What ``meta.json`` records about the trainer. Keys: ``framework`` (package name ->
        version string), ``device`` (``{"type": "cpu" | "cuda", "name": str, "count": int}``),
        ``threads`` (int, or a mapping of thread pools to ints), ``world_size`` (int),
        ``cpu_count`` (int), ``trainable_params`` (int: parameters updated by SGD, the same
        count in every backend for one network), ``fast_paths`` (name -> bool or str);
        a backend may add keys of its own."""
        ...

    def train_step(self, idx: np.ndarray, draws: Any, lr: float, momentum: float) -> None:
        """One optimizer update on the training examples at positions ``idx`` (int64, shape
        (batch_size,), into the prepared training split), augmented with ``draws`` (a
        :class:`bench.running.augment.Draws`, or None when the spec augments nothing), after setting
        the optimizer's learning rate (per batch, in the spec's momentum form) and momentum
        (in [0, 1)) to exactly ``lr`` and ``momentum``. The batch's mean loss and its number
        of correct predictions stay on the device until :meth:`collect`; the call may
        return before the device has finished (see :meth:`synchronize`)."""
        ...

    def collect(self) -> np.ndarray:
        """The (mean loss, number correct) of every update since the last call, in order:
        float64, shape (updates, 2); shape (0, 2) when there were none. Waits for them."""
        ...

    def evaluate(self, split: str) -> tuple[float, float]:
        """(mean cross-entropy loss in nats, accuracy as a fraction in [0, 1]) of the model
        in inference mode on ``split``: ``"eval"`` (the fixed evaluation subset of the test
        split, or the whole test split when the spec has none), ``"test"`` (the whole test
        split) or ``"val"`` (the validation split). A non-finite loss is returned as NaN.
        Leaves the model in training mode."""
        ...

    def synchronize(self) -> None:
        """Block until all queued device work is done (before the loop reads the clock)."""
        ...

    def get_state(self) -> Any:
        """An in-memory snapshot of everything training changes (weights, batch-norm
        statistics, momentum buffers), opaque to the core; :meth:`set_state` restores it."""
        ...

    def set_state(self, state: Any) -> None:
        """Restore a snapshot taken by :meth:`get_state` on this trainer."""
        ...

    def set_weight_decay(self, decay: float) -> None:
        """Weight decay for the coming updates: ``decay * w`` added to the gradient of the
        decayed parameters (the PyTorch and Caffe convention)."""
        ...

    def save_checkpoint(self, folder: str | Path, tag: str) -> list[str]:
        """Write everything an exact resume needs (weights, batch-norm statistics, momentum
        buffers, random-number generator state) into ``folder`` as files whose names start
        with ``tag``; return those file names (no folder). Nothing pickled."""
        ...

    def load_checkpoint(self, folder: str | Path, files: list[str]) -> None:
        """Load what :meth:`save_checkpoint` wrote. A damaged or foreign file raises
        :class:`bench.running.checkpoint.CheckpointError` and leaves the trainer unchanged
        (checks and messages: :func:`bench.running.checkpoint.reading`)."""
        ...

    def forward_flops(self) -> float:
        """Floating-point operations of one forward pass of one image: 2 x the
        multiply-adds of the convolutions and dense layers (``bench perf``)."""
        ...

    def get_weights(self) -> dict[str, np.ndarray]:
        """Every weight and batch-norm statistic under backend-neutral names
        (``0003/conv/kernel`` in HWIO layout, ``0004/bn/mean``, ...), the same names and
        shapes in every backend for one network."""
        ...

    def set_weights(self, arrays: dict[str, np.ndarray]) -> None:
        """Load weights named as by :meth:`get_weights` (possibly from the other backend)
        and clear the momentum buffers."""
        ...

    def logits(self, images_u8: np.ndarray) -> np.ndarray:
        """Inference-mode logits (float64, shape (n, classes)) of uint8 NHWC images,
        normalised as training normalises them."""
        ...

    def augmented(self, images_u8: np.ndarray, draws: Any) -> np.ndarray:
        """The normalised, augmented batch the network would see, as NHWC float64 (for
        the cross-backend augmentation check)."""
        ...


def names() -> tuple[str, ...]:
    """The backends this harness knows (installed or not)."""
    return tuple(BACKENDS)


@dataclass(frozen=True)
class Entry:
    module: str
    requires: tuple[str, ...]  # top-level modules that must be importable
    extra: str  # pip extra that installs them
    conflicts: tuple[str, ...]  # frameworks that must not be in the same process
    data_parallel: bool = False  # bench run --nproc (several processes, one global batch)
    gpu_check: bool = False  # bench perf --suite gpu
    line_style: str = "-"  # how plots draw this backend's runs


BACKENDS: dict[str, Entry] = {
    "torch": Entry("backends.torch", ("torch", "torchvision"), "torch", ("tensorflow", "keras"),
                   data_parallel=True, gpu_check=True, line_style="-"),
    "keras": Entry("backends.keras", ("tensorflow", "keras"), "keras", ("torch",), line_style="--"),
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
