"""The training loop: one function of a config, reporting events to observers.

The loop knows nothing of rich or of files other than checkpoints. Losses and scores stay
on the device and are read every `log_every` steps, the only host syncs of the loop.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gancli.config import RunConfig, to_dict
from gancli.data.batches import BatchSource
from gancli.devices import use_channels_last
from gancli.distributed import DistContext
from gancli.errors import UserError
from gancli.models.build import build_discriminator, build_generator, trainable
from gancli.models.conditional import grid_labels
from gancli.reporting.observer import Observer, notify
from gancli.training.augment import ADA_INTERVAL, DiffAugment, ada_adjust
from gancli.training.checkpoint import CheckpointWriter, save_best, save_checkpoint
from gancli.training.ema import GeneratorEMA
from gancli.training.kernels import (
    _COMPILE_HINT,
    _compile,
    _compile_failure,
    _match_optimizer_to,
    adam_flags,
)
from gancli.training.losses import OBJECTIVES
from gancli.training.schedule import (
    Counters,
    Outcome,
    Window,
    length_reached,
    total_iterations,
)
from gancli.training.signals import StopRequest
from gancli.training.step import STEPS, Nets, StepInputs, class_labels, generate, r1_step
from gancli.units import format_duration

METRIC_KEYS = ("loss_d", "loss_g", "score_d", "score_g")


class Trainer:
    """Builds the networks, optimisers and batch source of a config, then runs the loop."""

    def __init__(
        self,
        cfg: RunConfig,
        images: torch.Tensor,
        device: torch.device,
        run_dir: Path | None,
        observers: list[Observer] | None = None,
        dist: DistContext | None = None,
        scorer: Callable[[nn.Module, int], dict] | None = None,
        *,
        labels: torch.Tensor | None = None,  # conditional: each image's class
    ) -> None:
        self.cfg, self.device, self.run_dir = cfg, device, run_dir
        self.observers = observers or []
        self.dist = dist or DistContext()
        self.scorer = scorer
        t, m = cfg.train, cfg.model
        self._build_nets()
        g_run, d_run = self.dist.wrap(self.generator, self.discriminator, t.sync_bn)
        if t.compile:
            g_run, d_run = _compile(g_run, d_run, t.step)
        self.nets = Nets(g_run, d_run, self.opt_g, self.opt_d, OBJECTIVES[t.loss])
        self._add_recipe_parts()
        self.step_fn = STEPS[t.step]

        ranks = (self.dist.rank, self.dist.world)
        self.batches = BatchSource(images, t.batch_size, device, t.seed, cfg.data.flip, *ranks, labels=labels)
        self.classes = len(m.classes) if m.conditional else 0
        self.fixed_labels = grid_labels(t.fixed_latents, self.classes).to(device) if self.classes else None
        self.total = total_iterations(cfg, self.batches.steps_per_epoch)
        self.noise = torch.Generator(device=device).manual_seed(t.seed * 104_729 + 1 + self.dist.rank)
        fixed = torch.Generator().manual_seed(t.seed * 15_485_863 + 2)
        self.fixed_latents = torch.randn(t.fixed_latents, m.latent_dim, generator=fixed).to(device)
        torch.manual_seed(
            t.seed * 32_452_843 + 3 + self.dist.rank
        )  # dropout and other global draws, per rank
        self.counters = Counters()
        self.clock = time.perf_counter  # the run's elapsed time and its time budget read this
        self.writer = CheckpointWriter()
        self.last_checkpoint: Path | None = None
        self.autocast = torch.autocast(device.type, dtype=torch.bfloat16) if t.amp else nullcontext()

    def _build_nets(self) -> None:
        """G, D and their Adam optimisers, in the device's layout."""
        t, m, device = self.cfg.train, self.cfg.model, self.device
        # weights come from the seed alone, so every rank (and a resumed run) builds the same nets
        torch.manual_seed(t.seed)
        self.generator = build_generator(m).to(device)
        self.discriminator = build_discriminator(m).to(device)
        if device.type == "cuda":
            # every step has the same shapes: let cuDNN time its algorithms once and keep the fastest
            # (CUDA runs are not bitwise reproducible anyway; see the README on seeds)
            torch.backends.cudnn.benchmark = True
        self.channels_last = use_channels_last(t.channels_last, device)
        if self.channels_last:
            self.generator.to(memory_format=torch.channels_last)
            self.discriminator.to(memory_format=torch.channels_last)
        flags = adam_flags(device)
        betas = (t.beta1, t.beta2)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=t.lr_g, betas=betas, **flags)
        # a projected D's frozen feature network is not among them (nor in its state_dict)
        self.opt_d = torch.optim.Adam(trainable(self.discriminator), lr=t.lr_d, betas=betas, **flags)
        self.reconstructs = getattr(self.discriminator, "reconstructs", False)

    def _add_recipe_parts(self) -> None:
        """DiffAugment in front of D and G_ema beside G, when the config asks for them."""
        t = self.cfg.train
        self.augment = None
        self.ada = bool(t.augment) and t.augment_p == "auto"
        if t.augment:  # its own stream, per rank like the latents
            p = 0.0 if self.ada else float(t.augment_p)
            self.augment = DiffAugment(t.augment, self.device, t.seed * 49_979_687 + 4 + self.dist.rank, p)
            self.nets.augment = self.augment
        self.ada_sum = torch.zeros((), device=self.device)
        self.ema = None
        if t.ema_half_life > 0:
            self.ema = GeneratorEMA(
                self.generator, half_life_images=t.ema_half_life, rampup=t.ema_rampup, bn_stats=t.ema_bn
            )

    # ------------------------------------------------------------ state

    def rng_state(self) -> dict[str, torch.Tensor]:
        """This rank's random streams: global (dropout), latents and label flips, image flips."""
        rng = {
            "torch": torch.get_rng_state(),
            "noise": self.noise.get_state(),
            **self.batches.state(),
            "device_type": self.device.type,
        }
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        if self.augment is not None:
            rng["augment"] = self.augment.state()
        return rng

    def state(self, rng_by_rank: list[dict] | None = None) -> dict[str, Any]:
        """Everything needed to continue exactly: nets, optimisers, RNGs, counters, config.

        `rng` holds this rank's streams; a distributed run also passes every rank's streams,
        saved as `rng_by_rank` so that each rank continues its own."""
        payload = {
            "config": to_dict(self.cfg),
            "iteration": self.counters.iteration,
            "epoch": self.counters.iteration // self.batches.steps_per_epoch,
            "elapsed_s": self.counters.elapsed_s,
            "world_size": self.dist.world,
            "generator": self.generator.state_dict(),
            "discriminator": self.discriminator.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "fixed_latents": self.fixed_latents.cpu(),
            "rng": self.rng_state(),
        }
        if self.ema is not None:
            self.sampling_generator()  # G_ema saved with the batch-norm statistics it samples with
            payload["generator_ema"] = self.ema.state_dict()
        if rng_by_rank is not None:
            payload["rng_by_rank"] = rng_by_rank
        if self.ada:
            payload["augment_p"] = self.augment.p
        if self.counters.best_fid is not None:
            payload["best_fid"] = self.counters.best_fid
            payload["best_iteration"] = self.counters.best_iteration
        return payload

    def load_state(self, payload: dict[str, Any]) -> None:
        """Continue from a checkpoint payload (any device, any world size).

        Nets and optimisers load under any world size: they are saved unwrapped (no DDP
        `module.` prefixes). The RNG streams (latents, label and image flips, dropout) are per
        rank, so they are restored only when the world size is the one that saved them; under
        another world size each rank continues from its freshly seeded streams, and the run is
        then not bitwise the one an unchanged world size would have continued."""
        self.generator.load_state_dict(payload["generator"])
        self.discriminator.load_state_dict(payload["discriminator"])
        for opt, net, key in (
            (self.opt_g, self.generator, "opt_g"),
            (self.opt_d, self.discriminator, "opt_d"),
        ):
            opt.load_state_dict(payload[key])
            _match_optimizer_to(opt, net, adam_flags(self.device))
        if self.ema is not None:
            # a run that turned EMA on when resumed starts its average from the current G
            self.ema.load_state_dict(payload.get("generator_ema", payload["generator"]))
        if self.ada and "augment_p" in payload:
            self.augment.p = float(payload["augment_p"])
        self.counters.iteration = int(payload["iteration"])
        self.counters.elapsed_s = float(payload.get("elapsed_s", 0.0))
        if "best_fid" in payload:
            self.counters.best_fid = float(payload["best_fid"])
            self.counters.best_iteration = int(payload["best_iteration"])
        if "fixed_latents" in payload:
            self.fixed_latents = payload["fixed_latents"].to(self.device)
        rng = self._own_streams(payload)
        if rng is not None:
            torch.set_rng_state(rng["torch"].cpu())
            # the latent and flip generators live on the device, and a CPU generator's state
            # (5,056 bytes) means nothing to a CUDA one (16): restored on the same kind of device only
            if rng.get("device_type", "cpu") == self.device.type:
                self.noise.set_state(rng["noise"].cpu())
                if self.augment is not None and "augment" in rng:
                    self.augment.load_state(rng["augment"].cpu())
                self.batches.load_state({"flip": rng["flip"].cpu()})
            if "cuda" in rng and self.device.type == "cuda":
                torch.cuda.set_rng_state(rng["cuda"].cpu(), self.device)

    def _own_streams(self, payload: dict[str, Any]) -> dict | None:
        """This rank's saved random streams; None under another world size than the saving one."""
        if int(payload.get("world_size", 1)) != self.dist.world:
            return None
        by_rank = payload.get("rng_by_rank")
        if by_rank is not None and len(by_rank) == self.dist.world:
            return by_rank[self.dist.rank]
        return payload["rng"] if self.dist.world == 1 else None

    # ------------------------------------------------------------ loop

    def sampling_generator(self) -> nn.Module:
        """The generator that pictures, scores and exports use: G_ema when the run keeps one
        (ready, in eval mode), else G itself (left in its training mode: callers set eval)."""
        if self.ema is None:
            return self.generator
        return self.ema.ready(self.generator, seed=self.cfg.train.seed * 86_028_121 + self.counters.iteration)

    def sample_fixed(self) -> torch.Tensor:
        """The generator's images for the fixed latents, eval mode, uint8 on the host."""
        generator = self.sampling_generator()
        was_training = generator.training
        generator.eval()
        with torch.no_grad(), self.autocast:
            fixed = StepInputs(None, self.fixed_latents, None, fake_labels=self.fixed_labels)
            images = generate(generator, fixed).float()
        generator.train(was_training)
        return images.add(1).mul(127.5).round().clamp(0, 255).to(torch.uint8).cpu()

    def _keep_best(self, scores: dict[str, float], iteration: int) -> dict[str, float]:
        """After a --score-every measurement (rank 0): a new lowest FID writes best.pt, now
        (its state is this iteration's); the scores gain best_fid and best_iteration."""
        fid = scores.get("fid")
        if (
            fid is not None
            and math.isfinite(fid)
            and (self.counters.best_fid is None or fid < self.counters.best_fid)
        ):
            self.counters.best_fid, self.counters.best_iteration = fid, iteration
            if self.run_dir is not None:
                save_best(self.run_dir, self.state())
        if self.counters.best_fid is None:
            return scores
        return {**scores, "best_fid": self.counters.best_fid, "best_iteration": self.counters.best_iteration}

    def _after_step(self, inputs: StepInputs, iteration: int) -> None:
        """What follows an update of both nets: lazy R1 on D, then G_ema follows G."""
        t = self.cfg.train
        if t.r1_gamma > 0 and iteration % t.r1_every == 0:
            with self.autocast:
                r1_step(self.nets, inputs.real, t.r1_gamma * t.r1_every, inputs.labels)
        if self.ema is not None:
            self.ema.update(self.generator, iteration * t.batch_size, t.batch_size)

    def _inputs(self, iteration: int) -> StepInputs:
        real = self.batches.batch(iteration)
        if self.channels_last:
            real = real.contiguous(memory_format=torch.channels_last)
        n = real.shape[0]
        latents = torch.randn(n, self.cfg.model.latent_dim, device=self.device, generator=self.noise)
        flip = None
        if self.cfg.train.label_flip_prob > 0:
            flip = torch.rand(n, device=self.device, generator=self.noise) < self.cfg.train.label_flip_prob
        parts = None
        if self.reconstructs:
            parts = torch.randint(4, (n,), device=self.device, generator=self.noise)
        labels = class_labels(self.batches, iteration, self.classes, self.noise)
        return StepInputs(real, latents, flip, parts, *labels)

    def checkpoint(self, background: bool = True) -> None:
        """Write a checkpoint (rank 0 writes; every rank calls it, with the same run_dir, since
        every rank's random streams are gathered into it). In the `background`, it is on disk by
        the next metrics line that follows its completion, or by the end of `fit`; else now, on
        this thread, after any write in flight (the last checkpoint of a run: nothing is left to
        overlap it with, and a second Ctrl-C during it then abandons it, previous one whole)."""
        if self.run_dir is None:
            return
        rng_by_rank = self.dist.gather(self.rng_state()) if self.dist.active else None
        if not self.dist.is_main:
            return
        if background:
            self._announce_checkpoint(
                self.writer.submit(self.run_dir, self.counters.iteration, self.state(rng_by_rank))
            )
            return
        self._announce_checkpoint(self.writer.finish())
        self._announce_checkpoint(
            (self.counters.iteration, save_checkpoint(self.run_dir, self.state(rng_by_rank)))
        )

    def _means_and_weights_flag(self, means: torch.Tensor, weights: bool) -> torch.Tensor:
        """The metric means, and before a checkpoint a fifth value, NaN when any weight is not
        finite: a step can go bad with finite losses (an inf gradient makes Adam's update NaN),
        and the losses only show it one step later, after the bad weights were saved. Read in
        the same host sync; under DDP a NaN on any rank reaches all through the mean."""
        if not weights:
            return means
        peaks = torch.stack(
            [
                p.detach().abs().amax().float()
                for net in (self.generator, self.discriminator)
                for p in net.parameters()
            ]
        )
        flag = torch.where(peaks.isfinite().all(), 1.0, math.nan).to(means.dtype)
        return torch.cat([means, flag.reshape(1)])

    def _announce_checkpoint(self, done: tuple[int, Path] | None) -> None:
        """Tell the observers about a checkpoint that is now on disk."""
        if done is not None:
            self.last_checkpoint = done[1]
            notify(self.observers, "on_checkpoint", *done)

    def _end(self, outcome: Outcome) -> Outcome:
        """Every way out of the loop: the last checkpoint on disk first, then the observers."""
        self._announce_checkpoint(self.writer.finish())
        outcome.checkpoint = self.last_checkpoint
        notify(self.observers, "on_end", outcome)
        return outcome

    def fit(self, stop: StopRequest | None = None) -> Outcome:
        """Train up to the run's total iterations, or until stopped or diverged."""
        try:
            return self._fit(stop or StopRequest())
        except Exception as exc:
            if self.cfg.train.compile and _compile_failure(exc):
                # torch's message: "backend='inductor' raised:", the cause, then advice on its logs
                lines = [
                    line.strip()
                    for line in str(exc).splitlines()
                    if line.strip() and not line.startswith(("Set TORCHDYNAMO", "For even more"))
                ]
                cause = " ".join(lines[:2]) or type(exc).__name__
                raise UserError(
                    f"--compile failed while compiling the networks at iteration {self.counters.iteration + 1}: {cause[:300]}. {_COMPILE_HINT}"
                ) from exc
            raise
        finally:
            self.writer.close()  # after an error: a write in flight completes, whole

    def _fit(self, stop: StopRequest) -> Outcome:
        t = self.cfg.train
        self.generator.train()
        self.discriminator.train()
        notify(self.observers, "on_start", self)
        window = Window(torch.zeros(len(METRIC_KEYS), device=self.device))
        session_start = self.clock() - self.counters.elapsed_s
        # the same on every rank (from the checkpoint); after that, each step's `last` decides
        last = length_reached(self.cfg, self.total, self.counters.iteration, self.counters.elapsed_s)
        while not last:
            self._train_step(window)
            it = self.counters.iteration
            last = self._last_step(it, session_start)
            if self.dist.active:  # a collective, so only at log points
                stopping = self.dist.any_flag(stop.requested) if (it % t.log_every == 0 or last) else False
            else:
                stopping = stop.requested
            checkpoint_due = it % t.checkpoint_every == 0 or last or stopping
            if (
                self.scorer is not None
                and t.score_every
                and (it % t.score_every == 0 or last)
                and self.dist.is_main
            ):
                window.extra = self._keep_best(self.scorer(self.sampling_generator(), it), it)
            log = it % t.log_every == 0 or last or stopping
            values = self._read_window(window, it, log, checkpoint_due, session_start)
            if values is not None and not all(math.isfinite(v) for v in values):
                bad = ", ".join(
                    f"{k}={v}" for k, v in zip((*METRIC_KEYS, "weights"), values) if not math.isfinite(v)
                )
                why = f"Training diverged at or before iteration {it} ({bad}); try a lower learning rate (--lr) or another seed."
                return self._end(Outcome("diverged", it, why))
            if (it == 1 or it % t.sample_every == 0 or last) and self.dist.is_main:
                notify(self.observers, "on_samples", it, self.sample_fixed())
            if checkpoint_due:
                self.checkpoint(background=not (last or stopping))
            if stopping:
                who = stop.signal_name or "a signal on another rank"
                return self._end(
                    Outcome("stopped", it, f"Stopped by {who} at iteration {it}{self._of_total()}.")
                )
        done = self.counters.iteration
        return self._end(Outcome("finished", done, f"Finished {done} iterations{self._why_done()}."))

    def _of_total(self) -> str:
        return f" of {self.total}" if self.total else ""

    def _why_done(self) -> str:
        """' (its time budget of 5m00s spent)' when the clock, not the total, ended the run."""
        if self.cfg.train.time > 0 and not (self.total and self.counters.iteration >= self.total):
            return f" (the time budget of {format_duration(self.cfg.train.time)} spent)"
        return ""

    def _last_step(self, it: int, session_start: float) -> bool:
        """Whether step `it` ends the run: the total reached, or the time budget spent (by every
        rank's account under torch.distributed, where the clocks are compared at log points, so
        all stop at the same step). The elapsed time is kept to the step, for the next check."""
        if self.total and it >= self.total:
            return True
        if self.cfg.train.time <= 0:
            return False
        self.counters.elapsed_s = self.clock() - session_start
        over = self.counters.elapsed_s >= self.cfg.train.time
        if self.dist.active:
            return self.dist.any_flag(over) if it % self.cfg.train.log_every == 0 else False
        return over

    def train_steps(self, n: int) -> None:
        """`n` updates of both nets and nothing else (no metrics, samples or checkpoints): what
        `gan train --dry-run` times."""
        self.generator.train()
        self.discriminator.train()
        window = Window(torch.zeros(len(METRIC_KEYS), device=self.device))
        for _ in range(n):
            self._train_step(window)

    def _train_step(self, window: Window) -> None:
        """One update of both nets (and what follows it), its losses added to the window."""
        inputs = self._inputs(self.counters.iteration)
        with self.autocast:
            losses = self.step_fn(self.nets, inputs, self.cfg.train.d_loss_scale)
        self._after_step(inputs, self.counters.iteration + 1)
        if self.ada:
            self._steer_augmentation(losses.real_sign, self.counters.iteration + 1)
        window.acc += torch.stack([v.float() for v in losses[: len(METRIC_KEYS)]])
        window.steps += 1
        window.images += self.cfg.train.batch_size
        self.counters.iteration += 1

    def _steer_augmentation(self, real_sign: torch.Tensor, iteration: int) -> None:
        """ADA: every ADA_INTERVAL steps, p follows the mean sign of D's real logits (averaged
        over ranks, so every rank keeps the same p); a host sync then, as ADA's own."""
        self.ada_sum += real_sign
        if iteration % ADA_INTERVAL == 0:
            mean = self.dist.mean(self.ada_sum.reshape(1) / ADA_INTERVAL).item()
            self.augment.p = ada_adjust(self.augment.p, mean, self.cfg.train.batch_size)
            self.ada_sum.zero_()

    def _read_window(
        self, window: Window, it: int, log: bool, checkpoint_due: bool, session_start: float
    ) -> list[float] | None:
        """At a log point, the metrics line (the host sync of the loop), emitted when finite;
        before a checkpoint between log points, the same means read to never checkpoint a NaN;
        else None (nothing read)."""
        if not log:
            if not checkpoint_due:
                return None
            return self.dist.mean(
                self._means_and_weights_flag(window.acc / max(window.steps, 1), True)
            ).tolist()
        values = self.dist.mean(
            self._means_and_weights_flag(window.acc / window.steps, checkpoint_due)
        ).tolist()
        now = self.clock()
        self.counters.elapsed_s = now - session_start
        record = {
            "iteration": it,
            "epoch": (it - 1) // self.batches.steps_per_epoch + 1,
            **{k: v for k, v in zip(METRIC_KEYS, values)},
            "images_per_s": window.images / max(now - window.start, 1e-9),
            "elapsed_s": self.counters.elapsed_s,
            **({"augment_p": self.augment.p} if self.ada else {}),
            **window.extra,
        }
        window.restart(now)
        if all(math.isfinite(v) for v in values) and self.dist.is_main:
            notify(self.observers, "on_metrics", record)
            self._announce_checkpoint(self.writer.poll())
        return values
