"""The publishers' label files, built byte by byte in the test: IDX label files (MNIST, Fashion-MNIST)
and MATLAB v5 .mat files (Oxford 102 Flowers' imagelabels.mat), compressed and not, parsed exactly;
every damaged or foreign one refused with one paragraph that names the file."""

from __future__ import annotations

import gzip
import io
import struct
import zlib

import numpy as np
import pytest

from gancli.data.idx import read_idx_labels
from gancli.data.matfile import read_mat_array, read_mat_labels
from gancli.errors import UserError

# --------------------------------------------------------------------------------------
# IDX label files: magic 00000801, a big-endian count, one byte per image
# --------------------------------------------------------------------------------------


def idx1(labels, code: int = 0x08, count: int | None = None) -> bytes:
    """An IDX file of one dimension (a label file when code is 0x08 and count is the labels')."""
    labels = np.asarray(labels)
    header = struct.pack(">BBBBI", 0, 0, code, 1, len(labels) if count is None else count)
    return header + labels.astype(">u1" if code == 0x08 else ">i4").tobytes()


def test_idx_labels_gzip_and_plain(tmp_path):
    labels = [3, 0, 9, 9, 1]
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(idx1(labels)))
    parsed = read_idx_labels(path, images=5, classes=10)
    assert parsed.tolist() == labels and parsed.dtype == np.int64
    assert read_idx_labels(idx1(labels), images=5, classes=10).tolist() == labels  # not gzipped


IMAGES_IDX = struct.pack(">BBBBIII", 0, 0, 0x08, 3, 2, 2, 2) + bytes(8)


@pytest.mark.parametrize(
    "blob, message",
    [
        (IMAGES_IDX, "not a label file .*00000801"),  # an image file (00000803) given as labels
        (idx1([1, 2, 3, 4, 5], code=0x0C), "not a label file"),  # int32 labels: not MNIST's
        (b"\x00\x01\x08\x01" + bytes(9), "bad magic number"),
        (idx1([1, 2, 3, 4]), "holds 4 labels for 5 images"),
        (idx1([1, 2, 3, 4, 5, 6]), "holds 6 labels for 5 images"),
        (idx1([1, 2, 3, 4, 5])[:-2], "truncated"),
        (idx1([1, 2, 3, 4, 5], count=1 << 30), "over the limit"),  # a header asking for a gigabyte
        (idx1([1, 2, 3, 10, 5]), "label of 10; this dataset's labels are 0-9"),
    ],
)
def test_bad_idx_labels_are_refused_naming_the_file(blob, message, tmp_path):
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(blob))
    with pytest.raises(UserError, match=message) as caught:
        read_idx_labels(path, images=5, classes=10, name=str(path))
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


# --------------------------------------------------------------------------------------
# MAT v5: a 128-byte header, then tagged data elements (MathWorks' "MAT-File Format")
# --------------------------------------------------------------------------------------

MI_INT8, MI_UINT8, MI_INT32, MI_UINT32, MI_DOUBLE, MI_MATRIX, MI_COMPRESSED = 1, 2, 5, 6, 9, 14, 15
MX_CHAR, MX_DOUBLE = 4, 6
STORED = {MI_DOUBLE: "f8", MI_UINT8: "u1"}


def element(kind: int, data: bytes, endian: str = "<") -> bytes:
    """A data element: the small form (type and count in one word, data in the tag) for up to 4
    bytes, else an 8-byte tag and the data padded to a multiple of 8."""
    if len(data) <= 4:
        return struct.pack(endian + "I", len(data) << 16 | kind) + data.ljust(4, b"\0")
    return struct.pack(endian + "II", kind, len(data)) + data + bytes(-len(data) % 8)


def matrix(name: str, values, *, stored=MI_DOUBLE, mx_class=MX_DOUBLE, flags=0, endian="<", dims=None):
    """A variable (miMATRIX): array flags, dimensions, name, real part. MATLAB stores a double
    array of small whole numbers as bytes (`stored=MI_UINT8`), which readers must accept."""
    values = np.asarray(values)
    shape = values.shape if dims is None else dims
    body = element(MI_UINT32, struct.pack(endian + "II", mx_class | flags, 0), endian)
    body += element(MI_INT32, struct.pack(f"{endian}{len(shape)}i", *shape), endian)
    body += element(MI_INT8, name.encode(), endian)
    body += element(stored, values.astype(endian + STORED[stored]).tobytes(order="F"), endian)
    return struct.pack(endian + "II", MI_MATRIX, len(body)) + body


def mat_file(
    *variables: bytes, compressed: bool = False, endian: str = "<", text=b"MATLAB 5.0 MAT-file"
) -> bytes:
    """A whole file: descriptive text, subsystem offset, version 0x0100, endian indicator, the
    variables (each zlib-compressed into an miCOMPRESSED element, as MATLAB v7 writes them)."""
    header = text.ljust(116, b" ") + bytes(8) + struct.pack(endian + "H", 0x0100)
    header += b"IM" if endian == "<" else b"MI"
    if compressed:
        variables = tuple(
            struct.pack(endian + "II", MI_COMPRESSED, len(z)) + z for z in map(zlib.compress, variables)
        )
    return header + b"".join(variables)


