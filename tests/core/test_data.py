"""Data layer: IDX files, Fashion-MNIST lookup and verification, subsets, batches, augmentation."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest

import bench.data as data
from bench import augment
from bench.data import fashion_mnist as fm
from bench.data.idx import parse_idx, read_bytes, read_idx, write_idx
from bench.data.splits import BatchOrder, epoch_order, stratified_subset
from bench.errors import DataError, SpecError
from bench.spec import AugmentSpec, DatasetSpec, validate_model

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


# -- Fashion-MNIST: locate and verify -------------------------------------------------

SMALL = {
    "train-images-idx3-ubyte": (6, 3, 3),
    "train-labels-idx1-ubyte": (6,),
    "t10k-images-idx3-ubyte": (4, 3, 3),
    "t10k-labels-idx1-ubyte": (4,),
}


def _small_arrays():
    rng = np.random.default_rng(3)
    out = {}
    for stem, shape in SMALL.items():
        hi = 10 if "labels" in stem else 256
        out[stem] = rng.integers(0, hi, size=shape, dtype=np.uint8)
    return out


def _payload(arr: np.ndarray) -> bytes:
    return bytes([0, 0, 0x08, arr.ndim]) + np.asarray(arr.shape, ">u4").tobytes() + arr.tobytes()


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No real Fashion-MNIST reachable: Debian dir, cache and $BENCH_DATA_DIR point into tmp."""
    monkeypatch.setattr(fm, "DEBIAN_DIR", tmp_path / "debian")
    monkeypatch.setattr(fm, "cache_dir", lambda: tmp_path / "cache")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))  # the decoded-array cache
    monkeypatch.setenv("BENCH_DATA_DIR", str(tmp_path / "env"))
    monkeypatch.setenv("BENCH_OFFLINE", "1")

    def no_download(*a, **k):
        raise AssertionError("download must not be attempted")

    monkeypatch.setattr(fm, "download", no_download)
    return tmp_path


def _write_small(d: Path, arrays, suffix=".gz", mtime=0) -> dict[str, Path]:
    d.mkdir(parents=True, exist_ok=True)
    paths = {}
    for stem, arr in arrays.items():
        p = d / (stem + suffix)
        payload = _payload(arr)
        p.write_bytes(gzip.compress(payload, mtime=mtime) if suffix == ".gz" else payload)
        paths[stem] = p
    return paths


def test_candidate_dirs_order(isolated):
    tmp = isolated
    dirs = fm.candidate_dirs(tmp / "given")
    assert dirs == [
        tmp / "given",
        tmp / "given" / "fashion-mnist",
        tmp / "given" / "fashion_mnist",
        tmp / "env" / "fashion-mnist",
        tmp / "env" / "fashion_mnist",
        tmp / "debian",
        tmp / "cache",
    ]


def test_fake_files_fail_checksum(isolated):
    d = isolated / "data"
    paths = _write_small(d, _small_arrays())
    with pytest.raises(DataError, match="checksum mismatch") as ei:
        fm.load(data_dir=d, allow_download=False)
    msg = str(ei.value)
    assert str(paths["train-images-idx3-ubyte"]) in msg
    assert fm.FILES["train-images-idx3-ubyte"][1] in msg  # the expected content MD5
    assert "apt-get install dataset-fashion-mnist" in msg


