"""The turned frame: MATLAB's asymmetric 'same' layers computed with symmetric padding must give
the same numbers (float64), and a net the turn cannot map exactly must stay in the plain frame."""

import itertools

import pytest
import torch
from torch import nn

from gancli import config
from gancli.models.dcgan import build_discriminator, build_generator
from gancli.models.frame import plan_turned_frame, run_turned
from gancli.models.layers import SameConv2d, SameConvTranspose2d


def worst_difference(g, d, latent_dim, batch):
    """Largest relative difference of D(G(z)) and every gradient, turned frame vs plain."""
    z = torch.randn(batch, latent_dim, dtype=torch.float64)
    results = []
    for frames in ((g.frame, d.frame), (None, None)):
        g.frame, d.frame = frames
        torch.manual_seed(1)  # the same dropout draws
        out = d(g(z))
        results.append((out, torch.autograd.grad(out.sum(), [*g.parameters(), *d.parameters()])))
    (out, grads), (plain, plain_grads) = results
    worst = ((out - plain).abs().max() / plain.abs().max()).item()
    for a, b in zip(grads, plain_grads):
        if b.abs().max() > 1e-9:  # a conv bias before batch norm has an exactly-zero gradient
            worst = max(worst, ((a - b).abs().max() / b.abs().max()).item())
    return worst


@pytest.mark.parametrize("name,batch", [("flowers64", 3), ("faces256", 1)])
def test_matlab_presets_run_turned_with_the_same_numbers(name, batch):
    cfg = config.load_preset(name).model
    torch.manual_seed(0)
    g, d = build_generator(cfg).double().train(), build_discriminator(cfg).double().train()
    assert g.frame is not None and d.frame is not None
    assert worst_difference(g, d, cfg.latent_dim, batch) < 1e-12


@pytest.mark.parametrize("name", ["mnist32", "dcgan64", "quick"])
def test_presets_without_asymmetric_padding_stay_plain(name):
    cfg = config.load_preset(name).model
    assert build_generator(cfg).frame is None and build_discriminator(cfg).frame is None


@pytest.mark.parametrize(
    "kernel,stride,size", list(itertools.product([1, 2, 3, 4, 5], [1, 2, 3], [5, 6, 7, 8]))
)
def test_every_same_layer_is_exact_where_planned_and_refused_where_not(kernel, stride, size):
    torch.manual_seed(0)
    for layer in (
        SameConv2d(2, 3, kernel, stride, bias=True),
        SameConvTranspose2d(2, 3, kernel, stride, bias=True),
    ):
        net = nn.Sequential(layer).double()
        x = torch.randn(2, 2, size, size, dtype=torch.float64)
        plan = plan_turned_frame(net, [(2, size, size)])
        if plan is None:
            continue  # nothing to gain (symmetric) or not exact: the plain layer runs
        assert torch.allclose(run_turned(net, plan, x), net(x), rtol=0, atol=1e-12), (
            type(layer).__name__,
            kernel,
            stride,
            size,
        )


@pytest.mark.parametrize("kernel,stride", list(itertools.product([1, 2, 3, 4, 5], [1, 2, 3, 4])))
def test_every_same_layer_is_exact_after_an_asymmetric_one(kernel, stride):
    """Behind a layer that turns the frame, a layer is planned whenever its own padding is
    symmetric too, so its exactness must hold there (a 1x1/2 'same' conv has none: refused)."""
    torch.manual_seed(0)
    for size in (12, 16):
        for layer in (
            SameConv2d(2, 3, kernel, stride, bias=True),
            SameConvTranspose2d(2, 3, kernel, stride, bias=True),
        ):
            net = nn.Sequential(SameConv2d(2, 2, 5, 2, bias=False), layer).double()
            plan = plan_turned_frame(net, [(2, size, size), (2, size // 2, size // 2)])
            if plan is None:
                continue
            x = torch.randn(2, 2, size, size, dtype=torch.float64)
            assert torch.allclose(run_turned(net, plan, x), net(x), rtol=0, atol=1e-12), (
                type(layer).__name__,
                kernel,
                stride,
                size,
            )


def test_layers_the_turn_cannot_map_keep_the_whole_net_plain():
    same = SameConv2d(2, 2, 5, 2, bias=False)
    assert plan_turned_frame(nn.Sequential(same), [(2, 8, 8)]) is not None
    # a plain 3x3/2 conv on an even size leaves its last pad row unread: not turn-exact
    assert plan_turned_frame(nn.Sequential(same, nn.Conv2d(2, 2, 3, 2, 1)), [(2, 8, 8), (2, 4, 4)]) is None
    # output_padding adds a pixel at the bottom/right only
    assert (
        plan_turned_frame(
            nn.Sequential(same, nn.ConvTranspose2d(2, 2, 3, 2, 1, output_padding=1)), [(2, 8, 8), (2, 4, 4)]
        )
        is None
    )
    # a 1x1/2 'same' conv (no padding) behind a turn would have to skip the top row: not expressible
    assert (
        plan_turned_frame(nn.Sequential(same, SameConv2d(2, 2, 1, 2, bias=False)), [(2, 16, 16), (2, 8, 8)])
        is None
    )
    # an even 'same' kernel at stride 1 pads one more row at the bottom than the top
    assert plan_turned_frame(nn.Sequential(SameConv2d(2, 2, 4, 1, bias=False)), [(2, 8, 8)]) is None
