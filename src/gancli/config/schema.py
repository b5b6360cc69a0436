"""The shape of a run's configuration: its sections as dataclasses, the layer ops and their
keys, the accepted choices, and the recipes a preset can be trained under. Plain data only."""

from __future__ import annotations

from dataclasses import dataclass, field

from gancli.archs import ARCHS
from gancli.layer_ops import LAYER_KEYS as LAYER_KEYS  # re-exported: config's name for it
from gancli.units import parse_duration

DEFAULT_PRESET = "flowers64"  # without --preset, or a preset named in --config or a config mapping

# Operations a network's layer list may use, with the keys each accepts (besides `op`):
# defined once, with their shapes, in gancli/layer_ops.py (LAYER_KEYS reads OPS).


@dataclass
class LayerSpec:
    """One layer of a network. Which keys matter depends on `op` (see LAYER_KEYS)."""

    op: str
    out: int = 0
    kernel: int = 0
    stride: int = 1
    # "same" follows MATLAB/TensorFlow: output = ceil(input/stride) (conv) or input*stride
    # (convT), the odd extra pixel of padding or cropping at the bottom/right. "valid" is none.
    padding: int | str = "valid"
    output_padding: int = 0
    bias: bool = True
    size: int = 0
    scale: int = 2
    eps: float = 1e-5
    momentum: float = 0.1
    slope: float = 0.2
    p: float = 0.5


@dataclass
class ModelConfig:
    """Both networks. The discriminator's last layer outputs a logit: the reference's final
    sigmoid is applied inside the losses and scores, which is the same math, computed stably."""

    # dcgan: the layer lists below (the reference systems'); fastgan: FastGAN-lite G and its
    # self-supervised D; projected: FastGAN-lite G and a projected D on pretrained features
    # (gancli/archs.py). Only dcgan reads the layer lists; the others build from `width`.
    arch: str = "dcgan"
    resolution: int = 64
    channels: int = 3
    latent_dim: int = 100
    width: int = 0  # fastgan/projected: channels scale (16 x width at 4x4, halved per doubling)
    d_width: int = 0  # the discriminator's channels scale (0: width)
    # projected: the side the feature network sees (0: the image's own; Projected GAN uses 224)
    projected_size: int = 0
    # dcgan: conv weights N(0,0.02), batch-norm scale N(1,0.02) (pytorch/examples, PyTorch-GAN);
    # normal: every weight N(0,0.02), biases 0 (CNTK); glorot: MATLAB's defaults (Glorot uniform, zero bias).
    init: str = "dcgan"
    # Spectral normalisation of D's conv and linear layers (Miyato et al. 2018); D's batch norm
    # layers become identities, as in SNGAN, since SN takes over their job of bounding D.
    spectral_norm: bool = False
    # Class-conditional training: G's batch norms get per-class gains and biases, D a projection
    # head (Miyato & Koyama 2018). `classes` is filled from the data's class names when the run starts.
    conditional: bool = False
    classes: list[str] = field(default_factory=list)
    generator: list[LayerSpec] = field(default_factory=list)
    discriminator: list[LayerSpec] = field(default_factory=list)


@dataclass
class DataConfig:
    """Where images come from and how they are made ready."""

    # a dataset name (`gan download --list`, or the built-in `shapes`) or a folder of images
    name: str = "shapes"
    resize: str = "resize"  # resize (plain, aspect not kept: MATLAB's default) | center-crop
    flip: bool = True  # random left-right flips (MATLAB's RandXReflection)
    size: int = 0  # built-in dataset only: number of images to generate (0: its default)
    root: str = ""  # data root; empty: $GAN_HOME, else ~/.cache/gancli


