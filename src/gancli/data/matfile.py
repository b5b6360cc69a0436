"""MATLAB's Level 5 MAT-file (v5, and v7's compressed form), read without trusting it: one numeric array.

Only what a label file needs (Oxford 102 Flowers' imagelabels.mat), after MathWorks' "MAT-File
Format" document: a 128-byte header (text, subsystem offset, version 0x0100, endian indicator
"IM" or "MI"), then data elements. An element is an 8-byte tag (type, byte count) and its data
padded to 8 bytes, or, for up to 4 bytes, the "small element" form that packs type, count and
data into the 8 bytes. A variable is an miMATRIX element holding array flags, dimensions, a
name and the real part; miCOMPRESSED holds one zlib-compressed element.

Everything else (a second variable, cell arrays, structs, char, sparse or complex arrays,
objects, v7.3's HDF5 files) is refused with one paragraph that names the file. Each length is
checked against the bytes that hold it, and decompression stops at a size limit, so a small
hostile file can neither read past its end nor expand into gigabytes.
"""

from __future__ import annotations

import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from gancli.errors import UserError

HEADER_BYTES = 128
_TEXT = b"MATLAB 5.0 MAT-file"  # how a v5 (or v7) header's descriptive text begins
DEFAULT_MAX_BYTES = 16 << 20  # far above a label file (8,189 doubles: 64 KiB), far below harm

MI_INT8, MI_UINT32, MI_INT32 = 1, 6, 5
MI_MATRIX, MI_COMPRESSED = 14, 15
# data type -> numpy type code (byte order added from the file's endian indicator)
_NUMERIC_TYPES = {1: "i1", 2: "u1", 3: "i2", 4: "u2", 5: "i4", 6: "u4", 7: "f4", 9: "f8", 12: "i8", 13: "u8"}
_NUMERIC_CLASSES = range(6, 16)  # mxDOUBLE_CLASS .. mxUINT64_CLASS
_CLASS_NAMES = {1: "a cell array", 2: "a struct", 3: "an object", 4: "a char array", 5: "a sparse array"}
_COMPLEX = 0x0800  # array flags: the array has an imaginary part


def read_mat_array(
    source: str | os.PathLike | bytes, *, name: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES
) -> tuple[str, np.ndarray]:
    """The one variable of a MAT v5 file: its name and its values (native byte order, in the
    variable's own shape: MATLAB's column-major order undone)."""
    label = name or (str(source) if not isinstance(source, bytes) else "<MAT data>")
    data = _read_source(source, label, max_bytes)
    endian = _check_header(data, label)
    top = _Cursor(data, HEADER_BYTES, endian, label)
    if top.at_end():
        raise _refused(label, "it holds no variable")
    kind, body = top.element(padded=False)  # top-level elements need no padding (scipy reads them so)
    if kind == MI_COMPRESSED:
        inner = _Cursor(_inflate(body, label, max_bytes), 0, endian, label)
        kind, body = inner.element()
        if not inner.at_end():
            raise _refused(label, "its compressed element holds more than one element")
    if kind != MI_MATRIX:
        raise _refused(label, f"its first element has data type {kind}, not a variable (miMATRIX, 14)")
    if not top.at_end():
        raise _refused(label, "it holds more than one variable")
    return _matrix(body, endian, label)


def read_mat_labels(
    source: str | os.PathLike | bytes, *, variable: str, classes: int, name: str | None = None
) -> np.ndarray:
    """A MATLAB label vector (1 x N or N x 1 whole numbers 1..classes, MATLAB's 1-based class
    numbers) held as the file's one variable `variable`, as 0-based int64 (N,)."""
    label = name or (str(source) if not isinstance(source, bytes) else "<MAT data>")
    found, values = read_mat_array(source, name=label)
    if found != variable:
        raise _refused(label, f"its variable is {found!r}, not {variable!r}")
    if values.ndim != 2 or 1 not in values.shape or values.size == 0:
        raise _refused(label, f"{variable!r} has shape {'x'.join(map(str, values.shape))}, not a vector")
    flat = values.reshape(-1)
    whole = np.isfinite(flat).all() and bool((flat == np.floor(flat)).all())
    if not whole or flat.min() < 1 or flat.max() > classes:
        raise UserError(
            f"{label}: {variable!r} holds values other than the whole numbers 1-{classes} (from {flat.min()} "
            f"to {flat.max()}), so it does not label this dataset's {classes} classes. Download it again with --force."
        )
    return flat.astype(np.int64) - 1


