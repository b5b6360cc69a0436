"""The IDX format of MNIST and Fashion-MNIST (optionally gzipped), read without trusting it.

An IDX file is: two zero bytes, a type code, the number of dimensions, each dimension as a
big-endian uint32, then the data in C order. The header is validated and the data length
checked against it before anything is allocated, so a hostile header cannot ask for
gigabytes and a truncated file is an error, not a silently short array.
"""

from __future__ import annotations

import gzip
import io
import math
import os
import struct
import zlib
from typing import BinaryIO

import numpy as np

from gancli.errors import UserError

# Type code -> big-endian numpy dtype, as defined by the format.
_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
DEFAULT_MAX_BYTES = 2 << 30  # 2 GiB: MNIST's largest file holds 47 MB of pixels


def read_idx(
    source: str | os.PathLike | bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, name: str | None = None
) -> np.ndarray:
    """Parse an IDX file (plain or gzipped) into a numpy array of native byte order."""
    label = name or (str(source) if not isinstance(source, bytes) else "<IDX data>")
    raw: BinaryIO
    try:
        raw = io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")  # noqa: SIM115 - closed by the with below
    except OSError as exc:
        raise UserError(f"Cannot read IDX file {label}: {exc.strerror or exc}.") from None
    with raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        stream: BinaryIO = gzip.GzipFile(fileobj=raw) if gzipped else raw  # type: ignore[assignment]
        try:
            return _parse(stream, label, max_bytes)
        except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
            raise UserError(
                f"{label} is not a valid gzip file ({exc}). Download it again with --force."
            ) from None


def read_idx_images(
    source: str | os.PathLike | bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, name: str | None = None
) -> np.ndarray:
    """Read an IDX image file as uint8 of shape (N, H, W, 1)."""
    label = name or (str(source) if not isinstance(source, bytes) else "<IDX data>")
    array = read_idx(source, max_bytes=max_bytes, name=label)
    if array.dtype != np.uint8 or array.ndim != 3:
        raise UserError(
            f"{label} is an IDX file of {array.dtype} with shape {array.shape}, not images "
            f"(expected unsigned bytes with 3 dimensions: count, height, width)."
        )
    return array[..., None]


def read_idx_labels(
    source: str | os.PathLike | bytes, *, images: int, classes: int, name: str | None = None
) -> np.ndarray:
    """Read an IDX label file (magic 0x00000801: one unsigned byte per image) as int64 (N,),
    refused unless it labels exactly `images` images, each with a class below `classes`."""
    label = name or (str(source) if not isinstance(source, bytes) else "<IDX data>")
    # One byte per image: a header declaring far more is refused before its data is read; up to
    # twice as many is read, so that a wrong count gets the clearer message below.
    array = read_idx(source, max_bytes=2 * images + 1024, name=label)
    if array.dtype != np.uint8 or array.ndim != 1:
        raise UserError(
            f"{label} is an IDX file of {array.dtype} with shape {array.shape}, not a label file "
            f"(expected magic number 00000801: unsigned bytes with 1 dimension). Download it again with --force."
        )
    if array.shape[0] != images:
        raise UserError(
            f"{label} holds {array.shape[0]:,} labels for {images:,} images: it is not the label file of "
            f"these images. Download the dataset again with --force."
        )
    if images and int(array.max()) >= classes:
        raise UserError(
            f"{label} holds a label of {int(array.max())}; this dataset's labels are 0-{classes - 1}. "
            f"Download it again with --force."
        )
    return array.astype(np.int64)


def _read_exact(stream: BinaryIO, count: int, label: str, what: str) -> bytes:
    data = stream.read(count)
    if len(data) != count:
        raise UserError(
            f"{label} is truncated: expected {count:,} bytes of {what}, found {len(data):,}. "
            f"Download it again with --force."
        )
    return data


def _parse(stream: BinaryIO, label: str, max_bytes: int) -> np.ndarray:
    zero1, zero2, code, ndim = _read_exact(stream, 4, label, "header")
    if zero1 or zero2 or code not in _DTYPES or not 1 <= ndim <= 8:
        raise UserError(
            f"{label} is not an IDX file (bad magic number {zero1:02x}{zero2:02x}{code:02x}{ndim:02x}; "
            f"expected 0000 then a type code and 1-8 dimensions)."
        )
    dims = struct.unpack(f">{ndim}I", _read_exact(stream, 4 * ndim, label, "dimensions"))
    dtype = np.dtype(_DTYPES[code])
    nbytes = math.prod(dims) * dtype.itemsize
    if nbytes > max_bytes:
        raise UserError(
            f"{label} declares {nbytes:,} bytes of data (shape {dims}), over the limit of {max_bytes:,}: "
            f"refusing to read it."
        )
    data = _read_exact(stream, nbytes, label, "data")
    if stream.read(1):
        raise UserError(f"{label} has trailing bytes after the {nbytes:,} bytes its header declares.")
    return np.frombuffer(data, dtype=dtype).reshape(dims).astype(dtype.newbyteorder("="))
