"""progress.gif: the fixed-latent grids across training, as the CNTK post animates them."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from gancli.fsutil import atomic_write_bytes


def write_progress_gif(
    sample_paths: list[Path], out: Path, frame_ms: int = 250, max_frames: int = 120
) -> Path | None:
    """Animate the sample grids (evenly thinned to max_frames, last frame held longer)."""
    if not sample_paths:
        return None
    if len(sample_paths) > max_frames:
        step = len(sample_paths) / max_frames
        picked = [sample_paths[int(i * step)] for i in range(max_frames - 1)] + [sample_paths[-1]]
    else:
        picked = list(sample_paths)
    frames = []
    for path in picked:
        with Image.open(path) as img:
            frames.append(img.convert("RGB").quantize(colors=256, dither=Image.Dither.NONE))
    durations = [frame_ms] * (len(frames) - 1) + [frame_ms * 8]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0)
    atomic_write_bytes(out, buffer.getvalue())
    return out
