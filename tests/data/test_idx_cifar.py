"""IDX (MNIST) and CIFAR-10 binary files built in the test are parsed exactly; bad ones are refused."""

from __future__ import annotations

import gzip
import io
import struct
import tarfile

import numpy as np
import pytest

from gancli.data import cifar
from gancli.data.idx import read_idx, read_idx_images
from gancli.errors import UserError


def idx_bytes(array: np.ndarray, code: int = 0x08) -> bytes:
    header = struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def test_idx_images_gzip_and_plain(tmp_path):
    images = np.random.default_rng(1).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes(images)))
    parsed = read_idx_images(path)
    assert parsed.shape == (5, 28, 28, 1) and parsed.dtype == np.uint8
    assert np.array_equal(parsed[..., 0], images)
    assert np.array_equal(read_idx_images(idx_bytes(images))[..., 0], images)  # not gzipped


def test_idx_other_types_are_big_endian():
    values = np.array([[1, -2], [300, 70000]], dtype=">i4")
    parsed = read_idx(idx_bytes(values, code=0x0C))
    assert parsed.tolist() == [[1, -2], [300, 70000]] and parsed.dtype.isnative


def test_idx_labels_are_not_images():
    labels = np.arange(10, dtype=np.uint8)
    assert read_idx(idx_bytes(labels)).tolist() == list(range(10))
    with pytest.raises(UserError, match="not images"):
        read_idx_images(idx_bytes(labels))


@pytest.mark.parametrize(
    "blob, message",
    [
        (b"\x00\x01\x08\x03" + b"\x00" * 12, "bad magic"),
        (b"\x00\x00\x07\x03" + b"\x00" * 12, "bad magic"),
        (b"\x00\x00\x08\x00", "bad magic"),
        (b"\x00\x00\x08\x03\x00\x00", "truncated"),
        (idx_bytes(np.zeros((2, 4, 4), np.uint8))[:-5], "truncated"),
        (idx_bytes(np.zeros((2, 4, 4), np.uint8)) + b"x", "trailing"),
        (b"", "truncated"),
    ],
)
def test_bad_idx_is_refused(blob, message):
    with pytest.raises(UserError, match=message):
        read_idx(blob)


def test_idx_huge_header_is_refused_without_allocating():
    header = struct.pack(">BBBB", 0, 0, 0x08, 3) + struct.pack(">3I", 60000, 60000, 60000)
    with pytest.raises(UserError, match="over the limit"):
        read_idx(header)


def test_idx_broken_gzip(tmp_path):
    path = tmp_path / "x.gz"
    noise = np.random.default_rng(3).integers(0, 256, (100, 28, 28), dtype=np.uint8)
    blob = gzip.compress(idx_bytes(noise))
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(UserError, match="gzip|truncated"):
        read_idx(path)
    path.write_bytes(b"\x1f\x8b" + b"garbage" * 10)
    with pytest.raises(UserError, match="not a valid gzip"):
        read_idx(path)


def cifar_records(images: np.ndarray, labels: np.ndarray) -> bytes:
    """Encode (N,32,32,3) images the way the CIFAR-10 binary version stores them."""
    planes = images.transpose(0, 3, 1, 2).reshape(len(images), -1)  # R plane, G plane, B plane
    return np.concatenate([labels[:, None].astype(np.uint8), planes], axis=1).tobytes()


def test_cifar_record_layout():
    image = np.zeros((1, 32, 32, 3), np.uint8)
    image[0, 0, 1, 0] = 11  # red at row 0, column 1
    image[0, 2, 0, 1] = 22  # green at row 2, column 0
    image[0, 31, 31, 2] = 33  # blue at the last pixel
    data = cifar_records(image, np.array([7]))
    assert data[0] == 7 and data[1 + 1] == 11 and data[1 + 1024 + 64] == 22 and data[-1] == 33
    images, labels = cifar.parse_records(data)
    assert images.shape == (1, 32, 32, 3) and labels.tolist() == [7]
    assert np.array_equal(images, image)


def test_cifar_archive(tmp_path):
    rng = np.random.default_rng(2)
    batches = {f"data_batch_{i}.bin": rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8) for i in (1, 2)}
    test = rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        members = {**batches, "test_batch.bin": test}
        for name in ["data_batch_2.bin", "test_batch.bin", "data_batch_1.bin"]:  # order must not matter
            blob = cifar_records(members[name], np.arange(len(members[name])) % 10)
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
        info = tarfile.TarInfo("cifar-10-batches-bin/batches.meta.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"cat"))
    path = tmp_path / "cifar-10-binary.tar.gz"
    path.write_bytes(buf.getvalue())
    parts = cifar.read_archive(path)
    train_images, train_labels = parts["train"]
    assert train_images.shape == (8, 32, 32, 3) and train_images.flags.c_contiguous
    assert np.array_equal(
        train_images, np.concatenate([batches["data_batch_1.bin"], batches["data_batch_2.bin"]])
    )
    assert train_labels.tolist() == [0, 1, 2, 3, 0, 1, 2, 3]
    assert np.array_equal(parts["test"][0], test)
    # installing it keeps the training labels and CIFAR's class names beside images.npy
    from gancli.data.formats import cifar_format
    from gancli.data.labels import array_labels

    out = tmp_path / "installed"
    out.mkdir()
    cifar_format(None, [(None, path, False)], out, None)
    labels, classes = array_labels(out, 8)
    assert labels.tolist() == [0, 1, 2, 3, 0, 1, 2, 3] and classes[:2] == ["airplane", "automobile"]


def test_cifar_bad_inputs(tmp_path):
    with pytest.raises(UserError, match="multiple"):
        cifar.parse_records(b"\x00" * 3000)
    with pytest.raises(UserError, match="label of 12"):
        cifar.parse_records(bytes([12]) + b"\x00" * 3072)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        blob = bytes(3073)
        info = tarfile.TarInfo("cifar-10-batches-bin/data_batch_1.bin")
        info.size = len(blob)
        tar.addfile(info, io.BytesIO(blob))
    path = tmp_path / "c.tgz"
    path.write_bytes(buf.getvalue())
    with pytest.raises(UserError, match="no test batch"):
        cifar.read_archive(path)
    path.write_bytes(b"not a tar at all")
    with pytest.raises(UserError, match="corrupt"):
        cifar.read_archive(path)