FLOWER_LABELS = np.array([[77, 77, 1, 102, 5]], dtype=float)  # 1 x 5, MATLAB's classes 1-102


@pytest.mark.parametrize("compressed", [False, True])
@pytest.mark.parametrize("stored", [MI_DOUBLE, MI_UINT8])
@pytest.mark.parametrize("endian", ["<", ">"])
def test_mat_labels_are_read_in_every_form(compressed, stored, endian):
    blob = mat_file(
        matrix("labels", FLOWER_LABELS, stored=stored, endian=endian), compressed=compressed, endian=endian
    )
    labels = read_mat_labels(blob, variable="labels", classes=102)
    assert labels.tolist() == [76, 76, 0, 101, 4] and labels.dtype == np.int64
    name, values = read_mat_array(blob)
    assert name == "labels" and values.shape == (1, 5) and np.array_equal(values, FLOWER_LABELS)


def test_mat_arrays_keep_matlabs_column_major_order_and_small_names():
    grid = np.arange(6, dtype=float).reshape(2, 3)
    name, values = read_mat_array(mat_file(matrix("ids", grid)))  # a 3-letter name: a small element
    assert name == "ids" and np.array_equal(values, grid)


def test_our_mat_files_are_what_scipy_reads_and_writes():
    """The test's writer and the reader agree with scipy's, in both directions."""
    scipy_io = pytest.importorskip("scipy.io")
    for compressed in (False, True):
        ours = mat_file(matrix("labels", FLOWER_LABELS, stored=MI_UINT8), compressed=compressed)
        assert np.array_equal(scipy_io.loadmat(io.BytesIO(ours))["labels"], FLOWER_LABELS)
        theirs = io.BytesIO()
        scipy_io.savemat(theirs, {"labels": FLOWER_LABELS}, do_compression=compressed)
        assert read_mat_labels(theirs.getvalue(), variable="labels", classes=102).tolist() == [
            76,
            76,
            0,
            101,
            4,
        ]


GOOD = matrix("labels", FLOWER_LABELS)
COMPRESSED = mat_file(GOOD, compressed=True)
# a zlib stream cut short, in an element whose tag counts the bytes that are there
CUT_STREAM = COMPRESSED[:128] + struct.pack("<II", MI_COMPRESSED, 20) + zlib.compress(GOOD)[:20]


BAD_MAT_FILES = [
    (mat_file(matrix("setid", FLOWER_LABELS)), "its variable is 'setid', not 'labels'"),
    (mat_file(matrix("labels", [[76, 76]], mx_class=MX_CHAR)), "char array, not a numeric array"),
    (mat_file(matrix("labels", FLOWER_LABELS, flags=0x0800)), "complex array"),
    (mat_file(GOOD, matrix("trnid", FLOWER_LABELS)), "more than one variable"),
    (mat_file(GOOD, GOOD, compressed=True), "more than one variable"),
    (mat_file(GOOD)[:-12], "truncated"),
    (COMPRESSED[:-9], "truncated"),
    (CUT_STREAM, "truncated: it ends inside its compressed data"),
    (COMPRESSED[:-4] + bytes(4), "compressed data is corrupt"),  # zlib's adler-32 check fails
    (mat_file(), "holds no variable"),
    (mat_file(matrix("labels", FLOWER_LABELS, dims=(1, 6))), "bytes of data for dimensions"),
    (mat_file(element(MI_DOUBLE, FLOWER_LABELS.tobytes())), "not a variable"),
    (mat_file(GOOD, text=b"MATLAB 7.3 MAT-file"), "v7.3 file"),
    (b"%PDF-1.4 not a mat file", "does not start with 'MATLAB 5.0 MAT-file'"),
    (mat_file(GOOD)[:100], "truncated"),
    (mat_file(GOOD)[:128] + struct.pack("<I", 9 << 16 | MI_INT8) + bytes(4), "small element claims 9"),
    (mat_file(matrix("labels", [[0, 1, 2]])), "whole numbers 1-102"),
    (mat_file(matrix("labels", [[1, 103]])), "whole numbers 1-102"),
    (mat_file(matrix("labels", [[1, 2.5]])), "whole numbers 1-102"),
    (mat_file(matrix("labels", np.ones((2, 3)))), "has shape 2x3, not a vector"),
]


@pytest.mark.parametrize("blob, message", BAD_MAT_FILES, ids=[message for _, message in BAD_MAT_FILES])
def test_bad_mat_files_are_refused_naming_the_file(blob, message, tmp_path):
    path = tmp_path / "imagelabels.mat"
    path.write_bytes(blob)
    with pytest.raises(UserError, match=message) as caught:
        read_mat_labels(path, variable="labels", classes=102)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_mat_decompression_and_file_size_are_bounded(tmp_path):
    bomb = mat_file(matrix("labels", np.ones((1, 100_000))), compressed=True)  # 800 KB from a few KB
    assert len(bomb) < 10_000
    with pytest.raises(UserError, match="expands past 65,536 bytes"):
        read_mat_array(bomb, max_bytes=65_536)
    path = tmp_path / "big.mat"
    path.write_bytes(mat_file(matrix("labels", np.ones((1, 10_000)))))
    with pytest.raises(UserError, match=f"{path}.*over the limit of 4,096"):
        read_mat_array(path, max_bytes=4_096)
