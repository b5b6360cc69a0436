"""Byte sizes for people: ``format_size`` for display, ``parse_size`` for options like ``--max-size 4G``."""

from __future__ import annotations

import re

from gancli.errors import UserError

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")
_FACTORS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*$", re.IGNORECASE)


def format_size(size: int | None) -> str:
    """``1536`` -> ``'1.5 KiB'``; binary units, as `ls -h` and `du -h` count; ``None`` -> ``'?'``."""
    if size is None:
        return "?"
    value = float(size)
    for unit in _UNITS:
        if abs(value) < 1024 or unit == _UNITS[-1]:
            return f"{int(value):,} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def parse_size(text: str, *, option: str = "size") -> int:
    """``'500M'`` -> 524,288,000 bytes; K/M/G/T are powers of 1024, an optional ``B``/``iB`` is allowed."""
    match = _SIZE_RE.match(text or "")
    if not match:
        raise UserError(
            f"{option} {text!r} is not a size: give a number of bytes, or a number with K, M, G or T "
            f"(powers of 1024), e.g. 500M or 4G."
        )
    number, unit = match.groups()
    size = int(float(number) * _FACTORS[unit.upper()])
    if size <= 0:
        raise UserError(f"{option} {text!r} must be more than 0 bytes, e.g. 500M or 4G.")
    return size
