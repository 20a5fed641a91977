"""The PyTorch backend still computes the committed golden records (exactly on the machine that wrote them; on another CPU, up to kernel rounding: tests/golden_check.py)."""

import pytest

from common import needs_fmnist

pytest.importorskip("torch")
pytestmark = [pytest.mark.torch, needs_fmnist]


def test_golden_outputs_reproduced(tmp_path):
    from golden_check import check

    result = check("torch", tmp_path)  # raises with the differences and a diff
    assert sorted(result) == ["evals.csv", "steps.csv", "summary.json"]
    assert set(result.values()) <= {"identical", "agrees"}
