"""Class-conditional nets (models/conditional.py): the torch-free tables count their class
parameters, a fresh conditional net computes its unconditional one (zero embeddings, no RNG
draws), and the class reaches G's batch norms and D's projection <embed[y], phi(x)>."""

import pytest
import torch
from conftest import tiny_model

from gancli import config
from gancli.layer_math import discriminator_rows, generator_rows, param_count
from gancli.models.build import build_discriminator, build_generator, trainable

CLASSES = ["disc", "square", "triangle"]


def conditional(m: config.ModelConfig, on: bool = True) -> config.ModelConfig:
    data = config.to_dict(config.RunConfig(model=m))
    data["model"].update(conditional=on, classes=CLASSES if on else [])
    return config.from_dict(data).model


def fast(arch: str, **extra) -> config.ModelConfig:
    model = {"arch": arch, "resolution": 32, "channels": 3, "width": 2, "latent_dim": 8, **extra}
    return config.from_dict({"preset": "quick", "model": model}).model


def tiny() -> config.ModelConfig:
    """The tiny pair without dropout: its mask falls in the turned frame of the unconditional D."""
    return config.from_dict({"preset": "quick", "model": tiny_model(dropout=False)}).model


MODELS = {
    "tiny": tiny,
    "quick": lambda: config.load_preset("quick").model,
    "fastgan": lambda: fast("fastgan"),
    "fastgan-sn": lambda: fast("fastgan", spectral_norm=True),
    "projected": lambda: fast("projected"),
}


@pytest.mark.parametrize("name", MODELS)
def test_tables_count_the_class_parameters(name):
    m = conditional(MODELS[name]())
    with torch.device("meta"):
        g, d = build_generator(m), build_discriminator(m, pretrained=False)
    assert param_count(generator_rows(m)) == sum(p.numel() for p in g.parameters())
    assert param_count(discriminator_rows(m)) == sum(p.numel() for p in trainable(d))
    plain = MODELS[name]()
    assert param_count(generator_rows(m)) > param_count(generator_rows(plain))
    assert param_count(discriminator_rows(m)) > param_count(discriminator_rows(plain))


def build(m, seed=3):
    torch.manual_seed(seed)
    g = build_generator(m)
    d = build_discriminator(m, pretrained=False)
    return g.train(), d.train()


@pytest.mark.parametrize("name", ["tiny", "fastgan", "projected"])
def test_a_fresh_conditional_pair_is_its_unconditional_pair(name):
    m = MODELS[name]()
    g0, d0 = build(m)
    g1, d1 = build(conditional(m))
    z, x = torch.randn(4, m.latent_dim), torch.rand(4, 3, m.resolution, m.resolution) * 2 - 1
    y = torch.tensor([0, 1, 2, 1])
    torch.manual_seed(9)
    ref_g, ref_d = g0(z), d0(x)
    torch.manual_seed(9)
    assert torch.equal(g1(z, y), ref_g)
    # dcgan's conditional D runs its layers in the plain frame (the projection hooks its last
    # layer, which the turned frame calls functionally): the same sums in another order
    torch.testing.assert_close(d1(x, y), ref_d, rtol=1e-6, atol=1e-6)


def test_the_class_reaches_batch_norm_and_the_projection():
    m = conditional(tiny())
    g, d = build(m)
    for p in [*g.parameters(), *d.parameters()]:
        if p.shape[0] == len(CLASSES):  # the embeddings
            torch.nn.init.normal_(p, generator=torch.Generator().manual_seed(1))
    g.eval(), d.eval()
    z = torch.randn(1, m.latent_dim).repeat(3, 1)
    images = g(z, torch.tensor([0, 1, 2]))
    assert not torch.equal(images[0], images[1]) and not torch.equal(images[1], images[2])
    x = images.detach()
    phi = {}
    d.net.layers[-1].register_forward_hook(lambda mod, inp, out: phi.update(h=inp[0].sum((2, 3))))
    with torch.no_grad():
        a, b = d(x, torch.tensor([0, 0, 0])), d(x, torch.tensor([2, 2, 2]))
        embed = d.projections[0].embed.weight
        expected = ((embed[2] - embed[0]) * phi["h"]).sum(1)
    torch.testing.assert_close(b - a, expected)


def test_a_conditional_net_needs_labels():
    g, _ = build(conditional(tiny()))
    with pytest.raises(TypeError):
        g(torch.randn(2, 8))


@pytest.mark.parametrize(
    "model, message",
    [
        ({"classes": ["a", "b"]}, "model.conditional' is false"),
        ({"conditional": True, "classes": ["a", "a"]}, "two or more distinct"),
        ({"conditional": True, "classes": ["a"]}, "two or more distinct"),
    ],
)
def test_conditional_config_errors(model, message):
    from gancli.errors import UserError

    def quick(**extra):
        data = config.preset_dict("quick")
        data["model"].update(extra)
        return config.from_dict(data)

    with pytest.raises(UserError, match=message):
        quick(**model)
    assert quick(conditional=True).model.classes == []  # the classes come with the data


def test_a_generator_without_batch_norm_cannot_be_conditioned():
    from gancli.errors import UserError

    layers = [spec for spec in tiny_model()["generator"] if spec["op"] != "batchnorm"]
    with pytest.raises(UserError, match="needs a batch norm layer in model.generator"):
        config.from_dict(
            {"preset": "quick", "model": {**tiny_model(), "generator": layers, "conditional": True}}
        )
