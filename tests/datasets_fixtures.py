"""Small archives in exactly the official formats (written by the tests, never downloaded)."""

from __future__ import annotations

import io
import pickle
import tarfile
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _batch(rng, n, label_key, n_classes, name):
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    labels = [int(v) for v in np.arange(n) % n_classes]
    return {b"batch_label": name.encode(), label_key: labels, b"data": data,
            b"filenames": [f"img_{i}.png".encode() for i in range(n)]}


def cifar10_tar(path: Path, per_batch: int = 4, seed: int = 0) -> Path:
    """cifar-10-python.tar.gz: 5 training batches and a test batch of ``per_batch`` images."""
    rng = np.random.default_rng(seed)
    with tarfile.open(path, "w:gz") as tar:
        for i in range(1, 6):
            _add(tar, f"cifar-10-batches-py/data_batch_{i}",
                 pickle.dumps(_batch(rng, per_batch, b"labels", 10, f"training batch {i} of 5"), protocol=2))
        _add(tar, "cifar-10-batches-py/test_batch", pickle.dumps(_batch(rng, per_batch, b"labels", 10, "testing batch 1 of 1"), protocol=2))
        meta = {b"num_cases_per_batch": per_batch, b"label_names": [n.encode() for n in (
            "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")], b"num_vis": 3072}
        _add(tar, "cifar-10-batches-py/batches.meta", pickle.dumps(meta, protocol=2))
        _add(tar, "cifar-10-batches-py/readme.html", b"<html></html>")
    return path


def cifar100_tar(path: Path, n: int = 20, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    with tarfile.open(path, "w:gz") as tar:
        for split in ("train", "test"):
            b = _batch(rng, n, b"fine_labels", 100, split)
            b[b"coarse_labels"] = [v // 5 for v in b[b"fine_labels"]]
            _add(tar, f"cifar-100-python/{split}", pickle.dumps(b, protocol=2))
        meta = {b"fine_label_names": [f"class{i}".encode() for i in range(100)],
                b"coarse_label_names": [f"super{i}".encode() for i in range(20)]}
        _add(tar, "cifar-100-python/meta", pickle.dumps(meta, protocol=2))
    return path


def _jpeg(rng, w=40, h=30, mode="RGB") -> bytes:
    arr = rng.integers(0, 256, size=(h, w, 3) if mode == "RGB" else (h, w), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG")
    return buf.getvalue()


def flowers17_tgz(path: Path, per_class: int = 3, seed: int = 0) -> Path:
    """17flowers.tgz: jpg/image_XXXX.jpg, the official numbering (80 per class), per_class of each."""
    rng = np.random.default_rng(seed)
    names = []
    with tarfile.open(path, "w:gz") as tar:
        for c in range(17):
            for k in range(per_class):
                name = f"jpg/image_{c * 80 + k + 1:04d}.jpg"
                names.append(name)
                _add(tar, name, _jpeg(rng))
        _add(tar, "jpg/files.txt", "\n".join(n.split("/")[1] for n in names).encode())
    return path


def tiny_imagenet_zip(path: Path, wnids=("n01443537", "n01629819", "n01641577"), per_class: int = 4,
                      val_per_class: int = 2, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    root = "tiny-imagenet-200"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{root}/wnids.txt", "\n".join(wnids) + "\n")
        z.writestr(f"{root}/words.txt", "".join(f"{w}\tname {i}, other\n" for i, w in enumerate(wnids)) + "n99999999\tunused\n")
        for w in wnids:
            z.writestr(f"{root}/train/{w}/{w}_boxes.txt", "")
            for k in range(per_class):
                mode = "L" if k == 0 else "RGB"  # TinyImageNet has some greyscale JPEGs
                z.writestr(f"{root}/train/{w}/images/{w}_{k}.JPEG", _jpeg(rng, 64, 64, mode))
        lines = []
        i = 0
        for w in wnids:
            for _ in range(val_per_class):
                z.writestr(f"{root}/val/images/val_{i}.JPEG", _jpeg(rng, 64, 64))
                lines.append(f"val_{i}.JPEG\t{w}\t0\t0\t63\t63")
                i += 1
        z.writestr(f"{root}/val/val_annotations.txt", "\n".join(lines) + "\n")
        z.writestr(f"{root}/test/images/test_0.JPEG", _jpeg(rng, 64, 64))
    return path
