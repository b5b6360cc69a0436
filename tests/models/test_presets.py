"""Shapes and parameter counts of every preset against the numbers its reference system implies
(docs/reference-systems.md)."""

import pytest
import torch

from gancli import config
from gancli.models.dcgan import build_discriminator, build_generator, count_params, layer_table
from gancli.models.layers import SameConv2d, SameConvTranspose2d, same_padding


def conv(cin, cout, k, bias=True):
    return cin * cout * k * k + (cout if bias else 0)


def bn(c):
    return 2 * c


# Hand-computed from the layer lists in docs/reference-systems.md (MATLAB counts every bias; CNTK and DCGAN have none where stated).
EXPECTED = {
    "flowers64": (
        (100 * 4 * 4 * 512 + 4 * 4 * 512)
        + conv(512, 256, 5)
        + bn(256)
        + conv(256, 128, 5)
        + bn(128)
        + conv(128, 64, 5)
        + bn(64)
        + conv(64, 3, 5),
        conv(3, 64, 5)
        + conv(64, 128, 5)
        + bn(128)
        + conv(128, 256, 5)
        + bn(256)
        + conv(256, 512, 5)
        + bn(512)
        + conv(512, 1, 4),
    ),
    "faces256": (
        conv(100, 1024, 4, False)
        + bn(1024)
        + conv(1024, 512, 5, False)
        + bn(512)
        + conv(512, 256, 5, False)
        + bn(256)
        + conv(256, 128, 5, False)
        + bn(128)
        + conv(128, 64, 5, False)
        + bn(64)
        + conv(64, 32, 5, False)
        + bn(32)
        + conv(32, 3, 5, True),
        conv(3, 32, 3, False)
        + conv(32, 64, 3, False)
        + bn(64)
        + conv(64, 128, 3, False)
        + bn(128)
        + conv(128, 256, 3, False)
        + bn(256)
        + conv(256, 512, 3, False)
        + bn(512)
        + conv(512, 1024, 3, False)
        + bn(1024)
        + conv(1024, 1, 4, True),
    ),
    "mnist32": (
        (100 * 128 * 8 * 8 + 128 * 8 * 8)
        + bn(128)
        + conv(128, 128, 3)
        + bn(128)
        + conv(128, 64, 3)
        + bn(64)
        + conv(64, 1, 3),
        conv(1, 16, 3)
        + conv(16, 32, 3)
        + bn(32)
        + conv(32, 64, 3)
        + bn(64)
        + conv(64, 128, 3)
        + bn(128)
        + (128 * 2 * 2 + 1),
    ),
    "dcgan64": (3_576_704, 2_765_568),  # pytorch/examples dcgan netG / netD with ngf = ndf = 64
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_parameter_counts_match_the_reference(name):
    cfg = config.load_preset(name)
    with torch.device("meta"):
        g, d = build_generator(cfg.model), build_discriminator(cfg.model)
    assert (count_params(g), count_params(d)) == EXPECTED[name]


def test_flowers64_layer_shapes_follow_the_spec():
    cfg = config.load_preset("flowers64")
    g = build_generator(cfg.model)
    convs = [r.output_shape for r in layer_table(g) if r.op in ("project", "convT")]
    assert convs == [(512, 4, 4), (256, 8, 8), (128, 16, 16), (64, 32, 32), (3, 64, 64)]
    d = build_discriminator(cfg.model)
    dconvs = [r.output_shape for r in layer_table(d) if r.op == "conv"]
    assert dconvs == [(64, 32, 32), (128, 16, 16), (256, 8, 8), (512, 4, 4), (1, 1, 1)]


@pytest.mark.parametrize("name", ["flowers64", "mnist32", "dcgan64", "quick"])
def test_forward_shapes(name):
    cfg = config.load_preset(name)
    torch.manual_seed(0)
    g, d = build_generator(cfg.model), build_discriminator(cfg.model)
    images = g(torch.randn(3, cfg.model.latent_dim))
    assert images.shape == (3, cfg.model.channels, cfg.model.resolution, cfg.model.resolution)
    assert images.abs().max() <= 1
    assert d(images).shape == (3,)


def test_same_padding_matches_matlab_rule():
    # MATLAB/TensorFlow: total = (ceil(n/s) - 1) * s + k - n, extra pixel at the bottom/right
    assert same_padding(64, 5, 2) == (1, 2)
    assert same_padding(64, 3, 2) == (0, 1)
    assert same_padding(7, 3, 1) == (1, 1)


def test_same_conv_samples_the_matlab_grid():
    """A 5x5 stride-2 'same' conv equals a valid conv on the input padded (1, 2) — not (2, 2)."""
    torch.manual_seed(0)
    layer = SameConv2d(1, 1, 5, 2, bias=False)
    x = torch.randn(1, 1, 8, 8)
    ref = torch.nn.functional.conv2d(torch.nn.functional.pad(x, (1, 2, 1, 2)), layer.weight, stride=2)
    torch.testing.assert_close(layer(x), ref)
    symmetric = torch.nn.functional.conv2d(x, layer.weight, stride=2, padding=2)
    assert not torch.allclose(layer(x), symmetric)


def test_same_conv_transpose_crops_matlab_style():
    """Full transposed conv is (n-1)*s + k long; MATLAB keeps rows 1 .. n*s (crop 1 top, 2 bottom)."""
    torch.manual_seed(0)
    layer = SameConvTranspose2d(2, 3, 5, 2, bias=True)
    x = torch.randn(1, 2, 4, 4)
    full = torch.nn.functional.conv_transpose2d(x, layer.weight, layer.bias, stride=2)
    assert full.shape[-1] == 11
    torch.testing.assert_close(layer(x), full[..., 1:9, 1:9])


def test_inits_follow_their_scheme():
    cfg = config.load_preset("dcgan64")
    torch.manual_seed(0)
    g = build_generator(cfg.model)
    w = g.layers[0].weight
    assert abs(w.std().item() - 0.02) < 0.002
    bn = g.layers[1]
    assert abs(bn.weight.mean().item() - 1.0) < 0.01 and bn.weight.std().item() > 0.005
    flowers = config.load_preset("flowers64")
    d = build_discriminator(flowers.model)
    conv1 = d.layers[1]
    bound = (6 / (conv1.weight[0].numel() + conv1.weight.shape[0] * 25)) ** 0.5
    assert conv1.weight.abs().max() <= bound and conv1.weight.abs().max() > 0.9 * bound  # Glorot uniform
    assert torch.all(conv1.bias == 0)


def test_activations_run_in_place_only_where_backward_allows():
    """In-place activations save memory after conv/BN/dropout, but must not overwrite a net's
    input (G's images, the real batch) or an output that tanh's backward reads."""
    from conftest import tiny_model

    model = tiny_model()
    model["generator"][-1:] = [{"op": "tanh"}, {"op": "relu"}]  # relu after tanh: not in place
    model["discriminator"].insert(0, {"op": "leaky_relu", "slope": 0.2})  # D's first layer: not in place
    cfg = config.from_dict({"model": model}).model
    g, d = build_generator(cfg), build_discriminator(cfg)
    flags = [
        (type(m).__name__, m.inplace)
        for m in [*g.modules(), *d.modules()]
        if isinstance(m, (torch.nn.ReLU, torch.nn.LeakyReLU))
    ]
    assert flags == [
        ("ReLU", True),
        ("ReLU", False),
        ("LeakyReLU", False),
        ("LeakyReLU", True),
        ("LeakyReLU", True),
    ]
    real = torch.rand(4, 3, 16, 16) * 2 - 1
    kept = real.clone()
    fake = g(torch.randn(4, 8))
    (d(fake).sum() + d(real).sum()).backward()  # would raise if an in-place op broke autograd
    assert torch.equal(real, kept)
