"""Scanning a folder of images and decoding one image to a fixed-size uint8 array.

Decoding choices (stated here because they change pixels):
- EXIF orientation is applied first.
- Transparent images (RGBA, LA, palette with transparency) are composited on WHITE.
- 16-bit images are scaled to 8 bits (value >> 8); CMYK goes through Pillow's RGB conversion.
- 'resize' is a plain bilinear (antialiased) resize to resolution x resolution, aspect not kept
  (MATLAB's augmentedImageDatastore); 'center-crop' resizes the short side then crops the middle.
- JPEGs are decoded with Pillow's draft mode (DCT scaling) when the image is at least twice
  the target size: several times faster, visually the same after the resize.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from gancli.errors import UserError
from gancli.limits import MAX_RESOLUTION

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


def scan_images(folder: Path) -> list[tuple[str, int, int]]:
    """Image files under `folder` (recursive, sorted) as (relative path, size, mtime_ns)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if name.startswith(".") or Path(name).suffix.lower() not in IMAGE_SUFFIXES:
                continue
            path = Path(dirpath) / name
            try:
                st = path.stat()
            except OSError:
                continue  # vanished or dangling link: the decoder would skip it anyway
            if not path.is_file():
                continue
            found.append((path.relative_to(folder).as_posix(), st.st_size, st.st_mtime_ns))
    found.sort()
    return found


def _to_mode(img: Image.Image, channels: int) -> Image.Image:
    """Convert any Pillow mode to 'RGB' or 'L', compositing transparency on white."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.uint32)
        shift = 8 if arr.max(initial=0) > 255 else 0
        img = Image.fromarray((arr >> shift).clip(0, 255).astype(np.uint8), mode="L")
    elif img.mode == "F":
        arr = np.asarray(img, dtype=np.float32)
        img = Image.fromarray(arr.clip(0, 255).astype(np.uint8), mode="L")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    want = "L" if channels == 1 else "RGB"
    return img if img.mode == want else img.convert(want)


def image_side(path: str | os.PathLike) -> int:
    """The height an image file's header declares, refused (UserError) when it is unreadable, a
    decompression bomb, or above MAX_RESOLUTION: a header is untrusted input."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                width, height = img.size
    except (OSError, ValueError, Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise UserError(
            f"Cannot read {path} to learn the image size ({type(exc).__name__}: {exc}); pass --resolution."
        ) from exc
    if not 0 < height <= MAX_RESOLUTION:
        raise UserError(
            f"{path} declares {width}x{height} pixels; an image side above {MAX_RESOLUTION} is not inferred "
            f"from a file. Pass --resolution (at most {MAX_RESOLUTION})."
        )
    return int(height)


def decode_image(path: str | os.PathLike, resolution: int, channels: int, resize: str) -> np.ndarray:
    """One image file -> uint8 array (channels, resolution, resolution). Raises on unreadable files."""
    with warnings.catch_warnings():
        # Pillow's DecompressionBombWarning becomes an error: a huge image is skipped, not decoded
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(path) as img:
            if img.format == "JPEG":
                img.draft("RGB" if channels == 3 else "L", (resolution * 2, resolution * 2))
            img.load()
            img = ImageOps.exif_transpose(img)
            img = _to_mode(img, channels)
            if resize == "center-crop":
                img = ImageOps.fit(img, (resolution, resolution), Image.Resampling.BILINEAR)
            else:
                img = img.resize((resolution, resolution), Image.Resampling.BILINEAR)
            arr = np.asarray(img, dtype=np.uint8)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return np.ascontiguousarray(arr.transpose(2, 0, 1))
