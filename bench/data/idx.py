"""The IDX format of MNIST and Fashion-MNIST (LeCun et al., http://yann.lecun.com/exdb/mnist/).

A file is a 4-byte magic number ``0x00 0x00 <dtype> <ndim>``, then ``ndim`` big-endian
uint32 dimensions, then the data in C order (big-endian for multi-byte types).
Files may be gzip-compressed (``.gz``), as they are distributed.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from bench.errors import DataError

_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_bytes(path: Path) -> bytes:
    """The file's content, decompressed when it ends in ``.gz``; errors name the file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror or e}") from None
    if path.suffix != ".gz":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(
            f"{path} is not a complete gzip file ({type(e).__name__}: {e}); "
            "it is truncated or corrupt: delete it and install or download it again"
        ) from None


def parse_idx(data: bytes, source: str = "<bytes>") -> np.ndarray:
    """Parse IDX bytes into a numpy array (native byte order)."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DataError(f"{source} is not an IDX file (bad magic number {data[:4]!r})")
    code, ndim = data[2], data[3]
    if code not in _DTYPES:
        raise DataError(f"{source}: unknown IDX data type 0x{code:02x}; allowed: "
                        + ", ".join(f"0x{c:02x}" for c in _DTYPES))
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{source} is truncated: header needs {header} bytes, file has {len(data)}")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = _DTYPES[code]
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        raise DataError(
            f"{source} has {len(data)} bytes but its header (shape {dims}, {dtype}) needs "
            f"{expected}: the file is truncated or corrupt"
        )
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def read_idx(path: Path) -> np.ndarray:
    return parse_idx(read_bytes(path), str(path))


def write_idx(path: Path, arr: np.ndarray) -> None:
    """Write ``arr`` as IDX (gzip-compressed when the name ends in ``.gz``). For tests and tools."""
    arr = np.asarray(arr)
    codes = {np.dtype(v).newbyteorder("="): k for k, v in _DTYPES.items()}
    native = arr.dtype.newbyteorder("=")
    code = next((k for d, k in codes.items() if d == native), None)
    if code is None:
        raise ValueError(f"IDX has no data type for {arr.dtype}")
    big = arr.astype(_DTYPES[code], copy=False)
    payload = bytes([0, 0, code, arr.ndim]) + np.asarray(arr.shape, ">u4").tobytes() + big.tobytes()
    path = Path(path)
    path.write_bytes(gzip.compress(payload, mtime=0) if path.suffix == ".gz" else payload)
