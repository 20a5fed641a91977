"""The Keras backend still computes exactly the committed golden records."""

import pytest

from common import needs_fmnist

pytest.importorskip("keras")
pytestmark = [pytest.mark.keras, needs_fmnist]


def test_golden_outputs_reproduced(tmp_path):
    from golden_check import check

    check("keras", tmp_path)
