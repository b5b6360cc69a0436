"""Rendering helpers for the commands' tables: sizes and ages for people, tables that fit the terminal."""

from __future__ import annotations

from dataclasses import dataclass

from rich.markup import escape as escape_markup
from rich.table import Table

from gancli.errors import printable

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def escape(text: object, lines: bool = False) -> str:
    """``text`` safe to print: rich markup escaped and control characters (ESC sequences, OSC
    titles, newlines in a file name) shown as escapes; ``lines``: newlines kept (a YAML dump)."""
    if lines:
        return "\n".join(escape_markup(printable(part)) for part in str(text).split("\n"))
    return escape_markup(printable(str(text)))


def human_size(n_bytes: int) -> str:
    """1536 -> '1.5 KiB', 5_000_000 -> '4.8 MiB' (binary units, as `du -h`)."""
    size = float(n_bytes)
    for unit in _UNITS:
        if abs(size) < 1024 or unit == _UNITS[-1]:
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def human_age(seconds: float) -> str:
    """Seconds ago as '45 s', '12 min', '3 h', '5 d'."""
    seconds = max(seconds, 0)
    for limit, div, unit in ((60, 1, "s"), (3600, 60, "min"), (86400, 3600, "h")):
        if seconds < limit:
            return f"{int(seconds // div)} {unit}"
    return f"{int(seconds // 86400)} d"


def human_duration(seconds: float) -> str:
    """A duration for people: '85 ms', '4.2 s', '12 min 5 s', '3 h 20 min', '2 d 5 h'."""
    if seconds < 1:
        return f"{seconds * 1000:.3g} ms"
    if seconds < 60:
        return f"{seconds:.3g} s"
    whole = round(seconds)
    for limit, big, small, names in ((3600, 60, 1, ("min", "s")), (86400, 3600, 60, ("h", "min"))):
        if whole < limit:
            return f"{whole // big} {names[0]} {whole % big // small} {names[1]}"
    return f"{whole // 86400} d {whole % 86400 // 3600} h"


@dataclass
class Col:
    """A table column: `wrap` lets long text wrap at spaces; `drop` ranks which to leave out when
    the terminal is too narrow (1 goes first; 0 is never dropped)."""

    name: str
    justify: str = "left"
    wrap: bool = False
    drop: int = 0


def _need(col: Col, cells: list[str]) -> int:
    """The narrowest width that breaks no word of the column (a wrapped column: its longest word)."""
    texts = [col.name, *cells]
    if col.wrap:
        return max(len(word) for text in texts for word in (text.split() or [""]))
    return max(len(text) for text in texts)


def fit_table(title: str | None, cols: list[Col], rows: list[list[str]], width: int) -> Table:
    """A rich Table of `rows` that fits `width` columns without breaking a word: wrapped columns
    shrink to their longest word, and droppable columns go (lowest `drop` first) if still too wide."""
    keep = list(range(len(cols)))
    needs = [_need(c, [r[i] for r in rows]) for i, c in enumerate(cols)]
    wants = [max(len(text) for text in (c.name, *(r[i] for r in rows))) for i, c in enumerate(cols)]

    def total(indices: list[int]) -> int:  # rich's default box: 1 border + 2 padding per column, + 1
        return sum(needs[i] + 3 for i in indices) + 1

    for i in sorted((i for i, c in enumerate(cols) if c.drop), key=lambda i: cols[i].drop):
        if total(keep) <= width:
            break
        keep.remove(i)
    # each column its narrowest unbroken width, then the room left to the wrapped ones, left first;
    # exact widths, because rich's own squeezing may crop a column it cannot wrap
    sizes = {i: needs[i] for i in keep}
    spare = width - total(keep)
    for i in keep:
        grow = max(min(wants[i] - sizes[i], spare), 0)
        sizes[i] += grow
        spare -= grow
    table = Table(title=title)
    for i in keep:
        col = cols[i]
        table.add_column(col.name, justify=col.justify, no_wrap=not col.wrap, width=sizes[i])
    for row in rows:
        table.add_row(*(row[i] for i in keep))
    return table
