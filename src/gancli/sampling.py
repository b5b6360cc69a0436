"""Drawing images from a trained generator (for `gan sample` and `gan score`)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from gancli.checkpoint_read import load_checkpoint
from gancli.config import RunConfig, from_dict
from gancli.errors import UserError
from gancli.limits import check_seed
from gancli.models.build import build_generator
from gancli.models.conditional import classes_of
from gancli.reporting.grids import to_uint8
from gancli.runs import RunFolder, find_checkpoint, latest_run

MIN_TRUNCATION = 0.01  # below it, drawing again until inside takes more than 100 draws per entry
MAX_TRUNCATION = 100.0


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


@dataclass
class LoadedGenerator:
    """A generator in eval mode and where it came from (what `gan sample` names)."""

    generator: nn.Module
    config: RunConfig
    checkpoint: Path
    iteration: int
    ema: bool  # G_ema (the improved recipe's moving average) rather than G


def open_generator(
    path: str | Path | None, device: torch.device | str = "cpu", *, best: bool = False
) -> LoadedGenerator:
    """The generator of a run folder or checkpoint file (the latest run when None), in eval mode on
    `device`: G_ema when the run keeps one (the improved recipe), else G; `best`: the run's best.pt."""
    ckpt = best_checkpoint(path) if best else find_checkpoint(Path(path) if path else latest_run())
    payload = load_checkpoint(ckpt, map_location="cpu")  # checked whole against its config
    cfg = from_dict(payload["config"])
    generator = build_generator(cfg.model)
    ema = "generator_ema" in payload
    generator.load_state_dict(payload["generator_ema"] if ema else payload["generator"])
    iteration = int(payload.get("iteration", 0))
    return LoadedGenerator(generator.to(device).eval(), cfg, ckpt, iteration, ema)


def load_generator(
    path: str | Path | None, device: torch.device | str = "cpu", *, best: bool = False
) -> tuple[nn.Module, RunConfig]:
    """(generator, config) of open_generator: G_ema when the run keeps one, else G."""
    loaded = open_generator(path, device, best=best)
    return loaded.generator, loaded.config


def check_truncation(psi: float | None, where: str = "--truncation") -> None:
    """Refuse a truncation threshold that is not a number in [MIN_TRUNCATION, MAX_TRUNCATION]."""
    if psi is None:
        return
    if not (isinstance(psi, (int, float)) and math.isfinite(psi)) or not (
        MIN_TRUNCATION <= psi <= MAX_TRUNCATION
    ):
        raise UserError(
            f"{where} is {psi}; it must be a number from {MIN_TRUNCATION} to {MAX_TRUNCATION} (latent "
            "entries beyond it are drawn again: 0.5 to 1 trades variety for typical images; above 4 it "
            "changes almost nothing). Leave it out for the untruncated latents."
        )


def truncate_(z: torch.Tensor, psi: float, rng: torch.Generator) -> torch.Tensor:
    """BigGAN's truncation trick, in place: every entry with |z| > psi drawn again from `rng`
    until it lies inside, so the entries follow a standard normal truncated to [-psi, psi]."""
    outside = z.abs() > psi
    while bool(outside.any()):
        z[outside] = torch.randn(int(outside.sum()), generator=rng, dtype=z.dtype)
        outside = z.abs() > psi
    return z


def latents(n: int, dim: int, seed: int, truncation: float | None = None) -> torch.Tensor:
    """n standard-normal latents from `seed` (drawn on the CPU, so any device gives the same
    images); with `truncation` psi, entries beyond psi drawn again from the same seeded stream."""
    return seeded_latents(n, dim, seeded_rng(seed), truncation)


def seeded_rng(seed: int) -> torch.Generator:
    """The CPU generator every latent of `seed` is drawn from."""
    check_seed(seed)
    return torch.Generator().manual_seed(seed)


def seeded_latents(n: int, dim: int, rng: torch.Generator, truncation: float | None = None) -> torch.Tensor:
    """n latents drawn from `rng` (see latents)."""
    check_truncation(truncation)
    z = torch.randn(n, dim, generator=rng)
    return z if truncation is None else truncate_(z, truncation, rng)


def class_index(cfg: RunConfig, spec: str) -> int:
    """The class index of `--class NAME|INDEX` for a run; a UserError for an unconditional run
    or a class it does not know, listing the ones it does."""
    classes = cfg.model.classes if cfg.model.conditional else []
    if not classes:
        raise UserError(
            f"--class {spec}: this run was trained without classes (model.conditional is false). Leave out --class and --per-class, or train with --conditional on a folder of class subfolders."
        )
    if spec in classes:
        return classes.index(spec)
    if spec.isdigit() and int(spec) < len(classes):
        return int(spec)
    known = ", ".join(f"{i} {name}" for i, name in enumerate(classes))
    raise UserError(f"--class {spec} is not a class of this run. Its classes: {known} (a name or an index).")


