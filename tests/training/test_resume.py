"""Resuming continues exactly, a NaN stops training without checkpointing it, checkpoints are validated."""

import math
import pickle

import pytest
import torch
from conftest import tiny_config_dict

from gancli import config
from gancli.data.builtin import shapes
from gancli.errors import UserError
from gancli.training.checkpoint import find_checkpoint, load_checkpoint, save_checkpoint
from gancli.training.trainer import Trainer, adam_flags


@pytest.mark.parametrize("step", ["simultaneous", "d_then_g", "g_then_d"])
def test_n_plus_n_equals_2n(tmp_path, step):
    images = shapes(40, 16)  # 5 batches of 8: the resumed half starts mid-epoch
    full = Trainer(
        config.from_dict(tiny_config_dict(step, iters=8)), images, torch.device("cpu"), tmp_path / "full"
    )
    full.fit()
    half = Trainer(
        config.from_dict(tiny_config_dict(step, iters=4)), images, torch.device("cpu"), tmp_path / "half"
    )
    half.fit()
    payload = load_checkpoint(find_checkpoint(tmp_path / "half"))
    resumed = Trainer(
        config.from_dict(tiny_config_dict(step, iters=8)), images, torch.device("cpu"), tmp_path / "half"
    )
    resumed.load_state(payload)
    assert resumed.counters.iteration == 4
    resumed.fit()
    for a, b in zip(full.generator.state_dict().values(), resumed.generator.state_dict().values()):
        assert torch.equal(a, b)
    for a, b in zip(full.discriminator.state_dict().values(), resumed.discriminator.state_dict().values()):
        assert torch.equal(a, b)


def test_background_checkpoint_holds_the_state_of_its_iteration(tmp_path, monkeypatch):
    """Checkpoints are written while training goes on: the one of iteration 3 must hold
    iteration 3's weights and optimiser state, not those of the steps that overlapped it."""
    import time

    import gancli.training.checkpoint as ckpt

    real = ckpt.save_checkpoint

    def slow(run_dir, payload):
        time.sleep(0.5 if payload["iteration"] == 3 else 0)  # steps 4-6 run during this write
        return real(run_dir, payload)

    monkeypatch.setattr(ckpt, "save_checkpoint", slow)
    images = shapes(40, 16)
    three = Trainer(
        config.from_dict(tiny_config_dict(iters=3)), images, torch.device("cpu"), tmp_path / "three"
    )
    three.fit()
    six = Trainer(
        config.from_dict(tiny_config_dict(iters=6, checkpoint_every=3, log_every=1)),
        images,
        torch.device("cpu"),
        tmp_path / "six",
    )
    seen = []
    six.observers.append(type("Seen", (), {"on_checkpoint": lambda self, it, path: seen.append(it)})())
    six.fit()
    assert seen == [3, 6]  # each announced once it is on disk, in order
    at3 = load_checkpoint(tmp_path / "six" / "checkpoints" / "previous.pt")
    assert at3["iteration"] == 3
    for a, b in zip(three.generator.state_dict().values(), at3["generator"].values()):
        assert torch.equal(a, b)
    exp_avg = [s["exp_avg"] for s in at3["opt_d"]["state"].values()]
    assert all(
        torch.equal(a, three.opt_d.state[p]["exp_avg"])
        for a, p in zip(exp_avg, three.discriminator.parameters())
    )


def test_failed_background_checkpoint_stops_the_run_with_its_error(tmp_path, monkeypatch):
    import gancli.training.checkpoint as ckpt

    real = ckpt.save_checkpoint

    def full_disk(run_dir, payload):
        if payload["iteration"] == 6:
            raise UserError("disk full while writing the checkpoint")
        return real(run_dir, payload)

    monkeypatch.setattr(ckpt, "save_checkpoint", full_disk)
    trainer = Trainer(
        config.from_dict(tiny_config_dict(iters=12)), shapes(64, 16), torch.device("cpu"), tmp_path
    )
    with pytest.raises(UserError, match="disk full"):
        trainer.fit()
    assert trainer.counters.iteration <= 9  # the error is raised at the next metrics line or checkpoint
    assert load_checkpoint(find_checkpoint(tmp_path))["iteration"] == 3
    assert not any(t.name.startswith("gan-checkpoint") for t in __import__("threading").enumerate())


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


def test_weights_gone_bad_with_finite_losses_are_never_checkpointed(tmp_path):
    """An update can make the weights NaN while the losses of its step were finite: the
    checkpoint right after it must not be written, and the run stops as diverged."""
    trainer = Trainer(
        config.from_dict(tiny_config_dict(iters=12, log_every=4)),
        shapes(64, 16),
        torch.device("cpu"),
        tmp_path,
    )
    step = trainer.step_fn

    def poisoned_update(nets, batch, scale):
        out = step(nets, batch, scale)  # losses of this step: finite
        if trainer.counters.iteration == 5:  # the 6th update goes bad; iteration 6 is a checkpoint
            with torch.no_grad():
                next(nets.discriminator.parameters()).view(-1)[0] = math.inf
        return out

    trainer.step_fn = poisoned_update
    outcome = trainer.fit()
    assert outcome.status == "diverged" and outcome.iteration == 6 and "weights" in outcome.message
    assert load_checkpoint(find_checkpoint(tmp_path))["iteration"] == 3


def test_checkpoint_keeps_previous_and_rejects_garbage(tmp_path):
    trainer = Trainer(config.from_dict(tiny_config_dict(iters=2)), shapes(16, 16), torch.device("cpu"), None)
    for iteration in (1, 2):
        save_checkpoint(tmp_path, {**trainer.state(), "iteration": iteration})
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


def test_resume_on_another_device_type_or_memory_layout(tmp_path):
    """A checkpoint from another kind of device: its latent/flip generator states (CUDA: 16
    bytes) are not forced into CPU generators, and Adam's moments saved in channels-last layout
    are re-laid out like the parameters they update, with this device's Adam kernel."""
    images = shapes(40, 16)
    saved = Trainer(
        config.from_dict(tiny_config_dict(iters=2, channels_last="on")),
        images,
        torch.device("cpu"),
        tmp_path / "a",
    )
    saved.fit()
    payload = load_checkpoint(find_checkpoint(tmp_path / "a"))
    payload["rng"].update(
        device_type="cuda", noise=torch.zeros(16, dtype=torch.uint8), flip=torch.zeros(16, dtype=torch.uint8)
    )
    payload["opt_d"]["param_groups"][0].update(fused=None, foreach=True)  # as another device saved it
    resumed = Trainer(
        config.from_dict(tiny_config_dict(iters=4)), images, torch.device("cpu"), tmp_path / "b"
    )
    resumed.load_state(payload)
    for opt, net in ((resumed.opt_g, resumed.generator), (resumed.opt_d, resumed.discriminator)):
        assert all(opt.param_groups[0][k] == v for k, v in adam_flags(torch.device("cpu")).items())
        for p in net.parameters():
            assert (
                opt.state[p]["exp_avg"].stride() == p.stride()
                and opt.state[p]["exp_avg_sq"].stride() == p.stride()
            )
    conv = next(p for p in saved.discriminator.parameters() if p.dim() == 4)
    assert not conv.is_contiguous()  # the saved run really was channels-last
    assert resumed.fit().status == "finished"
