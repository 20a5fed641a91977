"""One folder per backend; a test process collects only the folder of its --backend
(torch and TensorFlow never share a process)."""

from pathlib import Path

HERE = Path(__file__).resolve().parent


def pytest_ignore_collect(collection_path, config):
    if collection_path.parent == HERE and collection_path.is_dir() and not collection_path.name.startswith("__"):
        if collection_path.name != config.getoption("--backend"):
            return True
    return None
