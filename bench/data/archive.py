"""Untrusted archives and pickles: read without trusting them more than they deserve.

- tar: every member must pass Python's ``tarfile.data_filter`` (no absolute paths, no
  ``..``, no links leaving the archive, no devices) before anything is read; members are
  read in memory, never extracted by name;
- zip: member names must be relative and stay inside the archive;
- pickle (CIFAR batches): a restricted unpickler admits only the numpy types those
  files contain; anything else (``os.system``, ``builtins.eval``, ...) is refused before
  it can run;
- images are decoded with Pillow; a truncated or corrupt file is an error naming it.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import tarfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

import numpy as np

from bench.errors import DataError


def md5_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        while b := f.read(chunk):
            h.update(b)
    return h.hexdigest()


def _check_name(name: str) -> None:
    p = PurePosixPath(name.replace("\\", "/"))
    if p.is_absolute() or ".." in p.parts or (p.parts and p.parts[0].endswith(":")):
        raise ValueError("absolute path or one leaving the archive")


def _opened(path: Path, kind: str, open_, list_, errors, check):
    """Open an archive, list its members and check each; a DataError naming the file (and
    the first unsafe member) instead of any exception, and the archive closed on refusal."""
    try:
        arc = open_(path)
        members = list_(arc)
    except errors as e:
        raise DataError(f"{path} is not a readable {kind} archive ({type(e).__name__}: {e}); "
                        "it is truncated or corrupt") from None
    for name, m in members:
        try:
            check(m)
        except (tarfile.FilterError, ValueError) as e:
            arc.close()
            raise DataError(f"{path}: refused unsafe member {name!r} ({type(e).__name__}: {e}); "
                            "nothing was read from this archive") from None
    return arc


def _check_tar_member(m: tarfile.TarInfo) -> None:
    _check_name(m.name)  # the data filter would strip a leading "/"; we refuse it outright
    tarfile.data_filter(m, "/nonexistent-extraction-root")


def open_tar(path: Path) -> tarfile.TarFile:
    """Open a tar archive after checking every member; raises DataError naming the first bad one."""
    return _opened(path, "tar", tarfile.open, lambda t: [(m.name, m) for m in t.getmembers()],
                   (tarfile.TarError, EOFError, OSError), _check_tar_member)


def read_tar_member(tar: tarfile.TarFile, member: tarfile.TarInfo, path: Path) -> bytes:
    try:
        f = tar.extractfile(member)
        if f is None:
            raise DataError(f"{path}: member {member.name!r} is not a regular file")
        return f.read()
    except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
        raise DataError(f"{path}: cannot read member {member.name!r} ({type(e).__name__}: {e}); "
                        "the archive is truncated or corrupt") from None


def open_zip(path: Path) -> zipfile.ZipFile:
    """Open a zip archive after checking every member name; raises DataError naming the first bad one."""
    return _opened(path, "zip", zipfile.ZipFile, lambda z: [(n, n) for n in z.namelist()],
                   (zipfile.BadZipFile, OSError, EOFError), _check_name)


def read_zip_member(z: zipfile.ZipFile, name: str, path: Path) -> bytes:
    try:
        return z.read(name)
    except (zipfile.BadZipFile, OSError, EOFError, KeyError, zlib.error) as e:
        raise DataError(f"{path}: cannot read member {name!r} ({type(e).__name__}: {e}); "
                        "the archive is truncated or corrupt") from None


class _Refused(pickle.UnpicklingError):
    """A global the restricted unpickler does not admit (as opposed to a damaged pickle)."""


class _RestrictedUnpickler(pickle.Unpickler):
    """Admits only what CIFAR's python batches contain: dicts, lists, bytes and numpy arrays."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        # protocol-2 pickles written by Python 3 encode bytes as codecs.encode(str, "latin1"):
        # a pure function (the official Python 2 files use plain string opcodes instead)
        ("_codecs", "encode"),
    }

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise _Refused(f"refused global {module}.{name}")


def safe_unpickle(data: bytes, source: str):
    try:
        return _RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load()
    except _Refused as e:
        raise DataError(f"{source}: refused to unpickle ({e}); a CIFAR batch holds only arrays, "
                        "lists and bytes, so this file is not one (and nothing in it was run)") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as e:
        raise DataError(f"{source}: not a readable pickle ({type(e).__name__}: {e}); truncated or corrupt") from None


def decode_image(data: bytes, source: str, size: int | None = None) -> np.ndarray:
    """An RGB uint8 HWC array, resized to size x size (bilinear) when given."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            im = im.convert("RGB")
            if size is not None and im.size != (size, size):
                im = im.resize((size, size), Image.BILINEAR)
            return np.asarray(im, dtype=np.uint8)
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise DataError(f"{source}: cannot decode image ({type(e).__name__}: {e}); truncated or corrupt") from None


def resize_batch(x: np.ndarray, size: int) -> np.ndarray:
    """Resize uint8 NHWC images to size x size with Pillow (bilinear)."""
    from PIL import Image

    out = np.empty((len(x), size, size, x.shape[3]), np.uint8)
    for i, im in enumerate(x):
        img = Image.fromarray(im[..., 0] if im.shape[2] == 1 else im)
        out[i] = np.asarray(img.resize((size, size), Image.BILINEAR)).reshape(size, size, x.shape[3])
    return out
