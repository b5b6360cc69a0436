"""An exponential moving average of the generator's weights (G_ema, as in StyleGAN).

G's weights wander around a good solution from step to step; their average sits nearer to
it and costs nothing at training time but one lerp per step. The decay follows
stylegan2-ada: a half-life in images, capped early in a run at a fraction of the images seen
so far (the ramp-up), so that short runs are not averaged over their random start.

A generator with batch norm evaluates with running statistics that belong to the weights
they were measured with. `bn_stats` says what G_ema uses: "copy" takes G's running
statistics (what BN-free StyleGAN's copy amounts to), "recompute" measures G_ema's own
("standing statistics", as BigGAN) on a few batches of latents drawn from a fixed seed.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

STANDING_BATCHES = 8  # batches of latents for G_ema's own batch-norm statistics
STANDING_BATCH_SIZE = 64


def ema_beta(half_life_images: float, rampup: float, images_seen: int, batch: int) -> float:
    """The decay of one step of `batch` images: 0.5 ** (batch / half-life), the half-life at most
    `rampup` x the images seen so far when rampup > 0."""
    half_life = float(half_life_images)
    if rampup > 0:
        half_life = min(half_life, images_seen * rampup)
    return 0.5 ** (batch / max(half_life, 1e-8))


class GeneratorEMA:
    """G_ema: a copy of G whose parameters follow G's by an exponential moving average."""

    def __init__(
        self, generator: nn.Module, *, half_life_images: float, rampup: float, bn_stats: str
    ) -> None:
        self.model = copy.deepcopy(generator).eval().requires_grad_(False)
        self.half_life, self.rampup, self.bn_stats = half_life_images, rampup, bn_stats
        self._stale = True

    @torch.no_grad()
    def update(self, generator: nn.Module, images_seen: int, batch: int) -> None:
        """Move G_ema towards G after a step; `images_seen` counts this step's images too."""
        beta = ema_beta(self.half_life, self.rampup, images_seen, batch)
        torch._foreach_lerp_(list(self.model.parameters()), list(generator.parameters()), 1.0 - beta)
        self._stale = True

    @torch.no_grad()
    def ready(self, generator: nn.Module, seed: int) -> nn.Module:
        """G_ema in eval mode with batch-norm statistics that fit it, for sampling or saving."""
        if self._stale:
            if self.bn_stats == "recompute":
                standing_statistics(self.model, seed)
            else:
                for mine, theirs in zip(self.model.buffers(), generator.buffers()):
                    mine.copy_(theirs)
            self._stale = False
        return self.model.eval()

    def state_dict(self) -> dict[str, torch.Tensor]:
        """G_ema's weights and buffers (call `ready` first for fitting statistics)."""
        return self.model.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Continue from saved weights; statistics are remade at the next use."""
        self.model.load_state_dict(state)
        self._stale = True


@torch.no_grad()
def standing_statistics(generator: nn.Module, seed: int) -> None:
    """Re-measure every batch norm's running mean/var as the average over a few batches of
    latents from `seed` (its own generator: the training streams are not touched)."""
    norms = [m for m in generator.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    device = next(generator.parameters()).device
    g = torch.Generator(device=device).manual_seed(seed)
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over the batches below
    generator.train()
    for _ in range(STANDING_BATCHES):
        z = torch.randn(STANDING_BATCH_SIZE, generator.latent_dim, generator=g, device=device)
        classes = getattr(generator, "classes", 0)  # a conditional G: classes drawn from the same seed
        if classes:
            generator(z, torch.randint(classes, (STANDING_BATCH_SIZE,), generator=g, device=device))
        else:
            generator(z)
    for m, momentum in zip(norms, saved):
        m.momentum = momentum
    generator.eval()
