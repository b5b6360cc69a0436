"""With SyncBatchNorm, 2 gloo ranks with global batch B train exactly like 1 process with batch B.

What is equal, precisely: dropout, image flips and label flips are off, so a step's only
inputs are the real batch and the latents. Rank r's real batch is its slice of the global
batch (one shared permutation per epoch), and its latents come from its own noise stream. The
1-process reference gets, at every step, the concatenation in rank order of the ranks' real
batches (asserted equal to its own global batch) and of the ranks' latents (drawn by per-rank
Trainers that only draw inputs, from the streams the real ranks use). Batch statistics then
span the same B images on both sides (SyncBatchNorm), DDP averages the ranks' gradients of
their B/2-means, which is the gradient of the B-mean, so the weights, optimiser states and BN
running statistics agree up to float rounding after several Adam steps.
"""

import dataclasses

import pytest
import torch
from conftest import tiny_fast_config_dict

from gancli import config
from gancli.data.source import load_images
from gancli.distributed import DistContext
from gancli.training.checkpoint import find_checkpoint, load_checkpoint
from gancli.training.step import StepInputs
from gancli.training.trainer import Trainer

WORLD = 2


def joined_inputs(ranks: list[Trainer]):
    """inputs(iteration) of a 1-process reference: every rank's draws for that step, once, each
    field joined in rank order (the global batch the ranks split); fields a rank leaves None stay None."""

    def inputs(iteration: int) -> StepInputs:
        parts = [r._inputs(iteration) for r in ranks]
        assert all(p.flip is None for p in parts)
        joined = {
            f.name: None
            if getattr(parts[0], f.name) is None
            else torch.cat([getattr(p, f.name) for p in parts])
            for f in dataclasses.fields(StepInputs)
        }
        return StepInputs(**joined)

    return inputs


def one_process_reference(cfg: config.RunConfig) -> Trainer:
    images = load_images(cfg.data.name, cfg.model.resolution, cfg.model.channels, size=cfg.data.size).images
    # no process group: DistContext(rank=r, world=2) only makes these draw rank r's inputs
    ranks = [
        Trainer(cfg, images, torch.device("cpu"), None, dist=DistContext(rank=r, world=WORLD))
        for r in range(WORLD)
    ]
    reference = Trainer(cfg, images, torch.device("cpu"), None)
    joined = joined_inputs(ranks)

    def inputs(iteration: int) -> StepInputs:
        step = joined(iteration)
        assert torch.equal(step.real, reference.batches.batch(iteration))  # same data, same order
        return step

    reference._inputs = inputs
    reference.fit()
    return reference


@pytest.mark.parametrize("step", ["simultaneous", "d_then_g", "g_then_d"])
def test_two_ranks_with_sync_bn_match_one_process(
    tmp_path, launch_ranks, config_file, equal_inputs, ranks_ok, step
):
    cfg = equal_inputs(step, iters=4, checkpoint_every=4, sync_bn=True)
    ranks_ok(launch_ranks("train", "--config", config_file(cfg), "--out", tmp_path / "run"))
    payload = load_checkpoint(find_checkpoint(tmp_path / "run"))
    assert payload["iteration"] == 4 and payload["world_size"] == WORLD

    effective = config.from_dict(payload["config"])  # the file's settings over the preset's
    reference = one_process_reference(effective)
    initial = Trainer(effective, reference.batches.images, torch.device("cpu"), None)
    for name, net in (("generator", reference.generator), ("discriminator", reference.discriminator)):
        ours = payload[name]
        assert set(ours) == set(net.state_dict())
        for key, value in net.state_dict().items():
            torch.testing.assert_close(
                ours[key], value, rtol=1e-4, atol=1e-5, msg=lambda m: f"{name}.{key}: {m}"
            )
        moved = [
            k
            for k, v in getattr(initial, name).state_dict().items()
            if v.is_floating_point() and not torch.allclose(v, net.state_dict()[k])
        ]
        assert moved, f"{name} did not train, so the comparison would prove nothing"
    for opt in ("opt_g", "opt_d"):
        for index, state in reference.__getattribute__(opt).state_dict()["state"].items():
            for key in ("exp_avg", "exp_avg_sq"):
                torch.testing.assert_close(
                    payload[opt]["state"][index][key], state[key], rtol=1e-3, atol=1e-7
                )


