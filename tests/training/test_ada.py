"""ADA (train.augment_p: auto): the update rule by hand, p = 0 and p = 1 augmentations, and a
trained p that reaches the metrics, the checkpoint and a bit-exact resume."""

import pytest
import torch
from conftest import tiny_config_dict

from gancli import config
from gancli.data.builtin import shapes
from gancli.errors import UserError
from gancli.training.augment import ADA_INTERVAL, ADA_SPEED_IMAGES, OPS, DiffAugment, ada_adjust
from gancli.training.checkpoint import find_checkpoint, load_checkpoint
from gancli.training.trainer import Trainer


def test_the_update_rule_by_hand():
    step = ADA_INTERVAL * 32 / ADA_SPEED_IMAGES
    assert ada_adjust(0.5, 0.9, 32) == pytest.approx(0.5 + step)  # D too sure of the reals: more
    assert ada_adjust(0.5, 0.1, 32) == pytest.approx(0.5 - step)
    assert ada_adjust(0.5, 0.6, 32) == 0.5
    assert ada_adjust(0.0, -1.0, 32) == 0.0 and ada_adjust(1.0, 1.0, 32) == 1.0


def test_p_zero_leaves_images_and_p_one_is_diffaugment():
    x = torch.rand(6, 3, 16, 16) * 2 - 1
    assert torch.equal(DiffAugment("translation,color", torch.device("cpu"), 3, p=0.0)(x), x)
    g = torch.Generator().manual_seed(3)
    by_hand = OPS["translation"](OPS["color"](x, g), g)
    assert torch.equal(DiffAugment("translation,color", torch.device("cpu"), 3, p=1.0)(x), by_hand)


def test_some_images_are_augmented_at_p_one_half():
    x = torch.rand(64, 3, 8, 8)
    out = DiffAugment("color", torch.device("cpu"), 0, p=0.5)(x)
    same = (out == x).flatten(1).all(1)
    assert 10 < int(same.sum()) < 54


def ada_trainer(tmp, iters):
    data = tiny_config_dict(
        "d_then_g", iters=iters, augment="translation,color", augment_p="auto", log_every=4
    )
    return Trainer(config.from_dict(data), shapes(40, 16), torch.device("cpu"), tmp)


def test_adaptive_p_is_logged_saved_and_resumed_exactly(tmp_path, monkeypatch):
    records = []
    full = ada_trainer(tmp_path / "full", 8)
    full.observers.append(type("Log", (), {"on_metrics": lambda self, r: records.append(r)})())
    full.fit()
    assert len(records) == 2 and records[-1]["augment_p"] == full.augment.p
    assert full.augment.p > 0  # a tiny D on easy shapes is sure of its reals: p rises from 0
    half = ada_trainer(tmp_path / "half", 4)
    half.fit()
    payload = load_checkpoint(find_checkpoint(tmp_path / "half"))
    assert payload["augment_p"] == half.augment.p
    resumed = ada_trainer(tmp_path / "half", 8)
    resumed.load_state(payload)
    resumed.fit()
    assert resumed.augment.p == full.augment.p
    for a, b in zip(full.discriminator.state_dict().values(), resumed.discriminator.state_dict().values()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("value", ["sometimes", 1.5, -0.1])
def test_bad_probabilities_are_refused(value):
    data = tiny_config_dict(augment="color", augment_p=value)
    with pytest.raises(UserError, match="train.augment_p"):
        config.from_dict(data)
