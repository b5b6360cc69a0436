"""What makes our training step faster on this CPU (issue 5, item 4 of the brief).

Each variant is our step (the Trainer's own step, inputs and accumulation) with one thing
changed, timed interleaved with the unchanged baseline in the same process, round after
round, so that a noisy neighbour slows all of them alike. Reported: median images/s, and the
median over rounds of each variant's speed relative to the baseline of the same round.

    python benchmarks/step_options.py                       # flowers64, batch 32, ~3 min
    python benchmarks/step_options.py --batch-size 128      # the preset's batch
    python benchmarks/step_options.py --compile             # adds torch.compile (30-60 s warm-up)
    python benchmarks/step_options.py --profile             # top operators of the baseline step

Variants that change numerics are marked: symmetric padding samples another pixel grid than
MATLAB's; bf16 autocast rounds activations; the others give the same results up to float
summation order.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import benchlib as bl
import torch
from torch import nn


class NoAccumulate(bl.OurStep):
    """Our step without the per-step `acc += torch.stack(losses)` of Trainer.fit."""

    def __call__(self) -> None:
        tr = self.trainer
        with tr.autocast:
            tr.step_fn(tr.nets, tr._inputs(tr.counters.iteration), tr.cfg.train.d_loss_scale)
        tr.counters.iteration += 1


def with_adam(step: bl.OurStep, **flags: bool) -> bl.OurStep:
    """Swap both optimisers for Adam with other implementation flags (same hyper-parameters)."""
    tr, t = step.trainer, step.trainer.cfg.train
    tr.opt_g = torch.optim.Adam(tr.generator.parameters(), lr=t.lr_g, betas=(t.beta1, t.beta2), **flags)
    tr.opt_d = torch.optim.Adam(tr.discriminator.parameters(), lr=t.lr_d, betas=(t.beta1, t.beta2), **flags)
    tr.nets.opt_g, tr.nets.opt_d = tr.opt_g, tr.opt_d
    return step


def _symmetric(module: nn.Module) -> nn.Module:
    """The PyTorch-usual symmetric-padding layer sharing `module`'s Parameters (so the
    optimisers keep working). Changes numerics: the sampling grid moves by one pixel."""
    from gancli.models.layers import SameConv2d, SameConvTranspose2d

    if isinstance(module, SameConvTranspose2d):
        k, s = module.kernel_size[0], module.stride[0]
        crop = max(k - s, 0)
        pad = -(-crop // 2)
        new = nn.ConvTranspose2d(
            module.in_channels, module.out_channels, k, s, pad, 2 * pad - crop, bias=module.bias is not None
        )
    elif isinstance(module, SameConv2d) and module.kernel_size[0] % 2 == 1:
        new = nn.Conv2d(
            module.in_channels,
            module.out_channels,
            module.kernel_size,
            module.stride,
            module.kernel_size[0] // 2,
            bias=module.bias is not None,
        )
    else:
        return module
    new.weight = module.weight  # shared, in whatever memory format the trainer gave it
    new.bias = module.bias
    return new


def plain_frame(g: nn.Module, d: nn.Module) -> None:
    """Switch our nets off the turned frame (models/frame.py): each 'same' layer pads or crops
    its odd pixel itself, as before the turned frame; same math."""
    g.frame = d.frame = None


def with_plain_frame(step: bl.OurStep) -> bl.OurStep:
    plain_frame(step.trainer.generator, step.trainer.discriminator)
    return step


def with_symmetric_padding(step: bl.OurStep) -> bl.OurStep:
    with_plain_frame(step)
    for net in (step.trainer.generator, step.trainer.discriminator):
        for name, module in list(net.layers.named_children()):
            net.layers._modules[name] = _symmetric(module)
    return step


class FullPadConv2d(nn.Conv2d):
    """SameConv2d as it was before this benchmark: F.pad of the whole (1, 2) padding, conv
    without padding. Bit-identical results; kept here to measure the change."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        import torch.nn.functional as F

        from gancli.models.layers import same_padding

        top, bottom = same_padding(x.shape[-2], self.kernel_size[0], self.stride[0])
        left, right = same_padding(x.shape[-1], self.kernel_size[1], self.stride[1])
        if top == bottom and left == right:
            return F.conv2d(x, self.weight, self.bias, self.stride, (top, left))
        return F.conv2d(F.pad(x, (left, right, top, bottom)), self.weight, self.bias, self.stride)


