"""`gan train --resolution`: the DCGAN-class presets grow or shrink by one block per doubling
(their layer tables still match the built nets), fast archs take it as it is, the user's own
layer lists are never rewritten, and a resumed run cannot change its size."""

import pytest
import torch
import yaml
from conftest import run_cli, tiny_config_dict

from gancli import config
from gancli.errors import UserError
from gancli.layer_math import discriminator_rows, generator_rows, param_count
from gancli.models.build import build_discriminator, build_generator


@pytest.mark.parametrize(
    ("preset", "resolution"),
    [("quick", 32), ("quick", 128), ("dcgan64", 256), ("flowers64", 128), ("mnist32", 64), ("fast64", 128)],
)
def test_presets_build_at_another_resolution(preset, resolution):
    m = config.resolve(preset, None, config.Overrides(resolution=resolution)).model
    assert generator_rows(m)[-1].output_shape == (m.channels, resolution, resolution)
    with torch.device("meta"):
        g, d = build_generator(m), build_discriminator(m)
        assert tuple(g(torch.zeros(2, m.latent_dim)).shape[1:]) == (m.channels, resolution, resolution)
    assert param_count(generator_rows(m)) == sum(p.numel() for p in g.parameters())
    assert param_count(discriminator_rows(m)) == sum(p.numel() for p in d.parameters() if p.requires_grad)


def test_one_block_per_doubling():
    base = config.load_preset("quick").model
    bigger = config.resolve("quick", None, config.Overrides(resolution=128)).model
    smaller = config.resolve("quick", None, config.Overrides(resolution=32)).model
    assert len(bigger.generator) == len(base.generator) + 3 == len(smaller.generator) + 6
    assert len(bigger.discriminator) == len(base.discriminator) + 3


def test_a_resolution_that_is_not_a_doubling_is_refused():
    with pytest.raises(UserError, match="power of two"):
        config.resolve("quick", None, config.Overrides(resolution=100))


def test_layer_lists_of_the_users_config_are_not_rewritten(tmp_path):
    path = tmp_path / "mine.yaml"
    data = tiny_config_dict()  # its own 16x16 layer lists
    path.write_text(yaml.safe_dump(data))
    cfg = config.resolve(None, path, config.Overrides(resolution=32))
    assert config.to_dict(cfg.model)["generator"] == config.to_dict(config.from_dict(data).model)["generator"]
    with pytest.raises(UserError, match="Fix the layer list or the resolution"):
        build_generator(cfg.model)  # 16x16 images from a 32x32 model: said when the run starts


def test_a_resumed_run_keeps_its_size(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(tiny_config_dict(iters=2)))
    assert run_cli("train", "--config", path, "--out", tmp_path / "run").code == 0
    res = run_cli("train", "--resume", tmp_path / "run", "--iters", "4", "--resolution", "32")
    assert res.code == 2 and "cannot change its image size" in " ".join(res.text.split())