def test_two_ranks_match_one_process_with_the_improved_recipe(
    tmp_path, launch_ranks, config_file, equal_inputs, ranks_ok
):
    """EMA, DiffAugment, hinge and spectral norm keep the equivalence: each rank augments its
    shard from its own stream (the reference augments each rank's half with that rank's
    stream), and every rank's G_ema is the same average of the same G."""
    cfg = equal_inputs("d_then_g", iters=4, checkpoint_every=4, sync_bn=True)
    cfg["train"].update(loss="hinge", augment="translation,cutout,color", ema_half_life=64, ema_rampup=0.5)
    cfg["model"]["spectral_norm"] = True
    ranks_ok(launch_ranks("train", "--config", config_file(cfg), "--out", tmp_path / "run"))
    payload = load_checkpoint(find_checkpoint(tmp_path / "run"))
    effective = config.from_dict(payload["config"])
    images = load_images("shapes", effective.model.resolution, 3, size=effective.data.size).images
    ranks = [
        Trainer(effective, images, torch.device("cpu"), None, dist=DistContext(rank=r, world=WORLD))
        for r in range(WORLD)
    ]
    reference = Trainer(effective, images, torch.device("cpu"), None)
    reference.nets.augment = lambda x: torch.cat(
        [rank.augment(half) for rank, half in zip(ranks, x.chunk(WORLD))]
    )
    reference._inputs = joined_inputs(ranks)
    reference.fit()
    reference.sampling_generator()  # G_ema with its batch-norm buffers, as checkpoints save it
    for key, value in reference.ema.state_dict().items():
        torch.testing.assert_close(
            payload["generator_ema"][key], value, rtol=1e-4, atol=1e-5, msg=lambda m: f"{key}: {m}"
        )
    for key, value in reference.discriminator.state_dict().items():
        torch.testing.assert_close(
            payload["discriminator"][key], value, rtol=1e-4, atol=1e-5, msg=lambda m: f"{key}: {m}"
        )


@pytest.mark.parametrize("arch", ["fastgan", "projected"])
def test_two_ranks_match_one_process_with_a_fast_arch(tmp_path, launch_ranks, config_file, ranks_ok, arch):
    """The FastGAN-class archs keep the equivalence: the self-supervised D's quarters are drawn
    per rank like the latents (the reference takes the ranks' draws in rank order), and a
    projected D's frozen features do not depend on the batch."""
    cfg = tiny_fast_config_dict(arch, "d_then_g", iters=4, checkpoint_every=4, sync_bn=True)
    cfg["data"]["flip"] = False
    # wide enough that G's gradients are not all near zero (with 2-channel heads, Adam turns
    # the rounding of such gradients into full steps of either sign, as the note below says)
    cfg["model"]["d_width"] = 8
    ranks_ok(launch_ranks("train", "--config", config_file(cfg), "--out", tmp_path / "run"))
    payload = load_checkpoint(find_checkpoint(tmp_path / "run"))
    effective = config.from_dict(payload["config"])
    images = load_images("shapes", effective.model.resolution, 3, size=effective.data.size).images
    ranks = [
        Trainer(effective, images, torch.device("cpu"), None, dist=DistContext(rank=r, world=WORLD))
        for r in range(WORLD)
    ]
    reference = Trainer(effective, images, torch.device("cpu"), None)
    reference._inputs = joined_inputs(ranks)
    reference.fit()
    for name, net in (("generator", reference.generator), ("discriminator", reference.discriminator)):
        for key, value in net.state_dict().items():
            ours = payload[name][key]
            if not value.is_floating_point():
                assert torch.equal(ours, value), key
                continue
            # Adam turns float rounding in a near-zero gradient into a step of up to lr (2e-4) of
            # either sign: a handful of such weights may differ by a fraction of lr; a wrong
            # gradient would move most weights by several lr over 4 steps.
            # Spectral norm's power-iteration vectors (_u, _v) follow those weights, so they may
            # differ as much, in any of their few entries.
            off = ~torch.isclose(ours, value, rtol=1e-4, atol=1e-5)
            if not key.endswith(("._u", "._v")):
                assert off.float().mean() < 1e-3, (
                    f"{name}.{key}: {int(off.sum())} of {off.numel()} differ, by up to {(ours - value).abs().max():.2e}"
                )
            assert (ours - value).abs().max() < 1e-4, f"{name}.{key}"


def test_two_ranks_match_one_process_conditional(tmp_path, launch_ranks, config_file, equal_inputs, ranks_ok):
    """--conditional keeps the equivalence: each rank's real labels are its shard's (the shared
    permutation), G's labels come from its own noise stream; the reference gets both in rank order."""
    cfg = equal_inputs("d_then_g", iters=4, checkpoint_every=4, sync_bn=True)
    ranks_ok(launch_ranks("train", "--config", config_file(cfg), "--conditional", "--out", tmp_path / "run"))
    payload = load_checkpoint(find_checkpoint(tmp_path / "run"))
    effective = config.from_dict(payload["config"])
    assert effective.model.classes == ["disc", "square", "triangle"]
    data = load_images("shapes", effective.model.resolution, 3, size=effective.data.size)
    cpu = torch.device("cpu")
    ranks = [
        Trainer(effective, data.images, cpu, None, dist=DistContext(rank=r, world=WORLD), labels=data.labels)
        for r in range(WORLD)
    ]
    reference = Trainer(effective, data.images, cpu, None, labels=data.labels)
    reference._inputs = joined_inputs(ranks)
    reference.fit()
    for name, net in (("generator", reference.generator), ("discriminator", reference.discriminator)):
        for key, value in net.state_dict().items():
            torch.testing.assert_close(
                payload[name][key], value, rtol=1e-4, atol=1e-5, msg=lambda m: f"{name}.{key}: {m}"
            )
    assert reference.discriminator.projections[0].embed.weight.abs().sum() > 0  # the classes trained
