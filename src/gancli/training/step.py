"""One optimisation step of each kind, reading top to bottom like the algorithm.

Under DistributedDataParallel (see gancli/distributed.py) `nets.generator` and
`nets.discriminator` are the wrapped modules, and each backward all-reduces the gradients of
the network whose accumulate-grad hooks it runs. The steps below are written so that every
synced backward gives every parameter of that network exactly one gradient:
`simultaneous` restricts each backward with `inputs=`, and the alternating steps run D's
forward for G's loss under `no_sync` (its D gradients are discarded by the next zero_grad).
With plain modules `no_sync` is a no-op and the single-process computation is unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import torch
from torch import nn

from gancli.data.batches import BatchSource
from gancli.training.losses import OBJECTIVES, Objective, StepLosses, r1_penalty, real_sign, scores


def _unchanged(images: torch.Tensor) -> torch.Tensor:
    return images


@dataclass
class StepInputs:
    """What one step consumes: a real batch in [-1, 1], latents, the real-label flips, and for a
    discriminator that reconstructs (FastGAN's), the quarter of each real image it rebuilds."""

    real: torch.Tensor
    latents: torch.Tensor
    flip: torch.Tensor | None
    parts: torch.Tensor | None = None
    labels: torch.Tensor | None = None  # conditional: the real images' classes
    fake_labels: torch.Tensor | None = None  # conditional: the classes G is asked for


def class_labels(
    batches: BatchSource, iteration: int, classes: int, noise: torch.Generator
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """A conditional step's labels: the real batch's (its images' own) and G's: the classes of
    training images drawn at random (from the run's noise stream, after the step's other draws),
    as StyleGAN2-ADA draws them; none without classes.

    So G is asked for each class as often as the data holds it. Uniform classes measured worse
    on an uneven set: on emoji (People & Body is 60% of the images) the majority class, asked
    for 11% of the time against 60% of the real batches, collapsed to one picture."""
    if not classes:
        return None, None
    real = batches.batch_labels(iteration)
    every = batches.labels
    pick = torch.randint(every.shape[0], real.shape, device=real.device, generator=noise)
    return real, every.index_select(0, pick.to(every.device)).to(real.device)


def generate(G: nn.Module, batch: StepInputs) -> torch.Tensor:
    """G's images for the batch's latents (and classes, for a conditional G)."""
    return G(batch.latents) if batch.fake_labels is None else G(batch.latents, batch.fake_labels)


def judge(D: nn.Module, images: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    """D's logits for images (of these classes, for a conditional D)."""
    return D(images) if labels is None else D(images, labels)


@dataclass
class Nets:
    """The two networks, their optimisers, the loss they play, and what D sees of an image
    (DiffAugment, or the image unchanged)."""

    generator: nn.Module
    discriminator: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    objective: Objective = OBJECTIVES["bce"]
    augment: Callable[[torch.Tensor], torch.Tensor] = _unchanged


def judge_real(
    D: nn.Module, images: torch.Tensor, batch: StepInputs
) -> tuple[torch.Tensor, torch.Tensor | float]:
    """D's logits for real images and, for a D with decoders (given `parts`), its reconstruction
    loss, which joins D's loss unscaled (0.0 for any other D)."""
    if batch.parts is None:
        return judge(D, images, batch.labels), 0.0
    if batch.labels is None:
        return D(images, batch.parts)
    return D(images, batch.labels, batch.parts)


def unsynced(net: nn.Module) -> AbstractContextManager:
    """For a forward whose backward must not all-reduce `net`'s gradients: DDP's no_sync
    (reached through torch.compile's wrapper too), nothing for a plain module."""
    no_sync = getattr(net, "no_sync", None)
    return no_sync() if no_sync is not None else nullcontext()


def simultaneous_step(nets: Nets, batch: StepInputs, d_loss_scale: float = 1.0) -> StepLosses:
    """MATLAB's step: one forward pass (D on real, G, D on generated, all in training mode);
    both gradients from that pass, then both networks updated."""
    G, D, see = nets.generator, nets.discriminator, nets.augment
    logit_real, rebuilt = judge_real(D, see(batch.real), batch)
    fake = generate(G, batch)
    logit_fake = judge(D, see(fake), batch.fake_labels)
    loss_d = nets.objective.discriminator(logit_real, logit_fake, batch.flip, d_loss_scale) + rebuilt
    loss_g = nets.objective.generator(logit_fake)
    # dlossD/dθD and dlossG/dθG only: `inputs=` makes autograd skip G's branch for the first
    # and D's weight gradients for the second. The graph is kept alive once, for the second.
    # Under DDP the first pass all-reduces D's gradients and the second G's, nothing else.
    nets.opt_d.zero_grad(set_to_none=True)
    nets.opt_g.zero_grad(set_to_none=True)
    loss_d.backward(inputs=list(D.parameters()), retain_graph=True)
    loss_g.backward(inputs=list(G.parameters()))
    nets.opt_d.step()
    nets.opt_g.step()
    score_d, score_g = scores(logit_real, logit_fake)
    return StepLosses(loss_d.detach(), loss_g.detach(), score_d, score_g, real_sign(logit_real))


def d_then_g_step(nets: Nets, batch: StepInputs, d_loss_scale: float = 1.0) -> StepLosses:
    """pytorch/examples' step (and CNTK's): update D on real and detached fake batches (each
    through D separately), then G through the updated D."""
    G, D, see = nets.generator, nets.discriminator, nets.augment
    fake = generate(G, batch)
    logit_real, rebuilt = judge_real(D, see(batch.real), batch)
    logit_fake_d = judge(D, see(fake.detach()), batch.fake_labels)
    loss_d = nets.objective.discriminator(logit_real, logit_fake_d, batch.flip, d_loss_scale) + rebuilt
    nets.opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    nets.opt_d.step()

    with unsynced(D):  # this backward's D gradients are discarded: no all-reduce for them
        logit_fake = judge(D, see(fake), batch.fake_labels)
    loss_g = nets.objective.generator(logit_fake)
    nets.opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    nets.opt_g.step()
    score_d, score_g = scores(logit_real, logit_fake_d)
    return StepLosses(loss_d.detach(), loss_g.detach(), score_d, score_g, real_sign(logit_real))


def g_then_d_step(nets: Nets, batch: StepInputs, d_loss_scale: float = 0.5) -> StepLosses:
    """PyTorch-GAN's step: update G first (D judging fresh fakes), then D on the real batch and
    the same fakes detached; d_loss = (real + fake) / 2 with d_loss_scale 0.5."""
    G, D, see = nets.generator, nets.discriminator, nets.augment
    fake = generate(G, batch)
    with unsynced(D):  # this backward's D gradients are discarded (zero_grad below): no all-reduce
        logit_fake_g = judge(D, see(fake), batch.fake_labels)
    loss_g = nets.objective.generator(logit_fake_g)
    nets.opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    nets.opt_g.step()

    logit_real, rebuilt = judge_real(D, see(batch.real), batch)
    logit_fake = judge(D, see(fake.detach()), batch.fake_labels)
    loss_d = nets.objective.discriminator(logit_real, logit_fake, batch.flip, d_loss_scale) + rebuilt
    nets.opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    nets.opt_d.step()
    score_d, score_g = scores(logit_real, logit_fake)
    return StepLosses(loss_d.detach(), loss_g.detach(), score_d, score_g, real_sign(logit_real))


STEPS: dict[str, Callable[[Nets, StepInputs, float], StepLosses]] = {
    "simultaneous": simultaneous_step,
    "d_then_g": d_then_g_step,
    "g_then_d": g_then_d_step,
}


def r1_step(
    nets: Nets, real: torch.Tensor, weight: float, labels: torch.Tensor | None = None
) -> torch.Tensor:
    """A lazy R1 update of D alone (StyleGAN2's separate regularisation pass): D's gradient
    of weight/2 * ||dD(x)/dx||^2 on the (augmented) real images. `weight` is gamma times the
    interval between such passes, so the penalty's average strength is gamma."""
    D = nets.discriminator
    real = nets.augment(real.detach()).detach().requires_grad_(True)
    penalty = r1_penalty(judge(D, real, labels), real)
    nets.opt_d.zero_grad(set_to_none=True)
    (penalty * (weight / 2)).backward()
    nets.opt_d.step()
    return penalty.detach()
