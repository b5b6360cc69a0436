"""Shared helpers of the benchmark scripts: machine facts, synthetic JPEG folders, the plain
reference networks and steps, our step driven through a Trainer, and interleaved timing.

The scripts are run as `python benchmarks/X.py` from the repository root, so this module is
imported as a sibling (`import benchlib`). It imports gancli lazily where it can so that
`python benchmarks/gpu_bench.py` also works with PYTHONPATH=src on a machine where gancli
is not installed. Keep it compatible with torch 2.11 (the lent GPU machine's version).
"""

from __future__ import annotations

import os
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

# Running as `python benchmarks/X.py` from a checkout where gancli is not installed: use src/.
_SRC = Path(__file__).resolve().parent.parent / "src"
if _SRC.is_dir() and str(_SRC) not in sys.path:
    try:
        import gancli  # noqa: F401  (installed: leave sys.path alone)
    except ImportError:
        sys.path.insert(0, str(_SRC))

# Sizes of the TensorFlow flower photos (most are 500x333..500x375, some 320x240 and portrait).
FLOWER_SIZES: tuple[tuple[int, int], ...] = (
    (320, 240),
    (500, 375),
    (500, 333),
    (400, 300),
    (375, 500),
    (333, 500),
    (240, 320),
    (500, 281),
    (480, 360),
)


# ---------------------------------------------------------------- machine facts


@dataclass
class CpuInfo:
    """What the peak-FLOP estimate needs: model, cores this process may use, clock, vector ISA."""

    model: str
    cores: int
    mhz: float
    flops_per_cycle: int  # fp32 FLOP per core per cycle from the ISA: 2 FMA units x lanes x 2
    isa: str
    hypervisor: bool

    @property
    def peak_gflops(self) -> float:
        return self.cores * self.flops_per_cycle * self.mhz / 1000

    @property
    def peak_gflops_avx2(self) -> float:
        """The issue's formula: cores x 32 fp32 FLOP/cycle (AVX2 + 2 FMA units) x clock."""
        return self.cores * 32 * self.mhz / 1000


def cpu_info() -> CpuInfo:
    """Read /proc/cpuinfo (Linux); the clock is 'cpu MHz' (KVM reports the nominal clock there)."""
    model, mhz, flags = platform.processor() or "unknown CPU", 0.0, set()
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key == "model name" and model in ("unknown CPU", "x86_64", ""):
            model = value
        elif key == "cpu MHz" and not mhz:
            mhz = float(value)
        elif key == "flags" and not flags:
            flags = set(value.split())
    # 'CPU max MHz' from lscpu would be better where the VM exposes it; KVM guests often don't
    if "avx512f" in flags:
        per_cycle, isa = 64, "AVX-512 (assumes 2 FMA units: 2 x 16 lanes x 2)"
    elif "avx2" in flags and "fma" in flags:
        per_cycle, isa = 32, "AVX2+FMA (2 x 8 lanes x 2)"
    else:
        per_cycle, isa = 16, "SSE/AVX without FMA (estimate)"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return CpuInfo(model, cores, mhz or 2000.0, per_cycle, isa, "hypervisor" in flags)


def machine_line() -> str:
    """One line naming the machine and software, for the head of every report."""
    c = cpu_info()
    virt = " under a hypervisor" if c.hypervisor else ""
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return (
        f"{c.model}, {c.cores} cores{virt}, {c.mhz:.0f} MHz, {c.isa.split(' (')[0]}; torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; load average {load[0]:.1f} (other processes share these cores)"
    )


def peak_rss_mib(children: bool = False) -> float:
    """Peak resident set size of this process (or of its waited-for children), MiB (Linux: KiB units)."""
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / 1024


# ---------------------------------------------------------------- synthetic JPEGs


