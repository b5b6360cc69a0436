"""Batched Inception feature extraction: pool features and unbiased logits in one forward pass."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch

from gancli.errors import UserError
from gancli.metrics.resize import RESIZE_MODES, check_images, prepare

# Hears (images done, total or None) after each batch; the CLI draws it (cli/progress.py).
ProgressCallback = Callable[[int, int | None], None]


@dataclass
class Features:
    """Inception outputs of one image set.

    ``pool``: float64 [N, 2048] pool features (FID, KID, precision/recall).
    ``logits``: float64 [N, 1008] logits without the fc bias (torch-fidelity's
    ``logits_unbiased``, used for the Inception Score), or None when not kept.
    ``image_size`` (H, W) and ``channels`` describe the source images, for input checks.
    """

    pool: np.ndarray
    logits: np.ndarray | None = None
    resize: str | None = None
    image_size: tuple[int, int] | None = None
    channels: int | None = None

    def __len__(self) -> int:
        return int(self.pool.shape[0])


def _batch_iterator(
    batches: Iterable[torch.Tensor] | torch.Tensor, batch_size: int
) -> Iterable[torch.Tensor]:
    # A single big tensor is split here so callers can pass a whole image set.
    if torch.is_tensor(batches):
        return batches.split(batch_size)
    return batches


def extract_features(
    batches: Iterable[torch.Tensor] | torch.Tensor,
    model: torch.nn.Module,
    resize: str = "tf",
    device: str | torch.device = "cpu",
    *,
    progress: ProgressCallback | None = None,
    total: int | None = None,
    batch_size: int = 50,
) -> Features:
    """Run ``model`` on uint8 N x C x H x W batches (C = 1 or 3) and collect pool features and logits."""
    if resize not in RESIZE_MODES:
        raise UserError(f"Unknown resize mode {resize!r}; use one of: {', '.join(RESIZE_MODES)}.")
    device = torch.device(device)
    model = model.to(device).eval()
    if total is None and torch.is_tensor(batches):
        total = int(batches.shape[0])
    pools: list[torch.Tensor] = []
    logits: list[torch.Tensor] = []
    shape: tuple[int, int, int] | None = None
    done = 0
    # full fp32 convolutions: cuDNN's default TF32 (Ampere and later) rounds their inputs to a
    # 10-bit mantissa, so FID would depend on the GPU and cached statistics on where they were made
    with (
        torch.inference_mode(),
        torch.backends.cudnn.flags(enabled=torch.backends.cudnn.enabled, allow_tf32=False),
    ):
        for batch in _batch_iterator(batches, batch_size):
            check_images(batch)
            if shape is None:
                shape = tuple(batch.shape[1:])
            elif tuple(batch.shape[1:]) != shape:
                raise UserError(
                    f"Images of one set must share a size and channel count: a batch of "
                    f"{tuple(batch.shape[1:])} (C x H x W) follows batches of {shape}."
                )
            if batch.shape[0] == 0:
                continue
            x = prepare(batch.to(device, non_blocking=True), resize)
            # channels_last lets oneDNN/cuDNN pick their fastest convolution layouts.
            pool, logit = model(x.contiguous(memory_format=torch.channels_last))
            pools.append(pool.float().cpu())
            logits.append(logit.float().cpu())
            done += int(batch.shape[0])
            if progress:
                progress(done, total)
    if not pools:
        raise UserError("No images were given for feature extraction (the image set is empty).")
    return Features(
        pool=torch.cat(pools).double().numpy(),
        logits=torch.cat(logits).double().numpy(),
        resize=resize,
        image_size=(int(shape[1]), int(shape[2])),
        channels=int(shape[0]),
    )


def features_from_arrays(pool: np.ndarray, logits: np.ndarray | None = None) -> Features:
    """Wrap precomputed pool features (and logits) as Features, checking shapes."""
    pool = np.asarray(pool, dtype=np.float64)
    if pool.ndim != 2:
        raise UserError(f"Pool features must be a 2-D array [N, D]; got shape {pool.shape}.")
    if logits is not None:
        logits = np.asarray(logits, dtype=np.float64)
        if logits.ndim != 2 or logits.shape[0] != pool.shape[0]:
            raise UserError(
                f"Logits of shape {logits.shape} do not match pool features of shape {pool.shape}."
            )
    return Features(pool=pool, logits=logits)
