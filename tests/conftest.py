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


# One framework per process: a pytest session runs either the core and torch tests
# (default) or the Keras tests (--backend keras). Modules of the other framework are not
# even collected, so torch and TensorFlow are never imported together.
KERAS_ONLY = ("test_keras_",)
TORCH_ONLY = ("test_torch_", "test_run_torch")
# benchmarks collected under either --backend: framework-free, or one test per backend that
# skips itself in the other backend's process (they import a framework only inside a test)
EITHER_BACKEND = ("test_data_costs.py", "test_eval_share.py")


def pytest_addoption(parser):
    parser.addoption("--backend", choices=("torch", "keras"), default="torch",
                     help="which framework this test process may import (default torch)")


def pytest_ignore_collect(collection_path, config):
    name = collection_path.name
    if name in EITHER_BACKEND:
        return None
    if config.getoption("--backend") == "keras":
        return name.startswith("test_") and not name.startswith(KERAS_ONLY)
    return name.startswith(KERAS_ONLY) or None
