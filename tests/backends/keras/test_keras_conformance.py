"""The Keras trainer fulfils the trainer contract (bench.running.registry.Trainer)."""

import pytest

from common import needs_fmnist

pytest.importorskip("keras")
pytestmark = [pytest.mark.keras, needs_fmnist]


def test_trainer_conformance(tmp_path):
    from conformance_check import check, contract_members

    used = check("keras", tmp_path)  # checks every member's types, shapes, units and effects
    assert used >= contract_members()
