"""Drawing images from a trained generator (for `gan sample` and `gan score`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

from gancli.config import RunConfig, from_dict
from gancli.errors import UserError
from gancli.limits import check_seed
from gancli.models.build import build_generator
from gancli.reporting.grids import to_uint8
from gancli.runs import RunFolder, find_checkpoint, latest_run
from gancli.training.checkpoint import load_checkpoint


def best_checkpoint(path: str | Path | None) -> Path:
    """checkpoints/best.pt of a run folder (the lowest FID of a run trained with --score-every)."""
    run = Path(path) if path else latest_run()
    best = RunFolder(run).best
    if not best.is_file():
        raise UserError(
            f"{run} has no {best.name}: it is kept only by runs trained with --score-every (FID measured "
            "during training). Drop --best to use the last checkpoint, or train with --score-every N."
        )
    return best


def load_generator(
    path: str | Path | None, device: torch.device | str = "cpu", *, best: bool = False
) -> tuple[nn.Module, RunConfig]:
    """The generator of a run folder or checkpoint file, in eval mode on `device`: G_ema when
    the run keeps one (the improved recipe), else G; `best`: from the run's best.pt."""
    ckpt = best_checkpoint(path) if best else find_checkpoint(Path(path) if path else latest_run())
    payload = load_checkpoint(ckpt, map_location="cpu")  # checked whole against its config
    cfg = from_dict(payload["config"])
    generator = build_generator(cfg.model)
    generator.load_state_dict(payload.get("generator_ema", payload["generator"]))
    return generator.to(device).eval(), cfg


def latents(n: int, dim: int, seed: int) -> torch.Tensor:
    """n standard-normal latents from `seed` (drawn on the CPU, so any device gives the same images)."""
    check_seed(seed)
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def generate_from_latents(
    generator: nn.Module, z: torch.Tensor, device: torch.device | str = "cpu", batch_size: int = 256
) -> torch.Tensor:
    """uint8 (N, C, H, W) images of the given latents."""
    out = [to_uint8(generator(z[i : i + batch_size].to(device))) for i in range(0, z.shape[0], batch_size)]
    return torch.cat(out) if out else torch.empty(0, dtype=torch.uint8)


def generate_images(
    generator: nn.Module, n: int, seed: int = 0, device: torch.device | str = "cpu", batch_size: int = 256
) -> torch.Tensor:
    """n images as uint8 (n, C, H, W) from seeded latents."""
    return generate_from_latents(generator, latents(n, generator.latent_dim, seed), device, batch_size)


def generated_batches(
    generator: Generator, n: int, seed: int = 0, device: torch.device | str = "cpu", batch_size: int = 256
) -> Iterator[torch.Tensor]:
    """The images of generate_images, batch by batch (uint8 (b, C, H, W)): what is held at once
    does not grow with n, so scoring many images needs memory only for their features."""
    z = latents(n, generator.latent_dim, seed)
    for i in range(0, n, batch_size):
        yield generate_from_latents(generator, z[i : i + batch_size], device, batch_size)


def interpolation_latents(rows: int, steps: int, dim: int, seed: int) -> torch.Tensor:
    """rows x steps latents, each row a straight walk between two random latents (the DCGAN paper's)."""
    ends = latents(rows * 2, dim, seed).view(rows, 2, dim)
    t = torch.linspace(0, 1, steps).view(1, steps, 1)
    return (ends[:, :1] * (1 - t) + ends[:, 1:] * t).reshape(rows * steps, dim)