def _textured_image(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A photo-like RGB array: smooth colour fields, petal-like radial stripes and grain.

    Flat colours would compress to a few KB and decode unrealistically fast; real flower
    photos are about 60 KB each, which these approach at JPEG quality 90.
    """
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    cx, cy = rng.uniform(0.3, 0.7) * width, rng.uniform(0.3, 0.7) * height
    r = np.hypot(xx - cx, yy - cy)
    angle = np.arctan2(yy - cy, xx - cx)
    petals = np.cos(angle * rng.integers(5, 12)) * np.exp(-r / (0.35 * min(width, height)))
    image = np.empty((height, width, 3), np.float32)
    for c in range(3):
        fx, fy = rng.uniform(0.005, 0.05, 2)
        base = 0.5 + 0.25 * np.sin(xx * fx + rng.uniform(0, 6)) * np.cos(yy * fy + rng.uniform(0, 6))
        image[..., c] = base + rng.uniform(0.2, 0.5) * petals
    image += rng.normal(0, 0.06, image.shape).astype(np.float32)  # sensor grain: the bulk of the bytes
    return (image.clip(0, 1) * 255).astype(np.uint8)


def _write_one(args: tuple[str, int, int, int, int]) -> int:
    from PIL import Image

    path, width, height, seed, quality = args
    rng = np.random.default_rng(seed)
    Image.fromarray(_textured_image(rng, width, height)).save(path, quality=quality)
    return os.path.getsize(path)


def make_jpeg_folder(
    folder: Path, count: int, seed: int = 0, classes: int = 5, workers: int = 1, quality: int = 90
) -> tuple[int, float]:
    """Write `count` flower-sized textured JPEGs in `classes` subfolders (ImageFolder layout).

    Returns (count, mean file size in KB)."""
    jobs = []
    for i in range(count):
        sub = folder / f"class{i % classes}"
        sub.mkdir(parents=True, exist_ok=True)
        width, height = FLOWER_SIZES[i % len(FLOWER_SIZES)]
        jobs.append((str(sub / f"img{i:05d}.jpg"), width, height, seed * 1_000_003 + i, quality))
    if workers > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers) as pool:
            sizes = list(pool.map(_write_one, jobs, chunksize=16))
    else:
        sizes = [_write_one(job) for job in jobs]
    return count, sum(sizes) / len(sizes) / 1024


def typical_loader(
    folder: Path,
    workers: int,
    batch: int,
    resolution: int = 64,
    drop_last: bool = False,
    pin_memory: bool = False,
) -> torch.utils.data.DataLoader:
    """The DataLoader a typical PyTorch DCGAN script builds: pytorch/examples' ImageFolder and
    transforms, with Resize((64, 64)) - a plain resize, as flowers64's 'resize' mode."""
    import torchvision.datasets as dset
    from torchvision import transforms

    dataset = dset.ImageFolder(
        root=str(folder),
        transform=transforms.Compose(
            [
                transforms.Resize((resolution, resolution)),
                transforms.RandomHorizontalFlip(),
                transforms.ToTensor(),
                transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
            ]
        ),
    )
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=batch,
        shuffle=True,
        num_workers=workers,
        drop_last=drop_last,
        pin_memory=pin_memory,
    )


# ---------------------------------------------------------------- configs


def preset_config(name: str, batch_size: int, device: str = "cpu", **train: object):
    """A preset's RunConfig with the batch size and device overridden (and any train.* key)."""
    from gancli import config

    overrides = {
        "train.batch_size": batch_size,
        "train.device": device,
        "train.iters": 1_000_000,
        "train.epochs": 0,
    }
    overrides.update({f"train.{k}": v for k, v in train.items()})
    return config.resolve(name, None, overrides)


def synthetic_images(cfg, count: int, seed: int = 0) -> torch.Tensor:
    """A prepared-style uint8 dataset (N, C, H, W) of noise: the step's cost does not depend on pixels."""
    g = torch.Generator().manual_seed(seed)
    m = cfg.model
    return torch.randint(
        0, 256, (count, m.channels, m.resolution, m.resolution), dtype=torch.uint8, generator=g
    )


# ---------------------------------------------------------------- the plain reference


