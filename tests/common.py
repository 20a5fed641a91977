"""What tests in every folder share: the repository's root and the Fashion-MNIST check.

Imported as ``from common import REPO, needs_fmnist`` (tests/ is on the path: pytest puts
the root conftest's folder there).
"""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FMNIST = Path("/usr/share/datasets/fashion-mnist")


def have_fmnist() -> bool:
    return all((FMNIST / f).exists() for f in ("train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz")) or bool(
        os.environ.get("BENCH_DATA_DIR")
    )


needs_fmnist = pytest.mark.skipif(not have_fmnist(), reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")


# The authors' Caffe logs (lnsmith54/super-convergence, Results/) are not redistributed
# with the project (their repository gives no licence): the tests on them read the folder
# holding them from BENCH_REFERENCE_LOGS (CI sets ../shared/reference-logs/super-convergence).
REFERENCE_LOGS = Path(os.environ.get("BENCH_REFERENCE_LOGS", "/nonexistent-set-BENCH_REFERENCE_LOGS"))
needs_reference_logs = pytest.mark.skipif(
    not (REFERENCE_LOGS / "clr3SS5kFig1a.log").is_file(),
    reason="the authors' Caffe logs: set BENCH_REFERENCE_LOGS to the folder holding clr3SS5kFig1a.log, "
           "lr35Fig1a.log and range2SS80kRes56LR.log (from lnsmith54/super-convergence, Results/)")


def meta_of_a_fake_run() -> dict:
    """meta.json as :func:`bench.running.runner.build_meta` writes it for a tiny spec, with a trainer
    and data that need no framework: what the environment (image, SLURM job) adds to it."""
    from types import SimpleNamespace

    import numpy as np

    from bench.records import spec as S
    from bench.running import runner

    class Trainer:
        def describe(self):
            return {"framework": {"fake": "1"}, "device": {"type": "cpu", "name": "x", "count": 1}, "threads": 1}

    data = SimpleNamespace(source="x", train_y=np.zeros(3), val_y=np.zeros(0), test_y=np.zeros(2), eval_idx=None,
                           mean=[0.0], std=[1.0])
    spec = S.build({"name": "m", "backend": "torch", "seed": 0, "network": {"name": "simple_cnn"},
                    "dataset": {"name": "fashion_mnist"}, "policy": {"name": "constant", "lr": 0.1},
                    "batch_size": 8, "budget": {"steps": 1}})
    return runner.build_meta(spec, Trainer(), data).model_dump(mode="json")
