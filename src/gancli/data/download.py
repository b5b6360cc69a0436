"""Fetching datasets, in two layers (this module names what `gan download` uses from each):

- `data/transfer.py`: one file over HTTP(S) to ``dest`` through ``dest.part``, resumable,
  retried, bounded and verified (``download_file``, ``verify_file``);
- `data/install.py`: a registry entry or any archive URL, downloaded or taken ``--from-file``,
  built by its format (`data/formats.py`) in a temporary folder and renamed into
  ``datasets/<name>`` in one step (``install_dataset``, ``install_url``).
"""

from __future__ import annotations

from gancli.data.formats import IMAGE_SUFFIXES
from gancli.data.install import InstallResult, install_dataset, install_url
from gancli.data.transfer import (
    DEFAULT_MAX_BYTES,
    DownloadOptions,
    MessageFn,
    ProgressFn,
    download_file,
    verify_file,
)

__all__ = [
    "DEFAULT_MAX_BYTES",
    "IMAGE_SUFFIXES",
    "DownloadOptions",
    "InstallResult",
    "MessageFn",
    "ProgressFn",
    "download_file",
    "install_dataset",
    "install_url",
    "verify_file",
]
