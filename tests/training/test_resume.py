"""Resuming continues exactly, a NaN stops training without checkpointing it, checkpoints are validated."""

import math
import pickle

import pytest
import torch

from gancli import config
from gancli.data.builtin import shapes
from gancli.errors import UserError
from gancli.training.checkpoint import find_checkpoint, load_checkpoint, save_checkpoint
from gancli.training.trainer import Trainer

from conftest import tiny_config_dict


@pytest.mark.parametrize("step", ["simultaneous", "d_then_g", "g_then_d"])
def test_n_plus_n_equals_2n(tmp_path, step):
    images = shapes(40, 16)  # 5 batches of 8: the resumed half starts mid-epoch
    full = Trainer(config.from_dict(tiny_config_dict(step, iters=8)), images, torch.device("cpu"), tmp_path / "full")
    full.fit()
    half = Trainer(config.from_dict(tiny_config_dict(step, iters=4)), images, torch.device("cpu"), tmp_path / "half")
    half.fit()
    payload = load_checkpoint(find_checkpoint(tmp_path / "half"))
    resumed = Trainer(config.from_dict(tiny_config_dict(step, iters=8)), images, torch.device("cpu"), tmp_path / "half")
    resumed.load_state(payload)
    assert resumed.counters.iteration == 4
    resumed.fit()
    for a, b in zip(full.generator.state_dict().values(), resumed.generator.state_dict().values()):
        assert torch.equal(a, b)
    for a, b in zip(full.discriminator.state_dict().values(), resumed.discriminator.state_dict().values()):
        assert torch.equal(a, b)


def test_nan_stops_and_keeps_last_good_checkpoint(tmp_path):
    cfg = config.from_dict(tiny_config_dict(iters=12))
    trainer = Trainer(cfg, shapes(64, 16), torch.device("cpu"), tmp_path)
    step = trainer.step_fn

    def poisoned(nets, batch, scale):
        out = step(nets, batch, scale)
        if trainer.counters.iteration >= 4:  # from the 5th step on, the weights go bad
            with torch.no_grad():
                next(nets.generator.parameters()).fill_(math.nan)
        return out

    trainer.step_fn = poisoned
    outcome = trainer.fit()
    assert outcome.status == "diverged"
    payload = load_checkpoint(find_checkpoint(tmp_path))
    assert payload["iteration"] == 3  # the checkpoint of iteration 3, written before anything broke
    assert all(torch.isfinite(v).all() for v in payload["generator"].values())


def test_checkpoint_keeps_previous_and_rejects_garbage(tmp_path):
    save_checkpoint(tmp_path, {"config": {}, "iteration": 1, "generator": {}, "discriminator": {}, "opt_g": {}, "opt_d": {}, "rng": {}})
    save_checkpoint(tmp_path, {"config": {}, "iteration": 2, "generator": {}, "discriminator": {}, "opt_g": {}, "opt_d": {}, "rng": {}})
    last, prev = tmp_path / "checkpoints" / "last.pt", tmp_path / "checkpoints" / "previous.pt"
    assert load_checkpoint(last)["iteration"] == 2 and load_checkpoint(prev)["iteration"] == 1
    last.write_bytes(last.read_bytes()[:100])
    with pytest.raises(UserError, match="truncated or corrupt.*previous.pt"):
        load_checkpoint(last)
    assert not list((tmp_path / "checkpoints").glob("*.tmp"))


class Boom:
    def __reduce__(self):
        return (print, ("this ran code",))


def test_pickle_payload_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": "gancli-checkpoint", "x": Boom()}, path)
    with pytest.raises(UserError, match="refused"):
        load_checkpoint(path)
    path2 = tmp_path / "evil2.pt"
    path2.write_bytes(pickle.dumps(Boom()))
    with pytest.raises(UserError):
        load_checkpoint(path2)
