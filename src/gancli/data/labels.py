"""Class labels: a class index per image, from where users already keep them.

- An image folder in the ImageFolder layout (`root/daisy/*.jpg`): the class of an image is the
  first folder below the deepest folder that all images share, so a downloaded archive that
  wraps its class folders in one more folder (flowers' `flower_photos/daisy/`) reads the same.
  A folder with any image beside the class folders, or with one class folder only, has no classes.
- A registry dataset saved as arrays: `labels.npy` (and `classes.json`) beside `images.npy`.
- The built-in shapes: their kind (disc, square, triangle).

Classes are sorted by name; an image's label is its class's index in that list.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from gancli.errors import UserError

MIN_CLASS_IMAGES = 2  # a class with fewer cannot be learned (nor held out of a batch)
SHAPE_CLASSES = ["disc", "square", "triangle"]  # builtin.shape_parameters' kind 0, 1, 2
CIFAR10_CLASSES = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
]
LABELS_NPY = "labels.npy"
CLASSES_JSON = "classes.json"


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


def save_labels(folder: Path, labels: np.ndarray, classes: list[str]) -> None:
    """Write labels.npy and classes.json (a format's part of installing a labelled dataset)."""
    from gancli.fsutil import atomic_write

    with atomic_write(folder / LABELS_NPY) as handle:
        np.save(handle, np.ascontiguousarray(labels, dtype=np.int64), allow_pickle=False)
    with atomic_write(folder / CLASSES_JSON) as handle:
        handle.write(json.dumps(classes).encode())


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
            f"--conditional needs class labels, and {source} has none: put the images in one subfolder per class (the ImageFolder layout, e.g. {source}/daisy/*.jpg and {source}/roses/*.jpg, with no images beside the subfolders), use a dataset that carries labels (shapes, flowers, cifar10), or train without --conditional."
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