def test_verified_by_archive_md5(isolated, monkeypatch):
    d = isolated / "data"
    arrays = _small_arrays()
    paths = _write_small(d, arrays)
    table = {
        stem: (hashlib.md5(paths[stem].read_bytes()).hexdigest(), "0" * 32, SMALL[stem])
        for stem in STEMS
    }
    monkeypatch.setattr(fm, "FILES", table)
    train_x, train_y, test_x, test_y, source = fm.load(data_dir=d, allow_download=False)
    assert train_x.shape == (6, 3, 3, 1) and train_x.dtype == np.uint8
    assert test_x.shape == (4, 3, 3, 1) and test_x.dtype == np.uint8
    assert train_y.shape == (6,) and train_y.dtype == np.int64
    assert test_y.shape == (4,) and test_y.dtype == np.int64
    np.testing.assert_array_equal(train_x[..., 0], arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(test_y, arrays["t10k-labels-idx1-ubyte"])
    for stem in STEMS:
        assert source[stem]["path"] == str(paths[stem])
        assert source[stem]["check"] == f"md5(gz)={table[stem][0]}"


def test_verified_by_content_md5_when_archive_differs(isolated, monkeypatch):
    arrays = _small_arrays()
    official = _write_small(isolated / "official", arrays, mtime=0)
    d = isolated / "data"
    paths = _write_small(d, arrays, mtime=123456789)  # re-wrapped: same content, other gz bytes
    table = {}
    for stem in STEMS:
        gz_md5 = hashlib.md5(official[stem].read_bytes()).hexdigest()
        assert hashlib.md5(paths[stem].read_bytes()).hexdigest() != gz_md5
        table[stem] = (gz_md5, hashlib.md5(_payload(arrays[stem])).hexdigest(), SMALL[stem])
    monkeypatch.setattr(fm, "FILES", table)
    train_x, train_y, test_x, test_y, source = fm.load(data_dir=d, allow_download=False)
    assert train_x.shape == (6, 3, 3, 1) and test_x.shape == (4, 3, 3, 1)
    assert train_y.shape == (6,) and test_y.shape == (4,)
    for stem in STEMS:
        assert source[stem]["check"] == f"md5(idx)={table[stem][1]}"


def test_uncompressed_files_verified_by_content(isolated, monkeypatch):
    arrays = _small_arrays()
    d = isolated / "env" / "fashion-mnist"  # found through $BENCH_DATA_DIR
    paths = _write_small(d, arrays, suffix="")
    table = {s: ("f" * 32, hashlib.md5(_payload(arrays[s])).hexdigest(), SMALL[s]) for s in STEMS}
    monkeypatch.setattr(fm, "FILES", table)
    *_, source = fm.load(allow_download=False)
    for stem in STEMS:
        assert source[stem]["path"] == str(paths[stem])
        assert source[stem]["check"].startswith("md5(idx)=")


def test_content_mismatch_with_other_archive(isolated, monkeypatch):
    arrays = _small_arrays()
    d = isolated / "data"
    paths = _write_small(d, arrays, mtime=5)
    table = {s: ("a" * 32, hashlib.md5(_payload(arrays[s])).hexdigest(), SMALL[s]) for s in STEMS}
    # corrupt one file's content (still a valid gz and IDX file)
    bad = arrays["t10k-images-idx3-ubyte"].copy()
    bad[0, 0, 0] ^= 1
    _write_small(d, {"t10k-images-idx3-ubyte": bad}, mtime=5)
    monkeypatch.setattr(fm, "FILES", table)
    with pytest.raises(DataError, match="checksum mismatch") as ei:
        fm.load(data_dir=d, allow_download=False)
    assert str(paths["t10k-images-idx3-ubyte"]) in str(ei.value)


def test_shape_mismatch(isolated, monkeypatch):
    arrays = _small_arrays()
    d = isolated / "data"
    paths = _write_small(d, arrays)
    table = {s: (hashlib.md5(paths[s].read_bytes()).hexdigest(), "0" * 32, SMALL[s]) for s in STEMS}
    table["train-labels-idx1-ubyte"] = (*table["train-labels-idx1-ubyte"][:2], (7,))
    monkeypatch.setattr(fm, "FILES", table)
    with pytest.raises(DataError, match=r"shape \(6,\), expected \(7,\)") as ei:
        fm.load(data_dir=d, allow_download=False)
    assert str(paths["train-labels-idx1-ubyte"]) in str(ei.value)


def test_data_dir_takes_precedence(isolated, monkeypatch):
    arrays = _small_arrays()
    first = _write_small(isolated / "given" / "fashion_mnist", arrays)
    _write_small(isolated / "debian", arrays)
    found = fm.locate(isolated / "given", allow_download=False)
    assert found == first


# -- Fashion-MNIST: missing -------------------------------------------------------------


def test_missing_everywhere_lists_dirs(isolated):
    tmp = isolated
    with pytest.raises(DataError, match="Fashion-MNIST not found") as ei:
        fm.load(data_dir=tmp / "given", allow_download=False)
    msg = str(ei.value)
    for d in fm.candidate_dirs(tmp / "given"):
        assert f"  {d}\n" in msg
    for d in ("given", "given/fashion-mnist", "given/fashion_mnist", "env/fashion-mnist",
              "env/fashion_mnist", "debian", "cache"):
        assert str(tmp / d) in msg
    assert "apt-get install dataset-fashion-mnist" in msg
    for stem in STEMS:
        assert stem + "[.gz]" in msg
    assert "Download attempt failed" not in msg


def test_missing_some_names_only_those(isolated):
    arrays = _small_arrays()
    d = isolated / "data"
    _write_small(d, {s: arrays[s] for s in STEMS[:2]})
    with pytest.raises(DataError) as ei:
        fm.locate(d, allow_download=False)
    msg = str(ei.value)
    for stem in STEMS[2:]:
        assert stem in msg
    for stem in STEMS[:2]:
        assert stem not in msg


def test_offline_env_blocks_download(isolated):
    # BENCH_OFFLINE=1 (set by the fixture) and allow_download=True: still no download
    with pytest.raises(DataError, match="not found"):
        fm.locate(None, allow_download=True)


def test_failed_download_is_reported(isolated, monkeypatch):
    import urllib.error

    monkeypatch.delenv("BENCH_OFFLINE")
    calls = []

    def fail(dest, *a, **k):
        calls.append(dest)
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(fm, "download", fail)
    with pytest.raises(DataError, match="Download attempt failed: URLError") as ei:
        fm.locate(None, allow_download=True)
    assert calls == [isolated / "cache"]
    assert str(isolated / "cache") in str(ei.value)


def test_download_into_cache_is_found(isolated, monkeypatch):
    monkeypatch.delenv("BENCH_OFFLINE")
    arrays = _small_arrays()
    monkeypatch.setattr(fm, "download", lambda dest, *a, **k: _write_small(dest, arrays))
    found = fm.locate(None, allow_download=True)
    assert found == {s: isolated / "cache" / (s + ".gz") for s in STEMS}


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


def test_real_fashion_mnist(real):
    train_x, train_y, test_x, test_y, source = real
    assert train_x.shape == (60000, 28, 28, 1) and train_x.dtype == np.uint8
    assert test_x.shape == (10000, 28, 28, 1) and test_x.dtype == np.uint8
    assert train_y.shape == (60000,) and train_y.dtype == np.int64
    assert test_y.shape == (10000,) and test_y.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(train_y, minlength=10), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(test_y, minlength=10), [1000] * 10)
    assert train_y.min() == 0 and train_y.max() == 9
    assert train_x.max() == 255 and train_x.min() == 0
    assert set(source) == set(STEMS)
    for stem in STEMS:
        gz_md5, raw_md5, _ = fm.FILES[stem]
        assert source[stem]["path"] == str(REAL_DIR / (stem + ".gz"))
        assert source[stem]["check"] in (f"md5(gz)={gz_md5}", f"md5(idx)={raw_md5}")
        assert "cache" not in source[stem]  # the fixture's read is cold


