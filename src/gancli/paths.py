"""Where gancli keeps downloaded datasets, prepared caches and weights."""

from __future__ import annotations

import os
from pathlib import Path


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The data root: ``root`` if given, else ``$GAN_HOME``, else the platform cache folder."""
    if root:
        return Path(root).expanduser()
    env = os.environ.get("GAN_HOME")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "gancli"
