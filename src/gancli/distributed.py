"""torch.distributed glue: rank and world, wrapping the nets, and cross-rank reductions.

Without a process group every helper is the identity, so single-process code is unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass
class DistContext:
    """Rank/world of this process; rank 0 is the one that writes files."""

    rank: int = 0
    world: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1 and dist.is_available() and dist.is_initialized()

    def wrap(self, generator: nn.Module, discriminator: nn.Module, sync_bn: bool) -> tuple[nn.Module, nn.Module]:
        """The modules the step should call (the plain ones in a single process)."""
        return generator, discriminator

    def mean(self, values: torch.Tensor) -> torch.Tensor:
        """Average a tensor over ranks."""
        if self.active:
            values = values.clone()
            dist.all_reduce(values, op=dist.ReduceOp.SUM)
            values /= self.world
        return values

    def any_flag(self, flag: bool) -> bool:
        """True on every rank when any rank's flag is true (a stop request reaches all)."""
        if not self.active:
            return flag
        device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
        t = torch.tensor([1.0 if flag else 0.0], device=device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item())
