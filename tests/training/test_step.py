"""Each step kind updates what it should, and the simultaneous step uses one pass for both gradients."""

import copy

import pytest
import torch
from conftest import tiny_config_dict

from gancli import config
from gancli.data.builtin import shapes
from gancli.models.dcgan import build_discriminator, build_generator
from gancli.training.losses import discriminator_loss, generator_loss
from gancli.training.step import STEPS, Nets, StepInputs
from gancli.training.trainer import Trainer


def make_nets(dropout=False):
    cfg = config.from_dict(tiny_config_dict())
    cfg.model = config.from_dict(
        {**tiny_config_dict(), "model": __import__("conftest").tiny_model(dropout=dropout)}
    ).model
    torch.manual_seed(0)
    g, d = build_generator(cfg.model), build_discriminator(cfg.model)
    opt = lambda p: torch.optim.SGD(p, lr=0.1)  # noqa: E731 - plain SGD makes the update checkable
    return cfg, Nets(g, d, opt(g.parameters()), opt(d.parameters()))


def test_simultaneous_step_applies_gradients_of_one_pass():
    _, nets = make_nets()
    g0, d0 = copy.deepcopy(nets.generator), copy.deepcopy(nets.discriminator)
    torch.manual_seed(1)
    real = torch.rand(4, 3, 16, 16) * 2 - 1
    z = torch.randn(4, 8)
    flip = torch.tensor([True, False, False, False])
    # expected: gradients of lossD wrt D and lossG wrt G, both from the *same* forward pass
    lr_, fake = d0(real), g0(z)
    lf = d0(fake)
    gd = torch.autograd.grad(discriminator_loss(lr_, lf, flip), list(d0.parameters()), retain_graph=True)
    gg = torch.autograd.grad(generator_loss(lf), list(g0.parameters()))
    STEPS["simultaneous"](nets, StepInputs(real, z, flip), 1.0)
    for p, p0, g in zip(nets.discriminator.parameters(), d0.parameters(), gd):
        torch.testing.assert_close(p, p0 - 0.1 * g)
    for p, p0, g in zip(nets.generator.parameters(), g0.parameters(), gg):
        torch.testing.assert_close(p, p0 - 0.1 * g)


@pytest.mark.parametrize("kind", ["d_then_g", "g_then_d"])
def test_alternating_steps_update_both_nets(kind):
    _, nets = make_nets()
    before_g = [p.clone() for p in nets.generator.parameters()]
    before_d = [p.clone() for p in nets.discriminator.parameters()]
    out = STEPS[kind](nets, StepInputs(torch.rand(4, 3, 16, 16) * 2 - 1, torch.randn(4, 8), None), 1.0)
    assert all(torch.isfinite(v) for v in out)
    assert any(not torch.equal(a, b) for a, b in zip(before_g, nets.generator.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(before_d, nets.discriminator.parameters()))


def test_label_flips_happen_with_the_configured_probability():
    cfg = config.from_dict(tiny_config_dict(batch_size=64))
    trainer = Trainer(cfg, shapes(64, 16), torch.device("cpu"), None)
    flips = torch.cat([trainer._inputs(i).flip for i in range(200)]).float()
    # 12,800 Bernoulli(0.35) draws: the mean is within 5 standard errors of 0.35
    se = (0.35 * 0.65 / flips.numel()) ** 0.5
    assert abs(flips.mean().item() - 0.35) < 5 * se


def test_batches_are_in_range_and_flipped_about_half_the_time():
    cfg = config.from_dict(tiny_config_dict(batch_size=64))
    images = shapes(64, 16)
    trainer = Trainer(cfg, images, torch.device("cpu"), None)
    b = trainer.batches
    batch = b.batch(0)
    assert batch.min() >= -1 and batch.max() <= 1 and batch.shape == (64, 3, 16, 16)
    originals = images[b.permutation(0)[:64]].float() / 127.5 - 1
    flipped = sum(
        torch.allclose(batch[i], originals[i].flip(-1)) and not torch.allclose(batch[i], originals[i])
        for i in range(64)
    )
    assert 16 <= flipped <= 48


def test_compile_trains_like_eager_and_a_failing_backend_is_a_clear_error(monkeypatch):
    """--compile goes through torch.compile (here with the aot_eager backend: the same
    tracing, no C++ build, so the test stays fast); a backend that fails is a UserError."""
    from gancli.errors import UserError

    images = shapes(32, 16)
    eager = Trainer(config.from_dict(tiny_config_dict(iters=2)), images, torch.device("cpu"), None)
    eager.fit()
    real_compile = torch.compile
    monkeypatch.setattr(torch, "compile", lambda m, **kw: real_compile(m, backend="aot_eager", **kw))
    compiled = Trainer(
        config.from_dict(tiny_config_dict(iters=2, compile=True)), images, torch.device("cpu"), None
    )
    assert compiled.fit().status == "finished"
    for a, b in zip(eager.generator.parameters(), compiled.generator.parameters()):
        assert torch.allclose(a, b, atol=1e-5)

    def broken(gm, example_inputs):
        raise RuntimeError("no C++ compiler")

    torch._dynamo.reset()
    monkeypatch.setattr(torch, "compile", lambda m, **kw: real_compile(m, backend=broken, **kw))
    failing = Trainer(
        config.from_dict(tiny_config_dict(iters=2, compile=True)), images, torch.device("cpu"), None
    )
    with pytest.raises(
        UserError, match="--compile failed .* at iteration 1: .*no C\\+\\+ compiler.*without --compile"
    ):
        failing.fit()


def test_host_dataset_batches_go_through_alternating_pinned_buffers(monkeypatch):
    """A dataset too big for the GPU stays pinned on the host; each batch is gathered into one of
    two staging buffers, reused only after its last copy to the device is done (CUDA events).
    Pinning and events need CUDA, so both are stood in for here: the order and contents are checked."""
    from gancli.data.batches import BatchSource

    log = []

    class Event:
        def __init__(self):
            self.name = f"event{len(log)}"
            log.append(("new", self.name))

        def record(self, stream):
            assert stream == ("stream of", source.device)  # the copy's device, not the current one
            log.append(("record", self.name))

        def synchronize(self):
            log.append(("wait", self.name))

    monkeypatch.setattr(torch.cuda, "Event", Event)
    monkeypatch.setattr(torch.cuda, "current_stream", lambda device: ("stream of", device))
    monkeypatch.setattr(torch.Tensor, "pin_memory", lambda self: self)
    images = shapes(48, 16)
    source = BatchSource(images, 8, torch.device("cpu"), seed=3, flip=False)
    plain = [source.batch(i) for i in range(4)]
    source.on_device = False  # as for a CUDA run whose dataset did not fit
    staged = []
    for i in range(4):
        staged.append(source.batch(i))
        assert source._staging[source._turn][0].data_ptr() != source._staging[1 - source._turn][0].data_ptr()
    assert all(torch.equal(a, b) for a, b in zip(plain, staged))
    waits_and_records = [entry for entry in log if entry[0] != "new"]
    assert (
        waits_and_records
        == [("wait", "event1"), ("record", "event1"), ("wait", "event0"), ("record", "event0")] * 2
    )
