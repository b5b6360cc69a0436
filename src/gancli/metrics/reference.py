"""Reference statistics: cached per (dataset, resolution, resize mode, weights), and pytorch-fid .npz import/export."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gancli.errors import UserError
from gancli.fsutil import atomic_write, file_digests
from gancli.metrics.features import Features, ProgressCallback, extract_features
from gancli.metrics.fid import load_stats_npz, statistics
from gancli.paths import data_root

CACHE_VERSION = 1


@dataclass
class ReferenceStats:
    """FID statistics of a reference set, and its pool features when KID or precision/recall need them."""

    mu: np.ndarray
    sigma: np.ndarray
    pool: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    @property
    def n(self) -> int | None:
        """Number of reference images, when known."""
        if self.pool is not None:
            return int(self.pool.shape[0])
        n = self.meta.get("n")
        return int(n) if n is not None else None

    @classmethod
    def from_features(cls, features: Features, keep_features: bool = True, **meta) -> ReferenceStats:
        """Statistics of ``features``; keeps the pool features (for KID, precision/recall) if asked."""
        mu, sigma = statistics(features)
        info = {
            "n": len(features),
            "resize": features.resize,
            "image_size": list(features.image_size) if features.image_size else None,
            "channels": features.channels,
        }
        info.update(meta)
        pool = np.asarray(features.pool, np.float64) if keep_features else None
        return cls(mu=mu, sigma=sigma, pool=pool, meta=info)


def stats_dir(root: str | os.PathLike | None = None) -> Path:
    """Folder of cached reference statistics: ``<data root>/stats``."""
    return data_root(root) / "stats"


@lru_cache(maxsize=8)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    return file_digests(path)["sha256"]  # size and mtime only key the cache


def weights_id(path: str | os.PathLike) -> str:
    """First 8 hex digits of the weights file's sha256 (6726825d for the standard file)."""
    p = Path(path)
    st = p.stat()
    return _sha256(str(p.resolve()), st.st_size, st.st_mtime_ns)[:8]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:48] or "dataset"


def cache_path(
    dataset: str, resolution: int, resize: str, weights: str, root: str | os.PathLike | None = None
) -> Path:
    """Cache file for one (dataset identity, resolution, resize mode, weights hash prefix)."""
    key = json.dumps([dataset, int(resolution), resize, weights, CACHE_VERSION])
    tag = hashlib.sha256(key.encode()).hexdigest()[:10]
    name = f"{_slug(dataset)}-{int(resolution)}px-{resize}-w{weights}-{tag}.npz"
    return stats_dir(root) / name


def save_reference(stats: ReferenceStats, path: str | os.PathLike) -> Path:
    """Write statistics (mu, sigma; pool features and metadata if present) atomically to ``path``."""
    arrays: dict[str, np.ndarray] = {"mu": stats.mu, "sigma": stats.sigma}
    if stats.pool is not None:
        # Pool features come out of the network as float32: storing them so is lossless.
        arrays["pool"] = np.asarray(stats.pool, np.float32)
    # Metadata as a JSON string (a unicode array), so the file loads with allow_pickle=False.
    arrays["meta"] = np.array(json.dumps(stats.meta, sort_keys=True))
    path = Path(path)
    with atomic_write(path, "wb") as handle:
        np.savez(handle, **arrays)
    return path


