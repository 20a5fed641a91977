"""Fixtures shared by the core tests."""

from pathlib import Path

import pytest

from bench.data import fashion_mnist as fm

STEMS = list(fm.FILES)
REAL_DIR = Path("/usr/share/datasets/fashion-mnist")


# -- the real installed Fashion-MNIST ----------------------------------------------------


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """A cold read of the installed files (an empty array cache for this module)."""
    if not all((REAL_DIR / (s + ".gz")).is_file() for s in STEMS):
        pytest.skip(f"Fashion-MNIST not installed at {REAL_DIR} (apt-get install dataset-fashion-mnist)")
    mp = pytest.MonkeyPatch()
    mp.delenv("BENCH_DATA_DIR", raising=False)
    mp.setattr(fm, "cache_dir", lambda: Path("/nonexistent/lr-policy-bench-cache"))
    mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg")))
    try:
        yield fm.load(allow_download=False)
    finally:
        mp.undo()
