"""The improved recipe's parts: losses against hand-computed values, DiffAugment, EMA,
spectral norm, R1, the recipe switch, and exact resume with all of them on."""

import math

import pytest
import torch
from conftest import tiny_config_dict

from gancli import config
from gancli.data.builtin import shapes
from gancli.errors import UserError
from gancli.models.dcgan import build_discriminator, build_generator
from gancli.training import augment
from gancli.training.checkpoint import find_checkpoint, load_checkpoint
from gancli.training.ema import GeneratorEMA, ema_beta, standing_statistics
from gancli.training.losses import OBJECTIVES, r1_penalty
from gancli.training.trainer import Trainer

IMPROVED = {
    "loss": "hinge",
    "augment": "translation,cutout,color",
    "ema_half_life": 200,
    "ema_rampup": 0.5,
    "r1_gamma": 0.1,
    "r1_every": 2,
}


def _improved_dict(step="d_then_g", iters=6, **train):
    data = tiny_config_dict(step, iters=iters, **{**IMPROVED, **train})
    data["model"]["spectral_norm"] = True
    return data


# ------------------------------------------------------------------ losses


def test_hinge_losses_by_hand():
    real, fake = torch.tensor([2.0, 0.5, -1.0]), torch.tensor([-2.0, 0.0, 1.5])
    d, g = OBJECTIVES["hinge"]
    # relu(1 - real) = [0, 0.5, 2] -> mean 5/6; relu(1 + fake) = [0, 1, 2.5] -> mean 7/6
    assert d(real, fake).item() == pytest.approx(5 / 6 + 7 / 6)
    assert g(fake).item() == pytest.approx(-(-2.0 + 0.0 + 1.5) / 3)
    # a flipped real counts as fake: relu(1 + 2) = 3 instead of 0
    flip = torch.tensor([True, False, False])
    assert d(real, fake, flip).item() == pytest.approx((3 + 0.5 + 2) / 3 + 7 / 6)
    assert d(real, fake, None, 0.5).item() == pytest.approx(1.0)


def test_lsgan_losses_by_hand():
    real, fake = torch.tensor([1.0, 0.0]), torch.tensor([0.5, -1.0])
    d, g = OBJECTIVES["lsgan"]
    # ((0)^2 + (-1)^2)/2 = 0.5 for real, (0.25 + 1)/2 = 0.625 for fake, halved
    assert d(real, fake).item() == pytest.approx((0.5 + 0.625) / 2)
    # flipping the second real makes its target 0: (0 + 0)/2 = 0
    assert d(real, fake, torch.tensor([False, True])).item() == pytest.approx((0.0 + 0.625) / 2)
    assert g(fake).item() == pytest.approx(((0.5 - 1) ** 2 + (-2.0) ** 2) / 2 / 2)


def test_bce_objective_is_the_reference_loss():
    real, fake = torch.tensor([0.3, -0.7]), torch.tensor([1.2, -0.4])
    d, g = OBJECTIVES["bce"]
    sig = torch.sigmoid
    expected = -(torch.log(sig(real)).mean() + torch.log(1 - sig(fake)).mean())
    assert d(real, fake).item() == pytest.approx(expected.item(), rel=1e-6)
    assert g(fake).item() == pytest.approx(-torch.log(sig(fake)).mean().item(), rel=1e-6)


def test_r1_penalty_of_a_linear_critic():
    # D(x) = sum(w * x): the gradient is w for every image, so the penalty is ||w||^2
    w = torch.tensor([[[[1.0, -2.0], [0.5, 3.0]]]])
    x = torch.rand(4, 1, 2, 2, requires_grad=True)
    logits = (x * w).sum(dim=(1, 2, 3))
    assert r1_penalty(logits, x).item() == pytest.approx(1 + 4 + 0.25 + 9)


# ------------------------------------------------------------------ DiffAugment


def test_translation_shifts_whole_images_and_fills_zeros():
    g = torch.Generator().manual_seed(3)
    x = torch.arange(64.0).view(1, 1, 8, 8).repeat(16, 1, 1, 1) + 1  # no zero pixels
    out = augment.translation(x, g)
    for img in out[:, 0]:
        nz = img.nonzero()
        top, left = nz.min(0).values.tolist()
        kept = img[img != 0]
        # the kept pixels are a contiguous block of the original, shifted by at most 1 pixel (8 * 0.125)
        assert img.count_nonzero() >= 7 * 7
        assert set(kept.tolist()) <= set(x[0, 0].flatten().tolist())
        assert top <= 1 and left <= 1
    assert not torch.equal(out, x)  # some image moved


