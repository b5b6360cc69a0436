"""progress.gif: the fixed-latent grids across training, as the CNTK post animates them.

A picture in samples/ that cannot be read (a 0-byte file left by a full disk, a damaged or
foreign file, something that is not a regular file) is left out with one warning: training
never stops for a picture, only for its checkpoints and metrics.
"""

from __future__ import annotations

import io
import threading
import warnings
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from gancli.fsutil import atomic_write_bytes


class PictureSkipped(UserWarning):
    """A sample picture that could not be read was left out of progress.gif."""


def warn_skipped(path: Path, message: str) -> None:
    """What an unreadable grid gets by default: a PictureSkipped warning."""
    warnings.warn(message, PictureSkipped, stacklevel=4)


def _frame(path: Path, on_skip: Callable[[Path, str], None] = warn_skipped) -> Image.Image | None:
    """One GIF frame from a sample grid, or None (told to ``on_skip``) when it cannot be read."""
    try:
        if not path.is_file():  # a folder, a FIFO (opening it would block), a dangling link
            raise OSError("not a regular file")
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                return img.convert("RGB").quantize(colors=256, dither=Image.Dither.NONE)
    except (
        OSError,
        ValueError,
        SyntaxError,
        Image.DecompressionBombWarning,
        Image.DecompressionBombError,
    ) as exc:
        # SyntaxError: Pillow's plugins raise it for some malformed headers
        on_skip(path, f"{path} cannot be read ({type(exc).__name__}: {exc}); it is left out of progress.gif.")
        return None


def write_progress_gif(
    sample_paths: list[Path],
    out: Path,
    frame_ms: int = 250,
    max_frames: int = 120,
    *,
    on_skip: Callable[[Path, str], None] = warn_skipped,
    stop: threading.Event | None = None,
) -> Path | None:
    """Animate the sample grids (evenly thinned to max_frames, last frame held longer); None when
    there is no readable grid, or when ``stop`` is set (checked between frames: a run ending at
    once abandons the redraw). An unreadable grid is told to ``on_skip`` (default: a warning)."""
    if len(sample_paths) > max_frames:
        step = len(sample_paths) / max_frames
        picked = [sample_paths[int(i * step)] for i in range(max_frames - 1)] + [sample_paths[-1]]
    else:
        picked = list(sample_paths)
    frames = []
    for path in picked:
        if stop is not None and stop.is_set():
            return None
        frame = _frame(path, on_skip)
        if frame is not None:
            frames.append(frame)
    if not frames or (stop is not None and stop.is_set()):
        return None
    durations = [frame_ms] * (len(frames) - 1) + [frame_ms * 8]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0)
    atomic_write_bytes(out, buffer.getvalue())
    return out