class _Cursor:
    """Data elements read one after another from `data`, every length checked against what is left."""

    def __init__(self, data: bytes, pos: int, endian: str, label: str) -> None:
        self.data, self.pos, self.endian, self.label = data, pos, endian, label

    def at_end(self) -> bool:
        """Whether only padding (fewer than 8 zero bytes) is left."""
        rest = self.data[self.pos :]
        return len(rest) < 8 and not any(rest)

    def element(self, padded: bool = True) -> tuple[int, bytes]:
        """The next element's data type and data; `padded`: skip the padding to 8 bytes after it."""
        if len(self.data) - self.pos < 8:
            raise _truncated(self.label, "an element's 8-byte tag")
        word, count = struct.unpack_from(self.endian + "II", self.data, self.pos)
        if word >> 16:  # small element: type in the low 16 bits, byte count in the high 16, data in the tag
            kind, count = word & 0xFFFF, word >> 16
            if count > 4:
                raise _refused(self.label, f"a small element claims {count} bytes (at most 4 fit)")
            self.pos += 8
            return kind, self.data[self.pos - 4 : self.pos - 4 + count]
        start = self.pos + 8
        if count > len(self.data) - start:
            raise _truncated(
                self.label, f"an element of {count:,} bytes (only {len(self.data) - start:,} left)"
            )
        self.pos = start + (-(-count // 8) * 8 if padded else count)
        return word, self.data[start : start + count]

    def part(self, kind: int, what: str) -> bytes:
        """The next element, which must be of data type `kind` (a variable's flags, dimensions, name)."""
        found, data = self.element()
        if found != kind:
            raise _refused(self.label, f"the variable's {what} has data type {found}, expected {kind}")
        return data


def _matrix(body: bytes, endian: str, label: str) -> tuple[str, np.ndarray]:
    """An miMATRIX element's name and real part, refused unless it is a real numeric array."""
    cur = _Cursor(body, 0, endian, label)
    flags = cur.part(MI_UINT32, "array flags")
    if len(flags) != 8:
        raise _refused(label, f"the variable's array flags are {len(flags)} bytes, not 8")
    word = struct.unpack(endian + "I", flags[:4])[0]
    mx_class = word & 0xFF
    if mx_class not in _NUMERIC_CLASSES:
        what = _CLASS_NAMES.get(mx_class, f"of MATLAB class {mx_class}")
        raise _refused(label, f"its variable is {what}, not a numeric array")
    if word & _COMPLEX:
        raise _refused(label, "its variable is a complex array")
    dims_data = cur.part(MI_INT32, "dimensions")
    if len(dims_data) < 8 or len(dims_data) % 4:
        raise _refused(
            label, f"the variable's dimensions take {len(dims_data)} bytes (2 or more int32 expected)"
        )
    dims = struct.unpack(f"{endian}{len(dims_data) // 4}i", dims_data)
    if min(dims) < 0:
        raise _refused(label, f"the variable's dimensions {dims} are negative")
    var_name = _name(cur.part(MI_INT8, "name"), label)
    kind, real = cur.element()
    if kind not in _NUMERIC_TYPES:
        raise _refused(label, f"the real part of {var_name!r} has data type {kind}, not a numeric type")
    dtype = np.dtype(endian + _NUMERIC_TYPES[kind])
    if len(real) != math.prod(dims) * dtype.itemsize:
        raise _refused(label, f"{var_name!r} holds {len(real):,} bytes of data for dimensions {dims}")
    if not cur.at_end():
        raise _refused(label, f"{var_name!r} has more parts than a real numeric array")
    values = np.frombuffer(real, dtype=dtype).reshape(dims, order="F")
    return var_name, values.astype(dtype.newbyteorder("="))


def _name(data: bytes, label: str) -> str:
    """A variable's name: ASCII letters, digits and underscores, as MATLAB allows."""
    text = data.decode("ascii", errors="replace")
    if not text or not text.replace("_", "").isalnum() or not text.isascii():
        raise _refused(label, f"its variable name {text!r} is not a MATLAB name")
    return text


def _read_source(source: str | os.PathLike | bytes, label: str, max_bytes: int) -> bytes:
    """The file's bytes, refused above `max_bytes` before they are read."""
    if isinstance(source, bytes):
        data = source
    else:
        try:
            size = Path(source).stat().st_size
            if size > max_bytes:
                raise _refused(label, f"it is {size:,} bytes, over the limit of {max_bytes:,}")
            data = Path(source).read_bytes()
        except OSError as exc:
            raise UserError(f"Cannot read the MAT-file {label}: {exc.strerror or exc}.") from None
    if len(data) > max_bytes:
        raise _refused(label, f"it is {len(data):,} bytes, over the limit of {max_bytes:,}")
    return data


def _check_header(data: bytes, label: str) -> str:
    """The struct byte order of a MAT v5 file ('<' or '>'), from its 128-byte header."""
    if data.startswith(b"MATLAB 7.3"):
        raise _refused(label, "it is a MAT v7.3 file (HDF5); only v5 and v7 files are read")
    if not _TEXT.startswith(data[: len(_TEXT)]):  # another kind of file, whatever its length
        raise _refused(label, f"its header does not start with {_TEXT.decode()!r}")
    if len(data) < HEADER_BYTES:
        raise _truncated(label, f"the {HEADER_BYTES}-byte header")
    endian = {b"IM": "<", b"MI": ">"}.get(data[126:128])
    if endian is None:
        raise _refused(label, f"its endian indicator is {data[126:128]!r}, not 'IM' or 'MI'")
    version = struct.unpack_from(endian + "H", data, 124)[0]
    if version != 0x0100:
        raise _refused(label, f"its version is {version:#06x}, not 0x0100")
    return endian


def _inflate(data: bytes, label: str, max_bytes: int) -> bytes:
    """An miCOMPRESSED element's zlib stream, decompressed up to `max_bytes`."""
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, max_bytes + 1)
    except zlib.error as exc:
        raise _refused(label, f"its compressed data is corrupt ({exc})") from None
    if len(out) > max_bytes:
        raise _refused(label, f"its compressed data expands past {max_bytes:,} bytes")
    if not inflater.eof:
        raise _truncated(label, "its compressed data (the zlib stream ends early)")
    if inflater.unused_data:
        raise _refused(label, "its compressed element has bytes after the zlib stream")
    return out


def _refused(label: str, why: str) -> UserError:
    return UserError(
        f"{label} is not a MAT-file this tool can read: {why}. It should be a MATLAB v5 file holding one "
        f"real numeric array; download it again with --force."
    )


def _truncated(label: str, what: str) -> UserError:
    return UserError(f"{label} is truncated: it ends inside {what}. Download it again with --force.")
