"""TinyImageNet (cs231n): 200 classes x 500 training images, 64x64; the labelled validation
split (50 per class) serves as the test set.

``tiny-imagenet-200.zip`` or its folder: ``wnids.txt`` (class order), ``words.txt``
(names), ``train/<wnid>/images/*.JPEG``, ``val/images/*.JPEG`` with
``val/val_annotations.txt`` (file, wnid, box). Some JPEGs are greyscale: all are
converted to RGB.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import numpy as np

from bench.data import sources
from bench.data.archive import decode_image, open_zip, read_zip_member
from bench.errors import DataError

ROOT = "tiny-imagenet-200"


def _folder_ok(d: Path) -> bool:
    return (d / "wnids.txt").is_file() and (d / "train").is_dir()


class _Zip:
    def __init__(self, path: Path):
        self.path, self.z = path, open_zip(path)
        names = self.z.namelist()
        wn = [n for n in names if PurePosixPath(n).name == "wnids.txt"]
        if not wn:
            raise DataError(f"{path}: no wnids.txt; not a TinyImageNet archive")
        self.prefix = str(PurePosixPath(wn[0]).parent)
        self.prefix = "" if self.prefix == "." else self.prefix + "/"
        self.names = names

    def read(self, rel: str) -> bytes:
        return read_zip_member(self.z, self.prefix + rel, self.path)

    def list(self, folder: str):
        p = self.prefix + folder
        return sorted(n[len(self.prefix):] for n in self.names if n.startswith(p) and not n.endswith("/"))


class _Dir:
    def __init__(self, path: Path):
        self.path = path

    def read(self, rel: str) -> bytes:
        p = self.path / rel
        try:
            return p.read_bytes()
        except OSError as e:
            raise DataError(f"cannot read {p}: {e.strerror or e}") from None

    def list(self, folder: str):
        base = self.path / folder
        return sorted(str(p.relative_to(self.path)).replace("\\", "/") for p in base.rglob("*") if p.is_file())


def load(data_dir=None, allow_download: bool = True, verify: bool = True, image_size=None):
    kind, path = sources.locate("tiny_imagenet", data_dir, allow_download, folder_ok=_folder_ok)
    params = {"verify": verify, "image_size": image_size}
    cached = sources.load_cached(sources.cache_path("tiny_imagenet", path, params))
    if cached is not None:
        return cached
    if kind == "archive":
        checks = sources.verify_archive("tiny_imagenet", path, verify)
        src = _Zip(path)
    else:
        checks = {"folder": "no published per-file checksums: unverified"}
        src = _Dir(path)
    wnids = [w.strip() for w in src.read("wnids.txt").decode().splitlines() if w.strip()]
    index = {w: i for i, w in enumerate(wnids)}
    try:
        words = dict(line.split("\t", 1) for line in src.read("words.txt").decode().splitlines() if "\t" in line)
    except DataError:
        words = {}
    class_names = [words.get(w, w).split(",")[0].strip() for w in wnids]
    xs, ys = [], []
    for rel in src.list("train/"):
        parts = PurePosixPath(rel).parts
        if len(parts) >= 4 and parts[2] == "images" and parts[1] in index and rel.lower().endswith((".jpeg", ".jpg")):
            xs.append(decode_image(src.read(rel), f"{path}:{rel}", image_size))
            ys.append(index[parts[1]])
    ann = src.read("val/val_annotations.txt").decode().splitlines()
    tx, ty = [], []
    for line in ann:
        cols = line.split("\t")
        if len(cols) < 2:
            continue
        if cols[1] not in index:
            raise DataError(f"{path}: val_annotations.txt names class {cols[1]!r}, which wnids.txt does not list")
        tx.append(decode_image(src.read(f"val/images/{cols[0]}"), f"{path}:val/images/{cols[0]}", image_size))
        ty.append(index[cols[1]])
    if not xs or not tx:
        raise DataError(f"{path}: found {len(xs)} training and {len(tx)} validation images; not TinyImageNet")
    out = (np.stack(xs), np.asarray(ys, np.int64), np.stack(tx), np.asarray(ty, np.int64))
    source = {"kind": kind, "path": str(path), "checks": checks, "class_names": class_names, "wnids": wnids}
    sources.save_cached(sources.cache_path("tiny_imagenet", path, params), *out, source)
    return (*out, source)