def load_reference(path: str | os.PathLike) -> ReferenceStats:
    """Read statistics written by ``save_reference`` or by pytorch-fid (``mu``, ``sigma`` only)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"Reference statistics file {path} does not exist.")
    mu, sigma = load_stats_npz(path)
    pool, meta = None, {}
    try:
        with np.load(path, allow_pickle=False) as data:
            if "pool" in data.files:
                pool = np.asarray(data["pool"], np.float64)
            if "meta" in data.files:
                meta = json.loads(str(data["meta"]))
                meta = meta if isinstance(meta, dict) else {}  # untrusted: only a mapping is used
    except (OSError, ValueError) as exc:
        raise UserError(f"Reference statistics file {path} cannot be read: {exc}.") from exc
    if pool is not None and (pool.ndim != 2 or pool.shape[1] != mu.shape[0]):
        raise UserError(
            f"Reference statistics file {path} holds features of shape {pool.shape}, which do not "
            f"match its mean of dimension {mu.shape[0]}; delete the file to recompute it."
        )
    meta.setdefault("source", str(path))
    return ReferenceStats(mu=mu, sigma=sigma, pool=pool, meta=meta)


def export_npz(stats: ReferenceStats, path: str | os.PathLike) -> Path:
    """Export ``mu`` and ``sigma`` in pytorch-fid's layout, for comparison with published
    statistics; a labelled reference's images per class go beside them (in ``meta``, which
    pytorch-fid ignores), so a conditional run scored against the file follows that mix."""
    path = Path(path)
    arrays = {"mu": np.asarray(stats.mu, np.float64), "sigma": np.asarray(stats.sigma, np.float64)}
    if "class_counts" in stats.meta:
        arrays["meta"] = np.array(json.dumps({"class_counts": stats.meta["class_counts"]}))
    with atomic_write(path, "wb") as handle:
        np.savez(handle, **arrays)
    return path


def import_npz(path: str | os.PathLike) -> ReferenceStats:
    """Import pytorch-fid-layout statistics (mu, sigma; any extra arrays written by gancli are kept)."""
    return load_reference(path)


def load_cached(
    dataset: str,
    resolution: int,
    resize: str,
    weights: str,
    root: str | os.PathLike | None = None,
    need_features: bool = False,
) -> ReferenceStats | None:
    """Cached statistics for this key, or None when absent (or when features are needed but not stored)."""
    path = cache_path(dataset, resolution, resize, weights, root)
    if not path.is_file():
        return None
    stats = load_reference(path)
    if need_features and stats.pool is None:
        return None
    return stats


def cached_reference(
    dataset: str,
    resolution: int,
    resize: str,
    weights: str,
    compute: Callable[[], Features],
    *,
    root: str | os.PathLike | None = None,
    need_features: bool = True,
) -> ReferenceStats:
    """Load the cached statistics for this key, or compute the features, cache them and return them."""
    found = load_cached(dataset, resolution, resize, weights, root, need_features)
    if found is not None:
        return found
    features = compute()
    stats = ReferenceStats.from_features(
        features,
        keep_features=need_features,
        dataset=dataset,
        resolution=int(resolution),
        weights=weights,
    )
    stats.meta["resize"] = resize
    save_reference(stats, cache_path(dataset, resolution, resize, weights, root))
    stats.meta.setdefault("source", dataset)
    return stats


def class_images(prepared: Any, class_name: str, ref: str) -> torch.Tensor:
    """The images of one class of a prepared dataset (gan score --class)."""
    if class_name not in prepared.classes:
        known = ", ".join(prepared.classes) or "none (no class subfolders)"
        raise UserError(
            f"--class {class_name}: the reference {ref} has no class of that name. Its classes: {known}. Give --ref the dataset or folder of class subfolders the run was trained on."
        )
    return prepared.images[prepared.labels == prepared.classes.index(class_name)]


def dataset_reference(
    ref: str,
    *,
    resolution: int,
    channels: int,
    metric_resize: str,
    weights: str,
    model: torch.nn.Module,
    device: torch.device,
    batch_size: int,
    root: Path | None,
    need_features: bool,
    progress: ProgressCallback | None,
    data_resize: str = "resize",
    data_size: int = 0,
    subset: int = 0,
    class_name: str | None = None,
) -> ReferenceStats:
    """Reference statistics of a dataset or folder (computed once, then cached).

    The images are prepared as training prepares them (`data_resize`: resize | center-crop;
    `data_size`: the built-in dataset's size), then `subset` of them (0: all) are drawn;
    `metric_resize` is how they are resized to Inception's input (tf, pytorch-fid, clean)."""
    from gancli.data.labels import class_counts
    from gancli.data.source import (
        load_images,  # imported here: data.source is heavy and optional for stats files
    )

    prepared = load_images(
        ref, resolution, channels, data_resize, root=str(root) if root else None, size=data_size
    )
    images = prepared.images if class_name is None else class_images(prepared, class_name, ref)
    labels = prepared.labels if class_name is None else None
    if subset and subset < images.shape[0]:
        # A fixed random subset: datasets are often sorted by class, so not the first ones.
        keep = (
            torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(0))[:subset].sort().values
        )
        images = images[keep]
        labels = labels[keep] if labels is not None else None
    # The identity covers what changes the pixels: the prepared cache file name carries a hash
    # of the source's files (or array), resolution, channels and resize; plus our subset.
    content = prepared.cache_file.name if prepared.cache_file else f"{prepared.source}-{images.shape[0]}"
    identity = f"{ref}|{content}|{data_resize}|{channels}ch|n={images.shape[0]}"
    if class_name is not None:
        identity += f"|class={class_name}"

    def compute() -> Features:
        if progress:  # before the first batch: a front end can say what is coming and its cost
            progress(0, int(images.shape[0]))
        return extract_features(
            images,
            model,
            metric_resize,
            device,
            progress=progress,
            batch_size=batch_size,
        )

    stats = cached_reference(
        identity, resolution, metric_resize, weights, compute, root=root, need_features=need_features
    )
    stats.meta["source"] = ref
    if labels is not None and prepared.classes:
        # What a conditional generator's images must follow to be compared with these (a
        # statistics file exported from them keeps it).
        stats.meta["class_counts"] = class_counts(labels, prepared.classes)
    return stats
