"""Dataset formats: how each registry `kind` turns its verified files into an installed folder.

A format is a function `(ds, sources, folder, limits) -> marker entries` registered in FORMATS
under its kind; `data/install.py` calls it on a temporary folder that is renamed into place
once the function returns and the marker is written.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

from gancli.data import cifar, extract, idx, matfile, registry
from gancli.data.classnames import CIFAR10_CLASSES
from gancli.data.labels import save_labels
from gancli.data.registry import DatasetInfo, RemoteFile
from gancli.errors import UserError
from gancli.fsutil import atomic_write, file_digests

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
Source = tuple[RemoteFile, Path, bool]  # (the registry's file, its local path, downloaded by us)
Format = Callable[[DatasetInfo, list[Source], Path, extract.ExtractLimits], dict]
_FLOWERS_IMAGE = "jpg/image_{:05d}.jpg"  # the image that entry i (from 1) of imagelabels.mat labels


def build_dataset(
    ds: DatasetInfo, sources: list[Source], folder: Path, limits: extract.ExtractLimits
) -> dict:
    """Fill ``folder`` by the dataset's format; return the marker's content."""
    files = [
        {
            "filename": remote.filename,
            "url": remote.url,
            "size": path.stat().st_size,
            "sha256": file_digests(path)["sha256"],
            "verified_by": remote.checksum[0] if remote.checksum else None,
        }
        for remote, path, _ours in sources
    ]
    if ds.kind not in FORMATS:  # pragma: no cover - the registry only holds registered kinds
        raise UserError(f"Dataset {ds.name!r} has an unknown kind {ds.kind!r}.")
    return {"files": files, **FORMATS[ds.kind](ds, sources, folder, limits)}


def archive_format(
    ds: DatasetInfo, sources: list[Source], folder: Path, limits: extract.ExtractLimits
) -> dict:
    """An archive of image files (tar, zip), extracted within `limits`."""
    _images, entries = _extract_images(sources[0][1], folder, limits)
    return entries


def oxford_flowers_format(
    ds: DatasetInfo, sources: list[Source], folder: Path, limits: extract.ExtractLimits
) -> dict:
    """Oxford 102 Flowers: the image archive extracted, and each image's class from
    imagelabels.mat (entry i labels jpg/image_<i, 5 digits>.jpg) saved beside it, so that the
    folder reads with its labels (`data/labels.py:listed_labels`)."""
    paths = {remote.role: path for remote, path, _ in sources}
    mat = paths["image-labels"]
    # read first: a wrong label file fails in a moment, before 330 MB are extracted
    labels = matfile.read_mat_labels(mat, variable="labels", classes=len(ds.classes), name=str(mat))
    images, entries = _extract_images(paths["images"], folder, limits)
    named = [_FLOWERS_IMAGE.format(i) for i in range(1, len(labels) + 1)]
    absent, unlabelled = sorted(set(named) - set(images)), sorted(set(images) - set(named))
    if absent or unlabelled:
        detail = (
            f"{len(absent):,} labelled image(s) are not in the archive (first: {absent[0]})"
            if absent
            else f"{len(unlabelled):,} image file(s) have no label (first: {unlabelled[0]})"
        )
        raise UserError(
            f"{mat} labels {len(named):,} images (jpg/image_00001.jpg on) and {paths['images']} holds {len(images):,} image files: {detail}, so they are not one dataset. Nothing was installed; download both again with --force."
        )
    save_labels(folder, labels, list(ds.classes), files=named)
    return entries


def _extract_images(archive: Path, folder: Path, limits: extract.ExtractLimits) -> tuple[list[str], dict]:
    """Extract an archive of image files into `folder`: the image files (relative paths) and
    the marker's counts; an archive without images is a UserError."""
    # The marker's name is refused in the archive: our marker must be the only one, and a
    # folder of that name would make writing it fail with an error about a temporary file.
    report = extract.extract_into(archive, folder, limits=limits, reserved=(registry.MARKER,))
    images = [f for f in report.files if Path(f).suffix.lower() in IMAGE_SUFFIXES]
    if not images:  # nothing to train on: installing it would only fail later
        listed = ", ".join(sorted(report.files)[:5]) or "nothing"
        raise UserError(
            f"The archive {archive.name} holds no image files ({len(report.files)} file(s): {listed}); nothing was installed. Give an archive of .png, .jpg or other image files."
        )
    return images, {"images": len(images), "extracted_files": len(report.files)}


def idx_format(ds: DatasetInfo, sources: list[Source], folder: Path, limits: extract.ExtractLimits) -> dict:
    """MNIST's idx files (train and test images), saved as uint8 arrays, with the training
    images' class labels when the dataset has a label file."""
    paths = {remote.role: path for remote, path, _ in sources}
    arrays = {
        role: idx.read_idx_images(p, name=str(p)) for role, p in paths.items() if role.endswith("-images")
    }
    train = arrays.get("train-images")
    if train is not None and "train-labels" in paths:
        source = paths["train-labels"]
        labels = idx.read_idx_labels(source, images=train.shape[0], classes=len(ds.classes), name=str(source))
        save_labels(folder, labels, list(ds.classes))
    return save_arrays(folder, train, arrays.get("test-images"))


def cifar_format(ds: DatasetInfo, sources: list[Source], folder: Path, limits: extract.ExtractLimits) -> dict:
    """CIFAR's binary archive, saved as uint8 arrays, with the training images' class labels."""
    parts = cifar.read_archive(sources[0][1])
    save_labels(folder, parts["train"][1], list(CIFAR10_CLASSES))  # the format is CIFAR-10's own
    return save_arrays(folder, parts["train"][0], parts["test"][0])


def file_format(ds: DatasetInfo, sources: list[Source], folder: Path, limits: extract.ExtractLimits) -> dict:
    """One file kept as it is (e.g. the FID Inception weights)."""
    remote, path, ours = sources[0]
    if ours:
        os.replace(path, folder / remote.filename)  # same file system: a rename, not a copy
    else:
        with atomic_write(folder / remote.filename) as out, open(path, "rb") as src:
            shutil.copyfileobj(src, out, 1 << 20)
    return {"filename": remote.filename}


def save_arrays(folder: Path, train: np.ndarray | None, test: np.ndarray | None) -> dict:
    """images.npy (and test_images.npy) as uint8 N,H,W,C arrays; the marker's counts and shape."""
    if train is None:
        raise UserError("The dataset has no training images file.")
    out: dict = {"images": int(train.shape[0]), "shape": list(train.shape[1:])}
    for filename, array in ((registry.IMAGES_NPY, train), (registry.TEST_IMAGES_NPY, test)):
        if array is not None:
            with atomic_write(folder / filename) as handle:
                np.save(handle, np.ascontiguousarray(array, dtype=np.uint8), allow_pickle=False)
    if test is not None:
        out["test_images"] = int(test.shape[0])
    return out


# registry kind -> format (a new kind: a function above, one line here, and the Kind literal in registry.py)
FORMATS: dict[str, Format] = {
    "archive": archive_format,
    "oxford-flowers": oxford_flowers_format,
    "idx": idx_format,
    "cifar-binary": cifar_format,
    "file": file_format,
}
