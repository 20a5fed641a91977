import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FMNIST = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture
def base_spec() -> dict:
    """A small valid spec as plain data (simple CNN, Fashion-MNIST subset)."""
    return {
        "name": "t",
        "backend": "torch",
        "seed": 0,
        "network": {"name": "simple_cnn"},
        "dataset": {"name": "fashion_mnist", "train_size": 2000, "eval_size": 500, "test_size": 2000},
        "optimizer": {"name": "sgd", "momentum_form": "caffe", "weight_decay": 5e-4},
        "policy": {"name": "one-cycle", "min_lr": 0.01, "max_lr": 0.1},
        "batch_size": 64,
        "budget": {"steps": 60},
        "eval_every": 20,
        "targets": [0.5, 0.99],
    }


def have_fmnist() -> bool:
    return all((FMNIST / f).exists() for f in ("train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz")) or bool(
        os.environ.get("BENCH_DATA_DIR")
    )


needs_fmnist = pytest.mark.skipif(not have_fmnist(), reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
