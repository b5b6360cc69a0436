"""Training the FastGAN-class archs: every step kind, bit-exact resume with the recipe, the
reconstruction draws, and losses over a projected D's several logits per image."""

import pytest
import torch
from conftest import tiny_fast_config_dict

from gancli import config
from gancli.checkpoint_check import validate_checkpoint
from gancli.data.builtin import shapes
from gancli.training.checkpoint import find_checkpoint, load_checkpoint
from gancli.training.losses import OBJECTIVES
from gancli.training.trainer import Trainer

RECIPE = {"augment": "translation,color", "ema_half_life": 64, "ema_rampup": 0.5}


def trainer(tmp, arch, step="d_then_g", iters=4, **train):
    cfg = config.from_dict(tiny_fast_config_dict(arch, step, iters=iters, **train))
    return Trainer(cfg, shapes(40, 32), torch.device("cpu"), tmp)


@pytest.mark.parametrize("arch", ["fastgan", "projected"])
@pytest.mark.parametrize("step", ["simultaneous", "d_then_g", "g_then_d"])
def test_every_step_kind_trains(tmp_path, arch, step):
    t = trainer(None, arch, step, iters=3)
    before = {k: v.clone() for k, v in t.generator.state_dict().items()}
    outcome = t.fit()
    assert outcome.status == "finished"
    moved = [
        k
        for k, v in t.generator.state_dict().items()
        if v.is_floating_point() and not torch.equal(v, before[k])
    ]
    assert moved


def test_reconstruction_quarters_are_drawn_only_for_a_reconstructing_d():
    fast, projected = trainer(None, "fastgan"), trainer(None, "projected")
    parts = fast._inputs(0).parts
    assert parts is not None and parts.shape == (8,) and parts.min() >= 0 and parts.max() <= 3
    assert projected._inputs(0).parts is None


@pytest.mark.parametrize("arch", ["fastgan", "projected"])
def test_n_plus_n_equals_2n_with_the_recipe(tmp_path, arch):
    full = trainer(tmp_path / "full", arch, iters=6, **RECIPE)
    full.fit()
    half = trainer(tmp_path / "half", arch, iters=3, **RECIPE)
    half.fit()
    payload = load_checkpoint(find_checkpoint(tmp_path / "half"))
    validate_checkpoint(payload, tmp_path / "half")  # its own config builds what it holds
    resumed = trainer(tmp_path / "half", arch, iters=6, **RECIPE)
    resumed.load_state(payload)
    resumed.fit()
    for name in ("generator", "discriminator", "ema"):
        a, b = getattr(full, name).state_dict(), getattr(resumed, name).state_dict()
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a), name


def test_a_projected_checkpoint_holds_no_feature_weights(tmp_path):
    t = trainer(tmp_path, "projected", iters=2)
    t.fit()
    payload = load_checkpoint(find_checkpoint(tmp_path))
    assert not any("_blocks" in k or "_conv_stem" in k for k in payload["discriminator"])
    assert len(payload["opt_d"]["param_groups"][0]["params"]) == len(list(t.discriminator.parameters()))


LOGITS = torch.tensor([[1.0, -2.0, 0.5], [0.3, 0.2, -0.1]])
FLIP = torch.tensor([True, False])


@pytest.mark.parametrize("loss", ["bce", "hinge"])
def test_label_flips_cover_every_logit_of_an_image(loss):
    """A projected D gives several logits per image: a flipped real flips all of them."""
    d_loss = OBJECTIVES[loss].discriminator
    fake = torch.zeros(2, 3)
    by_hand = d_loss(torch.cat([-LOGITS[:1], LOGITS[1:]]), fake, None)
    torch.testing.assert_close(d_loss(LOGITS, fake, FLIP), by_hand)


def test_lsgan_flips_take_the_fake_target_for_every_logit_of_an_image():
    target = torch.tensor([[0.0], [1.0]])  # image 0 flipped: target 0 for all three logits
    by_hand = ((LOGITS - target).square().mean() + 0.0) * 0.5
    torch.testing.assert_close(OBJECTIVES["lsgan"].discriminator(LOGITS, torch.zeros(2, 3), FLIP), by_hand)
