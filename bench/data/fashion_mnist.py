"""Fashion-MNIST (Xiao, Rasul & Vollgraf 2017): 60,000 + 10,000 28x28 grey images, 10 classes.

Read from the official IDX files. Where they are looked for, in order: the spec's
``dataset.data_dir`` (or ``--data-dir``; refused if it does not exist), ``$BENCH_DATA_DIR/fashion-mnist``, the Debian
package ``dataset-fashion-mnist`` (/usr/share/datasets/fashion-mnist), and the download
cache ``~/.cache/lr-policy-bench/fashion-mnist``. If none has them and a network exists,
they are downloaded into the cache; offline, the error names every path tried.

Checksums: the MD5 sums the dataset's README publishes for the ``.gz`` files. The
Debian package ships the same deflate streams re-wrapped without the gzip header's file
name (24 bytes shorter, the same CRC), so its ``.gz`` MD5s differ; a file whose archive
MD5 is not the published one is accepted only if its *decompressed* content has the
published content MD5 (the sums torchvision and others list for the raw files).

Cache: the decoded arrays of a verified (or, with ``verify=False``, unverified) read
are kept as an ``.npz`` in ``$XDG_CACHE_HOME/lr-policy-bench/arrays/`` (default
``~/.cache``), so a second load is a ``numpy.load`` instead of decompressing and
checking 30 MB of gzip. The key is each source file's identity (resolved path, size,
mtime, ctime, inode and, for a ``.gz``, its trailer: the CRC-32 and length of the
decompressed content), the published sums and the reader's parameters: another file,
or the same file rewritten (which moves its ctime), gets another entry. A damaged,
unreadable or unwritable cache is ignored and the files are read (and verified) again.
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.request
from pathlib import Path

import numpy as np

from bench.data import sources
from bench.data.idx import parse_idx, read_bytes
from bench.errors import DataError

NAME = "fashion_mnist"
CLASS_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
INSTALL_HINT = "sudo apt-get install dataset-fashion-mnist   (Debian/Ubuntu; offline-capable)"

# file stem -> (MD5 of the official .gz, MD5 of the decompressed IDX file, shape)
FILES = {
    "train-images-idx3-ubyte": ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "f4a8712d7a061bf5bd6d2ca38dc4d50a", (60000, 28, 28)),
    "train-labels-idx1-ubyte": ("25c81989df183df01b3e8a0aad5dffbe", "9018921c3c673c538a1fc5bad174d6f9", (60000,)),
    "t10k-images-idx3-ubyte": ("bef4ecab320f06d8554ea6380940ec79", "8181f5470baa50b63fa0f6fddb340f0a", (10000, 28, 28)),
    "t10k-labels-idx1-ubyte": ("bb300cfdad3c16e7a12a480ee83cd310", "15d484375f8d13e6eb1aabb0c3f46965", (10000,)),
}


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "lr-policy-bench" / "fashion-mnist"


def candidate_dirs(data_dir: str | os.PathLike | None) -> list[Path]:
    dirs: list[Path] = []
    if data_dir:
        d = Path(data_dir).expanduser()
        dirs += [d, d / "fashion-mnist", d / "fashion_mnist"]
    env = os.environ.get("BENCH_DATA_DIR")
    if env:
        dirs += [Path(env) / "fashion-mnist", Path(env) / "fashion_mnist"]
    dirs += [DEBIAN_DIR, cache_dir()]
    return list(dict.fromkeys(dirs))


def _find(stem: str, dirs: list[Path]) -> Path | None:
    for d in dirs:
        for name in (stem + ".gz", stem):
            if (d / name).is_file():
                return d / name
    return None


def _verify(path: Path, stem: str, content: bytes, strict: bool = True) -> str:
    """Check ``path`` against the published sums; return how it was verified."""
    gz_md5, raw_md5, _ = FILES[stem]
    if path.suffix == ".gz":
        got = hashlib.md5(path.read_bytes()).hexdigest()
        if got == gz_md5:
            return f"md5(gz)={got}"
    got_raw = hashlib.md5(content).hexdigest()
    if got_raw == raw_md5:
        return f"md5(idx)={got_raw}"
    if not strict:
        return f"unverified md5(idx)={got_raw}"
    raise DataError(
        f"checksum mismatch for {path}: content MD5 {got_raw}, expected {raw_md5} "
        f"(archive MD5 {gz_md5}); the file is not the official Fashion-MNIST. "
        "Delete it and reinstall: " + INSTALL_HINT
    )


def download(dest: Path, timeout: float = 20.0) -> None:
    """Fetch the four official files into ``dest`` (with a progress bar)."""
    from tqdm import tqdm

    dest.mkdir(parents=True, exist_ok=True)
    for stem in FILES:
        target = dest / (stem + ".gz")
        if target.exists():
            continue
        tmp = target.with_suffix(".gz.part")
        with urllib.request.urlopen(URL + stem + ".gz", timeout=timeout) as r, open(tmp, "wb") as f:
            total = int(r.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=stem, disable=None) as bar:
                while chunk := r.read(1 << 16):
                    f.write(chunk)
                    bar.update(len(chunk))
        os.replace(tmp, target)


def locate(data_dir: str | os.PathLike | None = None, allow_download: bool = True) -> dict[str, Path]:
    """The path of each of the four files, downloading them if needed and possible. A
    ``data_dir`` that does not exist is refused (:class:`DataError`), not passed over."""
    sources.given_dir(data_dir)
    dirs = candidate_dirs(data_dir)
    found = {stem: _find(stem, dirs) for stem in FILES}
    if all(found.values()):
        return found  # type: ignore[return-value]
    download_error = None
    if allow_download and os.environ.get("BENCH_OFFLINE") != "1":
        try:
            download(cache_dir())
            found = {stem: _find(stem, dirs) for stem in FILES}
            if all(found.values()):
                return found  # type: ignore[return-value]
        except OSError as e:  # URLError is an OSError
            download_error = f"{type(e).__name__}: {e}"
    missing = [s for s, p in found.items() if p is None]
    tried = "\n".join(f"  {d}" for d in dirs)
    msg = (
        f"Fashion-MNIST not found: missing {', '.join(m + '[.gz]' for m in missing)}.\n"
        f"Looked in:\n{tried}\n"
        f"Get it with: {INSTALL_HINT}\n"
        f"or download the four .gz files from {URL} into a folder and pass it as "
        "dataset.data_dir (or --data-dir, or $BENCH_DATA_DIR/fashion-mnist)."
    )
    if download_error:
        msg += f"\nDownload attempt failed: {download_error}"
    raise DataError(msg)


CACHE_FORMAT = 1  # bump when what load() returns changes


def _identity(path: Path) -> dict:
    """What says a source file is unchanged without reading it (the cache key's file part).

    ctime moves on every write and cannot be set back by a user, so a rewritten file never
    matches; for a ``.gz`` the last 8 bytes (CRC-32 and size of the decompressed content)
    are part of the key as well."""
    st = path.stat()
    ident = {"path": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns,
             "ctime_ns": st.st_ctime_ns, "inode": st.st_ino, "dev": st.st_dev}
    if path.suffix == ".gz" and st.st_size >= 8:
        with open(path, "rb") as f:
            f.seek(-8, os.SEEK_END)
            ident["gz_trailer"] = f.read(8).hex()
    return ident


def array_cache_path(paths: dict[str, Path], verify: bool, image_size: int | None) -> Path | None:
    """The cache entry for these four files and parameters; None if a file cannot be stat'ed."""
    try:
        files = {stem: _identity(Path(p)) for stem, p in sorted(paths.items())}
    except OSError:
        return None
    key = {"format": CACHE_FORMAT, "files": files, "sums": {k: [v[0], v[1], list(v[2])] for k, v in FILES.items()},
           "verify": bool(verify), "image_size": image_size}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return sources.cache_root() / "arrays" / f"{NAME}-{digest}.npz"


def _expected_shapes(image_size: int | None) -> tuple[tuple[int, ...], ...]:
    n_train, *hw = FILES["train-images-idx3-ubyte"][2]
    n_test = FILES["t10k-images-idx3-ubyte"][2][0]
    if image_size is not None and image_size != 28:
        hw = [image_size, image_size]
    return (n_train, *hw, 1), (n_train,), (n_test, *hw, 1), (n_test,)


def _load_cached(p: Path | None, image_size: int | None):
    """The cached arrays, or None (absent, damaged, or not the shapes and dtypes a read gives)."""
    if p is None:
        return None
    try:
        got = sources.load_cached(p)
        if got is None:
            return None
        *arrays, source = got
        dtypes = (np.uint8, np.int64, np.uint8, np.int64)
        if any(a.shape != s or a.dtype != d for a, s, d in zip(arrays, _expected_shapes(image_size), dtypes, strict=True)):
            return None
        # the source stays one record per file (path, how it was verified when the entry was
        # written), each saying where its decoded array came from
        hit = source.pop("cache", {})
        if set(source) != set(FILES):
            return None
        for stem in FILES:
            source[stem]["cache"] = hit.get("path", str(p))
        return (*arrays, source)
    except Exception:  # a cache is never a reason for a load to fail: read the files instead
        return None


def load(data_dir: str | os.PathLike | None = None, allow_download: bool = True, verify: bool = True,
         image_size: int | None = None):
    """Read and verify the four files. Returns ``(train_x, train_y, test_x, test_y, source)``.

    Images are uint8 NHWC (N, 28, 28, 1); labels int64. A second load of the same files
    with the same parameters comes from the array cache (then each file's record in
    ``source`` has a ``"cache"`` entry: the ``.npz`` it came from).
    """
    paths = locate(data_dir, allow_download)
    cache = array_cache_path(paths, verify, image_size)
    cached = _load_cached(cache, image_size)
    if cached is not None:
        return cached
    arrays, source = {}, {}
    for stem, path in paths.items():
        content = read_bytes(path)
        source[stem] = {"path": str(path), "check": _verify(path, stem, content, strict=verify)}
        arr = parse_idx(content, str(path))
        shape = FILES[stem][2]
        if arr.shape != shape:
            raise DataError(f"{path}: shape {arr.shape}, expected {shape}")
        arrays[stem] = arr
    train_x = arrays["train-images-idx3-ubyte"][..., None]
    test_x = arrays["t10k-images-idx3-ubyte"][..., None]
    train_y = arrays["train-labels-idx1-ubyte"].astype(np.int64)
    test_y = arrays["t10k-labels-idx1-ubyte"].astype(np.int64)
    if image_size is not None and image_size != 28:
        from bench.data.archive import resize_batch

        train_x, test_x = resize_batch(train_x, image_size), resize_batch(test_x, image_size)
    if cache is not None:
        sources.save_cached(cache, train_x, train_y, test_x, test_y, source)
    return train_x, train_y, test_x, test_y, source
