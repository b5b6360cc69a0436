"""GAN losses and the reference's live scores, computed from discriminator logits.

The references apply a sigmoid and take logs of probabilities; here the same quantities are
computed from the logit with softplus, which is exact math and never takes log(0):
  -log(sigmoid(l)) = softplus(-l),   -log(1 - sigmoid(l)) = softplus(l).
Flipping a real label (probability p -> 1 - p) is negating its logit: 1 - sigmoid(l) = sigmoid(-l).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F


class StepLosses(NamedTuple):
    """Losses and scores of one step (0-d tensors on the training device)."""

    loss_d: torch.Tensor
    loss_g: torch.Tensor
    score_d: torch.Tensor
    score_g: torch.Tensor
    real_sign: torch.Tensor | None = None  # mean sign of D's real logits (ADA's overfitting measure)


def flip_real_logits(logit_real: torch.Tensor, flip: torch.Tensor | None) -> torch.Tensor:
    """Replace Y_real by 1 - Y_real where `flip` is true (the reference's label noise)."""
    if flip is None:
        return logit_real
    return torch.where(_per_image(flip, logit_real), -logit_real, logit_real)


def _per_image(flags: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """One flag per image, shaped to cover that image's logits (a projected D gives several)."""
    return flags.view(-1, *([1] * (logits.dim() - 1)))


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


def real_sign(logit_real: torch.Tensor) -> torch.Tensor:
    """E[sign(D(real))]: near 1 when D is sure of every real image (ADA's r_t)."""
    return logit_real.detach().float().sign().mean()


def scores(logit_real: torch.Tensor, logit_fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(scoreD, scoreG) of the MATLAB example, before any flip: ((mean Y_real + mean(1 - Y_gen))/2, mean Y_gen)."""
    y_real = torch.sigmoid(logit_real.detach().float())
    y_gen = torch.sigmoid(logit_fake.detach().float())
    score_g = y_gen.mean()
    return (y_real.mean() + (1.0 - y_gen).mean()) / 2, score_g


def hinge_discriminator_loss(
    logit_real: torch.Tensor, logit_fake: torch.Tensor, flip: torch.Tensor | None = None, scale: float = 1.0
) -> torch.Tensor:
    """scale * (mean(relu(1 - D(real))) + mean(relu(1 + D(fake)))) (Lim & Ye 2017, SNGAN); a
    flipped real counts as fake, which is the negated logit here too."""
    real = F.relu(1.0 - flip_real_logits(logit_real, flip)).mean()
    fake = F.relu(1.0 + logit_fake).mean()
    return (real + fake) * scale


def hinge_generator_loss(logit_fake: torch.Tensor) -> torch.Tensor:
    """The hinge generator loss: -mean(D(fake))."""
    return -logit_fake.mean()


def lsgan_discriminator_loss(
    logit_real: torch.Tensor, logit_fake: torch.Tensor, flip: torch.Tensor | None = None, scale: float = 1.0
) -> torch.Tensor:
    """scale * (mean((D(real) - 1)^2) + mean(D(fake)^2)) / 2 (Mao et al. 2017, targets 1 and 0);
    a flipped real takes the fake target 0."""
    target = (
        torch.ones_like(logit_real) if flip is None else (~_per_image(flip, logit_real)).to(logit_real.dtype)
    )
    real = (logit_real - target).square().mean()
    fake = logit_fake.square().mean()
    return (real + fake) * (0.5 * scale)


def lsgan_generator_loss(logit_fake: torch.Tensor) -> torch.Tensor:
    """The least-squares generator loss: mean((D(fake) - 1)^2) / 2."""
    return (logit_fake - 1.0).square().mean() * 0.5


class Objective(NamedTuple):
    """One GAN loss: D's (logit_real, logit_fake, flip, scale) -> loss, and G's (logit_fake) -> loss."""

    discriminator: Callable[..., torch.Tensor]
    generator: Callable[[torch.Tensor], torch.Tensor]


OBJECTIVES: dict[str, Objective] = {
    "bce": Objective(discriminator_loss, generator_loss),
    "hinge": Objective(hinge_discriminator_loss, hinge_generator_loss),
    "lsgan": Objective(lsgan_discriminator_loss, lsgan_generator_loss),
}


def r1_penalty(logit_real: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """mean over images of ||dD(x)/dx||^2 at the real images x (Mescheder et al. 2018), with the
    graph kept so that the penalty itself can be differentiated; `real` must require grad."""
    (grad,) = torch.autograd.grad(logit_real.sum(), real, create_graph=True)
    return grad.float().square().sum(dim=list(range(1, grad.dim()))).mean()