def with_full_pad(step: bl.OurStep) -> bl.OurStep:
    from gancli.models.layers import SameConv2d

    with_plain_frame(step)
    for module in step.trainer.discriminator.modules():
        if isinstance(module, SameConv2d):
            module.__class__ = FullPadConv2d  # same instance and Parameters, old forward
    return step


def with_threads(step: Callable[[], None], threads: int) -> Callable[[], None]:
    """Run `step` with `threads` intra-op threads, restoring the setting afterwards."""

    def run() -> None:
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            step()
        finally:
            torch.set_num_threads(before)

    return run


def build_variants(
    preset: str, batch: int, full: bool, compile_too: bool
) -> tuple[dict[str, Callable[[], None]], dict[str, str]]:
    """name -> step callable, and name -> what it changes. `full` adds the combinations."""
    cpu = torch.device("cpu")
    cfg = lambda **kw: bl.preset_config(preset, batch, "cpu", **kw)
    images = bl.synthetic_images(cfg(), batch * 8)
    steps: dict[str, Callable[[], None]] = {}
    notes: dict[str, str] = {}
    exact_padding_kind = any(s.padding == "same" for s in cfg().model.discriminator + cfg().model.generator)

    def add(name: str, make: Callable[[], Callable[[], None]], note: str) -> None:
        steps[name], notes[name] = make(), note

    add(
        "baseline",
        lambda: bl.OurStep(cfg(), images, cpu),
        "as in src/ now: turned frame where exact, fused Adam (torch >= 2.4), in-place activations, channels_last auto (off on CPU), fp32",
    )
    add(
        "channels_last",
        lambda: bl.OurStep(cfg(channels_last="on"), images, cpu),
        "train.channels_last=on (same math, other summation order)",
    )
    add(
        "foreach_adam",
        lambda: with_adam(bl.OurStep(cfg(), images, cpu), foreach=True),
        "Adam(foreach=True) instead of fused (as before)",
    )
    add(
        "no_accumulate",
        lambda: NoAccumulate(cfg(), images, cpu),
        "without the per-step torch.stack of 4 scalars",
    )
    if torch.get_num_threads() > 1:
        add(
            "1_thread",
            lambda: with_threads(bl.OurStep(cfg(), images, cpu), 1),
            f"torch.set_num_threads(1) (default here: {torch.get_num_threads()})",
        )
    if exact_padding_kind:
        add(
            "plain_frame",
            lambda: with_plain_frame(bl.OurStep(cfg(), images, cpu)),
            "each 'same' layer pads/crops its odd pixel by hand (as before the turned frame; same math)",
        )
        add(
            "old_full_pad",
            lambda: with_full_pad(bl.OurStep(cfg(), images, cpu)),
            "plain frame, SameConv2d padding all of (1,2) with F.pad (as in session 1; same math)",
        )
        add(
            "sym_padding",
            lambda: with_symmetric_padding(bl.OurStep(cfg(), images, cpu)),
            "PyTorch's symmetric padding (CHANGES NUMERICS: grid 1 px off)",
        )
    add(
        "bf16_autocast",
        lambda: bl.OurStep(cfg(amp=True), images, cpu),
        "--amp: bf16 autocast on CPU (CHANGES NUMERICS)",
    )
    if full:
        add(
            "forloop_adam",
            lambda: with_adam(bl.OurStep(cfg(), images, cpu), foreach=False),
            "Adam's CPU default (per-parameter loop), as the references",
        )
        add(
            "cl+bf16",
            lambda: bl.OurStep(cfg(channels_last="on", amp=True), images, cpu),
            "channels_last + bf16 (CHANGES NUMERICS)",
        )
    if compile_too:
        add(
            "compile",
            lambda: bl.OurStep(cfg(compile=True), images, cpu),
            "--compile: torch.compile of G and D (warm-up excluded)",
        )
    return steps, notes


