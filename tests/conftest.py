from pathlib import Path

import pytest


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


# One framework per process. A pytest session runs either the default process (the core,
# the PyTorch backend, cross-backend parity) or, with --backend keras, the Keras backend
# alone, so torch and TensorFlow are never imported together. Each folder's conftest says
# when its tests are collected: tests/backends/conftest.py picks the backend folder,
# tests/benchmarks/conftest.py the benchmarks; core/ and parity/ run in the default process.
TESTS = Path(__file__).resolve().parent
DEFAULT_PROCESS_ONLY = ("core", "parity")


def pytest_addoption(parser):
    parser.addoption("--backend", choices=("torch", "keras"), default="torch",
                     help="which framework this test process may import (default torch)")


def pytest_ignore_collect(collection_path, config):
    if (config.getoption("--backend") != "torch" and collection_path.parent == TESTS
            and collection_path.name in DEFAULT_PROCESS_ONLY):
        return True
    return None
