"""Class-conditional networks, added around any arch's unconditional ones.

G: every batch norm becomes a class-conditional batch norm: the normalised map is scaled by
(1 + gain[y]) and shifted by bias[y] after the layer's own affine (per-class embeddings added
to the shared ones; zero at first). D: the projection discriminator (Miyato & Koyama 2018):
each logit layer's output gains <embed[y], phi(x)>, where phi(x) is that layer's input summed
over its pixels (D's last feature map pooled; for the projected D, one per scale). The
embeddings start at zero, so a conditional net begins as its unconditional one, and building
them draws nothing from the global RNG: the seed gives the same base weights either way.

The labels reach the layers through a slot the wrapper fills for one forward call; the
unconditional nets inside are the same modules as ever.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class LabelSlot:
    """The labels of the forward call in progress (not a module: never saved)."""

    def __init__(self) -> None:
        self.labels: torch.Tensor | None = None

    def take(self) -> torch.Tensor:
        if self.labels is None:
            raise RuntimeError("a conditional network was called without labels")
        return self.labels


def zero_embedding(classes: int, features: int) -> nn.Embedding:
    """An embedding that starts at zero, drawing nothing (nn.Embedding's own init draws from
    the global RNG, which would change every weight built after it)."""
    return nn.Embedding(classes, features, _weight=torch.zeros(classes, features))


class ClassBatchNorm(nn.Module):
    """A batch norm followed by a per-class gain and bias (the layer's own affine kept)."""

    def __init__(self, bn: nn.BatchNorm2d, classes: int, slot: LabelSlot) -> None:
        super().__init__()
        self.bn = bn
        self.gain = zero_embedding(classes, bn.num_features)
        self.bias = zero_embedding(classes, bn.num_features)
        self._slot = slot

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self._slot.take()
        gain = self.gain(y)[:, :, None, None]
        return self.bn(x) * (1 + gain) + self.bias(y)[:, :, None, None]


def _replace_batch_norms(net: nn.Module, classes: int, slot: LabelSlot) -> int:
    """Swap each BatchNorm2d of `net` for a ClassBatchNorm around it; how many were swapped."""
    swapped = 0
    for name, module in list(net.named_modules()):
        if isinstance(module, nn.BatchNorm2d):
            parent_name, _, child = name.rpartition(".")
            parent = net.get_submodule(parent_name) if parent_name else net
            setattr(parent, child, ClassBatchNorm(module, classes, slot))
            swapped += 1
    return swapped


class ConditionalGenerator(nn.Module):
    """(latents, labels) -> images: `net` with class-conditional batch norms."""

    def __init__(self, net: nn.Module, classes: int) -> None:
        super().__init__()
        self._slot = LabelSlot()
        if not _replace_batch_norms(net, classes, self._slot):
            raise ValueError("a conditional generator needs batch norm layers to condition")
        self.net = net
        self.classes = classes
        self.latent_dim = getattr(net, "latent_dim", None)

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        self._slot.labels = labels
        try:
            return self.net(z)
        finally:
            self._slot.labels = None


class _Projection(nn.Module):
    """<embed[y], phi(x)> added to a logit layer's output (a forward hook on that layer)."""

    def __init__(self, features: int, classes: int, slot: LabelSlot) -> None:
        super().__init__()
        self.embed = zero_embedding(classes, features)
        self._slot = slot

    def hook(self, module: nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor:
        h = inputs[0]
        phi = h.sum((2, 3)) if h.dim() == 4 else h.flatten(1)
        term = (self.embed(self._slot.take()) * phi).sum(1)
        return output + term.view(-1, *([1] * (output.dim() - 1)))


class ConditionalDiscriminator(nn.Module):
    """(images, labels, *rest) -> D's output with each logit layer's class projection."""

    def __init__(self, net: nn.Module, logit_layers: list[tuple[nn.Module, int]], classes: int) -> None:
        super().__init__()
        self._slot = LabelSlot()
        self.net = net
        self.projections = nn.ModuleList(_Projection(c, classes, self._slot) for _, c in logit_layers)
        for (layer, _), projection in zip(logit_layers, self.projections):
            layer.register_forward_hook(projection.hook)
        self.reconstructs = getattr(net, "reconstructs", False)
        self.classes = classes

    def forward(self, x: torch.Tensor, labels: torch.Tensor, *rest):
        self._slot.labels = labels
        try:
            return self.net(x, *rest)
        finally:
            self._slot.labels = None


def classes_of(net: nn.Module) -> int:
    """How many classes a network is conditioned on (0: unconditional), through DDP's and
    torch.compile's wrappers."""
    for inner in (net, getattr(net, "module", None), getattr(net, "_orig_mod", None)):
        if isinstance(inner, (ConditionalGenerator, ConditionalDiscriminator)):
            return inner.classes
    return 0


def grid_labels(n: int, classes: int, cols: int | None = None) -> torch.Tensor:
    """The classes of a grid of n tiles, `cols` a row (reporting.grids' near-square grid by
    default): class c in row c, rows past the last class starting over at class 0."""
    cols = cols or math.ceil(math.sqrt(n))
    return (torch.arange(n) // cols) % classes