def _plain_layer(spec, in_shape: tuple[int, ...]) -> nn.Module:
    """One layer as a plain PyTorch script writes it: built-in modules, symmetric padding.

    'same' padding becomes PyTorch's usual symmetric padding (k//2 for a conv; padding and
    output_padding for a transposed conv). With an odd total that samples a grid shifted by
    one pixel from MATLAB's (see NOTES): the same shapes, parameters and FLOPs.
    """
    from gancli.models.layers import SameConv2d

    c = in_shape[0]
    if spec.op == "project":
        feat = c if len(in_shape) == 1 else int(np.prod(in_shape))
        return nn.Sequential(
            nn.Flatten(1),
            nn.Linear(feat, spec.out * spec.size * spec.size, bias=spec.bias),
            nn.Unflatten(1, (spec.out, spec.size, spec.size)),
        )
    if spec.op == "linear":
        return nn.Sequential(nn.Flatten(1), nn.Linear(int(np.prod(in_shape)), spec.out, bias=spec.bias))
    if spec.op == "conv":
        if spec.padding == "same":
            if spec.kernel % 2 == 0:
                return SameConv2d(
                    c, spec.out, spec.kernel, spec.stride, bias=spec.bias
                )  # no symmetric equivalent
            return nn.Conv2d(c, spec.out, spec.kernel, spec.stride, spec.kernel // 2, bias=spec.bias)
        pad = 0 if spec.padding == "valid" else int(spec.padding)
        return nn.Conv2d(c, spec.out, spec.kernel, spec.stride, pad, bias=spec.bias)
    if spec.op == "convT":
        if spec.padding == "same":
            crop = max(spec.kernel - spec.stride, 0)
            pad = -(-crop // 2)
            return nn.ConvTranspose2d(
                c, spec.out, spec.kernel, spec.stride, pad, 2 * pad - crop, bias=spec.bias
            )
        pad = 0 if spec.padding == "valid" else int(spec.padding)
        return nn.ConvTranspose2d(
            c, spec.out, spec.kernel, spec.stride, pad, spec.output_padding, bias=spec.bias
        )
    simple: dict[str, Callable[[], nn.Module]] = {
        "upsample": lambda: nn.Upsample(scale_factor=spec.scale, mode="nearest"),
        "batchnorm": lambda: nn.BatchNorm2d(c, eps=spec.eps, momentum=spec.momentum),
        "relu": lambda: nn.ReLU(True),  # pytorch/examples uses inplace activations
        "leaky_relu": lambda: nn.LeakyReLU(spec.slope, inplace=True),
        "tanh": nn.Tanh,
        "dropout": lambda: nn.Dropout(spec.p),
        "dropout2d": lambda: nn.Dropout2d(spec.p),
    }
    return simple[spec.op]()


def _plain_stack(specs, in_shape: tuple[int, ...], tail: Sequence[nn.Module] = ()) -> nn.Sequential:
    layers: list[nn.Module] = []
    x = torch.zeros(2, *in_shape)
    for spec in specs:
        layer = _plain_layer(spec, tuple(x.shape[1:])).eval()
        with torch.no_grad():
            x = layer(x)
        layers.append(layer)
    return nn.Sequential(*layers, *tail)


@dataclass
class Reference:
    """The plain networks, optimisers and loss of a pytorch/examples-style script."""

    netG: nn.Module
    netD: nn.Module
    optG: torch.optim.Optimizer
    optD: torch.optim.Optimizer
    latent_shape: tuple[int, ...]
    flip_prob: float
    d_scale: float
    step: Callable[[Reference, torch.Tensor], tuple[float, ...]]
    criterion: nn.Module = field(default_factory=nn.BCELoss)


def build_reference(cfg, device: torch.device, seed: int = 0) -> Reference:
    """Plain nn.Sequential nets of the preset's architecture (D ends in Sigmoid, as in
    pytorch/examples), initialised by the same scheme, with default-flag Adam."""
    from gancli.models.init import initialise

    m, t = cfg.model, cfg.train
    torch.manual_seed(seed)
    first = m.generator[0].op
    latent_shape = (m.latent_dim,) if first in ("project", "linear") else (m.latent_dim, 1, 1)
    netG = _plain_stack(m.generator, latent_shape)
    netD = _plain_stack(
        m.discriminator, (m.channels, m.resolution, m.resolution), [nn.Flatten(0), nn.Sigmoid()]
    )
    for net in (netG, netD):
        initialise(net, m.init)
        net.to(device).train()
    # the reference scripts construct Adam with defaults: on CPU that is the per-parameter for-loop
    optG = torch.optim.Adam(netG.parameters(), lr=t.lr_g, betas=(t.beta1, t.beta2))
    optD = torch.optim.Adam(netD.parameters(), lr=t.lr_d, betas=(t.beta1, t.beta2))
    return Reference(
        netG, netD, optG, optD, latent_shape, t.label_flip_prob, t.d_loss_scale, REFERENCE_STEPS[t.step]
    )


def ref_d_then_g(ref: Reference, real: torch.Tensor) -> tuple[float, ...]:
    """pytorch/examples dcgan/main.py's loop body, line for line (its print left out)."""
    netD, netG, criterion, device = ref.netD, ref.netG, ref.criterion, real.device
    # (1) Update D network: maximize log(D(x)) + log(1 - D(G(z)))
    netD.zero_grad()
    batch_size = real.size(0)
    label = torch.full((batch_size,), 1.0, dtype=real.dtype, device=device)
    output = netD(real)
    errD_real = criterion(output, label) * ref.d_scale
    errD_real.backward()
    D_x = output.mean().item()
    noise = torch.randn(batch_size, *ref.latent_shape, device=device)
    fake = netG(noise)
    label.fill_(0.0)
    output = netD(fake.detach())
    errD_fake = criterion(output, label) * ref.d_scale
    errD_fake.backward()
    D_G_z1 = output.mean().item()
    errD = errD_real + errD_fake
    ref.optD.step()
    # (2) Update G network: maximize log(D(G(z)))
    netG.zero_grad()
    label.fill_(1.0)
    output = netD(fake)
    errG = criterion(output, label)
    errG.backward()
    D_G_z2 = output.mean().item()
    ref.optG.step()
    return errD.item(), errG.item(), D_x, D_G_z1, D_G_z2


def ref_g_then_d(ref: Reference, real: torch.Tensor) -> tuple[float, ...]:
    """PyTorch-GAN implementations/dcgan's loop body (G first, then D; d_loss averaged)."""
    netD, netG, criterion, device = ref.netD, ref.netG, ref.criterion, real.device
    valid = torch.ones(real.size(0), device=device)
    fake = torch.zeros(real.size(0), device=device)
    ref.optG.zero_grad()
    z = torch.randn(real.size(0), *ref.latent_shape, device=device)
    gen_imgs = netG(z)
    g_loss = criterion(netD(gen_imgs), valid)
    g_loss.backward()
    ref.optG.step()
    ref.optD.zero_grad()
    real_loss = criterion(netD(real), valid)
    fake_loss = criterion(netD(gen_imgs.detach()), fake)
    d_loss = (real_loss + fake_loss) * ref.d_scale
    d_loss.backward()
    ref.optD.step()
    return d_loss.item(), g_loss.item()


def ref_simultaneous(ref: Reference, real: torch.Tensor) -> tuple[float, ...]:
    """MATLAB's modelGradients + two adamupdate calls, written plainly in PyTorch: one forward
    pass, both gradients from it (torch.autograd.grad), then both networks updated."""
    netD, netG, criterion, device = ref.netD, ref.netG, ref.criterion, real.device
    b = real.size(0)
    noise = torch.randn(b, *ref.latent_shape, device=device)
    prob_real = netD(real)
    fake = netG(noise)
    prob_fake = netD(fake)
    # label noise: a fraction of the real observations is labelled fake
    real_label = (torch.rand(b, device=device) >= ref.flip_prob).float()
    loss_d = (
        criterion(prob_real, real_label) + criterion(prob_fake, torch.zeros(b, device=device))
    ) * ref.d_scale
    loss_g = criterion(prob_fake, torch.ones(b, device=device))
    params_d, params_g = list(netD.parameters()), list(netG.parameters())
    grads_d = torch.autograd.grad(loss_d, params_d, retain_graph=True)
    grads_g = torch.autograd.grad(loss_g, params_g)
    for p, g in zip(params_d, grads_d):
        p.grad = g
    for p, g in zip(params_g, grads_g):
        p.grad = g
    ref.optD.step()
    ref.optG.step()
    score_d = ((prob_real.mean() + (1 - prob_fake).mean()) / 2).item()
    return loss_d.item(), loss_g.item(), score_d, prob_fake.mean().item()


REFERENCE_STEPS: dict[str, Callable[[Reference, torch.Tensor], tuple[float, ...]]] = {
    "d_then_g": ref_d_then_g,
    "g_then_d": ref_g_then_d,
    "simultaneous": ref_simultaneous,
}


def random_real_batch(cfg, batch: int, device: torch.device, seed: int = 1) -> torch.Tensor:
    """A float batch in [-1, 1], as a reference DataLoader would hand over (already decoded)."""
    g = torch.Generator().manual_seed(seed)
    m = cfg.model
    return (torch.rand(batch, m.channels, m.resolution, m.resolution, generator=g) * 2 - 1).to(device)


# ---------------------------------------------------------------- our step


class OurStep:
    """Our training step exactly as Trainer.fit runs it, minus the logging branch.

    The body below mirrors Trainer.fit's loop: inputs from the prepared BatchSource (index,
    scale to [-1, 1], flips), the preset's step function under the trainer's autocast, and
    the on-device accumulation of the four metrics. Keep it in step with trainer.py.
    """

    def __init__(self, cfg, images: torch.Tensor, device: torch.device) -> None:
        from gancli.training.trainer import METRIC_KEYS, Trainer

        self.trainer = Trainer(cfg, images, device, run_dir=None, observers=[])
        self.trainer.generator.train()
        self.trainer.discriminator.train()
        self.acc = torch.zeros(len(METRIC_KEYS), device=device)

    def __call__(self) -> None:
        tr = self.trainer
        with tr.autocast:
            losses = tr.step_fn(tr.nets, tr._inputs(tr.counters.iteration), tr.cfg.train.d_loss_scale)
        self.acc += torch.stack([v.float() for v in losses])
        tr.counters.iteration += 1

    def sync(self) -> None:
        """The host read Trainer.fit does at each log point (also a device sync on CUDA)."""
        self.acc.tolist()


class RefStep:
    """The reference step on one pre-made batch (its DataLoader cost is measured elsewhere)."""

    def __init__(self, cfg, device: torch.device, batch: int) -> None:
        self.ref = build_reference(cfg, device)
        self.real = random_real_batch(cfg, batch, device)

    def __call__(self) -> None:
        self.ref.step(self.ref, self.real)  # its .item() calls are the per-step host syncs

    def sync(self) -> None:
        return None


# ---------------------------------------------------------------- timing


def sync_device(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(
    step: Callable[[], None], steps: int, device: torch.device, finish: Callable[[], None] | None = None
) -> float:
    """Seconds for `steps` calls of `step` (device synchronised at both ends)."""
    sync_device(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if finish is not None:
        finish()
    sync_device(device)
    return time.perf_counter() - start


def interleave(
    variants: dict[str, Callable[[], float]],
    rounds: int,
    progress: bool = True,
    fmt: Callable[[float], str] = lambda v: f"{v:.2f}s",
) -> dict[str, list[float]]:
    """Run each variant once per round, rotating which goes first so that drift and noisy
    neighbours hit all variants alike (the first variant leads round 1); returns each
    variant's per-round results (seconds, or what the callables return)."""
    names = list(variants)
    results: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            results[name].append(variants[name]())
        if progress:
            line = "  ".join(f"{n} {fmt(results[n][-1])}" for n in names)
            print(f"    round {r + 1}/{rounds}: {line}", flush=True)
    return results


@dataclass
class Timings:
    """Per-round seconds of each variant: wall clock, and this process's CPU time (all its
    threads). With other processes on the cores, CPU time is the steadier of the two,
    especially at one thread; with several threads it also counts OpenMP spin-waiting."""

    wall: dict[str, list[float]]
    cpu: dict[str, list[float]]

    def ratio(self, slow: str, fast: str, cpu: bool = False) -> float:
        """Median over rounds of time(slow) / time(fast): how much faster `fast` is."""
        times = self.cpu if cpu else self.wall
        return median_ratio(times[slow], times[fast])


def interleave_timed(
    variants: dict[str, Callable[[], None]], rounds: int, device: torch.device | None = None
) -> Timings:
    """interleave() of work callables, recording wall and CPU seconds of each call."""
    cpu: dict[str, list[float]] = {name: [] for name in variants}

    def timed(name: str, work: Callable[[], None]) -> Callable[[], float]:
        def run() -> float:
            if device is not None:
                sync_device(device)
            cpu_start, wall_start = time.process_time(), time.perf_counter()
            work()
            if device is not None:
                sync_device(device)
            cpu[name].append(time.process_time() - cpu_start)
            return time.perf_counter() - wall_start

        return run

    wall = interleave({name: timed(name, work) for name, work in variants.items()}, rounds)
    return Timings(wall, cpu)


def median_ratio(numerator: list[float], denominator: list[float]) -> float:
    """Median of per-round ratios: robust to a round slowed for both by a noisy neighbour."""
    return statistics.median(a / b for a, b in zip(numerator, denominator))


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs of one call, as torch.utils.flop_counter counts them (convolutions and matmuls)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def table(rows: list[list[str]], header: list[str]) -> str:
    """A plain aligned text table (Markdown-compatible, so it pastes into the README)."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda cells: "| " + " | ".join(str(c).rjust(w) for c, w in zip(cells, widths)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), sep, *(line(r) for r in rows)])