@dataclass
class TrainConfig:
    """The optimisation: step kind, schedule, optimiser, logging and artifacts."""

    # simultaneous: one pass, both nets updated from it (MATLAB); d_then_g (pytorch/examples,
    # CNTK); g_then_d (PyTorch-GAN).
    step: str = "simultaneous"
    epochs: int = 0  # total epochs of the run (0: use iters)
    iters: int = 0  # total iterations of the run (overrides epochs when > 0)
    # wall-clock budget of the run's training loop over all its sessions, in seconds; YAML and
    # --time also take 90s, 30m, 2h, 1h30m (0: none). With iters/epochs, whichever comes first.
    time: float = field(default=0.0, metadata={"parse": parse_duration})
    batch_size: int = 128  # the global batch: split across ranks under torch.distributed
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    label_flip_prob: float = 0.0  # probability that a real observation's label is flipped
    d_loss_scale: float = 1.0  # 0.5 averages D's real and fake losses (PyTorch-GAN)
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    amp: bool = False  # bf16 autocast (CUDA)
    compile: bool = False  # torch.compile G and D
    channels_last: str = "auto"  # auto | on | off
    sync_bn: bool = False  # SyncBatchNorm under torch.distributed
    log_every: int = 10  # iterations between metrics lines (the only host syncs)
    sample_every: int = 100  # iterations between sample grids (and at iteration 1)
    checkpoint_every: int = 500  # iterations between checkpoints (and at the end)
    score_every: int = 0  # iterations between FID/IS measurements (0: off)
    score_n: int = 2000  # images generated for --score-every
    fixed_latents: int = 25  # held-out latents drawn for the sample grids
    # The improved recipe's parts (all off in the faithful presets; see RECIPES):
    loss: str = "bce"  # bce (non-saturating, the references') | hinge | lsgan
    # DiffAugment policy applied to every image D sees: any of translation, cutout, color
    augment: str = ""
    # probability that each augmentation applies to an image: 1 (DiffAugment), a number in [0, 1],
    # or auto (ADA, Karras et al. 2020: from 0, steered so that E[sign(D(real))] stays near 0.6)
    augment_p: float | str = 1.0
    # half-life of the generator's exponential moving average, in images (0: no EMA)
    ema_half_life: int = 0
    # the half-life is at most this fraction of the images seen so far (helps short runs)
    ema_rampup: float = 0.05
    # G_ema's batch-norm statistics: copy (G's) | recompute (G_ema's own, on fixed latents)
    ema_bn: str = "copy"
    r1_gamma: float = 0.0  # R1 penalty weight on real images (0: off)
    r1_every: int = 16  # lazy R1: every N steps, scaled by N


@dataclass
class LogConfig:
    """Where a run reports besides metrics.jsonl (always written) and its pictures."""

    tensorboard: bool = False  # also RUN/tensorboard/ (pip install -e ".[tensorboard]")


@dataclass
class RunConfig:
    """Everything a run needs; saved as config.yaml in the run folder."""

    preset: str = DEFAULT_PRESET
    # faithful: the preset as its reference system trains it; improved: RECIPES["improved"] on top
    recipe: str = "faithful"
    description: str = ""
    source: str = ""
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    log: LogConfig = field(default_factory=LogConfig)


CHOICES: dict[str, tuple[str, ...]] = {
    "model.arch": ARCHS,
    "model.init": ("dcgan", "normal", "glorot"),
    "data.resize": ("resize", "center-crop"),
    "train.step": ("simultaneous", "d_then_g", "g_then_d"),
    "train.channels_last": ("auto", "on", "off"),
    "train.loss": ("bce", "hinge", "lsgan"),
    "train.ema_bn": ("copy", "recompute"),
}
AUGMENT_OPS = ("translation", "cutout", "color")

# What a recipe sets on top of any preset (a --config file and flags still override it).
# "improved" is the combination measured best at equal steps by benchmarks/quality.py (3 seeds,
# 1,500 steps of the quick preset on shapes): DiffAugment's translation and colour, and an EMA
# generator. Hinge loss, spectral norm and R1 exist as keys but did not help there (measured
# alone and combined; see benchmarks/README.md), and cutout hid too much of a small object.
RECIPES: dict[str, dict] = {
    "faithful": {},
    "improved": {
        "train": {
            "augment": "translation,color",
            "ema_half_life": 10_000,
            "ema_rampup": 0.05,
        },
    },
}
