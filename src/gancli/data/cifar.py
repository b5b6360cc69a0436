"""CIFAR-10's binary version: fixed 3073-byte records, read without unpickling anything.

Each record is one label byte (0-9) then 3072 pixel bytes: the red plane, green plane and
blue plane of a 32x32 image, rows in order. We return images as uint8 (N, 32, 32, 3).
The archive's members are read straight from the .tar.gz: nothing is extracted to disk.
"""

from __future__ import annotations

import os
import re
import tarfile
import zlib
from pathlib import Path

import numpy as np

from gancli.errors import UserError

SIDE = 32
RECORD = 1 + 3 * SIDE * SIDE
NUM_CLASSES = 10
_MAX_MEMBER_BYTES = 64 << 20  # a real batch is 30,730,000 bytes
_TRAIN_RE = re.compile(r"^data_batch_(\d+)\.bin$")
_TEST_NAME = "test_batch.bin"


def parse_records(data: bytes, *, name: str = "<CIFAR data>") -> tuple[np.ndarray, np.ndarray]:
    """Parse CIFAR-10 binary records into (images uint8 N,32,32,3, labels uint8 N)."""
    if not data or len(data) % RECORD:
        raise UserError(
            f"{name} is not a CIFAR-10 binary batch: {len(data):,} bytes is not a positive "
            f"multiple of the {RECORD}-byte record size."
        )
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, RECORD)
    labels = records[:, 0].copy()
    if labels.max() >= NUM_CLASSES:
        raise UserError(f"{name} holds a label of {int(labels.max())}; CIFAR-10 labels are 0-9.")
    images = records[:, 1:].reshape(-1, 3, SIDE, SIDE).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def read_batch(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read one ``*.bin`` batch file."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > _MAX_MEMBER_BYTES:
            raise UserError(f"{path} is {size:,} bytes, too large for a CIFAR-10 batch.")
        return parse_records(path.read_bytes(), name=str(path))
    except OSError as exc:
        raise UserError(f"Cannot read {path}: {exc.strerror or exc}.") from None


def read_archive(archive: str | os.PathLike) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Read ``cifar-10-binary.tar.gz``: {"train": (images, labels), "test": (images, labels)}."""
    archive = Path(archive)
    train: dict[int, bytes] = {}
    test: bytes | None = None
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                base = member.name.replace("\\", "/").rsplit("/", 1)[-1]
                match = _TRAIN_RE.match(base)
                if not (match or base == _TEST_NAME):
                    continue  # batches.meta.txt, readme.html: not needed
                if not member.isreg() or member.size > _MAX_MEMBER_BYTES:
                    raise UserError(
                        f"{archive}: member {member.name!r} is not a plausible CIFAR-10 batch file."
                    )
                handle = tar.extractfile(member)
                if handle is None:
                    raise UserError(f"{archive}: member {member.name!r} cannot be read.")
                with handle:
                    data = handle.read(member.size)
                if match:
                    index = int(match.group(1))
                    if index in train:
                        raise UserError(f"{archive} holds {member.name!r} twice.")
                    train[index] = data
                elif test is not None:
                    raise UserError(f"{archive} holds {member.name!r} twice.")
                else:
                    test = data
    except (tarfile.TarError, zlib.error, EOFError, OSError) as exc:
        raise UserError(
            f"{archive} is corrupt or not a tar archive ({exc}). Download it again with --force."
        ) from None
    if not train or sorted(train) != list(range(1, len(train) + 1)) or test is None:
        raise UserError(
            f"{archive} is not the CIFAR-10 binary archive: expected data_batch_1.bin ... data_batch_N.bin "
            f"and test_batch.bin, found train batches {sorted(train)} and "
            f"{'a' if test is not None else 'no'} test batch."
        )
    parsed = [parse_records(train[i], name=f"{archive}:data_batch_{i}.bin") for i in sorted(train)]
    return {
        "train": (np.concatenate([p[0] for p in parsed]), np.concatenate([p[1] for p in parsed])),
        "test": parse_records(test, name=f"{archive}:{_TEST_NAME}"),
    }
