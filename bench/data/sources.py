"""Where each dataset's files are, what they are called, their checksums; lookup, download, cache.

| dataset | file | official URL | MD5 |
|---|---|---|---|
| fashion_mnist | 4 IDX .gz files | http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/ | see fashion_mnist.py |
| cifar10 | cifar-10-python.tar.gz (or cifar-10-batches-py/) | https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz | c58f30108f718f92721af3b95e74349a |
| cifar100 | cifar-100-python.tar.gz (or cifar-100-python/) | https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz | eb9058c3a382ffc7106e4002c42a8d85 |
| oxflower17 | 17flowers.tgz (or jpg/, or a folder per class) | https://www.robots.ox.ac.uk/~vgg/data/flowers/17/17flowers.tgz | b59a65d8d1a99cd66944d474e1289eab |
| tiny_imagenet | tiny-imagenet-200.zip (or tiny-imagenet-200/) | http://cs231n.stanford.edu/tiny-imagenet-200.zip | 90528d7ca1a48142e341f4ef8d21d0de |

Looked for, in order: the spec's ``dataset.data_dir`` (or ``--data-dir``; a folder that
does not exist is refused, never passed over) and its ``<name>/`` subfolder, ``$BENCH_DATA_DIR`` and ``$BENCH_DATA_DIR/<name>``, and the
download cache ``~/.cache/lr-policy-bench/<name>``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import urllib.request
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.errors import DataError


@dataclass(frozen=True)
class Source:
    name: str
    archive: str
    md5: str
    url: str
    folder: str  # the folder the archive extracts to (also accepted in place of the archive)


SOURCES = {
    "cifar10": Source("cifar10", "cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a",
                      "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", "cifar-10-batches-py"),
    "cifar100": Source("cifar100", "cifar-100-python.tar.gz", "eb9058c3a382ffc7106e4002c42a8d85",
                       "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz", "cifar-100-python"),
    "oxflower17": Source("oxflower17", "17flowers.tgz", "b59a65d8d1a99cd66944d474e1289eab",
                         "https://www.robots.ox.ac.uk/~vgg/data/flowers/17/17flowers.tgz", "jpg"),
    "tiny_imagenet": Source("tiny_imagenet", "tiny-imagenet-200.zip", "90528d7ca1a48142e341f4ef8d21d0de",
                            "http://cs231n.stanford.edu/tiny-imagenet-200.zip", "tiny-imagenet-200"),
}


def cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "lr-policy-bench"


def given_dir(data_dir) -> Path | None:
    """The folder a spec's ``dataset.data_dir`` (or ``--data-dir``) names, expanded; a
    :class:`DataError` when it names none (a typo would otherwise be passed over, and the
    data read from another place without a word)."""
    if not data_dir:
        return None
    d = Path(data_dir).expanduser()
    if not d.exists():
        raise DataError(f"dataset.data_dir: received {data_dir}; it does not exist. Give the folder that holds "
                        "the dataset's files, or leave dataset.data_dir (--data-dir) out to look in "
                        "$BENCH_DATA_DIR and the cache")
    if not d.is_dir():
        raise DataError(f"dataset.data_dir: received {data_dir}; it is not a folder. Give the folder that holds "
                        "the dataset's files")
    return d


def candidate_dirs(name: str, data_dir) -> list[Path]:
    dirs: list[Path] = []
    if data_dir:
        d = Path(data_dir).expanduser()
        dirs += [d, d / name]
    env = os.environ.get("BENCH_DATA_DIR")
    if env:
        dirs += [Path(env), Path(env) / name]
    dirs.append(cache_root() / name)
    return list(dict.fromkeys(dirs))


def download_file(url: str, target: Path, timeout: float = 30.0) -> None:
    """Fetch ``url`` into ``target`` with a progress bar (via a .part file)."""
    from tqdm import tqdm

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".part")
    with urllib.request.urlopen(url, timeout=timeout) as r, open(tmp, "wb") as f:
        total = int(r.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, desc=target.name, disable=None) as bar:
            while chunk := r.read(1 << 16):
                f.write(chunk)
                bar.update(len(chunk))
    os.replace(tmp, target)


def locate(name: str, data_dir=None, allow_download: bool = True, folder_ok=None) -> tuple[str, Path]:
    """``("archive", path)`` or ``("folder", path)``; downloads the archive if needed and possible.

    ``folder_ok(path) -> bool`` says whether a folder holds the extracted dataset.
    """
    src = SOURCES[name]
    given_dir(data_dir)
    dirs = candidate_dirs(name, data_dir)
    for d in dirs:
        if (d / src.archive).is_file():
            return "archive", d / src.archive
        for cand in (d / src.folder, d):
            if folder_ok and cand.is_dir() and folder_ok(cand):
                return "folder", cand
    error = None
    if allow_download and os.environ.get("BENCH_OFFLINE") != "1":
        target = cache_root() / name / src.archive
        try:
            download_file(src.url, target)
            return "archive", target
        except OSError as e:
            error = f"{type(e).__name__}: {e}"
    tried = "\n".join(f"  {d / src.archive}  or  {d / src.folder}/" for d in dirs)
    msg = (f"{name} not found. Looked for {src.archive} (or its extracted folder {src.folder}/) in:\n{tried}\n"
           f"Get it from {src.url} (MD5 {src.md5}) and put it in one of those folders, or pass its folder as "
           "dataset.data_dir (--data-dir) or $BENCH_DATA_DIR.")
    if error:
        msg += f"\nDownload attempt failed: {error}"
    raise DataError(msg)


def fingerprint(path: Path) -> str:
    """Cheap identity of a file or folder (paths, sizes, mtimes): the cache key's source part."""
    h = hashlib.sha256()
    if path.is_file():
        st = path.stat()
        h.update(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    else:
        for p in sorted(path.rglob("*")):
            if p.is_file():
                st = p.stat()
                h.update(f"{p.relative_to(path)}|{st.st_size}|{st.st_mtime_ns}\n".encode())
        h.update(str(path.resolve()).encode())
    return h.hexdigest()[:16]


def cache_path(name: str, path: Path, params: dict) -> Path:
    key = hashlib.sha256((fingerprint(path) + json.dumps(params, sort_keys=True)).encode()).hexdigest()[:16]
    return cache_root() / "arrays" / f"{name}-{key}.npz"


def load_cached(p: Path):
    if not p.is_file():
        return None
    try:
        with np.load(p, allow_pickle=False) as f:
            source = json.loads(str(f["source"]))
            source["cache"] = {"path": str(p), "hit": True}
            return f["train_x"], f["train_y"], f["test_x"], f["test_y"], source
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None  # a damaged cache entry is rebuilt


def save_cached(p: Path, train_x, train_y, test_x, test_y, source: dict) -> bool:
    """Write the entry atomically (a per-process temporary file, then a rename, so concurrent
    loads never see half an entry); best effort: a cache that cannot be written (read-only,
    full disk) is skipped, never a reason for the load to fail. True if written."""
    tmp = p.with_name(f"{p.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp.npz")
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        np.savez(tmp, train_x=train_x, train_y=train_y, test_x=test_x, test_y=test_y,
                 source=np.array(json.dumps(source)))
        os.replace(tmp, p)
        return True
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        return False


def verify_archive(name: str, path: Path, verify: bool) -> dict:
    """Check an archive against the official MD5; returns the check record for the source."""
    from bench.data.archive import md5_file

    got, official = md5_file(path), SOURCES[name].md5
    if verify and got != official:
        raise DataError(f"checksum mismatch for {path}: MD5 {got}, the official archive's is {official}. "
                        "Re-download it, or set dataset.verify: false (--no-verify) to read it anyway")
    return {path.name: ("md5 ok " if got == official else "unverified md5 ") + got}
