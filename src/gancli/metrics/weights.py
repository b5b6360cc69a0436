"""Where the FID Inception weights file is: found without importing torch, so that `gan score`
says at once when it is missing instead of after loading torch and the generator."""

from __future__ import annotations

import os
from pathlib import Path

from gancli.errors import UserError

# The file's public names; the suffix is the start of its sha256 (same bytes for both peers).
WEIGHTS_FILENAME = "pt_inception-2015-12-05-6726825d.pth"
WEIGHTS_URL = "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + WEIGHTS_FILENAME
WEIGHTS_ENV = "GAN_INCEPTION_WEIGHTS"


def find_weights(weights: str | os.PathLike | None, root: str | os.PathLike | None = None) -> Path:
    """Resolve the weights file: ``--weights``, else ``$GAN_INCEPTION_WEIGHTS``, else `gan download inception`'s file."""
    if weights:
        return _existing(Path(weights).expanduser(), "--weights")
    env = os.environ.get(WEIGHTS_ENV)
    if env:
        return _existing(Path(env).expanduser(), f"${WEIGHTS_ENV}")
    downloaded = _downloaded_weights(root)
    if downloaded is not None:
        return downloaded
    raise UserError(
        "No Inception weights found: FID, KID, IS and precision/recall need the standard "
        f"FID Inception v3 weights ({WEIGHTS_FILENAME}); gancli never substitutes other weights. "
        "Run `gan download inception` to fetch and verify them into the data root, or fetch "
        f"{WEIGHTS_URL} on another machine and pass the file with --weights PATH or set "
        f"${WEIGHTS_ENV}=PATH."
    )


def _existing(path: Path, source: str) -> Path:
    if not path.is_file():
        raise UserError(
            f"Inception weights file {path} (from {source}) does not exist. Point {source} at "
            f"the downloaded {WEIGHTS_FILENAME}, or run `gan download inception`."
        )
    return path


def _downloaded_weights(root: str | os.PathLike | None) -> Path | None:
    try:
        # Imported lazily: the data registry is optional for this module and is written separately.
        from gancli.data.registry import downloaded_file
    except ImportError:
        return None
    found = downloaded_file("inception", root)
    return Path(found) if found is not None else None
