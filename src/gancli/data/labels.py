"""Class labels: a class index per image, from where users already keep them.

- An image folder in the ImageFolder layout (`root/daisy/*.jpg`): the class of an image is the
  first folder below the deepest folder that all images share, so a downloaded archive that
  wraps its class folders in one more folder (flowers' `flower_photos/daisy/`) reads the same.
  A folder with any image beside the class folders, or with one class folder only, has no classes.
  Such classes are sorted by name; an image's label is its class's index in that list.
- A registry dataset whose publisher ships labels (`gan download` installs them): `labels.npy`
  (int64, one class index per image) and `classes.json` (the names, by index, in the publisher's
  order) beside `images.npy`; or, for a folder of image files (flowers102), beside the folder
  with `labelled_files.json`, the images' paths relative to it in the order of `labels.npy`.
- The built-in shapes: their kind (disc, square, triangle).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from gancli.errors import UserError

MIN_CLASS_IMAGES = 2  # a class with fewer cannot be learned (nor held out of a batch)
SHAPE_CLASSES = ["disc", "square", "triangle"]  # builtin.shape_parameters' kind 0, 1, 2
LABELS_NPY = "labels.npy"
CLASSES_JSON = "classes.json"
LABELLED_FILES_JSON = "labelled_files.json"


def folder_labels(files: list[str]) -> tuple[torch.Tensor | None, list[str]]:
    """(labels int64 (N,), class names) of the images at these relative paths (posix), or
    (None, []) when the files are not laid out in two or more class folders."""
    dirs = [rel.split("/")[:-1] for rel in files]
    if not dirs:
        return None, []
    depth = 0
    first = dirs[0]
    while all(len(d) > depth and d[depth] == first[depth] for d in dirs):
        depth += 1
    if any(len(d) == depth for d in dirs):  # an image beside the class folders (or one folder only)
        return None, []
    names = [d[depth] for d in dirs]
    classes = sorted(set(names))
    index = {name: i for i, name in enumerate(classes)}
    return torch.tensor([index[n] for n in names], dtype=torch.int64), classes


def shapes_labels(n: int) -> tuple[torch.Tensor, list[str]]:
    """The kind of each of the n built-in shapes, in their order."""
    from gancli.data import builtin

    return builtin.shape_parameters(n, builtin.SHAPES_SEED)["kind"].to(torch.int64), list(SHAPE_CLASSES)


def array_labels(folder: Path, count: int) -> tuple[torch.Tensor | None, list[str]]:
    """`labels.npy` and `classes.json` beside a downloaded images.npy; (None, []) when absent
    (installed by a version that kept no labels). A file that does not match is a UserError."""
    labels_file, classes_file = folder / LABELS_NPY, folder / CLASSES_JSON
    if not labels_file.is_file():
        return None, []
    try:
        labels = np.load(labels_file, allow_pickle=False)
        classes = json.loads(classes_file.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(
            f"The label files in {folder} cannot be read ({exc}). Download the dataset again with `gan download NAME --force`."
        ) from exc
    ok = isinstance(classes, list) and all(isinstance(c, str) for c in classes)
    if not ok or labels.shape != (count,) or (count and not 0 <= labels.min() <= labels.max() < len(classes)):
        raise UserError(
            f"The labels in {folder} do not match its {count:,} images (shape {labels.shape}, {len(classes) if ok else 'no'} class names). Download the dataset again with `gan download NAME --force`."
        )
    return torch.from_numpy(labels.astype(np.int64)), classes


def listed_labels(folder: Path, files: list[str]) -> tuple[torch.Tensor | None, list[str]]:
    """The labels of these image files (paths relative to `folder`) from the label files that
    `gan download` wrote beside them; (None, []) when there are none. An image they do not list
    is a UserError: the folder is not the one they were written for."""
    listed_file = folder / LABELLED_FILES_JSON
    if not listed_file.is_file():
        return None, []
    try:
        listed = json.loads(listed_file.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(
            f"The label file {listed_file} cannot be read ({exc}). Download the dataset again with `gan download NAME --force`."
        ) from exc
    if not isinstance(listed, list) or not all(isinstance(f, str) for f in listed):
        raise UserError(
            f"The label file {listed_file} is not a list of file names. Download the dataset again with `gan download NAME --force`."
        )
    labels, classes = array_labels(folder, len(listed))
    if labels is None:  # the list without the labels it orders: a damaged install
        raise UserError(
            f"{folder} has {LABELLED_FILES_JSON} but no {LABELS_NPY}. Download the dataset again with `gan download NAME --force`."
        )
    index = {name: i for i, name in enumerate(listed)}
    unlisted = [f for f in files if f not in index]
    if unlisted:
        raise UserError(
            f"{len(unlisted):,} image(s) in {folder} have no label in {listed_file} (first: {unlisted[0]}): the folder holds files its download did not. Remove them, or download the dataset again with `gan download NAME --force`."
        )
    return labels[[index[f] for f in files]], classes


def save_labels(folder: Path, labels: np.ndarray, classes: list[str], files: list[str] | None = None) -> None:
    """Write labels.npy and classes.json, and for image files the paths they label in order
    (labelled_files.json): a format's part of installing a labelled dataset."""
    from gancli.fsutil import atomic_write

    with atomic_write(folder / LABELS_NPY) as handle:
        np.save(handle, np.ascontiguousarray(labels, dtype=np.int64), allow_pickle=False)
    with atomic_write(folder / CLASSES_JSON) as handle:
        handle.write(json.dumps(list(classes)).encode())
    if files is not None:
        with atomic_write(folder / LABELLED_FILES_JSON) as handle:
            handle.write(json.dumps(files).encode())


