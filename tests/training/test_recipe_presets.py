"""Every preset trains with --recipe improved: one step each at the preset's own size and
channels (faces256 at 256x256, mnist32 in one channel), on random images, batch 2."""

import pytest
import torch

from gancli import config
from gancli.training.trainer import Trainer


@pytest.mark.parametrize("preset", config.preset_names())
def test_every_preset_trains_with_the_improved_recipe(preset):
    cfg = config.resolve(
        preset,
        None,
        {
            "recipe": "improved",
            "train.iters": 2,
            "train.epochs": 0,
            "train.batch_size": 2,
            "train.device": "cpu",
        },
    )
    assert cfg.train.augment and cfg.train.ema_half_life > 0
    m = cfg.model
    images = torch.randint(0, 256, (4, m.channels, m.resolution, m.resolution), dtype=torch.uint8)
    trainer = Trainer(cfg, images, torch.device("cpu"), None)
    before = [p.clone() for p in trainer.ema.model.parameters()]
    assert trainer.fit().status == "finished"
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.ema.model.parameters()))
    sample = trainer.sample_fixed()
    assert sample.shape[1:] == (m.channels, m.resolution, m.resolution)
