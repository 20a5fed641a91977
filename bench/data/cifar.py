"""CIFAR-10 and CIFAR-100 (Krizhevsky 2009), from the official python archives or their folders.

``cifar-10-python.tar.gz``: ``cifar-10-batches-py/data_batch_1..5``, ``test_batch``,
``batches.meta``; ``cifar-100-python.tar.gz``: ``cifar-100-python/train``, ``test``,
``meta``. Each batch is a (Python 2) pickle of a dict with ``data`` (N x 3072 uint8,
channel-major 32x32) and ``labels`` / ``fine_labels``. Pickles are read with a
restricted unpickler (bench/data/archive.py). Checksums: the archive's MD5; for an
extracted folder, each file's MD5 (the values torchvision lists).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.data import sources
from bench.data.archive import open_tar, read_tar_member, safe_unpickle
from bench.errors import DataError

FILES = {
    "cifar10": {
        "train": [("data_batch_1", "c99cafc152244af753f735de768cd75f"), ("data_batch_2", "d4bba439e000b95fd0a9bffe97cbabec"),
                  ("data_batch_3", "54ebc095f3ab1f0389bbae665268c751"), ("data_batch_4", "634d18415352ddfa80567beed471001a"),
                  ("data_batch_5", "482c414d41f54cd18b22e5b47cb7c3cb")],
        "test": [("test_batch", "40351d587109b95175f43aff81a1287e")],
        "meta": ("batches.meta", "5ff9c542aee3614f3951f8cda6e48888"),
        "labels": b"labels", "names": b"label_names",
    },
    "cifar100": {
        "train": [("train", "16019d7e3df5f24257cddd939b257f8d")],
        "test": [("test", "f0ef6b0ae62326f3e7ffdfab6717acfc")],
        "meta": ("meta", "7973b15100ade9c7d40fb424638fde48"),
        "labels": b"fine_labels", "names": b"fine_label_names",
    },
}


def _folder_ok(name):
    files = FILES[name]

    def ok(d: Path) -> bool:
        return all((d / f).is_file() for f, _ in files["train"] + files["test"])

    return ok


def _batch(obj, name: str, source: str):
    f = FILES[name]
    if not isinstance(obj, dict) or b"data" not in obj or f["labels"] not in obj:
        raise DataError(f"{source}: not a {name} batch (expected a dict with data and {f['labels'].decode()})")
    data = np.asarray(obj[b"data"], dtype=np.uint8)
    labels = np.asarray(obj[f["labels"]], dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise DataError(f"{source}: data of shape {data.shape} with {len(labels)} labels; expected (N, 3072) and N")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels  # NCHW rows -> NHWC


def _read(name: str, kind: str, path: Path, verify: bool):
    files = FILES[name]
    want = [f for f, _ in files["train"] + files["test"]] + [files["meta"][0]]
    blobs, checks = {}, {}
    if kind == "archive":
        checks.update(sources.verify_archive(name, path, verify))
        with open_tar(path) as tar:
            by_name = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}
            for f in want:
                if f not in by_name:
                    if f == files["meta"][0]:
                        continue
                    raise DataError(f"{path}: member {f} missing; not a complete {name} archive")
                blobs[f] = read_tar_member(tar, by_name[f], path)
    else:
        expected = dict(files["train"] + files["test"] + [files["meta"]])
        for f in want:
            p = path / f
            if not p.is_file():
                continue
            blobs[f] = p.read_bytes()
            got = __import__("hashlib").md5(blobs[f]).hexdigest()
            if verify and got != expected[f]:
                raise DataError(f"checksum mismatch for {p}: MD5 {got}, official {expected[f]}; "
                                "set dataset.verify: false (--no-verify) to read it anyway")
            checks[f] = ("md5 ok " if got == expected[f] else "unverified md5 ") + got
    return blobs, checks


def load(name: str, data_dir=None, allow_download: bool = True, verify: bool = True, image_size=None):
    kind, path = sources.locate(name, data_dir, allow_download, folder_ok=_folder_ok(name))
    params = {"verify": verify, "image_size": image_size}
    cached = sources.load_cached(sources.cache_path(name, path, params))
    if cached is not None:
        return cached
    blobs, checks = _read(name, kind, path, verify)
    files = FILES[name]
    parts = {}
    for split in ("train", "test"):
        xs, ys = [], []
        for f, _ in files[split]:
            x, y = _batch(safe_unpickle(blobs[f], f"{path}:{f}"), name, f"{path}:{f}")
            xs.append(x)
            ys.append(y)
        parts[split] = (np.ascontiguousarray(np.concatenate(xs)), np.concatenate(ys))
    class_names = None
    if files["meta"][0] in blobs:
        meta = safe_unpickle(blobs[files["meta"][0]], f"{path}:{files['meta'][0]}")
        if isinstance(meta, dict) and files["names"] in meta:
            class_names = [n.decode() if isinstance(n, bytes) else str(n) for n in meta[files["names"]]]
    if image_size is not None and image_size != 32:
        from bench.data.archive import resize_batch

        parts = {k: (resize_batch(x, image_size), y) for k, (x, y) in parts.items()}
    source = {"kind": kind, "path": str(path), "checks": checks, "class_names": class_names}
    sources.save_cached(sources.cache_path(name, path, params), *parts["train"], *parts["test"], source)
    return (*parts["train"], *parts["test"], source)
