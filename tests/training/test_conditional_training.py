"""Conditional training: each real image's label comes with it from the batch permutation, G's
labels from the seeded noise stream, resume is exact (with DiffAugment, EMA and R1), and the
fixed-latent grids give class c to row c."""

import pytest
import torch
from conftest import tiny_config_dict, tiny_fast_config_dict

from gancli import config
from gancli.data.batches import BatchSource
from gancli.data.builtin import shapes
from gancli.data.labels import run_classes, shapes_labels
from gancli.errors import UserError
from gancli.models.conditional import grid_labels
from gancli.training.checkpoint import find_checkpoint, load_checkpoint
from gancli.training.step import class_labels
from gancli.training.trainer import Trainer

CLASSES = ["disc", "square", "triangle"]


def conditional(data: dict, **train) -> config.RunConfig:
    data["model"].update(conditional=True, classes=CLASSES)
    data["train"].update(train)
    return config.from_dict(data)


def test_a_batch_s_labels_are_its_images_labels():
    n = 24
    images = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, 1, 2, 2).contiguous()
    labels = torch.arange(n) * 10
    source = BatchSource(images, 8, torch.device("cpu"), 5, flip=False, rank=1, world=2, labels=labels)
    for it in range(7):  # past an epoch: a new permutation
        index = ((source.batch(it)[:, 0, 0, 0] + 1) * 127.5).round().long()
        assert torch.equal(source.batch_labels(it), index * 10)


def test_g_is_asked_for_each_class_as_often_as_the_data_holds_it():
    """An uneven set (90% class 0): G's labels follow it, not 1/classes each (a majority class
    asked for too rarely collapsed on emoji); they come from the seeded noise stream."""
    n = 100
    images = torch.zeros(n, 1, 2, 2, dtype=torch.uint8)
    labels = (torch.arange(n) >= 90).long()
    source = BatchSource(images, 50, torch.device("cpu"), 5, flip=False, labels=labels)

    def draws(seed: int) -> torch.Tensor:
        noise = torch.Generator().manual_seed(seed)
        return torch.cat([class_labels(source, it, 2, noise)[1] for it in range(40)])

    fake = draws(1)
    assert fake.shape == (2000,)
    assert 0.87 < (fake == 0).float().mean().item() < 0.93
    assert torch.equal(fake, draws(1)) and not torch.equal(fake, draws(2))
    assert class_labels(source, 0, 0, torch.Generator()) == (None, None)


RECIPE = {"augment": "translation,color", "ema_half_life": 50, "r1_gamma": 0.1, "r1_every": 2}


@pytest.mark.parametrize(
    "make",
    [
        lambda iters: conditional(tiny_config_dict("simultaneous", iters=iters), **RECIPE),
        lambda iters: conditional(tiny_config_dict("g_then_d", iters=iters)),
        lambda iters: conditional(tiny_fast_config_dict("fastgan", iters=iters)),
    ],
    ids=["dcgan-recipe", "dcgan-g-then-d", "fastgan"],
)
def test_conditional_n_plus_n_equals_2n(tmp_path, make):
    cfg = make(8)
    images, (labels, _) = shapes(40, cfg.model.resolution), shapes_labels(40)
    cpu = torch.device("cpu")
    full = Trainer(cfg, images, cpu, tmp_path / "full", labels=labels)
    full.fit()
    Trainer(make(4), images, cpu, tmp_path / "half", labels=labels).fit()
    payload = load_checkpoint(find_checkpoint(tmp_path / "half"))  # validated against its config
    assert payload["config"]["model"]["classes"] == CLASSES
    resumed = Trainer(cfg, images, cpu, tmp_path / "half", labels=labels)
    resumed.load_state(payload)
    resumed.fit()
    for net in ("generator", "discriminator"):
        ours, theirs = getattr(full, net).state_dict(), getattr(resumed, net).state_dict()
        assert any("embed" in k or "gain" in k for k in ours)
        assert all(torch.equal(ours[k], theirs[k]) for k in ours)


