"""progress.gif: the fixed-latent grids across training, as the CNTK post animates them.

A picture in samples/ that cannot be read (a 0-byte file left by a full disk, a damaged or
foreign file, something that is not a regular file) is left out with one warning: training
never stops for a picture, only for its checkpoints and metrics.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

from PIL import Image

from gancli.fsutil import atomic_write_bytes


class PictureSkipped(UserWarning):
    """A sample picture that could not be read was left out of progress.gif."""


def _frame(path: Path) -> Image.Image | None:
    """One GIF frame from a sample grid, or None (with a warning) when it cannot be read."""
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
        warnings.warn(
            f"{path} cannot be read ({type(exc).__name__}: {exc}); it is left out of progress.gif.",
            PictureSkipped,
            stacklevel=2,
        )
        return None


def write_progress_gif(
    sample_paths: list[Path], out: Path, frame_ms: int = 250, max_frames: int = 120
) -> Path | None:
    """Animate the sample grids (evenly thinned to max_frames, last frame held longer); None when
    there is no readable grid."""
    if len(sample_paths) > max_frames:
        step = len(sample_paths) / max_frames
        picked = [sample_paths[int(i * step)] for i in range(max_frames - 1)] + [sample_paths[-1]]
    else:
        picked = list(sample_paths)
    frames = [frame for frame in map(_frame, picked) if frame is not None]
    if not frames:
        return None
    durations = [frame_ms] * (len(frames) - 1) + [frame_ms * 8]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0)
    atomic_write_bytes(out, buffer.getvalue())
    return out
