"""The prepared dataset: every image decoded once into one uint8 tensor, cached on disk.

A cache file is keyed by what changes its pixels: the source's file list with sizes and
mtimes (or the array file's size and mtime), the resolution, channels and resize mode. It is
reused until one of those changes, written atomically, and rebuilt (with a warning) when it
is unreadable.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from gancli.data.folder import decode_image, scan_images
from gancli.data.labels import (
    LABELS_NPY,
    array_labels,
    folder_labels,
    listed_labels,
    listed_labels_stamp,
    shapes_labels,
    valid_labels,
)
from gancli.errors import UserError
from gancli.fsutil import atomic_write, zip_damage
from gancli.limits import MAX_RESOLUTION, check_memory

CACHE_FORMAT = 2  # 2: class labels and names beside the images (1 had none: rebuilt)

Progress = Callable[[int, int], None]  # (done, total)


@dataclass
class PreparedImages:
    """A dataset ready for training: uint8 (N, C, H, W) plus where it came from."""

    images: torch.Tensor
    source: str
    cache_file: Path | None = None
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    from_cache: bool = False
    warnings: list[str] = field(default_factory=list)
    labels: torch.Tensor | None = None  # int64 (N,) class indices; None: the data has no classes
    classes: list[str] = field(default_factory=list)  # class names, by index


def cache_key(parts: dict) -> str:
    """A short stable hash of everything that changes the prepared pixels."""
    blob = json.dumps({"format": CACHE_FORMAT, **parts}, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _save(path: Path, prepared: PreparedImages, files: list[str], key: str) -> None:
    payload = {
        "format": CACHE_FORMAT,
        "key": key,
        "source": prepared.source,
        "images": prepared.images,
        "files": files,
        "skipped": [list(s) for s in prepared.skipped],
        "labels": prepared.labels,
        "classes": list(prepared.classes),
    }
    try:
        with atomic_write(path) as handle:
            torch.save(payload, handle)
    except UserError as exc:
        if prepared.warnings:  # a damaged cache was being replaced: say so, or the error reads as unprovoked
            raise UserError(f"{' '.join(prepared.warnings)} {exc}", exit_code=exc.exit_code) from exc
        raise


def _load(path: Path, key: str) -> dict | None:
    """The cached payload, None when absent; raises ValueError when present but unusable."""
    if not path.exists():
        return None
    try:
        damage = zip_damage(path)  # torch.load does not check CRCs: flipped bytes would load as wrong pixels
    except OSError as exc:
        raise ValueError(f"unreadable ({exc.strerror or exc})") from exc
    if damage is not None:
        raise ValueError(f"damaged ({damage})")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:  # any unreadable cache is rebuilt; the reason goes in the warning
        raise ValueError(f"unreadable ({type(exc).__name__}: {exc})") from exc
    if not isinstance(payload, dict) or payload.get("format") != CACHE_FORMAT or payload.get("key") != key:
        raise ValueError("written by another version or for other contents")
    images = payload.get("images")
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.dim() != 4:
        raise ValueError("its image tensor is malformed")
    if not valid_labels(payload.get("labels"), payload.get("classes"), images.shape[0]):
        raise ValueError("its labels are malformed")
    return payload


def _cached(payload: dict, source: str, path: Path, notes: list[str]) -> PreparedImages:
    """The prepared images a valid cache payload holds."""
    skipped = [tuple(s) for s in payload.get("skipped", [])]
    return PreparedImages(
        payload["images"], source, path, skipped, True, notes, payload["labels"], payload["classes"]
    )


def _load_or_note(path: Path, key: str) -> tuple[dict | None, list[str]]:
    """The cached payload (or None), and a warning when a damaged cache has to be rebuilt."""
    try:
        return _load(path, key), []
    except ValueError as exc:
        return None, [f"The prepared cache {path} was {exc}; it is being rebuilt."]


def _decode_one(args: tuple[str, int, int, str]) -> np.ndarray | str:
    path, resolution, channels, resize = args
    try:
        return decode_image(path, resolution, channels, resize)
    except Exception as exc:  # a bad file is skipped and reported by name, never crashes the run
        return f"{type(exc).__name__}: {exc}".strip()[:200]


def decode_all(
    paths: list[Path], resolution: int, channels: int, resize: str, workers: int, progress: Progress | None
) -> tuple[list[np.ndarray | str], int]:
    """Decode files with `workers` processes (order kept); failures come back as reason strings."""
    jobs = [(str(p), resolution, channels, resize) for p in paths]
    results: list[np.ndarray | str] = []
    if workers <= 1 or len(jobs) < 64:
        for i, job in enumerate(jobs):
            results.append(_decode_one(job))
            if progress and (i % 32 == 0 or i == len(jobs) - 1):
                progress(i + 1, len(jobs))
        return results, 1
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for i, result in enumerate(pool.map(_decode_one, jobs, chunksize=32)):
            results.append(result)
            if progress and (i % 32 == 0 or i == len(jobs) - 1):
                progress(i + 1, len(jobs))
    return results, workers


def check_images_memory(n: int, channels: int, resolution: int, what: str, source_bytes: int = 0) -> None:
    """Refuse to prepare n images at resolution x resolution when they (decoded, then stacked into
    one tensor: twice over) and the source read at once cannot fit in memory."""
    if not 0 < resolution <= MAX_RESOLUTION:
        raise UserError(
            f"Resolution {resolution} for {what} is out of range: 1 to {MAX_RESOLUTION} is accepted."
        )
    check_memory(
        2 * n * channels * resolution**2 + source_bytes,
        f"Preparing {n:,} images of {what} at {resolution}x{resolution}",
        "Choose a smaller resolution, or a folder with fewer images.",
    )


def folder_cache(
    folder: Path, resolution: int, channels: int, resize: str, cache_dir: Path
) -> tuple[Path, str, list]:
    """The cache file a folder's images are prepared into, its key, and the image files found
    (scanned, not decoded); a missing or imageless folder is a UserError."""
    if not folder.is_dir():
        raise UserError(f"Image folder {folder} does not exist or is not a folder.")
    entries = scan_images(folder)
    if not entries:
        raise UserError(
            f"No image files (jpg, jpeg, png, bmp, gif, webp, tif, tiff) were found under {folder}. Point --data at a folder that holds images (class subfolders are fine)."
        )
    parts = {
        "source": str(folder.resolve()),
        "files": entries,
        "resolution": resolution,
        "channels": channels,
        "resize": resize,
    }
    stamp = listed_labels_stamp(folder)
    if stamp is not None:  # only then: the caches of folders without label files keep their keys
        parts["labels"] = stamp
    key = cache_key(parts)
    return cache_dir / f"{_slug(folder)}-{resolution}px-{channels}ch-{resize}-{key}.pt", key, entries


def prepare_folder(
    folder: Path,
    resolution: int,
    channels: int,
    resize: str,
    cache_dir: Path,
    progress: Progress | None = None,
    *,
    workers: int | None = None,
) -> PreparedImages:
    """Decode a folder once into a cached uint8 tensor; reuse the cache while the folder is unchanged."""
    folder = Path(folder)
    path, key, entries = folder_cache(folder, resolution, channels, resize, cache_dir)
    payload, notes = _load_or_note(path, key)
    if payload is not None:
        return _cached(payload, str(folder), path, notes)

    check_images_memory(len(entries), channels, resolution, str(folder))
    # labels written by `gan download` (flowers102) are checked before minutes of decoding
    listed, listed_classes = listed_labels(folder, [rel for rel, _, _ in entries])
    paths = [folder / rel for rel, _, _ in entries]
    results, _ = decode_all(paths, resolution, channels, resize, workers or os.cpu_count() or 1, progress)
    arrays = [r for r in results if isinstance(r, np.ndarray)]
    skipped = [(rel, r) for (rel, _, _), r in zip(entries, results) if isinstance(r, str)]
    kept = [rel for (rel, _, _), r in zip(entries, results) if isinstance(r, np.ndarray)]
    if not arrays:
        raise UserError(
            f"None of the {len(entries)} image files under {folder} could be read (first: {skipped[0][0]}: {skipped[0][1]}). Check that they are valid images."
        )
    images = torch.from_numpy(np.stack(arrays))
    if listed is not None:
        decoded = torch.tensor([isinstance(r, np.ndarray) for r in results], dtype=torch.bool)
        labels, classes = listed[decoded], listed_classes
    else:
        labels, classes = folder_labels(kept)
    prepared = PreparedImages(images, str(folder), path, skipped, False, notes, labels, classes)
    _save(path, prepared, kept, key)
    return prepared


def array_cache(
    array_file: Path, resolution: int, channels: int, resize: str, cache_dir: Path, name: str
) -> tuple[Path, str]:
    """The cache file a downloaded images.npy is prepared into, and its key."""
    st = array_file.stat()
    labels_file = array_file.parent / LABELS_NPY
    key = cache_key(
        {
            "source": str(array_file.resolve()),
            "size": st.st_size,
            "mtime": st.st_mtime_ns,
            "labels": labels_file.stat().st_mtime_ns if labels_file.is_file() else None,
            "resolution": resolution,
            "channels": channels,
            "resize": resize,
        }
    )
    return cache_dir / f"{name}-{resolution}px-{channels}ch-{resize}-{key}.pt", key


def open_array(array_file: Path, name: str) -> np.ndarray:
    """A downloaded images.npy, memory-mapped (only its header is read until used)."""
    try:
        array = np.load(array_file, allow_pickle=False, mmap_mode="r")
    except (OSError, ValueError) as exc:
        raise UserError(
            f"The dataset file {array_file} cannot be read ({exc}). Download it again with `gan download {name} --force`."
        ) from exc
    if array.dtype != np.uint8 or array.ndim != 4:
        raise UserError(
            f"The dataset file {array_file} is not a uint8 (N, H, W, C) array. Download it again with `gan download {name} --force`."
        )
    return array


def prepare_array(
    array_file: Path, resolution: int, channels: int, resize: str, cache_dir: Path, name: str
) -> PreparedImages:
    """A downloaded dataset stored as images.npy (N, H, W, C uint8) -> prepared tensor, cached."""
    path, key = array_cache(array_file, resolution, channels, resize, cache_dir, name)
    payload, notes = _load_or_note(path, key)
    if payload is not None:
        return _cached(payload, name, path, notes)
    array = open_array(array_file, name)
    n, h, w, c = array.shape
    check_images_memory(n, max(channels, c), max(resolution, 1), name, source_bytes=n * h * w * c * 5)
    images = convert_array(
        torch.from_numpy(np.ascontiguousarray(array)).permute(0, 3, 1, 2), resolution, channels, resize
    )
    labels, classes = array_labels(array_file.parent, n)
    prepared = PreparedImages(images, name, path, [], False, notes, labels, classes)
    _save(path, prepared, [], key)
    return prepared


def prepare_shapes(
    n: int, resolution: int, channels: int, cache_dir: Path, write_cache: bool = True
) -> PreparedImages:
    """The built-in shapes, drawn once per size and cached like the other datasets (drawing 4,096
    of them takes seconds). The key holds builtin.py's own bytes: a change in the drawing code
    draws them again. A cache that cannot be written is a note, not an error: they are in memory."""
    from gancli.data import builtin

    drawing = hashlib.sha256(Path(builtin.__file__).read_bytes()).hexdigest()[:16]
    parts = {"source": "builtin:shapes", "n": n, "resolution": resolution, "channels": channels}
    key = cache_key({**parts, "seed": builtin.SHAPES_SEED, "drawing": drawing})
    path = cache_dir / f"{builtin.SHAPES_NAME}-{n}-{resolution}px-{channels}ch-{key}.pt"
    payload, notes = _load_or_note(path, key)
    if payload is not None:
        return _cached(payload, builtin.SHAPES_NAME, path, notes)
    labels, classes = shapes_labels(n)
    prepared = PreparedImages(
        builtin.shapes(n, resolution, channels), builtin.SHAPES_NAME, path, [], False, notes, labels, classes
    )
    if not write_cache:  # a dry run writes nothing
        prepared.cache_file = None
        return prepared
    try:
        _save(path, prepared, [], key)
    except UserError as exc:
        prepared.cache_file = None
        prepared.warnings.append(
            f"The built-in shapes were not cached ({exc}); they are drawn again next time."
        )
    return prepared


def convert_array(
    images: torch.Tensor, resolution: int, channels: int, resize: str, chunk: int = 2048
) -> torch.Tensor:
    """uint8 (N, C, H, W) at any size -> uint8 (N, channels, resolution, resolution)."""
    out = []
    for start in range(0, images.shape[0], chunk):
        x = images[start : start + chunk].float()
        if x.shape[1] != channels:
            if channels == 1:
                x = (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
            else:
                x = x.expand(-1, 3, -1, -1)
        h, w = x.shape[-2:]
        if resize == "center-crop" and h != w:
            side = min(h, w)
            top, left = (h - side) // 2, (w - side) // 2
            x = x[..., top : top + side, left : left + side]
        if x.shape[-2:] != (resolution, resolution):
            x = F.interpolate(
                x, size=(resolution, resolution), mode="bilinear", align_corners=False, antialias=True
            )
        out.append(x.round().clamp(0, 255).to(torch.uint8))
    return torch.cat(out)


def _slug(folder: Path) -> str:
    name = "".join(c if c.isalnum() or c in "-_" else "_" for c in folder.resolve().name)
    return name or "images"
