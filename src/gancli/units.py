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


_DURATION_RE = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$")
MAX_DURATION_S = 366 * 24 * 3600.0


def parse_duration(text: str | float | int, *, option: str = "--time") -> float:
    """``'90s'``, ``'30m'``, ``'2h'``, ``'1h30m'`` (or a number of seconds) -> seconds."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        seconds = float(text)
    else:
        compact = str(text).strip().lower().replace(" ", "")
        match = _DURATION_RE.match(compact)
        if compact and re.fullmatch(r"\d+(?:\.\d+)?", compact):
            seconds = float(compact)
        elif not compact or match is None or not any(match.groups()):
            raise UserError(
                f"{option} {str(text)!r} is not a duration: give a number with h, m or s, "
                "e.g. 90s, 30m, 2h or 1h30m (a bare number is seconds)."
            )
        else:
            h, m, s = (float(g) if g else 0.0 for g in match.groups())
            seconds = h * 3600 + m * 60 + s
    if not 0 <= seconds <= MAX_DURATION_S:  # NaN fails this too
        raise UserError(f"{option} {str(text)!r} must be from 0 (no limit) to 366 days.")
    return seconds


def format_duration(seconds: float) -> str:
    """3725 -> '1h02m05s', 95 -> '1m35s', 42.3 -> '42s'."""
    whole = int(round(seconds))
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h}h{m:02d}m{s:02d}s"
    return f"{m}m{s:02d}s" if m else f"{s}s"