def listed_labels_stamp(folder: Path) -> list[int] | None:
    """The modification times of the label files beside a folder of images, None when it has
    none: part of its prepared cache's key, so that labels written later are read, not the cache's."""
    if not (folder / LABELLED_FILES_JSON).is_file():
        return None
    names = (LABELLED_FILES_JSON, LABELS_NPY, CLASSES_JSON)
    return [(folder / f).stat().st_mtime_ns for f in names if (folder / f).is_file()]


def valid_labels(labels: object, classes: object, count: int) -> bool:
    """Whether a cache's labels fit its images: None with no classes, or int64 (count,) in range."""
    if labels is None:
        return classes in (None, [])
    if not isinstance(labels, torch.Tensor) or labels.dtype != torch.int64 or labels.shape != (count,):
        return False
    if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
        return False
    return count == 0 or (int(labels.min()) >= 0 and int(labels.max()) < len(classes))


def class_counts(labels: torch.Tensor, classes: list[str]) -> dict[str, int]:
    """Images per class, in class order."""
    counts = torch.bincount(labels, minlength=len(classes)).tolist()
    return dict(zip(classes, counts))


def require_classes(labels: torch.Tensor | None, classes: list[str], source: str) -> None:
    """Refuse conditional training on data without classes, or with a class too small to learn."""
    if labels is None or len(classes) < 2:
        raise UserError(
            f"--conditional needs class labels, and {source} has none: put the images in one subfolder per class (the ImageFolder layout, e.g. {source}/daisy/*.jpg and {source}/roses/*.jpg, with no images beside the subfolders), use a dataset that carries labels (shapes, flowers, cifar10, mnist, fashion-mnist, flowers102; one downloaded by an older version without them needs `gan download NAME --force`), or train without --conditional."
        )
    small = {name: n for name, n in class_counts(labels, classes).items() if n < MIN_CLASS_IMAGES}
    if small:
        listed = ", ".join(f"{name} ({n})" for name, n in small.items())
        raise UserError(
            f"--conditional needs at least {MIN_CLASS_IMAGES} images in every class of {source}; these have fewer: {listed}. Add images to them, or remove those class folders."
        )


def run_classes(saved: list[str], labels: torch.Tensor | None, classes: list[str], source: str) -> list[str]:
    """The classes a conditional run trains on: the data's (checked by require_classes), which
    must be the ones a resumed run (or model.classes in a config) already names, in order."""
    require_classes(labels, classes, source)
    if saved and list(saved) != list(classes):
        raise UserError(
            f"The run's classes ({', '.join(saved)}) are not the classes of {source} ({', '.join(classes)}): a conditional model learns one embedding per class index. Train on the same class folders, or start a new run."
        )
    return list(classes)
