"""exploded_at on a real Keras run (tests/explosion_check.py)."""

import pytest

from common import needs_fmnist

pytest.importorskip("keras")
pytestmark = [pytest.mark.keras, needs_fmnist]


def test_exploding_run_is_visible(tmp_path):
    from explosion_check import check

    exploded_at = check("keras", tmp_path)  # recorded, and where stop_on_explosion stops the run
    assert exploded_at >= 1
