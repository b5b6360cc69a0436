"""Input pipelines: uint8 N x C x H x W images -> float N x 3 x 299 x 299 in [-1, 1] for the FID Inception.

Three conventions, because the peers disagree (about 0.6% in FID on the same weights and images):

- ``tf`` (default): torch-fidelity's reproduction of TensorFlow 1's ``resize_bilinear`` (source
  coordinate = dst * in / out, no half-pixel centres), on floats 0..255, then ``(x - 128) / 128``.
- ``pytorch-fid``: pytorch-fid's ``ToTensor`` ([0, 1]), ``F.interpolate(bilinear,
  align_corners=False)`` to 299, then ``2x - 1``.
- ``clean``: clean-fid's default: PIL bicubic resize of each float32 channel (mode 'F'),
  clipped to 0..255, then ``(x - 128) / 128``; done here as two matrix products with PIL's own
  filter coefficients, so there is no per-image Python work.
"""

from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F

from gancli.errors import UserError

RESIZE_MODES = ("tf", "pytorch-fid", "clean")
SIZE = 299


def check_images(images: torch.Tensor, what: str = "images") -> None:
    """Raise a UserError unless ``images`` is a uint8 N x C x H x W tensor with 1 or 3 channels."""
    if not torch.is_tensor(images) or images.dtype != torch.uint8 or images.dim() != 4:
        desc = (
            f"{images.dtype} tensor of shape {tuple(images.shape)}"
            if torch.is_tensor(images)
            else type(images).__name__
        )
        raise UserError(
            f"The {what} must be a uint8 tensor N x C x H x W (values 0..255); got a {desc}. "
            "Convert float images with (x.clamp(-1, 1) + 1) * 127.5 rounded to uint8."
        )
    if images.shape[1] not in (1, 3):
        raise UserError(
            f"The {what} have {images.shape[1]} channels; the Inception network takes RGB (3) "
            "or grayscale (1, repeated to RGB) images."
        )


def to_rgb(images: torch.Tensor) -> torch.Tensor:
    """Repeat a grayscale channel to three channels, as the peers do via PIL's convert('RGB')."""
    return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images


def resize_tf(x: torch.Tensor, size: int = SIZE) -> torch.Tensor:
    """TensorFlow 1 bilinear resize of float N x C x H x W (align_corners=False, no half-pixel centres)."""
    h, w = x.shape[-2:]
    # torch-fidelity computes the grid as float32 arange * float32 scale; the same ops keep it
    # bit-exact. Interpolating along x on the H input rows first, then gathering rows, gives
    # the same floats as its four full-size gathers at a fraction of the memory traffic.
    gx = torch.arange(size, dtype=torch.float32, device=x.device) * torch.tensor(
        w / size, dtype=torch.float32
    )
    gy = torch.arange(size, dtype=torch.float32, device=x.device) * torch.tensor(
        h / size, dtype=torch.float32
    )
    x_lo = gx.long()
    x_hi = (x_lo + 1).clamp_max(w - 1)
    dx = gx - x_lo.float()
    y_lo = gy.long()
    y_hi = (y_lo + 1).clamp_max(h - 1)
    dy = gy - y_lo.float()
    left = x.index_select(3, x_lo)
    rows = left + (x.index_select(3, x_hi) - left) * dx
    top = rows.index_select(2, y_lo)
    return top + (rows.index_select(2, y_hi) - top) * dy.view(-1, 1)


def _bicubic(t: torch.Tensor) -> torch.Tensor:
    # PIL's bicubic kernel (a = -0.5), Resample.c bicubic_filter.
    a = -0.5
    t = t.abs()
    near = ((a + 2.0) * t - (a + 3.0)) * t * t + 1
    far = (((t - 5) * t + 8) * t - 4) * a
    return torch.where(t < 1.0, near, torch.where(t < 2.0, far, torch.zeros_like(t)))


@lru_cache(maxsize=16)
def pil_bicubic_matrix(in_size: int, out_size: int) -> torch.Tensor:
    """PIL's bicubic resampling weights as a float64 out_size x in_size matrix (Resample.c precompute_coeffs)."""
    scale = in_size / out_size
    filterscale = max(scale, 1.0)  # antialiasing when shrinking, as PIL does
    support = 2.0 * filterscale
    out = torch.zeros(out_size, in_size, dtype=torch.float64)
    for xx in range(out_size):
        center = (xx + 0.5) * scale
        xmin = max(int(center - support + 0.5), 0)  # C casts truncate toward zero
        xmax = min(int(center + support + 0.5), in_size)
        taps = torch.arange(xmin, xmax, dtype=torch.float64)
        k = _bicubic((taps - center + 0.5) / filterscale)
        total = k.sum()
        out[xx, xmin:xmax] = k / total if total != 0 else k
    return out


def resize_pil_bicubic(x: torch.Tensor, size: int = SIZE) -> torch.Tensor:
    """PIL ``Image.resize(BICUBIC)`` of each float32 channel: horizontal pass, then vertical, float64 sums."""
    if x.device.type == "mps":  # no float64 on Apple's GPUs: this resize runs on the CPU there
        return resize_pil_bicubic(x.cpu(), size).to(x.device)
    h, w = x.shape[-2:]
    kx = pil_bicubic_matrix(w, size).to(x.device)
    ky = pil_bicubic_matrix(h, size).to(x.device)
    # PIL accumulates in double and stores each pass as float32; do the same.
    rows = torch.matmul(x.double(), kx.T).float()
    return torch.matmul(ky, rows.double()).float()


def prepare(images: torch.Tensor, mode: str = "tf", size: int = SIZE) -> torch.Tensor:
    """Turn uint8 N x {1,3} x H x W images into the float32 N x 3 x size x size network input in [-1, 1]."""
    check_images(images)
    if mode not in RESIZE_MODES:
        raise UserError(f"Unknown resize mode {mode!r}; use one of: {', '.join(RESIZE_MODES)}.")
    x = to_rgb(images).float()
    if mode == "tf":
        return (resize_tf(x, size) - 128) / 128
    if mode == "pytorch-fid":
        x = F.interpolate(x / 255, size=(size, size), mode="bilinear", align_corners=False)
        return 2 * x - 1
    x = resize_pil_bicubic(x, size).clamp_(0, 255)
    return (x - 128) / 128