def test_real_cached_load_identical(real):
    # the fixture's cold read wrote the entry (its XDG_CACHE_HOME is still set): this is a hit
    again = fm.load(allow_download=False)
    for a, b in zip(real[:4], again[:4], strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    cache = fm.array_cache_path(fm.locate(allow_download=False), True, None)
    assert cache.is_file()
    for stem in STEMS:
        assert again[4][stem] == {**real[4][stem], "cache": str(cache)}


# -- Fashion-MNIST: the decoded-array cache ----------------------------------------------


@pytest.fixture
def small_verified(isolated, monkeypatch):
    """The small files in a folder, with a sums table they pass (by archive MD5)."""
    d = isolated / "data"
    arrays = _small_arrays()
    paths = _write_small(d, arrays)
    table = {s: (hashlib.md5(paths[s].read_bytes()).hexdigest(), "0" * 32, SMALL[s]) for s in STEMS}
    monkeypatch.setattr(fm, "FILES", table)
    return d, arrays, paths


def _entry(d, **kw):
    return fm.array_cache_path(fm.locate(d, allow_download=False), kw.get("verify", True), kw.get("image_size"))


def _assert_same(a, b):
    for x, y in zip(a[:4], b[:4], strict=True):
        assert x.dtype == y.dtype and x.shape == y.shape
        np.testing.assert_array_equal(x, y)


def test_cache_cold_then_hit_identical(small_verified):
    d, arrays, paths = small_verified
    cold = fm.load(data_dir=d, allow_download=False)
    entry = _entry(d)
    assert entry.is_file() and entry.parent == fm.sources.cache_root() / "arrays"
    assert str(entry).startswith(str(d.parent / "xdg"))  # $XDG_CACHE_HOME is respected
    assert all("cache" not in cold[4][s] for s in STEMS)
    hot = fm.load(data_dir=d, allow_download=False)
    _assert_same(cold, hot)
    np.testing.assert_array_equal(hot[0][..., 0], arrays["train-images-idx3-ubyte"])
    for s in STEMS:
        assert hot[4][s] == {**cold[4][s], "cache": str(entry)}


def test_cache_hit_skips_the_files(small_verified, monkeypatch):
    d, _, _ = small_verified
    cold = fm.load(data_dir=d, allow_download=False)

    def no_read(*a, **k):
        raise AssertionError("a cache hit must not decompress the files")

    monkeypatch.setattr(fm, "read_bytes", no_read)
    _assert_same(cold, fm.load(data_dir=d, allow_download=False))


def _truncate(p):
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def _garbage(p):
    p.write_bytes(b"not an npz at all" * 100)


def _zip_garbage(p):
    p.write_bytes(b"PK\x03\x04" + bytes(200))


def _wrong_shapes(p):
    np.savez(p, train_x=np.zeros((2, 3, 3, 1), np.uint8), train_y=np.zeros(2, np.int64),
             test_x=np.zeros((4, 3, 3, 1), np.uint8), test_y=np.zeros(4, np.int64), source=np.array("{}"))


def _wrong_dtype(p):
    with np.load(p) as f:
        parts = dict(f)
    parts["train_y"] = parts["train_y"].astype(np.int32)
    np.savez(p, **parts)


def _missing_key(p):
    with np.load(p) as f:
        parts = dict(f)
    del parts["test_y"]
    np.savez(p, **parts)


def _bad_source(p):
    with np.load(p) as f:
        parts = dict(f)
    parts["source"] = np.array('{"a": 1}')
    np.savez(p, **parts)


@pytest.mark.parametrize("damage", [_truncate, _garbage, _zip_garbage, _wrong_shapes, _wrong_dtype,
                                    _missing_key, _bad_source, lambda p: p.write_bytes(b"")])
def test_corrupt_cache_is_ignored_and_rebuilt(small_verified, monkeypatch, damage):
    d, _, paths = small_verified
    cold = fm.load(data_dir=d, allow_download=False)
    entry = _entry(d)
    damage(entry)
    reads = []
    real_read = fm.read_bytes
    monkeypatch.setattr(fm, "read_bytes", lambda p: reads.append(p) or real_read(p))
    again = fm.load(data_dir=d, allow_download=False)
    assert sorted(reads) == sorted(paths.values())  # read (and verified) from the files again
    _assert_same(cold, again)
    assert again[4] == cold[4]
    reads.clear()
    third = fm.load(data_dir=d, allow_download=False)  # the entry was rewritten
    assert reads == [] and all("cache" in third[4][s] for s in STEMS)
    _assert_same(cold, third)


def test_rewritten_source_gets_a_new_entry(small_verified, monkeypatch):
    # another content at the same path, size and mtime: a different entry (ctime and the
    # gzip trailer's CRC moved), so the new content is read and verified, never the old arrays
    d, arrays, paths = small_verified
    fm.load(data_dir=d, allow_download=False)
    first = _entry(d)
    stem = "train-images-idx3-ubyte"
    st = paths[stem].stat()
    bad = arrays[stem].copy()
    bad[0, 0, 0] ^= 1
    _write_small(d, {stem: bad})
    os.utime(paths[stem], ns=(st.st_atime_ns, st.st_mtime_ns))
    assert paths[stem].stat().st_size == st.st_size and paths[stem].stat().st_mtime_ns == st.st_mtime_ns
    assert _entry(d) != first
    with pytest.raises(DataError, match="checksum mismatch"):  # the table's sum is the old file's
        fm.load(data_dir=d, allow_download=False)


def test_entry_depends_on_parameters_and_files(small_verified, isolated):
    d, arrays, _ = small_verified
    assert _entry(d) == _entry(d)
    assert len({_entry(d), _entry(d, verify=False), _entry(d, image_size=8)}) == 3
    other = isolated / "other"
    _write_small(other, arrays)  # identical bytes, another place
    assert _entry(other) != _entry(d)


def test_unverified_entry_is_not_a_verified_one(isolated, monkeypatch):
    d = isolated / "data"
    _write_small(d, _small_arrays())
    monkeypatch.setattr(fm, "FILES", {s: ("0" * 32, "0" * 32, SMALL[s]) for s in STEMS})
    loose = fm.load(data_dir=d, allow_download=False, verify=False)
    assert all(loose[4][s]["check"].startswith("unverified") for s in STEMS)
    assert fm.load(data_dir=d, allow_download=False, verify=False)[4][STEMS[0]]["cache"]
    with pytest.raises(DataError, match="checksum mismatch"):
        fm.load(data_dir=d, allow_download=False, verify=True)


def test_unwritable_cache_never_breaks_a_load(small_verified, monkeypatch, isolated):
    d, _, _ = small_verified
    blocker = isolated / "xdg-is-a-file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # mkdir under it fails
    first = fm.load(data_dir=d, allow_download=False)
    second = fm.load(data_dir=d, allow_download=False)
    _assert_same(first, second)
    assert all("cache" not in second[4][s] for s in STEMS)
    assert list(isolated.glob("xdg-is-a-file*")) == [blocker]  # no temporary files left


def test_data_check_cold_and_cached(tmp_path, monkeypatch, capsys):
    if not all((REAL_DIR / (s + ".gz")).is_file() for s in STEMS):
        pytest.skip(f"Fashion-MNIST not installed at {REAL_DIR}")
    from bench.cli import main

    monkeypatch.delenv("BENCH_DATA_DIR", raising=False)
    monkeypatch.setenv("BENCH_OFFLINE", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    reports = []
    for _ in range(2):
        assert main(["data", "check", "fashion_mnist"]) == 0
        reports.append(json.loads(capsys.readouterr().out))
    cold, hot = reports
    assert cold["train"]["labels"] == [6000] * 10 and cold["test"]["images"] == [10000, 28, 28, 1]
    assert all(f["check"].startswith("md5") and "cache" not in f for f in cold["files"].values())
    assert all(f["check"].startswith("md5") and f["cache"].startswith(str(tmp_path)) for f in hot["files"].values())
    strip = {k: v for k, v in hot.items() if k != "files"}
    assert strip == {k: v for k, v in cold.items() if k != "files"}


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


# -- augmentation -------------------------------------------------------------------------


def _aug(**kw):
    return validate_model(AugmentSpec, kw)


def test_draw_none_when_disabled():
    assert augment.draw(_aug(), 0, 0, 8) is None
    x = np.ones((2, 3, 3, 1), np.uint8)
    assert augment.apply_numpy(x, None) is x


def test_draw_pure_function():
    aug = _aug(flip=True, shift=3, rotate=15.0)
    a = augment.draw(aug, 7, 42, 64)
    b = augment.draw(aug, 7, 42, 64)
    for k in ("flip", "dx", "dy", "angle"):
        np.testing.assert_array_equal(getattr(a, k), getattr(b, k))
        assert len(getattr(a, k)) == 64
    c = augment.draw(aug, 7, 43, 64)
    d = augment.draw(aug, 8, 42, 64)
    assert not np.array_equal(a.dx, c.dx) or not np.array_equal(a.flip, c.flip)
    assert not np.array_equal(a.angle, c.angle)
    assert not np.array_equal(a.angle, d.angle)


def test_draw_ranges():
    aug = _aug(flip=True, shift=2, rotate=10.0)
    d = augment.draw(aug, 1, 0, 4000)
    assert d.dx.min() >= -2 and d.dx.max() <= 2 and d.dy.min() >= -2 and d.dy.max() <= 2
    assert set(np.unique(d.dx)) == {-2, -1, 0, 1, 2}  # endpoints included
    assert set(np.unique(d.dy)) == {-2, -1, 0, 1, 2}
    assert np.issubdtype(d.dx.dtype, np.integer)
    assert d.flip.dtype == bool and 0.4 < d.flip.mean() < 0.6
    assert np.all(np.abs(d.angle) <= 10.0) and d.angle.min() < -9 and d.angle.max() > 9


def test_draw_only_requested():
    d = augment.draw(_aug(shift=1), 0, 0, 5)
    assert d.flip is None and d.angle is None and d.dx is not None
    d = augment.draw(_aug(flip=True), 0, 0, 5)
    assert d.dx is None and d.dy is None and d.angle is None and d.flip is not None


def _img(n=2, h=4, w=5):
    return (np.arange(n * h * w, dtype=np.uint8) + 1).reshape(n, h, w, 1)


def test_apply_shift_right():
    x = _img()
    d = augment.Draws(flip=None, dx=np.array([1, 1]), dy=np.array([0, 0]), angle=None)
    out = augment.apply_numpy(x, d)
    assert out.shape == x.shape and out.dtype == np.uint8
    assert np.all(out[:, :, 0] == 0)
    np.testing.assert_array_equal(out[:, :, 1:], x[:, :, :-1])


def test_apply_shift_left_up_down():
    x = _img(1)
    d = augment.Draws(flip=None, dx=np.array([-2]), dy=np.array([1]), angle=None)
    out = augment.apply_numpy(x, d)
    assert np.all(out[:, 0] == 0) and np.all(out[:, :, -2:] == 0)
    np.testing.assert_array_equal(out[:, 1:, :-2], x[:, :-1, 2:])
    d = augment.Draws(flip=None, dx=np.array([0]), dy=np.array([-1]), angle=None)
    out = augment.apply_numpy(x, d)
    assert np.all(out[:, -1] == 0)
    np.testing.assert_array_equal(out[:, :-1], x[:, 1:])


def test_apply_shift_whole_image_out():
    x = _img(1)
    d = augment.Draws(flip=None, dx=np.array([5]), dy=np.array([0]), angle=None)
    assert np.all(augment.apply_numpy(x, d) == 0)


def test_apply_flip():
    x = _img()
    d = augment.Draws(flip=np.array([True, False]), dx=None, dy=None, angle=None)
    out = augment.apply_numpy(x, d)
    np.testing.assert_array_equal(out[0], x[0, :, ::-1])
    np.testing.assert_array_equal(out[1], x[1])
    assert out is not x
    np.testing.assert_array_equal(x, _img())  # input untouched


def test_apply_shift_then_flip():
    x = _img(1)
    d = augment.Draws(flip=np.array([True]), dx=np.array([1]), dy=np.array([0]), angle=None)
    out = augment.apply_numpy(x, d)
    # shift right then mirror: the zero column ends up on the right
    assert np.all(out[0, :, -1] == 0)
    np.testing.assert_array_equal(out[0, :, :-1], x[0, :, :-1][:, ::-1])


def test_apply_multichannel():
    x = np.stack([_img()[..., 0], 255 - _img()[..., 0]], axis=-1)
    d = augment.Draws(flip=np.array([False, True]), dx=np.array([1, 0]), dy=np.array([0, 0]), angle=None)
    out = augment.apply_numpy(x, d)
    np.testing.assert_array_equal(out[0, :, 1:], x[0, :, :-1])
    np.testing.assert_array_equal(out[1], x[1, :, ::-1])