def optimizer_costs(preset: str, rounds: int = 7) -> dict[str, float]:
    """Milliseconds of one opt_d.step() + opt_g.step() on the preset's parameters, per Adam
    implementation, interleaved (the step's cost without convolution noise around it)."""
    from gancli.models.dcgan import build_discriminator, build_generator

    cfg = bl.preset_config(preset, 2)
    params = [*build_generator(cfg.model).parameters(), *build_discriminator(cfg.model).parameters()]
    for p in params:
        p.grad = torch.randn_like(p) * 1e-3
    flavours = {
        "fused (ours)": {"fused": True},
        "foreach": {"foreach": True},
        "for-loop (CPU default)": {"foreach": False},
    }
    optimisers = {
        name: torch.optim.Adam(
            [p.detach().clone().requires_grad_() for p in params], lr=2e-4, betas=(0.5, 0.999), **flags
        )
        for name, flags in flavours.items()
    }
    for opt in optimisers.values():
        for q, p in zip(opt.param_groups[0]["params"], params):
            q.grad = p.grad
        opt.step()  # creates the moment buffers

    def timer(opt: torch.optim.Optimizer) -> Callable[[], float]:
        def run() -> float:
            start = time.perf_counter()
            for _ in range(3):
                opt.step()
            return (time.perf_counter() - start) / 3

        return run

    times = bl.interleave({n: timer(o) for n, o in optimisers.items()}, rounds, progress=False)
    print(
        f"  Adam on {sum(p.numel() for p in params) / 1e6:.1f} M parameters (both nets), ms per training step, median of {rounds} interleaved rounds:"
    )
    out = {n: 1000 * statistics.median(t) for n, t in times.items()}
    print("   " + ", ".join(f"{n} {ms:.1f} ms" for n, ms in out.items()))
    return out


def padding_costs(preset: str, batch: int, rounds: int) -> None:
    """The 'same' padding variants on the networks alone: forward and backward of D(real) and
    D(G(z)), no optimiser, no data, interleaved - less noise than whole steps."""
    import copy

    from gancli.models.dcgan import build_discriminator, build_generator

    cfg = bl.preset_config(preset, batch)
    if not any(spec.padding == "same" for spec in cfg.model.generator + cfg.model.discriminator):
        print(f"  {preset} has no 'same' padding: padding comparison skipped")
        return
    torch.manual_seed(0)
    nets = {"current": (build_generator(cfg.model), build_discriminator(cfg.model))}
    g, d = copy.deepcopy(nets["current"])
    plain_frame(g, d)
    nets["plain_frame"] = (g, d)
    g, d = copy.deepcopy(nets["current"])
    plain_frame(g, d)
    for module in d.modules():
        if type(module).__name__ == "SameConv2d":
            module.__class__ = FullPadConv2d
    nets["old_full_pad"] = (g, d)
    g, d = copy.deepcopy(nets["current"])
    plain_frame(g, d)
    for net in (g, d):
        for name, module in list(net.layers.named_children()):
            net.layers._modules[name] = _symmetric(module)
    nets["sym_padding"] = (g, d)
    z = torch.randn(batch, cfg.model.latent_dim)
    x = torch.rand(batch, cfg.model.channels, cfg.model.resolution, cfg.model.resolution) * 2 - 1

    def work(g: nn.Module, d: nn.Module) -> Callable[[], None]:
        def run() -> None:
            (d(x).sum() + d(g(z)).sum()).backward()

        return run

    for g, d in nets.values():
        work(g, d)()
    t = bl.interleave_timed({name: work(*pair) for name, pair in nets.items()}, rounds)
    print(
        f"  forward + backward of the nets only ({preset}, batch {batch}, {rounds} interleaved rounds), speed vs current:"
    )
    print(
        "   "
        + ", ".join(
            f"{name} {t.ratio('current', name):.3f}x wall / {t.ratio('current', name, cpu=True):.3f}x CPU"
            for name in nets
        )
    )


