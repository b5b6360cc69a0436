"""The FID Inception v3 network (TensorFlow 2015-12-05 port), its weights file and where to find it.

The architecture is torchvision's Inception3 with the changes the TensorFlow graph needs, as in
pytorch-fid's ``fid_inception_v3`` and torch-fidelity's ``FeatureExtractorInceptionV3``:
1008 classes, no auxiliary classifier, batch-norm eps 1e-3, and in the A, C and first E blocks
an average pool that ignores the zero padding (``count_include_pad=False``), while the last E
block uses a *max* pool. Module names follow torchvision so that ``state_dict()`` has exactly
the keys and shapes of ``pt_inception-2015-12-05-6726825d.pth`` (no ``num_batches_tracked``).
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from gancli.errors import UserError
from gancli.metrics.weights import WEIGHTS_ENV, WEIGHTS_FILENAME, WEIGHTS_URL, find_weights

__all__ = [
    "WEIGHTS_ENV",
    "WEIGHTS_FILENAME",
    "WEIGHTS_URL",
    "FIDInceptionV3",
    "find_weights",
    "load_inception",
]
NUM_CLASSES = 1008
POOL_DIM = 2048
INPUT_SIZE = 299


class FrozenBatchNorm2d(nn.Module):
    """Inference-only batch norm holding exactly weight, bias, running_mean and running_var."""

    def __init__(self, channels: int, eps: float = 1e-3) -> None:
        super().__init__()
        # nn.BatchNorm2d would add a `num_batches_tracked` key the standard file does not have.
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels), requires_grad=False)
        self.bias = nn.Parameter(torch.zeros(channels), requires_grad=False)
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(
            x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps
        )


class BasicConv2d(nn.Module):
    """Convolution without bias, batch norm (eps 1e-3), ReLU; optionally with the norm folded in."""

    def __init__(self, in_channels: int, out_channels: int, **conv_args) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **conv_args)
        self.bn = FrozenBatchNorm2d(out_channels)
        # Folded weights are a cache, not state: non-persistent, so state_dict() is unchanged.
        self.register_buffer("fused_weight", None, persistent=False)
        self.register_buffer("fused_bias", None, persistent=False)

    def fuse_(self) -> None:
        """Fold the batch norm into the convolution (in float64, then back to the conv dtype)."""
        bn = self.bn
        scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
        weight = self.conv.weight.double() * scale.view(-1, 1, 1, 1)
        bias = bn.bias.double() - bn.running_mean.double() * scale
        self.fused_weight = weight.to(self.conv.weight.dtype)
        self.fused_bias = bias.to(self.conv.weight.dtype)

    def unfuse_(self) -> None:
        """Drop the folded weights (they are stale once the parameters change)."""
        self.fused_weight = None
        self.fused_bias = None

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        # Loading new parameters makes the folded weights stale: drop them.
        self.unfuse_()
        super()._load_from_state_dict(*args, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fused_weight is not None and not self.training:
            c = self.conv
            x = F.conv2d(x, self.fused_weight, self.fused_bias, c.stride, c.padding)
        else:
            x = self.bn(self.conv(x))
        return F.relu(x, inplace=True)


def _avg_pool_tf(x: torch.Tensor) -> torch.Tensor:
    # TensorFlow's 3x3 'SAME' average pool divides by the number of real (unpadded) pixels.
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class InceptionA(nn.Module):
    """35x35 block (Mixed_5b/c/d), with the TensorFlow average pool."""

    def __init__(self, in_channels: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch5x5_1 = BasicConv2d(in_channels, 48, kernel_size=1)
        self.branch5x5_2 = BasicConv2d(48, 64, kernel_size=5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, padding=1)
        self.branch_pool = BasicConv2d(in_channels, pool_features, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = self.branch_pool(_avg_pool_tf(x))
        return torch.cat([b1, b5, b3, bp], 1)


class InceptionB(nn.Module):
    """Grid reduction 35x35 -> 17x17 (Mixed_6a), unchanged from torchvision."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3 = BasicConv2d(in_channels, 384, kernel_size=3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3(x)
        bd = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([b3, bd, bp], 1)


