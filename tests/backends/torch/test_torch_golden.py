"""The PyTorch backend still computes exactly the committed golden records."""

import pytest

from common import needs_fmnist

pytest.importorskip("torch")
pytestmark = [pytest.mark.torch, needs_fmnist]


def test_golden_outputs_reproduced(tmp_path):
    from golden_check import check

    check("torch", tmp_path)
