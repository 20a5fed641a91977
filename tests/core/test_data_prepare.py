"""bench.data.prepare: the run's data from a reader and the spec's subsets."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

import bench.data as data
from bench.data import fashion_mnist as fm
from bench.errors import SpecError
from bench.records.spec import DatasetSpec, validate_model

STEMS = list(fm.FILES)
REAL_DIR = Path("/usr/share/datasets/fashion-mnist")




# -- prepare -----------------------------------------------------------------------------


def _spec(**kw):
    return validate_model(DatasetSpec, {"name": "fashion_mnist", **kw})


def test_prepare_real(real, monkeypatch):
    info = data.DATASETS["fashion_mnist"]
    # the module-scoped load, so the real files are read once
    monkeypatch.setitem(data.DATASETS, "fashion_mnist",
                        dataclasses.replace(info, load=lambda *a, **k: real))
    ds = _spec(train_size=1000, val_size=500, test_size=2000, eval_size=300)
    p = data.prepare(ds, allow_download=False)
    assert p.train_x.shape == (1000, 28, 28, 1) and p.train_x.dtype == np.uint8
    assert p.val_x.shape == (500, 28, 28, 1)
    assert p.test_x.shape == (2000, 28, 28, 1)
    assert p.train_y.shape == (1000,) and p.val_y.shape == (500,) and p.test_y.shape == (2000,)
    assert p.input_shape == (28, 28, 1)
    assert p.num_classes == 10 and len(p.class_names) == 10
    np.testing.assert_array_equal(np.bincount(p.train_y, minlength=10), [100] * 10)
    np.testing.assert_array_equal(np.bincount(p.val_y, minlength=10), [50] * 10)
    np.testing.assert_array_equal(np.bincount(p.test_y, minlength=10), [200] * 10)
    assert len(p.eval_idx) == 300 and len(np.unique(p.eval_idx)) == 300
    assert p.eval_idx.min() >= 0 and p.eval_idx.max() < 2000
    np.testing.assert_array_equal(np.bincount(p.test_y[p.eval_idx], minlength=10), [30] * 10)
    f = p.train_x.astype(np.float64) / 255.0
    assert abs(p.mean[0] - f.mean()) < 1e-9
    assert abs(p.std[0] - f.std()) < 1e-9
    assert p.source is real[4]
    q = data.prepare(ds, allow_download=False)
    np.testing.assert_array_equal(p.train_x, q.train_x)
    np.testing.assert_array_equal(p.eval_idx, q.eval_idx)


def test_prepare_real_loader(real, monkeypatch, tmp_path):
    # through the real registered loader (not the cached arrays); keeps only sizes cheap to check
    monkeypatch.delenv("BENCH_DATA_DIR", raising=False)
    monkeypatch.setattr(fm, "cache_dir", lambda: Path("/nonexistent/lr-policy-bench-cache"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    p = data.prepare(_spec(train_size=1000, val_size=500, test_size=2000, eval_size=300),
                     allow_download=False)
    assert (len(p.train_y), len(p.val_y), len(p.test_y), len(p.eval_idx)) == (1000, 500, 2000, 300)


N_TRAIN, N_TEST = 3000, 2500


def _encode(ids: np.ndarray) -> np.ndarray:
    x = np.zeros((len(ids), 4, 4, 1), dtype=np.uint8)
    x[:, 0, 0, 0] = ids % 256
    x[:, 0, 1, 0] = ids // 256
    x[:, 1:, :, 0] = (ids[:, None, None] * 7 + np.arange(12).reshape(3, 4)) % 251  # texture
    return x


def _decode(x: np.ndarray) -> np.ndarray:
    return x[:, 0, 0, 0].astype(np.int64) + 256 * x[:, 0, 1, 0].astype(np.int64)


@pytest.fixture
def synthetic(monkeypatch):
    calls = []

    def fake_load(data_dir=None, allow_download=True, verify=True, image_size=None):
        assert verify is True and image_size is None  # the spec's defaults reach the reader
        calls.append((data_dir, allow_download))
        tr, te = np.arange(N_TRAIN), np.arange(N_TEST)
        return _encode(tr), tr % 10, _encode(te), (te * 3) % 10, {"fake": True}

    info = data.DATASETS["fashion_mnist"]
    monkeypatch.setitem(data.DATASETS, "fashion_mnist", dataclasses.replace(info, load=fake_load))
    return calls


def test_prepare_subsets_disjoint(synthetic):
    ds = _spec(train_size=1000, val_size=500, test_size=2000, eval_size=300, data_dir="/some/where")
    p = data.prepare(ds, allow_download=False)
    assert synthetic == [("/some/where", False)]
    tr, va, te = _decode(p.train_x), _decode(p.val_x), _decode(p.test_x)
    assert len(tr) == 1000 and len(va) == 500 and len(te) == 2000
    assert len(np.unique(tr)) == 1000 and len(np.unique(va)) == 500 and len(np.unique(te)) == 2000
    assert not set(tr) & set(va)
    assert tr.max() < N_TRAIN and va.max() < N_TRAIN and te.max() < N_TEST
    # images and labels stay paired
    np.testing.assert_array_equal(p.train_y, tr % 10)
    np.testing.assert_array_equal(p.val_y, va % 10)
    np.testing.assert_array_equal(p.test_y, (te * 3) % 10)
    np.testing.assert_array_equal(p.train_x, _encode(tr))
    np.testing.assert_array_equal(np.bincount(p.train_y, minlength=10), [100] * 10)
    np.testing.assert_array_equal(np.bincount(p.val_y, minlength=10), [50] * 10)
    # eval subset: positions within the (subset) test split
    assert len(p.eval_idx) == 300 and len(np.unique(p.eval_idx)) == 300
    assert p.eval_idx.min() >= 0 and p.eval_idx.max() < len(p.test_y)
    np.testing.assert_array_equal(np.bincount(p.test_y[p.eval_idx], minlength=10), [30] * 10)
    f = p.train_x.astype(np.float64) / 255.0
    assert len(p.mean) == 1 and len(p.std) == 1
    assert abs(p.mean[0] - f.mean()) < 1e-9
    assert abs(p.std[0] - f.std()) < 1e-9
    assert p.source == {"fake": True}
    assert p.train_x.flags.c_contiguous and p.test_x.flags.c_contiguous


def test_prepare_split_seed(synthetic):
    base = dict(train_size=1000, val_size=500, test_size=2000, eval_size=300)
    a = data.prepare(_spec(**base))
    b = data.prepare(_spec(**base))
    c = data.prepare(_spec(**base, split_seed=1))
    for k in ("train_x", "val_x", "test_x", "eval_idx"):
        np.testing.assert_array_equal(getattr(a, k), getattr(b, k))
    assert not np.array_equal(_decode(a.val_x), _decode(c.val_x))
    assert not np.array_equal(_decode(a.train_x), _decode(c.train_x))
    assert not np.array_equal(_decode(a.test_x), _decode(c.test_x))
    assert not np.array_equal(a.eval_idx, c.eval_idx)


def test_prepare_defaults_use_everything(synthetic):
    p = data.prepare(_spec())
    np.testing.assert_array_equal(_decode(p.train_x), np.arange(N_TRAIN))
    assert len(p.val_y) == 0 and p.val_x.shape == (0, 4, 4, 1)
    np.testing.assert_array_equal(_decode(p.test_x), np.arange(N_TEST))
    assert p.eval_idx is None


def test_prepare_val_only(synthetic):
    p = data.prepare(_spec(val_size=300))
    tr, va = _decode(p.train_x), _decode(p.val_x)
    assert len(tr) == N_TRAIN - 300 and len(va) == 300
    assert set(tr) | set(va) == set(range(N_TRAIN))


def test_prepare_val_too_big(synthetic):
    with pytest.raises(SpecError) as ei:
        data.prepare(_spec(val_size=N_TRAIN))
    assert ei.value.field == "dataset.val_size"


def test_prepare_train_too_big_after_val(synthetic):
    with pytest.raises(SpecError) as ei:
        data.prepare(_spec(val_size=500, train_size=N_TRAIN - 499))
    assert ei.value.field == "dataset.train_size"


def test_channel_stats_exact():
    x = np.array([0, 255, 255, 51], dtype=np.uint8).reshape(4, 1, 1, 1)
    mean, std = data.channel_stats(x)
    f = x / 255.0
    assert mean == pytest.approx((f.mean(),), abs=1e-12)
    assert std == pytest.approx((f.std(),), abs=1e-12)


def test_train_count():
    assert data.train_count(_spec()) == 60000
    assert data.train_count(_spec(val_size=5000)) == 55000
    assert data.train_count(_spec(val_size=5000, train_size=1234)) == 1234


def test_info_unknown():
    with pytest.raises(SpecError):
        data.info("cifar-1000")
