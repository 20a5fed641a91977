"""exploded_at on a real PyTorch run (tests/explosion_check.py)."""

import pytest

from common import needs_fmnist

pytest.importorskip("torch")
pytestmark = [pytest.mark.torch, needs_fmnist]


def test_exploding_run_is_visible(tmp_path):
    from explosion_check import check

    exploded_at = check("torch", tmp_path)  # recorded, and where stop_on_explosion stops the run
    assert exploded_at >= 1