def accumulation_cost_us(reps: int = 2000) -> float:
    """Microseconds of Trainer.fit's `acc += torch.stack([v.float() for v in losses])`."""
    losses = [torch.tensor(0.5) for _ in range(4)]
    acc = torch.zeros(4)
    start = time.perf_counter()
    for _ in range(reps):
        acc += torch.stack([v.float() for v in losses])
    return 1e6 * (time.perf_counter() - start) / reps


def profile_baseline(preset: str, batch: int, steps: int = 2, rows: int = 15) -> None:
    """Print the operators that take the step's time (self CPU time)."""
    from torch.profiler import ProfilerActivity, profile

    cfg = bl.preset_config(preset, batch)
    step = bl.OurStep(cfg, bl.synthetic_images(cfg, batch * 4), torch.device("cpu"))
    step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="flowers64")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=2, help="steps per variant per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--threads", type=int, default=0, help="torch.set_num_threads for every variant (0: torch's default)"
    )
    parser.add_argument(
        "--padding-rounds", type=int, default=8, help="rounds of the nets-only padding comparison (0: skip)"
    )
    parser.add_argument(
        "--all",
        action="store_true",
        help="also the combinations (for-loop Adam, channels-last + fused, + bf16)",
    )
    parser.add_argument(
        "--compile", action="store_true", help="also measure torch.compile (30-60 s of warm-up)"
    )
    parser.add_argument("--profile", action="store_true", help="print the baseline's top operators first")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    print(f"machine: {bl.machine_line()}")
    print(
        f"{args.preset}, batch {args.batch_size}, {args.steps} steps x {args.rounds} rounds per variant, interleaved\n"
    )
    if args.profile:
        profile_baseline(args.preset, args.batch_size)
    adam_ms = optimizer_costs(args.preset)
    if args.padding_rounds:
        padding_costs(args.preset, args.batch_size, args.padding_rounds)
    acc_us = accumulation_cost_us()
    steps, notes = build_variants(args.preset, args.batch_size, args.all, args.compile)
    cpu = torch.device("cpu")
    for name, step in steps.items():  # warm-up: oneDNN primitive caches, compile, allocator
        start = time.perf_counter()
        step()
        step()
        if name == "compile":
            print(f"  torch.compile warm-up (2 steps): {time.perf_counter() - start:.1f} s")

    def repeat(step: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            for _ in range(args.steps):
                step()

        return run

    t = bl.interleave_timed({n: repeat(s) for n, s in steps.items()}, args.rounds, cpu)
    walls = t.wall
    images = args.batch_size * args.steps
    rows = []
    for name in steps:
        speed = t.ratio("baseline", name)
        cpu_speed = t.ratio("baseline", name, cpu=True)
        best = images / min(walls[name])
        rows.append(
            [
                name,
                f"{images / statistics.median(walls[name]):.1f}",
                f"{best:.1f}",
                f"{speed:.3f}x",
                f"{cpu_speed:.3f}x",
                notes[name],
            ]
        )
    print()
    print(
        bl.table(
            rows,
            [
                "variant",
                "images/s median",
                "best round",
                "speed vs baseline (wall)",
                "(CPU time)",
                "what changes",
            ],
        )
    )
    step_ms = 1000 * statistics.median(walls["baseline"]) / args.steps
    print(
        "\nspeed > 1: faster than the baseline of the same round; median over rounds. CPU-time ratios are steadier when"
    )
    print(
        "other processes share the cores (but count OpenMP spin-waiting). Baseline step: "
        f"{step_ms:.0f} ms; Adam (fused) {adam_ms['fused (ours)']:.0f} ms of it ({100 * adam_ms['fused (ours)'] / step_ms:.1f}%), "
        f"foreach {adam_ms['foreach']:.0f} ms; the per-step metric accumulation {acc_us:.0f} us ({100 * acc_us / 1000 / step_ms:.3f}%)."
    )


if __name__ == "__main__":
    main()
