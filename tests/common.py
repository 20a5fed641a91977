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
