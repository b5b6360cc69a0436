"""The DCGAN paper's latent arithmetic (Radford et al. 2016, section 6.3): average the latents of a
few chosen samples per concept, add and subtract the averages, and draw the result with a few
neighbours (the result plus small random offsets, as the paper shows).

`gan sample RUN --seed 7 -n 36 --numbered` draws the numbered grid to choose from;
`--arithmetic "3,8,12 - 5,9,21 + 2,14,30"` with the same --seed and -n picks those tiles' latents.
The parser needs no torch, so a typo is reported before any checkpoint is read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gancli.errors import UserError

if TYPE_CHECKING:
    import torch

NEIGHBOUR_SCALE = 0.25  # the offsets' standard deviation: close enough to keep the concept
_TOKEN = re.compile(r"\s*(\d+|[,+-]|[^\s\d,+-]+)")
_END = "<end>"
_EXAMPLE = 'e.g. "3,8,12 - 5,9,21 + 2,14,30"'


@dataclass(frozen=True)
class Group:
    """One concept: the tiles whose latents are averaged, and whether it is added or subtracted."""

    sign: int  # +1 or -1
    tiles: tuple[int, ...]

    @property
    def label(self) -> str:
        return ("-" if self.sign < 0 else "+") + ",".join(str(t) for t in self.tiles)


def _bad(text: str, token: str, expected: str) -> UserError:
    where = "it ends" if token == _END else f"{token!r} is there"
    return UserError(
        f"--arithmetic {text!r}: {where} where {expected} was expected. Write groups of tile numbers "
        f"from the --numbered grid, joined by + or -, {_EXAMPLE}."
    )


def _tokens(text: str) -> list[str]:
    tokens, pos = [], 0
    while text[pos:].strip():
        match = _TOKEN.match(text, pos)
        assert match is not None  # the pattern's last branch takes any other characters
        tokens.append(match.group(1))
        pos = match.end()
    return tokens


def _tile(text: str, token: str, n: int) -> int:
    if not token.isdecimal():
        raise _bad(text, token, "a tile number")
    if int(token) >= n:
        raise UserError(
            f"--arithmetic {text!r}: tile {int(token)} is beyond this grid of -n {n} (tiles 0 to "
            f"{n - 1}). Give the -n and --seed of the --numbered grid you chose from."
        )
    return int(token)


def parse_arithmetic(text: str, n: int) -> list[Group]:
    """Groups of tile numbers joined by + or - ("3,8,12 - 5,9,21 + 2,14,30"); every number must be
    a tile of the -n `n` grid. A UserError names the token that does not fit."""
    tokens = [*_tokens(text), _END]
    sign = 1
    if tokens[0] in ("+", "-"):  # a sign before the first group
        sign = -1 if tokens.pop(0) == "-" else 1
    groups: list[Group] = []
    tiles = [_tile(text, tokens[0], n)]
    for sep, token in zip(tokens[1::2], tokens[2::2] + [_END]):
        if sep not in (",", "+", "-", _END):
            raise _bad(text, sep, "a comma, + or -")
        if sep != ",":
            groups.append(Group(sign, tuple(tiles)))
            if sep == _END:
                break
            sign, tiles = (-1 if sep == "-" else 1), []
        tiles.append(_tile(text, token, n))
    if len(groups) < 2:
        raise UserError(
            f"--arithmetic {text!r} has one group; it needs at least two joined by + or -, {_EXAMPLE}."
        )
    return groups


def arithmetic_latents(
    z: torch.Tensor, groups: list[Group], neighbours: int, rng: torch.Generator
) -> torch.Tensor:
    """One row of latents: each group's mean (unsigned), their signed sum, and `neighbours` latents
    around that sum (offsets NEIGHBOUR_SCALE * N(0, 1) drawn from `rng`)."""
    import torch

    means = torch.stack([z[list(g.tiles)].mean(dim=0) for g in groups])
    signs = torch.tensor([float(g.sign) for g in groups], dtype=z.dtype).view(-1, 1)
    result = (means * signs).sum(dim=0, keepdim=True)
    offsets = NEIGHBOUR_SCALE * torch.randn(neighbours, z.shape[1], generator=rng, dtype=z.dtype)
    return torch.cat([means, result, result + offsets])
