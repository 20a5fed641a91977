"""Stratified subsets and the batch order (bench/data/splits.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.data import fashion_mnist as fm
from bench.data.splits import BatchOrder, epoch_order, stratified_subset
from bench.errors import SpecError

STEMS = list(fm.FILES)
REAL_DIR = Path("/usr/share/datasets/fashion-mnist")




# -- stratified subsets -------------------------------------------------------------------


def _balanced(n_per=20, k=10):
    return np.repeat(np.arange(k), n_per)[np.random.default_rng(4).permutation(n_per * k)]


def test_stratified_equal_per_class():
    labels = _balanced()
    pos = stratified_subset(labels, 50, np.random.default_rng(0), "f")
    assert len(pos) == 50
    assert len(np.unique(pos)) == 50
    assert np.all(np.diff(pos) > 0)  # sorted
    assert pos.min() >= 0 and pos.max() < len(labels)
    np.testing.assert_array_equal(np.bincount(labels[pos], minlength=10), [5] * 10)


def test_stratified_largest_remainder_balanced():
    labels = _balanced()
    pos = stratified_subset(labels, 13, np.random.default_rng(0), "f")
    # 1.3 per class: one each, the 3 left go to the lowest classes on ties
    np.testing.assert_array_equal(np.bincount(labels[pos], minlength=10), [2, 2, 2, 1, 1, 1, 1, 1, 1, 1])


def test_stratified_largest_remainder_by_hand():
    labels = np.array([0] * 5 + [1] * 3 + [2] * 2)
    pos = stratified_subset(labels, 4, np.random.default_rng(1), "f")
    # exact shares 2.0, 1.2, 0.8 -> floors 2, 1, 0; the one left goes to class 2 (0.8)
    np.testing.assert_array_equal(np.bincount(labels[pos], minlength=3), [2, 1, 1])
    pos = stratified_subset(labels, 7, np.random.default_rng(1), "f")
    # 3.5, 2.1, 1.4 -> 3, 2, 1; the one left goes to class 0 (0.5)
    np.testing.assert_array_equal(np.bincount(labels[pos], minlength=3), [4, 2, 1])


def test_stratified_full_size_is_everything():
    labels = _balanced(3, 4)
    pos = stratified_subset(labels, len(labels), np.random.default_rng(0), "f")
    np.testing.assert_array_equal(pos, np.arange(len(labels)))


def test_stratified_deterministic():
    labels = _balanced()
    a = stratified_subset(labels, 37, np.random.default_rng(7), "f")
    b = stratified_subset(labels, 37, np.random.default_rng(7), "f")
    c = stratified_subset(labels, 37, np.random.default_rng(8), "f")
    np.testing.assert_array_equal(a, b)
    assert len(c) == 37
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("size", [0, -1, 201, 1000])
def test_stratified_bad_size(size):
    with pytest.raises(SpecError) as ei:
        stratified_subset(_balanced(), size, np.random.default_rng(0), "dataset.train_size")
    assert ei.value.field == "dataset.train_size"
    assert ei.value.received == size
    assert "200" in str(ei.value)


# -- batch order --------------------------------------------------------------------------


def test_batch_order_epochs():
    n, b = 103, 10
    bo = BatchOrder(5, n, b)
    assert bo.steps_per_epoch == 10
    for epoch in range(3):
        batches = [bo(epoch * 10 + s) for s in range(10)]
        assert all(len(x) == b for x in batches)
        allx = np.concatenate(batches)
        assert len(allx) == n - n % b
        assert len(np.unique(allx)) == len(allx)  # disjoint
        assert allx.min() >= 0 and allx.max() < n
        np.testing.assert_array_equal(allx, epoch_order(5, epoch, n)[:100])
    assert not np.array_equal(bo(0), bo(10))  # epochs are reshuffled


def test_batch_order_exact_division():
    bo = BatchOrder(0, 40, 8)
    assert bo.steps_per_epoch == 5
    np.testing.assert_array_equal(np.sort(np.concatenate([bo(s) for s in range(5)])), np.arange(40))


def test_batch_order_deterministic_and_pure():
    a = BatchOrder(11, 257, 16)
    seq = [a(s).copy() for s in range(60)]
    b = BatchOrder(11, 257, 16)
    np.testing.assert_array_equal(np.concatenate(seq), np.concatenate([b(s) for s in range(60)]))
    for s in (59, 3, 40, 0, 17, 59, 16):  # jumping back and forth across epochs
        np.testing.assert_array_equal(a(s), seq[s])
        np.testing.assert_array_equal(BatchOrder(11, 257, 16)(s), seq[s])
    other = BatchOrder(12, 257, 16)
    assert not np.array_equal(np.concatenate([other(s) for s in range(16)]), np.concatenate(seq[:16]))


def test_batch_order_full_batch():
    bo = BatchOrder(0, 10, 10)
    assert bo.steps_per_epoch == 1
    np.testing.assert_array_equal(np.sort(bo(3)), np.arange(10))


def test_batch_order_too_big():
    with pytest.raises(SpecError) as ei:
        BatchOrder(0, 10, 11)
    assert ei.value.field == "batch_size"
