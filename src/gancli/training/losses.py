"""GAN losses and the reference's live scores, computed from discriminator logits.

The references apply a sigmoid and take logs of probabilities; here the same quantities are
computed from the logit with softplus, which is exact math and never takes log(0):
  -log(sigmoid(l)) = softplus(-l),   -log(1 - sigmoid(l)) = softplus(l).
Flipping a real label (probability p -> 1 - p) is negating its logit: 1 - sigmoid(l) = sigmoid(-l).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F


class StepLosses(NamedTuple):
    """Losses and scores of one step (0-d tensors on the training device)."""

    loss_d: torch.Tensor
    loss_g: torch.Tensor
    score_d: torch.Tensor
    score_g: torch.Tensor


def flip_real_logits(logit_real: torch.Tensor, flip: torch.Tensor | None) -> torch.Tensor:
    """Replace Y_real by 1 - Y_real where `flip` is true (the reference's label noise)."""
    if flip is None:
        return logit_real
    return torch.where(flip, -logit_real, logit_real)


def discriminator_loss(
    logit_real: torch.Tensor, logit_fake: torch.Tensor, flip: torch.Tensor | None = None, scale: float = 1.0
) -> torch.Tensor:
    """scale * (-mean(log(Y_real)) - mean(log(1 - Y_gen))), Y_real after the label flips."""
    real = F.softplus(-flip_real_logits(logit_real, flip)).mean()
    fake = F.softplus(logit_fake).mean()
    return (real + fake) * scale


def generator_loss(logit_fake: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss: -mean(log(Y_gen))."""
    return F.softplus(-logit_fake).mean()


def scores(logit_real: torch.Tensor, logit_fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(scoreD, scoreG) of the MATLAB example, before any flip: ((mean Y_real + mean(1 - Y_gen))/2, mean Y_gen)."""
    y_real = torch.sigmoid(logit_real.detach().float())
    y_gen = torch.sigmoid(logit_fake.detach().float())
    score_g = y_gen.mean()
    return (y_real.mean() + (1.0 - y_gen).mean()) / 2, score_g