@torch.no_grad()
def generate_from_latents(
    generator: nn.Module,
    z: torch.Tensor,
    device: torch.device | str = "cpu",
    batch_size: int = 256,
    labels: torch.Tensor | None = None,
) -> torch.Tensor:
    """uint8 (N, C, H, W) images of the given latents; a conditional generator draws image i in
    class labels[i] (by default i mod the number of classes: every class as often)."""
    classes = classes_of(generator)
    if classes and labels is None:
        labels = torch.arange(z.shape[0]) % classes
    out = []
    for i in range(0, z.shape[0], batch_size):
        chunk = z[i : i + batch_size].to(device)
        if classes:
            out.append(to_uint8(generator(chunk, labels[i : i + batch_size].to(device))))
        else:
            out.append(to_uint8(generator(chunk)))
    return torch.cat(out) if out else torch.empty(0, dtype=torch.uint8)


def generate_images(
    generator: nn.Module,
    n: int,
    seed: int = 0,
    device: torch.device | str = "cpu",
    batch_size: int = 256,
    truncation: float | None = None,
) -> torch.Tensor:
    """n images as uint8 (n, C, H, W) from seeded latents (truncated at `truncation` when given)."""
    batches = list(generated_batches(generator, n, seed, device, batch_size, truncation))
    return torch.cat(batches) if batches else torch.empty(0, dtype=torch.uint8)


def generated_batches(
    generator: nn.Module,
    n: int,
    seed: int = 0,
    device: torch.device | str = "cpu",
    batch_size: int = 256,
    truncation: float | None = None,
    *,
    class_index: int | None = None,
    class_counts: list[int] | None = None,
) -> Iterator[torch.Tensor]:
    """The images of generate_images, batch by batch (uint8 (b, C, H, W)): what is held at once
    does not grow with n, so scoring many images needs memory only for their features. A
    conditional generator draws only `class_index` when given, else its classes in proportion
    to `class_counts` (a reference's images per class), else every class as often."""
    z = latents(n, generator.latent_dim, seed, truncation)
    classes = classes_of(generator)
    mixed = mixed_labels(n, class_counts) if classes and class_counts else None
    for i in range(0, n, batch_size):
        end = min(i + batch_size, n)
        labels = None
        if classes and class_index is not None:
            labels = torch.full((end - i,), class_index)
        elif mixed is not None:
            labels = mixed[i:end]
        elif classes:  # every class as often, counted across the batches
            labels = torch.arange(i, end) % classes
        yield generate_from_latents(generator, z[i:end], device, batch_size, labels)


def class_shares(classes: list[str], counts: object) -> list[int] | None:
    """A reference's images per class (`counts`, name -> count) in the order of a run's
    `classes`, or None when they cannot be used: not whole non-negative counts with a positive
    sum (they may come from a statistics file, which is untrusted), or other classes than the run's."""
    if not isinstance(counts, dict) or not counts or set(counts) != set(classes):
        return None
    shares = [counts[name] for name in classes]
    if not all(type(c) is int and c >= 0 for c in shares) or sum(shares) == 0:
        return None
    return shares


def mixed_labels(n: int, counts: list[int]) -> torch.Tensor:
    """n class labels whose classes are in proportion to `counts` (largest remainders, so each
    class gets its share rounded down or up), interleaved so that every batch holds the mix:
    an FID of a conditional generator against real images compares like with like only when
    its images follow the real images' class mix."""
    total = sum(counts)
    if n <= 0 or total <= 0 or min(counts) < 0:
        raise ValueError(
            f"mixed_labels needs n > 0 and non-negative counts with a positive sum; got {n}, {counts}"
        )
    exact = [n * c / total for c in counts]
    shares = [math.floor(e) for e in exact]
    by_remainder = sorted(range(len(counts)), key=lambda k: (shares[k] - exact[k], k))
    for k in by_remainder[: n - sum(shares)]:
        shares[k] += 1
    # Interleave: image i takes the class whose share is least used so far (a stride pattern).
    position = torch.cat([(torch.arange(s, dtype=torch.float64) + 0.5) / s for s in shares if s])
    labels = torch.cat([torch.full((s,), k) for k, s in enumerate(shares) if s])
    return labels[torch.argsort(position, stable=True)]


def interpolation_latents(
    rows: int, steps: int, dim: int, seed: int, truncation: float | None = None
) -> torch.Tensor:
    """rows x steps latents, each row a straight walk between two random latents (the DCGAN paper's)."""
    ends = latents(rows * 2, dim, seed, truncation).view(rows, 2, dim)
    t = torch.linspace(0, 1, steps).view(1, steps, 1)
    return (ends[:, :1] * (1 - t) + ends[:, 1:] * t).reshape(rows * steps, dim)
