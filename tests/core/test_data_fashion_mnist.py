"""Fashion-MNIST (bench/data/fashion_mnist.py): where it is looked for, how it is verified, the
real installed files, and the decoded-array cache."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest

from bench.data import fashion_mnist as fm
from bench.errors import DataError

STEMS = list(fm.FILES)
REAL_DIR = Path("/usr/share/datasets/fashion-mnist")




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
    (tmp / "given").mkdir()  # a data_dir that does not exist is refused before any looking
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
