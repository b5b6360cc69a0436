"""Turning `--data NAME|PATH` into a prepared uint8 tensor."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gancli.data import registry
from gancli.data.builtin import SHAPES_DEFAULT_SIZE, SHAPES_NAME
from gancli.data.prepared import (
    PreparedImages,
    Progress,
    array_cache,
    convert_array,
    folder_cache,
    open_array,
    prepare_array,
    prepare_folder,
    prepare_shapes,
)
from gancli.errors import UserError
from gancli.limits import check_seed
from gancli.paths import data_root


def load_images(
    spec: str,
    resolution: int,
    channels: int,
    resize_mode: str = "resize",
    *,
    root: str | None = None,
    progress: Progress | None = None,
    size: int = 0,
    write_cache: bool = True,
) -> PreparedImages:
    """The images of a dataset name (built-in or downloaded) or a folder, at resolution x resolution
    (`write_cache=False`: the built-in shapes are drawn but not cached, for a dry run)."""
    if not spec:
        raise UserError(
            "No dataset given. Pass --data with a dataset name (see `gan download --list`, or the built-in `shapes`) or a folder of images."
        )
    cache_dir = data_root(root) / "prepared"
    if spec == SHAPES_NAME:
        return prepare_shapes(size or SHAPES_DEFAULT_SIZE, resolution, channels, cache_dir, write_cache)
    path = Path(spec).expanduser()
    if path.exists() or "/" in spec or spec.startswith("."):
        if path.is_file():
            raise UserError(f"--data {spec} is a file; give a folder of images or a dataset name.")
        return prepare_folder(path, resolution, channels, resize_mode, cache_dir, progress)
    return _load_registered(spec, resolution, channels, resize_mode, root, cache_dir, progress)


def _load_registered(
    name: str,
    resolution: int,
    channels: int,
    resize_mode: str,
    root: str | None,
    cache_dir: Path,
    progress: Progress | None,
) -> PreparedImages:
    """A dataset installed by `gan download` (a registry name or a URL's --name)."""
    folder = _downloaded(name, root)
    if folder is None:
        raise UserError(
            f"The dataset '{name}' is not downloaded yet under {data_root(root)}. Run `gan download {name}` first (or `gan download {name} --from-file PATH` with a copy fetched elsewhere)."
        )
    array_file = folder / registry.IMAGES_NPY
    if array_file.exists():
        return prepare_array(array_file, resolution, channels, resize_mode, cache_dir, name)
    return prepare_folder(folder, resolution, channels, resize_mode, cache_dir, progress)


def _downloaded(name: str, root: str | None) -> Path | None:
    """The folder `gan download` installed `name` into; None for a known dataset not downloaded
    yet; a name that is neither is a UserError."""
    folder = registry.find_downloaded(name, root)
    if folder is None and name not in registry.DATASETS:
        known = ", ".join([SHAPES_NAME, *sorted(registry.DATASETS)])
        raise UserError(
            f"--data {name} is neither a folder nor a known dataset. Known datasets: {known}; or give the path of a folder of images."
        )
    return folder


def preview_indices(total: int, n: int, seed: int = 0) -> list[int]:
    """Which of `total` images a preview of n shows: a seeded random sample across the whole
    dataset in dataset order (the first files would show one class of a class-folder dataset)."""
    import torch

    check_seed(seed)
    pick = torch.randperm(total, generator=torch.Generator().manual_seed(seed))[: max(1, min(n, total))]
    return sorted(pick.tolist())


@dataclass
class DataLook:
    """What `--data` names, found without decoding or caching anything."""

    source: str  # the folder, or the dataset's name
    images: int | None  # image files found, rows of the array, or the registry's count; None: unknown
    ready: bool  # loading it decodes nothing: built in, or already prepared at this size
    download: str | None = None  # the command that fetches a known dataset not downloaded yet


def look_at(
    spec: str, resolution: int, channels: int, resize_mode: str = "resize", *, root: str | None = None
) -> DataLook:
    """Where `load_images` would take its images from, and whether it would have to decode them
    first (a UserError for the data it would refuse)."""
    if not spec:
        load_images(spec, resolution, channels)  # raises its "no dataset given" message
    cache_dir = data_root(root) / "prepared"
    if spec == SHAPES_NAME:
        return DataLook(SHAPES_NAME, None, True)
    path = Path(spec).expanduser()
    if path.exists() or "/" in spec or spec.startswith("."):
        if path.is_file():
            raise UserError(f"--data {spec} is a file; give a folder of images or a dataset name.")
        cache, _, entries = folder_cache(path, resolution, channels, resize_mode, cache_dir)
        return DataLook(str(path), len(entries), cache.exists())
    folder = _downloaded(spec, root)
    if folder is None:
        return DataLook(spec, registry.DATASETS[spec].images, False, f"gan download {spec}")
    array_file = folder / registry.IMAGES_NPY
    if not array_file.exists():
        cache, _, entries = folder_cache(folder, resolution, channels, resize_mode, cache_dir)
        return DataLook(spec, len(entries), cache.exists())
    cache, _ = array_cache(array_file, resolution, channels, resize_mode, cache_dir, spec)
    return DataLook(spec, open_array(array_file, spec).shape[0], cache.exists())


__all__ = ["DataLook", "PreparedImages", "convert_array", "load_images", "look_at", "preview_indices"]
