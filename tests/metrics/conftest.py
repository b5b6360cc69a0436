"""Shared fixtures: a deterministic random-weights Inception file in the standard layout, small image sets."""

from __future__ import annotations

import math

import pytest
import torch


def _peer_network() -> torch.nn.Module:
    """pytorch-fid's FID Inception module tree (torchvision Inception3 + its FID blocks), untrained."""
    import pytorch_fid.inception as pfi

    net = pfi._inception_v3(num_classes=1008, aux_logits=False, weights=None)
    net.Mixed_5b = pfi.FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = pfi.FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = pfi.FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = pfi.FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = pfi.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = pfi.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = pfi.FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = pfi.FIDInceptionE_1(1280)
    net.Mixed_7c = pfi.FIDInceptionE_2(2048)
    return net


def standard_inception_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """Deterministic random weights for the FID Inception, in the published file's layout.

    Keys and shapes come from the peer's network (pytorch-fid's module tree), minus
    `num_batches_tracked`, which the published file lacks. Conv weights are seeded He-normal;
    the batch-norm statistics are then calibrated on one batch of fixed images (so every
    channel is normalised and features depend on the image, as with trained weights), and the
    fc layer is made orthogonal to the mean pool feature, so logits vary between images and
    the Inception Score is well above 1.
    """
    net = _peer_network()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.Conv2d):
                fan_in = module.weight[0].numel()
                module.weight.copy_(torch.randn(module.weight.shape, generator=gen) * math.sqrt(2.0 / fan_in))
            elif isinstance(module, torch.nn.BatchNorm2d):
                module.weight.copy_(0.8 + 0.4 * torch.rand(module.weight.shape, generator=gen))
                module.bias.copy_(0.2 * torch.randn(module.bias.shape, generator=gen))
                module.momentum = 1.0  # running stats := the calibration batch's stats
        calib = make_images(16, seed=1000 + seed).float() / 255
        calib = torch.nn.functional.interpolate(calib, size=(299, 299), mode="bilinear", align_corners=False)
        pool = {}
        hook = net.avgpool.register_forward_hook(lambda m, i, o: pool.setdefault("x", o.flatten(1)))
        net.train()  # one pass in train mode sets every running mean/var to this batch's statistics
        net(2 * calib - 1)
        net.eval()
        hook.remove()
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                # A channel nearly constant on 16 images would amplify any other image hugely.
                var = module.running_var
                var.clamp_(min=0.1 * float(var.median()))
        feats = pool["x"].double()
        mean = feats.mean(0)
        w = torch.randn(net.fc.weight.shape, generator=gen, dtype=torch.float64)
        w = w - torch.outer(w @ mean, mean) / (mean @ mean)
        spread = ((feats - mean) @ w.T).std()
        net.fc.weight.copy_((w * (3.0 / spread)).float())
        net.fc.bias.copy_(torch.randn(net.fc.bias.shape, generator=gen))
    return {
        k: v.detach().float().clone().contiguous()
        for k, v in net.state_dict().items()
        if not k.endswith("num_batches_tracked")
    }


@pytest.fixture(scope="session")
def weights_file(tmp_path_factory) -> str:
    """Path of the random-weights file, saved as a plain dict of tensors like the published file."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("inception") / "pt_inception-random.pth"
    torch.save(standard_inception_state_dict(seed=0), path)
    return str(path)


def make_images(n: int, seed: int, size: int = 32, tint: float = 0.0) -> torch.Tensor:
    """Random-but-structured uint8 N x 3 x size x size images: coloured blobs on gradients, plus noise."""
    gen = torch.Generator().manual_seed(seed)
    ys, xs = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    images = []
    for _ in range(n):
        angle = torch.rand(1, generator=gen) * 2 * math.pi
        base = torch.cos(angle) * xs + torch.sin(angle) * ys
        colour = torch.rand(3, 1, 1, generator=gen)
        img = base.unsqueeze(0) * colour * 160 + 40 * tint
        for _ in range(3):
            cy, cx = torch.rand(2, generator=gen)
            radius = 0.08 + 0.2 * torch.rand(1, generator=gen)
            mask = ((ys - cy) ** 2 + (xs - cx) ** 2 < radius**2).float()
            img = img + mask * (torch.rand(3, 1, 1, generator=gen) * 200 - 60)
        img = img + torch.randn(3, size, size, generator=gen) * 12
        images.append(img.clamp(0, 255).round().to(torch.uint8))
    return torch.stack(images)


@pytest.fixture(scope="session")
def image_sets() -> tuple[torch.Tensor, torch.Tensor]:
    """(generated-like, reference-like) sets of 24 RGB 32x32 images from different distributions."""
    torch.manual_seed(0)
    return make_images(24, seed=1, tint=1.0), make_images(24, seed=2, tint=0.0)
