"""IDX files (bench/data/idx.py): round trips, and every way a file can be damaged."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from bench.data import fashion_mnist as fm
from bench.data.idx import parse_idx, read_bytes, read_idx, write_idx
from bench.errors import DataError

STEMS = list(fm.FILES)
REAL_DIR = Path("/usr/share/datasets/fashion-mnist")




# -- IDX ------------------------------------------------------------------------------


@pytest.fixture
def images_labels():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(12, 5, 4), dtype=np.uint8)
    labels = rng.integers(0, 10, size=12).astype(np.uint8)
    return images, labels


@pytest.mark.parametrize("suffix", [".gz", ""])
def test_idx_round_trip_uint8(tmp_path, images_labels, suffix):
    images, labels = images_labels
    ip, lp = tmp_path / f"img{suffix}", tmp_path / f"lab{suffix}"
    write_idx(ip, images)
    write_idx(lp, labels)
    raw = ip.read_bytes()
    if suffix == ".gz":
        assert raw[:2] == b"\x1f\x8b"  # really compressed
    else:
        assert raw[:4] == bytes([0, 0, 0x08, 3])
        assert len(raw) == 4 + 3 * 4 + images.size
    got_i, got_l = read_idx(ip), read_idx(lp)
    assert got_i.dtype == np.uint8 and got_l.dtype == np.uint8
    assert got_i.shape == (12, 5, 4) and got_l.shape == (12,)
    np.testing.assert_array_equal(got_i, images)
    np.testing.assert_array_equal(got_l, labels)
    # writable, independent copy
    got_i[0, 0, 0] ^= 0xFF
    np.testing.assert_array_equal(read_idx(ip), images)


@pytest.mark.parametrize("suffix", [".gz", ""])
@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.float32, np.float64])
def test_idx_round_trip_other_dtypes(tmp_path, suffix, dtype):
    rng = np.random.default_rng(1)
    arr = (rng.standard_normal((3, 4, 2)) * 50).astype(dtype)
    if np.issubdtype(dtype, np.floating):
        arr[0, 0, 0] = np.pi  # a value needing all the bits
    p = tmp_path / f"a{suffix}"
    write_idx(p, arr)
    got = read_idx(p)
    assert got.dtype == np.dtype(dtype)
    assert got.dtype.isnative
    np.testing.assert_array_equal(got, arr)


def test_idx_big_endian_on_disk(tmp_path):
    p = tmp_path / "a"
    write_idx(p, np.array([1, 258], dtype=np.int32))
    assert p.read_bytes() == bytes([0, 0, 0x0C, 1, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 1, 2])


def test_write_idx_rejects_unsupported_dtype(tmp_path):
    with pytest.raises(ValueError, match="uint16"):
        write_idx(tmp_path / "a", np.zeros(3, dtype=np.uint16))


def test_idx_bad_magic(tmp_path):
    p = tmp_path / "bad-magic-idx1-ubyte"
    p.write_bytes(bytes([1, 0, 0x08, 1, 0, 0, 0, 2, 7, 7]))
    with pytest.raises(DataError, match="not an IDX file") as ei:
        read_idx(p)
    assert str(p) in str(ei.value)


def test_idx_empty_file(tmp_path):
    p = tmp_path / "empty"
    p.write_bytes(b"")
    with pytest.raises(DataError) as ei:
        read_idx(p)
    assert str(p) in str(ei.value)


def test_idx_truncated_raw(tmp_path, images_labels):
    images, _ = images_labels
    p = tmp_path / "img-idx3-ubyte"
    write_idx(p, images)
    full = p.read_bytes()
    p.write_bytes(full[:-7])
    with pytest.raises(DataError, match="truncated or corrupt") as ei:
        read_idx(p)
    msg = str(ei.value)
    assert str(p) in msg
    assert f"{len(full) - 7} bytes" in msg and str(len(full)) in msg


def test_idx_truncated_header(tmp_path):
    p = tmp_path / "short-header"
    p.write_bytes(bytes([0, 0, 0x08, 3, 0, 0, 0, 12]))  # 3 dims announced, 1 present
    with pytest.raises(DataError, match="truncated") as ei:
        read_idx(p)
    assert str(p) in str(ei.value)


def test_idx_trailing_bytes(tmp_path, images_labels):
    images, _ = images_labels
    p = tmp_path / "img"
    write_idx(p, images)
    p.write_bytes(p.read_bytes() + b"\x00")
    with pytest.raises(DataError) as ei:
        read_idx(p)
    assert str(p) in str(ei.value)


def test_idx_truncated_gz(tmp_path):
    # incompressible content, so the .gz is well over 100 bytes
    arr = np.random.default_rng(2).integers(0, 256, size=(20, 8, 8), dtype=np.uint8)
    p = tmp_path / "train-images-idx3-ubyte.gz"
    write_idx(p, arr)
    gz = p.read_bytes()
    assert len(gz) > 300
    np.testing.assert_array_equal(read_idx(p), arr)
    p.write_bytes(gz[:-100])
    with pytest.raises(DataError, match="not a complete gzip file") as ei:
        read_idx(p)
    assert str(p) in str(ei.value)


def test_idx_garbage_gz(tmp_path):
    p = tmp_path / "t10k-labels-idx1-ubyte.gz"
    p.write_bytes(b"this is not gzip data at all" * 10)
    with pytest.raises(DataError, match="gzip") as ei:
        read_idx(p)
    assert str(p) in str(ei.value)


def test_idx_gz_with_bad_crc(tmp_path):
    p = tmp_path / "a.gz"
    blob = bytearray(gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x03abc", mtime=0))
    blob[-8] ^= 0xFF  # the CRC32 of the trailer
    p.write_bytes(bytes(blob))
    with pytest.raises(DataError) as ei:
        read_idx(p)
    assert str(p) in str(ei.value)


def test_idx_unknown_dtype(tmp_path):
    p = tmp_path / "odd-type"
    p.write_bytes(bytes([0, 0, 0x07, 1, 0, 0, 0, 2, 1, 2]))
    with pytest.raises(DataError, match="unknown IDX data type 0x07") as ei:
        read_idx(p)
    assert str(p) in str(ei.value)


def test_missing_file_names_path(tmp_path):
    p = tmp_path / "nope.gz"
    with pytest.raises(DataError, match="cannot read") as ei:
        read_bytes(p)
    assert str(p) in str(ei.value)


def test_parse_idx_default_source():
    with pytest.raises(DataError, match="<bytes>"):
        parse_idx(b"\xff\xff\x08\x01")