class InceptionC(nn.Module):
    """17x17 block with factorised 7x7 convolutions (Mixed_6b..e), with the TensorFlow average pool."""

    def __init__(self, in_channels: int, channels_7x7: int) -> None:
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7_2 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = self.branch7x7dbl_1(x)
        for layer in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            bd = layer(bd)
        bp = self.branch_pool(_avg_pool_tf(x))
        return torch.cat([b1, b7, bd, bp], 1)


class InceptionD(nn.Module):
    """Grid reduction 17x17 -> 8x8 (Mixed_7a), unchanged from torchvision."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch3x3_2 = BasicConv2d(192, 320, kernel_size=3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = self.branch7x7x3_1(x)
        for layer in (self.branch7x7x3_2, self.branch7x7x3_3, self.branch7x7x3_4):
            b7 = layer(b7)
        bp = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([b3, b7, bp], 1)


class InceptionE(nn.Module):
    """8x8 block with expanded filter banks (Mixed_7b: TF average pool; Mixed_7c: max pool)."""

    def __init__(self, in_channels: int, max_pool: bool) -> None:
        super().__init__()
        # The TF graph's last block (mixed_10) pools with max, not average: both peers copy that.
        self.max_pool = max_pool
        self.branch1x1 = BasicConv2d(in_channels, 320, kernel_size=1)
        self.branch3x3_1 = BasicConv2d(in_channels, 384, kernel_size=1)
        self.branch3x3_2a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 448, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, kernel_size=3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = torch.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], 1)
        if self.max_pool:
            pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
        else:
            pooled = _avg_pool_tf(x)
        bp = self.branch_pool(pooled)
        return torch.cat([b1, b3, bd, bp], 1)


class FIDInceptionV3(nn.Module):
    """Inception v3 as in the FID TensorFlow graph; forward gives 2048-d pool features and unbiased logits.

    Input: float N x 3 x 299 x 299, already scaled to [-1, 1] (see ``gancli.metrics.resize``).
    """

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, channels_7x7=128)
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280, max_pool=False)
        self.Mixed_7c = InceptionE(2048, max_pool=True)
        self.fc = nn.Linear(POOL_DIM, NUM_CLASSES)
        self.requires_grad_(False)
        self.eval()

    def _convs(self) -> list[BasicConv2d]:
        return [m for m in self.modules() if isinstance(m, BasicConv2d)]

    def fuse_(self) -> FIDInceptionV3:
        """Fold every batch norm into its convolution for faster inference; state_dict() is unchanged."""
        with torch.no_grad():
            for m in self._convs():
                m.fuse_()
        return self

    def unfuse_(self) -> FIDInceptionV3:
        """Forget folded weights; forward then runs the plain conv + batch-norm path."""
        for m in self._convs():
            m.unfuse_()
        return self

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (pool features N x 2048, logits without fc bias N x 1008) in one pass."""
        x = self.Conv2d_1a_3x3(x)  # 149x149
        x = self.Conv2d_2a_3x3(x)  # 147x147
        x = self.Conv2d_2b_3x3(x)
        x = F.max_pool2d(x, kernel_size=3, stride=2)  # 73x73
        x = self.Conv2d_3b_1x1(x)
        x = self.Conv2d_4a_3x3(x)  # 71x71
        x = F.max_pool2d(x, kernel_size=3, stride=2)  # 35x35
        for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a):
            x = block(x)
        for block in (self.Mixed_6b, self.Mixed_6c, self.Mixed_6d, self.Mixed_6e, self.Mixed_7a):
            x = block(x)
        x = self.Mixed_7c(self.Mixed_7b(x))  # 8x8x2048
        pool = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        # torch-fidelity's Inception Score uses the logits *without* the fc bias ("logits_unbiased").
        logits = pool @ self.fc.weight.T
        return pool, logits