def test_cutout_zeroes_one_square_of_half_the_side():
    g = torch.Generator().manual_seed(0)
    x = torch.ones(32, 3, 8, 8)
    out = augment.cutout(x, g)
    zeros = (out[:, 0] == 0).sum(dim=(1, 2))
    assert zeros.max().item() == 16  # a whole 4x4 square inside the image
    assert zeros.min().item() >= 4  # at a corner, at least a quarter of it is inside
    assert torch.equal(out[:, 0] == 0, out[:, 2] == 0)  # the same square in every channel


def test_color_is_differentiable_and_per_image():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(6, 3, 4, 4, requires_grad=True)
    out = augment.color(x, g)
    out.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    shifts = (out - x).mean(dim=(1, 2, 3))
    assert len({round(v, 4) for v in shifts.tolist()}) > 1


def test_diffaugment_is_reproducible_from_its_state():
    aug = augment.DiffAugment("color,translation,cutout", torch.device("cpu"), seed=5)
    x = torch.rand(4, 3, 8, 8)
    saved = aug.state()
    first = aug(x)
    aug.load_state(saved)
    assert torch.equal(aug(x), first)
    assert augment.parse_policy("cutout, translation") == ["translation", "cutout"]


# ------------------------------------------------------------------ EMA and spectral norm


def test_ema_beta_follows_half_life_and_rampup():
    assert ema_beta(1000, 0.0, 10, 1000) == pytest.approx(0.5)
    assert ema_beta(1000, 0.0, 10, 500) == pytest.approx(math.sqrt(0.5))
    # ramp-up: after 800 images with rampup 0.5 the half-life is 400 images, not 1000
    assert ema_beta(1000, 0.5, 800, 400) == pytest.approx(0.5)


def test_ema_averages_parameters_and_copies_batchnorm_buffers():
    cfg = config.from_dict(tiny_config_dict()).model
    torch.manual_seed(0)
    g = build_generator(cfg)
    ema = GeneratorEMA(g, half_life_images=8, rampup=0.0, bn_stats="copy")
    before = [p.clone() for p in g.parameters()]
    with torch.no_grad():
        for p in g.parameters():
            p.add_(1.0)
    g.train()
    g(torch.randn(8, cfg.latent_dim))  # moves G's running statistics
    ema.update(g, images_seen=8, batch=8)  # beta 0.5: halfway
    for p0, pe in zip(before, ema.model.parameters()):
        torch.testing.assert_close(pe, p0 + 0.5)
    model = ema.ready(g, seed=0)
    assert not model.training
    for mine, theirs in zip(model.buffers(), g.buffers()):
        assert torch.equal(mine, theirs)


def test_standing_statistics_measure_the_ema_generator_itself():
    cfg = config.from_dict(tiny_config_dict()).model
    torch.manual_seed(0)
    g = build_generator(cfg)
    standing_statistics(g, seed=7)
    bn = next(m for m in g.modules() if isinstance(m, torch.nn.BatchNorm2d))
    first = bn.running_mean.clone()
    assert first.abs().sum() > 0 and not g.training
    standing_statistics(g, seed=7)
    assert torch.equal(bn.running_mean, first)  # from a fixed seed: the same every time


def test_spectral_norm_replaces_batchnorm_and_bounds_d():
    data = tiny_config_dict()
    data["model"]["spectral_norm"] = True
    cfg = config.from_dict(data).model
    torch.manual_seed(0)
    d = build_discriminator(cfg)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in d.modules())
    convs = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(hasattr(m, "parametrizations") for m in convs)
    d.train()
    for _ in range(30):  # power iterations converge
        d(torch.randn(2, 3, 16, 16))
    w = convs[0].weight.detach().flatten(1)
    assert torch.linalg.matrix_norm(w, ord=2).item() == pytest.approx(1.0, abs=0.05)


# ------------------------------------------------------------------ recipe switch


