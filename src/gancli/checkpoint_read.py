"""Reading a checkpoint as an untrusted file: its kind sniffed, weights-only unpickling, then
every part checked against its own config (`checkpoint_check`). The one way gancli reads
checkpoints; `gan sample`, `gan score` and `gan export` use it without importing `training/`.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from gancli.checkpoint_check import fallback_hint, validate_checkpoint
from gancli.errors import UserError
from gancli.fsutil import zip_damage

# What a file that is not a checkpoint starts with: named in the refusal, so a mix-up is obvious.
_MAGIC = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip file: a .tgz or .gz archive"),
    (b"BZh", "a bzip2 file"),
    (b"\xfd7zXZ", "an xz file"),
    (b"\x93NUMPY", "a NumPy array"),
)


def sniff_file(path: Path) -> tuple[str, str] | None:
    """None for a zip file (what torch.save writes); else ("other", what it is) for a file of
    another kind, or ("damaged", why) for bytes of no known kind. Checked before torch's own
    parser sees the file: its errors name pickle opcodes, or none at all (`KeyError: 101`)."""
    with open(path, "rb") as handle:
        head = handle.read(512)
    if head.startswith(b"PK\x03\x04"):
        return None
    kind = next((name for magic, name in _MAGIC if head.startswith(magic)), None)
    if kind is None and head and b"\x00" not in head:
        try:
            head.decode("utf-8")
            kind = "a text file"
        except UnicodeDecodeError:
            pass
    if kind is not None:
        return "other", f"it is {kind}"
    return (
        "damaged",
        "it is empty" if not head else "it does not start like the zip archive torch.save writes",
    )


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with weights-only unpickling (no code can run), then check every part of
    it against its own config (checkpoint_check): the one way gancli reads checkpoints."""
    path = Path(path)
    try:
        sniffed = sniff_file(path)
        damage = zip_damage(path) if sniffed is None and zipfile.is_zipfile(path) else None
    except OSError as exc:
        raise UserError(
            f"Checkpoint {path} cannot be read ({exc.strerror or exc}).{fallback_hint(path)}"
        ) from exc
    if sniffed is not None and sniffed[0] == "other":
        raise UserError(
            f"{path} is not a gan checkpoint ({sniffed[1]}). Give a checkpoint written by `gan train` "
            "(a run folder, or its checkpoints/last.pt)."
        )
    if sniffed is not None:
        damage = sniffed[1]
    if damage is not None:
        raise UserError(f"Checkpoint {path} is truncated or corrupt: {damage}.{fallback_hint(path)}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        if "Unsupported global" not in str(exc) and "GLOBAL" not in str(exc):
            raise UserError(
                f"Checkpoint {path} cannot be read; it is truncated or corrupt ({str(exc).splitlines()[0][:160]}).{fallback_hint(path)}"
            ) from exc
        raise UserError(
            f"Checkpoint {path} was refused: it holds Python objects that weights-only loading does not allow (such a file could run code when loaded). Only load checkpoints written by `gan train`.{fallback_hint(path)}"
        ) from exc
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(
            f"Checkpoint {path} cannot be read; it is truncated or corrupt ({type(exc).__name__}: {str(exc)[:160]}).{fallback_hint(path)}"
        ) from exc
    validate_checkpoint(payload, path)
    return payload