def test_the_labels_steer_training(tmp_path):
    """Other labels for the same images: other weights (the labels are used, not just carried)."""
    images, (labels, _) = shapes(40, 16), shapes_labels(40)
    cpu = torch.device("cpu")
    a = Trainer(conditional(tiny_config_dict(iters=3)), images, cpu, None, labels=labels)
    b = Trainer(conditional(tiny_config_dict(iters=3)), images, cpu, None, labels=(labels + 1) % 3)
    a.train_steps(3), b.train_steps(3)
    assert not torch.equal(
        a.discriminator.projections[0].embed.weight, b.discriminator.projections[0].embed.weight
    )


def test_fixed_samples_give_class_c_to_row_c(tmp_path):
    assert grid_labels(25, 3).view(5, 5).tolist() == [[c] * 5 for c in (0, 1, 2, 0, 1)]
    assert grid_labels(6, 10, cols=2).tolist() == [0, 0, 1, 1, 2, 2]
    cfg = conditional(tiny_config_dict(iters=1), fixed_latents=9)
    trainer = Trainer(cfg, shapes(40, 16), torch.device("cpu"), None, labels=shapes_labels(40)[0])
    assert trainer.fixed_labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert trainer.sample_fixed().shape == (9, 3, 16, 16)


def test_a_resumed_run_keeps_its_classes():
    labels = torch.tensor([0, 0, 1, 1])
    assert run_classes([], labels, ["a", "b"], "photos") == ["a", "b"]
    with pytest.raises(UserError, match=r"run's classes \(a, c\) are not the classes of photos \(a, b\)"):
        run_classes(["a", "c"], labels, ["a", "b"], "photos")


def test_checkpoint_validation_checks_the_class_parameters(tmp_path):
    cfg = conditional(tiny_config_dict(iters=1))
    Trainer(cfg, shapes(40, 16), torch.device("cpu"), tmp_path / "run", labels=shapes_labels(40)[0]).fit()
    path = find_checkpoint(tmp_path / "run")
    payload = load_checkpoint(path)
    payload["config"]["model"]["classes"] = []
    torch.save(payload, tmp_path / "no-classes.pt")
    with pytest.raises(UserError, match="conditional but names no classes"):
        load_checkpoint(tmp_path / "no-classes.pt")
    payload["config"]["model"]["classes"] = ["a", "b"]  # 2 classes: embeddings of 3 rows do not fit
    torch.save(payload, tmp_path / "two-classes.pt")
    with pytest.raises(UserError, match="gain|embed"):
        load_checkpoint(tmp_path / "two-classes.pt")


def test_grid_rows_are_the_pictures_rows():
    """The fixed labels' rows are the rows the sample grids (make_grid's default) draw."""
    from gancli.reporting.grids import grid_shape

    for n in (1, 4, 9, 10, 25, 64):
        cols = grid_shape(n)[1]
        assert torch.equal(grid_labels(n, 4), grid_labels(n, 4, cols))


def test_compiled_conditional_nets_train_like_eager(monkeypatch):
    """--compile traces the label slot and the projection hook (aot_eager: the same tracing)."""
    images, labels = shapes(32, 16), shapes_labels(32)[0]
    eager = Trainer(conditional(tiny_config_dict(iters=2)), images, torch.device("cpu"), None, labels=labels)
    eager.fit()
    real_compile = torch.compile
    monkeypatch.setattr(torch, "compile", lambda m, **kw: real_compile(m, backend="aot_eager", **kw))
    torch._dynamo.reset()
    cfg = conditional(tiny_config_dict(iters=2), compile=True)
    compiled = Trainer(cfg, images, torch.device("cpu"), None, labels=labels)
    assert compiled.fit().status == "finished"
    for a, b in zip(eager.discriminator.parameters(), compiled.discriminator.parameters()):
        assert torch.allclose(a, b, atol=1e-5)
    torch._dynamo.reset()