def test_recipe_improved_turns_on_the_recipe_and_a_config_file_still_wins(tmp_path):
    cfg = config.resolve("flowers64", None, {"recipe": "improved"})
    assert (cfg.recipe, cfg.train.augment, cfg.train.ema_half_life) == (
        "improved",
        "translation,color",
        10_000,
    )
    override = tmp_path / "mine.yaml"
    override.write_text("recipe: improved\ntrain: {loss: lsgan, augment: translation}\n")
    cfg = config.resolve("flowers64", override, {})
    assert (cfg.recipe, cfg.train.loss, cfg.train.augment, cfg.train.ema_half_life) == (
        "improved",
        "lsgan",
        "translation",
        10_000,
    )
    # quick is ours and defaults to the improved recipe; --recipe faithful gives it as written
    assert config.resolve("quick", None, {}).train.augment == "translation,color"
    plain = config.resolve("quick", None, {"recipe": "faithful"})
    assert (plain.recipe, plain.train.augment, plain.train.ema_half_life) == ("faithful", "", 0)
    assert config.to_dict(plain.train) == config.to_dict(
        config.from_dict(config.raw_preset_dict("quick")).train
    )
    faithful = config.resolve("flowers64", None, {})
    assert faithful.recipe == "faithful" and faithful.train.loss == "bce" and not faithful.model.spectral_norm
    assert config.to_dict(faithful.model) == config.to_dict(config.load_preset("flowers64").model)


@pytest.mark.parametrize(
    "key,value,words",
    [
        ("recipe", "fancy", "faithful, improved"),
        ("train.augment", "translation,zoom", "zoom"),
        ("train.loss", "wgan", "bce, hinge, lsgan"),
        ("train.ema_rampup", 2.0, "ema_rampup"),
    ],
)
def test_recipe_keys_are_validated(key, value, words):
    data = tiny_config_dict()
    config.set_dotted(data, key, value)
    with pytest.raises(UserError, match=words):
        config.from_dict(data)


# ------------------------------------------------------------------ training with all of it


@pytest.mark.parametrize("step", ["simultaneous", "d_then_g", "g_then_d"])
def test_resume_is_exact_with_the_improved_recipe(tmp_path, step):
    images = shapes(40, 16)
    cpu = torch.device("cpu")
    full = Trainer(config.from_dict(_improved_dict(step, iters=8)), images, cpu, tmp_path / "full")
    full.fit()
    half = Trainer(config.from_dict(_improved_dict(step, iters=4)), images, cpu, tmp_path / "half")
    half.fit()
    payload = load_checkpoint(find_checkpoint(tmp_path / "half"))
    assert "generator_ema" in payload and "augment" in payload["rng"]
    resumed = Trainer(config.from_dict(_improved_dict(step, iters=8)), images, cpu, tmp_path / "half")
    resumed.load_state(payload)
    resumed.fit()
    for a, b in ((full.generator, resumed.generator), (full.discriminator, resumed.discriminator)):
        for x, y in zip(a.state_dict().values(), b.state_dict().values()):
            assert torch.equal(x, y)
    for x, y in zip(full.ema.state_dict().values(), resumed.ema.state_dict().values()):
        assert torch.equal(x, y)
    # and G_ema is not G: the average lags behind
    assert any(
        not torch.equal(x, y) for x, y in zip(full.ema.model.parameters(), full.generator.parameters())
    )


def test_sample_grids_come_from_the_ema_generator(tmp_path):
    trainer = Trainer(config.from_dict(_improved_dict(iters=4)), shapes(40, 16), torch.device("cpu"), None)
    trainer.fit()
    ema_images = trainer.sample_fixed()
    trainer.ema = None
    assert not torch.equal(ema_images, trainer.sample_fixed())


def test_one_channel_improved_run_trains(tmp_path):
    data = _improved_dict(iters=3)
    data["model"] = {**data["model"], **_gray(data["model"])}
    trainer = Trainer(config.from_dict(data), shapes(16, 16, channels=1), torch.device("cpu"), None)
    assert trainer.fit().status == "finished"


def _gray(model: dict) -> dict:
    from conftest import tiny_model

    return {**tiny_model(channels=1), "spectral_norm": True}


def test_gan_train_recipe_flag_writes_an_improved_run(tmp_path, tiny_config_file):
    from conftest import run_cli

    res = run_cli(
        "train",
        "--config",
        tiny_config_file,
        "--recipe",
        "improved",
        "--iters",
        "2",
        "--out",
        tmp_path / "run",
    )
    assert res.code == 0, res.text
    saved = config.from_dict(config.load_yaml_file(tmp_path / "run" / "config.yaml"))
    assert (saved.recipe, saved.train.augment) == ("improved", "translation,color")
    assert "generator_ema" in load_checkpoint(find_checkpoint(tmp_path / "run"))
    res = run_cli("train", "--resume", str(tmp_path / "run"), "--recipe", "faithful", "--iters", "4")
    assert res.code == 2 and "--recipe" in res.text
    res = run_cli("train", "--config", tiny_config_file, "--recipe", "best", "--out", tmp_path / "other")
    assert res.code == 2 and "faithful, improved" in res.text