def _describe(keys: list[str], limit: int = 5) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f" (and {len(keys) - limit} more)" if len(keys) > limit else "")


def _read_state_dict(path: Path) -> dict:
    hint = (
        f"Get the standard file with `gan download inception`, or fetch {WEIGHTS_FILENAME} "
        f"from {WEIGHTS_URL} and pass it with --weights."
    )
    if not path.is_file():
        raise UserError(f"Inception weights file {path} does not exist. {hint}")
    _refuse_other_kinds(path, hint)
    try:
        # weights_only: the file holds tensors only; anything else (pickled code) is refused.
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        globals_ = [ln for ln in lines if "GLOBAL" in ln]
        if globals_:
            # weights_only met a reference to Python code or objects: refuse, never execute it.
            raise UserError(
                f"Inception weights file {path} contains more than tensors and was refused "
                f"(it is loaded with weights_only=True): {globals_[0]} {hint}"
            ) from exc
        detail = next((ln for ln in lines if "Unsupported" in ln), lines[-1] if lines else type(exc).__name__)
        raise UserError(
            f"Inception weights file {path} cannot be read; it is probably truncated or corrupt "
            f"({detail}). {hint}"
        ) from exc
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(
            f"Inception weights file {path} cannot be read; it is probably truncated or corrupt "
            f"({first}). {hint}"
        ) from exc
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise UserError(
            f"Inception weights file {path} does not hold a state dict of tensors "
            f"(found {type(state).__name__}). {hint}"
        )
    return state


def _refuse_other_kinds(path: Path, hint: str) -> None:
    """A text file, image or archive given as weights is named for what it is, as a checkpoint
    would be (torch's own parser fails on such bytes with `KeyError: 544502645`)."""
    from gancli.checkpoint_read import sniff_file

    try:
        sniffed = sniff_file(path)
    except OSError as exc:
        raise UserError(
            f"Inception weights file {path} cannot be read ({exc.strerror or exc}). {hint}"
        ) from exc
    if sniffed is not None and sniffed[0] == "other":
        raise UserError(f"{path} is not an Inception weights file ({sniffed[1]}). {hint}")


def check_state_dict(state: dict, path: str | os.PathLike, expected: dict | None = None) -> None:
    """Raise a UserError naming the first missing, unexpected or mis-shaped keys of ``state``."""
    if expected is None:
        expected = FIDInceptionV3().state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [
        f"{k} {tuple(state[k].shape)} (expected {tuple(v.shape)})"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    problems = []
    if missing:
        problems.append(f"missing keys: {_describe(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_describe(unexpected)}")
    if shapes:
        problems.append(f"wrong shapes: {_describe(shapes, 3)}")
    if problems:
        raise UserError(
            f"Inception weights file {path} is not the FID Inception v3 file "
            f"({WEIGHTS_FILENAME}): " + "; ".join(problems) + ". "
            "Use the pytorch-fid/torch-fidelity 2015-12-05 weights (`gan download inception`)."
        )
    floats = [k for k, v in state.items() if v.is_floating_point()]
    # One pass over all values (not one small op per tensor): cheap even on a busy machine.
    if floats and torch.isfinite(torch.cat([state[k].reshape(-1).float() for k in floats])).all():
        return
    bad = [k for k in floats if not torch.isfinite(state[k]).all()]
    if bad:
        raise UserError(
            f"Inception weights file {path} holds non-finite values in {_describe(bad)}; "
            "the file is corrupt. Download it again with `gan download inception`."
        )


def load_inception(path: str | os.PathLike) -> FIDInceptionV3:
    """Build the FID Inception v3, load ``path`` strictly (keys and shapes), fold batch norms, eval mode."""
    path = Path(path).expanduser()
    state = _read_state_dict(path)
    model = FIDInceptionV3()
    check_state_dict(state, path, model.state_dict())
    model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    return model.fuse_().eval()
