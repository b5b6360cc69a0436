"""Real colour pictures with labels for the quality benchmark: Noto emoji at 64x64.

`npm pack` fetches two Apache-2.0 packages from the npm registry: `emoji-datasource-google`
(the 64x64 PNGs) and `emoji-datasource` (emoji.json: each emoji's image name, category,
subcategory and skin-tone variants). Every image, skin tones included, is composited on
white (as `gan` loads transparency) and kept as uint8 with its category (9, the tiny
`Component` left out) and subcategory (about 100) labels. The split is by base emoji: an
emoji and its skin-tone variants fall on the same side, so the held-out set is new pictures,
not recoloured copies of training ones. Not needed by unit tests or CI.

    python benchmarks/emoji.py            # prepares benchmarks/out/emoji/emoji64.pt and a preview
    python benchmarks/emoji.py --class-folders DIR   # and the training split as DIR/CATEGORY/*.png,
                                                     # for `gan train --data DIR --conditional`
"""

from __future__ import annotations

import argparse
import io
import json
import re
import subprocess
import tarfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

PACKAGES = {"images": "emoji-datasource-google@16.0.0", "index": "emoji-datasource@16.0.0"}
OUT = Path(__file__).resolve().parent / "out" / "emoji"
HELD_OUT_EVERY = 5  # every 5th base emoji (by sort order) is held out: 20%


def _tarball(spec: str, folder: Path) -> Path:
    name = spec.replace("@", "-") + ".tgz"
    path = folder / name
    if not path.is_file():
        subprocess.run(["npm", "pack", spec, "--silent"], cwd=folder, check=True, stdout=subprocess.DEVNULL)
    return path


def _read_members(path: Path, wanted: set[str]) -> dict[str, bytes]:
    """The regular files of a tarball whose names are in `wanted`, read in memory (nothing
    is extracted to disk)."""
    found: dict[str, bytes] = {}
    with tarfile.open(path, "r:gz") as archive:
        for member in archive:
            if member.isfile() and member.name in wanted:
                found[member.name] = archive.extractfile(member).read()
    return found


def _on_white(png: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(png)).convert("RGBA")
    if image.size != (64, 64):
        image = image.resize((64, 64), Image.LANCZOS)
    white = Image.new("RGBA", image.size, (255, 255, 255, 255))
    return np.asarray(Image.alpha_composite(white, image).convert("RGB"))


def prepare(folder: Path = OUT) -> dict[str, torch.Tensor]:
    """{'images' uint8 (N,3,64,64), 'category', 'subcategory', 'held_out' bool, 'names'}."""
    cache = folder / "emoji64.pt"
    if cache.is_file():
        return torch.load(cache, weights_only=True)
    folder.mkdir(parents=True, exist_ok=True)
    index = json.loads(
        _read_members(_tarball(PACKAGES["index"], folder), {"package/emoji.json"})["package/emoji.json"]
    )
    index = sorted(
        (e for e in index if e["category"] != "Component" and e.get("has_img_google")),
        key=lambda e: e["sort_order"],
    )
    categories = sorted({e["category"] for e in index})
    subcategories = sorted({e["subcategory"] for e in index})
    entries = []  # (image file, category, subcategory, held out)
    for i, e in enumerate(index):
        files = [e["image"]] + [v["image"] for v in e.get("skin_variations", {}).values()]
        for f in files:
            entries.append(
                (
                    f,
                    categories.index(e["category"]),
                    subcategories.index(e["subcategory"]),
                    i % HELD_OUT_EVERY == 0,
                )
            )
    pngs = _read_members(
        _tarball(PACKAGES["images"], folder), {f"package/img/google/64/{f}" for f, *_ in entries}
    )
    entries = [e for e in entries if f"package/img/google/64/{e[0]}" in pngs]
    images = np.stack([_on_white(pngs[f"package/img/google/64/{f}"]) for f, *_ in entries]).transpose(
        0, 3, 1, 2
    )
    data = {
        "images": torch.from_numpy(np.ascontiguousarray(images)),
        "category": torch.tensor([e[1] for e in entries]),
        "subcategory": torch.tensor([e[2] for e in entries]),
        "held_out": torch.tensor([e[3] for e in entries]),
        "categories": categories,
        "subcategories": subcategories,
    }
    tmp = cache.with_suffix(".tmp")
    torch.save(data, tmp)
    tmp.replace(cache)
    return data


def write_class_folders(data: dict, root: Path) -> dict[str, int]:
    """The training split as PNGs in one folder per category, named `INDEX-category` so that
    the folders' sorted order (gan's class order) is the judge's category order."""
    train = ~data["held_out"]
    counts: dict[str, int] = {}
    for i, (image, c) in enumerate(zip(data["images"][train], data["category"][train])):
        slug = re.sub(r"[^a-z0-9]+", "-", data["categories"][c].lower()).strip("-")
        folder = root / f"{int(c)}-{slug}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(folder / f"{i:04d}.png")
        counts[folder.name] = counts.get(folder.name, 0) + 1
    return counts


if __name__ == "__main__":
    from gancli.reporting.grids import make_grid

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--class-folders", type=Path, help="also write the training split here, a folder per category"
    )
    args = parser.parse_args()
    data = prepare()
    if args.class_folders:
        print(write_class_folders(data, args.class_folders))
    held = data["held_out"]
    print(
        f"{len(held)} emoji: {int((~held).sum())} for training, {int(held.sum())} held out; "
        f"{len(data['categories'])} categories, {len(data['subcategories'])} subcategories"
    )
    pick = torch.randperm(len(held), generator=torch.Generator().manual_seed(0))[:64]
    make_grid(data["images"][pick], cols=8).save(OUT / "preview.png")
    print(f"preview: {OUT / 'preview.png'}")
