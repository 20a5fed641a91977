"""Oxford Flowers 17 (Nilsback & Zisserman 2006): 17 classes x 80 images, resized (224x224 default).

The official ``17flowers.tgz`` holds ``jpg/image_0001.jpg`` .. ``image_1360.jpg``, 80
consecutive images per class in the order of :data:`CLASS_NAMES` (so image i is class
``(i - 1) // 80``); its extracted ``jpg/`` folder and a folder-per-class layout
(``<root>/<class>/*.jpg``, classes in sorted order) are read too. As in the report, the
train/test split is a seeded, stratified random 80/20 split of each class (64/16 of
the official 80), drawn with ``dataset.split_seed``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from bench.data import sources
from bench.data.archive import decode_image, open_tar, read_tar_member
from bench.errors import DataError

CLASS_NAMES = ("Daffodil", "Snowdrop", "Lily Valley", "Bluebell", "Crocus", "Iris", "Tigerlily", "Tulip",
               "Fritillary", "Sunflower", "Daisy", "Colts' Foot", "Dandelion", "Cowslip", "Buttercup",
               "Windflower", "Pansy")
IMAGE_RE = re.compile(r"image_(\d{4})\.jpg$")
DEFAULT_SIZE = 224
TEST_FRACTION = 0.2


def _folder_ok(d: Path) -> bool:
    return any(IMAGE_RE.search(p.name) for p in d.glob("image_*.jpg")) or (
        any(p.is_dir() for p in d.iterdir()) and any(d.glob("*/*.jpg")))


def _split(labels: np.ndarray, seed: int):
    """Seeded stratified split: per class, round(0.2 n) test images."""
    rng = np.random.default_rng([seed, 0xF10])
    test = []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        test.append(idx[: int(round(TEST_FRACTION * len(idx)))])
    test = np.sort(np.concatenate(test))
    train = np.setdiff1d(np.arange(len(labels)), test)
    return train, test


def load(data_dir=None, allow_download: bool = True, verify: bool = True, image_size=None, split_seed: int = 0):
    size = image_size or DEFAULT_SIZE
    kind, path = sources.locate("oxflower17", data_dir, allow_download, folder_ok=_folder_ok)
    params = {"verify": verify, "image_size": size, "split_seed": split_seed}
    cached = sources.load_cached(sources.cache_path("oxflower17", path, params))
    if cached is not None:
        return cached
    images, labels, class_names = [], [], list(CLASS_NAMES)
    if kind == "archive":
        checks = sources.verify_archive("oxflower17", path, verify)
        with open_tar(path) as tar:
            members = sorted((m for m in tar.getmembers() if m.isfile() and IMAGE_RE.search(m.name)),
                             key=lambda m: m.name)
            for m in members:
                i = int(IMAGE_RE.search(m.name).group(1))
                images.append(decode_image(read_tar_member(tar, m, path), f"{path}:{m.name}", size))
                labels.append((i - 1) // 80)
    else:
        checks = {"folder": "no published per-file checksums: unverified"}
        numbered = sorted(p for p in path.glob("image_*.jpg") if IMAGE_RE.search(p.name))
        if numbered:
            for p in numbered:
                images.append(decode_image(p.read_bytes(), str(p), size))
                labels.append((int(IMAGE_RE.search(p.name).group(1)) - 1) // 80)
        else:
            class_names = sorted(d.name for d in path.iterdir() if d.is_dir())
            for c, cname in enumerate(class_names):
                for p in sorted((path / cname).glob("*.jp*g")):
                    images.append(decode_image(p.read_bytes(), str(p), size))
                    labels.append(c)
    if not images:
        raise DataError(f"{path}: no Flowers 17 images found (expected jpg/image_0001.jpg .. image_1360.jpg)")
    y = np.asarray(labels, np.int64)
    if y.max() >= len(class_names):
        raise DataError(f"{path}: image numbers beyond 1360 (label {y.max()}); not the Flowers 17 layout")
    x = np.stack(images)
    tr, te = _split(y, split_seed)
    source = {"kind": kind, "path": str(path), "checks": checks, "class_names": class_names,
              "split": f"stratified {1 - TEST_FRACTION:.0%}/{TEST_FRACTION:.0%}, split_seed {split_seed}"}
    out = (x[tr], y[tr], x[te], y[te])
    sources.save_cached(sources.cache_path("oxflower17", path, params), *out, source)
    return (*out, source)
