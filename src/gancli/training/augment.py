"""DiffAugment (Zhao et al. 2020): differentiable augmentations of every image D sees.

Applied to real and generated images alike, in D's loss and in G's, so that D cannot tell
them apart by the augmentation and G's gradients flow through it: with few images, D stops
memorising the training set. Batched on the training device; every draw comes from the
run's own seeded generator, so a resumed run draws exactly what an uninterrupted one would.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

TRANSLATION_RATIO = 0.125  # shifts of up to 1/8 of the image, as in DiffAugment
CUTOUT_RATIO = 0.5  # a square of half the image side, zeroed (grey in [-1, 1])


def _uniform(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """One U(0, 1) draw per image, shaped to broadcast over (C, H, W)."""
    return torch.rand(x.shape[0], 1, 1, 1, generator=g, device=x.device, dtype=x.dtype)


def color(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Random brightness (+-0.5), saturation (x0..2) and contrast (x0.5..1.5) per image."""
    x = x + (_uniform(x, g) - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (_uniform(x, g) * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_uniform(x, g) + 0.5) + mean


def translation(x: torch.Tensor, g: torch.Generator, ratio: float = TRANSLATION_RATIO) -> torch.Tensor:
    """Shift each image by up to `ratio` of its size in x and y, filling with zeros."""
    n, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ty = torch.randint(-sh, sh + 1, (n, 1, 1), generator=g, device=x.device)
    tx = torch.randint(-sw, sw + 1, (n, 1, 1), generator=g, device=x.device)
    # indices into the image padded by one zero pixel: anything shifted in from outside reads it
    rows = (torch.arange(h, device=x.device).view(1, h, 1) + ty).clamp(-1, h) + 1
    cols = (torch.arange(w, device=x.device).view(1, 1, w) + tx).clamp(-1, w) + 1
    padded = F.pad(x, [1, 1, 1, 1]).permute(0, 2, 3, 1)  # (N, H+2, W+2, C)
    batch = torch.arange(n, device=x.device).view(n, 1, 1)
    return padded[batch, rows, cols].permute(0, 3, 1, 2)


def cutout(x: torch.Tensor, g: torch.Generator, ratio: float = CUTOUT_RATIO) -> torch.Tensor:
    """Zero one square of `ratio` times the image side per image, at a random centre."""
    n, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    y0 = torch.randint(0, h + (1 - sh % 2), (n, 1, 1), generator=g, device=x.device) - sh // 2
    x0 = torch.randint(0, w + (1 - sw % 2), (n, 1, 1), generator=g, device=x.device) - sw // 2
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    inside = (rows >= y0) & (rows < y0 + sh) & (cols >= x0) & (cols < x0 + sw)
    return x * (~inside).unsqueeze(1).to(x.dtype)


OPS: dict[str, Callable[[torch.Tensor, torch.Generator], torch.Tensor]] = {
    "translation": translation,
    "cutout": cutout,
    "color": color,
}


def parse_policy(policy: str) -> list[str]:
    """'translation,cutout' -> the ops in the canonical order color, translation, cutout."""
    names = {part.strip() for part in policy.split(",") if part.strip()}
    return [op for op in ("color", "translation", "cutout") if op in names]


class DiffAugment:
    """Callable(images) -> augmented images, drawing from its own seeded generator. Each op
    applies to each image with probability `p` (1: always, DiffAugment's way; ADA steers it)."""

    def __init__(self, policy: str, device: torch.device, seed: int, p: float = 1.0) -> None:
        self.ops = parse_policy(policy)
        self.generator = torch.Generator(device=device).manual_seed(seed)
        self.p = p

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        for op in self.ops:
            if self.p >= 1.0:  # no draw for the mask: p = 1 is exactly DiffAugment
                x = OPS[op](x, self.generator)
            else:
                chosen = _uniform(x, self.generator) < self.p
                x = torch.where(chosen, OPS[op](x, self.generator), x)
        return x

    def state(self) -> torch.Tensor:
        """The generator's state, for checkpoints."""
        return self.generator.get_state()

    def load_state(self, state: torch.Tensor) -> None:
        """Continue the saved stream."""
        self.generator.set_state(state)


ADA_TARGET = 0.6  # Karras et al. 2020: E[sign(D(real))] above this means D is overfitting
ADA_INTERVAL = 4  # steps between adjustments of p
# images over which p may move by 1: ADA's 500k suits GPU runs of millions of images; a CPU run
# sees 50k-500k, so p must be able to move within it
ADA_SPEED_IMAGES = 20_000


def ada_adjust(p: float, real_sign: float, batch: int, target: float = ADA_TARGET) -> float:
    """ADA's update of the augmentation probability after ADA_INTERVAL steps of `batch` images
    whose real logits had mean sign `real_sign`: up when D is too sure of the reals, down when
    not, by at most ADA_INTERVAL * batch / ADA_SPEED_IMAGES, kept in [0, 1]."""
    step = ADA_INTERVAL * batch / ADA_SPEED_IMAGES
    direction = (real_sign > target) - (real_sign < target)
    return min(max(p + direction * step, 0.0), 1.0)
