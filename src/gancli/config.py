"""Typed run configuration: preset YAML -> --config file -> CLI flags, validated with clear messages.

A config is plain data (dataclasses of ints, floats, strings and layer lists) so that it
round-trips through YAML and through a weights-only checkpoint unchanged.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import re
import stat
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

import yaml

from gancli.archs import ARCHS, FAST_ARCHS, FAST_RESOLUTIONS, discriminator_plan, generator_blocks
from gancli.errors import UserError
from gancli.limits import MAX_RESOLUTION, MAX_SEED, check_scored_images
from gancli.units import parse_duration

DEFAULT_PRESET = "flowers64"  # without --preset, or a preset named in --config or a config mapping

# Operations a network's layer list may use, with the keys each accepts (besides `op`).
LAYER_KEYS: dict[str, set[str]] = {
    "project": {"out", "size", "bias"},  # Linear(latent -> out*size*size), reshaped to out x size x size
    "linear": {"out", "bias"},  # flattens its input first
    "conv": {"out", "kernel", "stride", "padding", "bias"},
    "convT": {"out", "kernel", "stride", "padding", "output_padding", "bias"},
    "upsample": {"scale"},  # nearest-neighbour, as PyTorch-GAN's nn.Upsample(scale_factor=2)
    "batchnorm": {"eps", "momentum"},
    "relu": set(),
    "leaky_relu": {"slope"},
    "tanh": set(),
    "dropout": {"p"},
    "dropout2d": {"p"},
}


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


def _flag(*keys: str) -> Any:
    """An Overrides field: not given by default, setting these config keys when given."""
    return field(default=None, metadata={"keys": keys})


@dataclass(frozen=True)
class Overrides:
    """Settings given on the command line (None: not given), applied over the preset, the
    --config file or a resumed run's saved config. Each field names the config keys it sets."""

    data: str | None = _flag("data.name")
    root: str | None = _flag("data.root")
    epochs: int | None = _flag("train.epochs")
    iters: int | None = _flag("train.iters")
    time: str | None = _flag("train.time")
    batch_size: int | None = _flag("train.batch_size")
    lr: float | None = _flag("train.lr_g", "train.lr_d")
    device: str | None = _flag("train.device")
    seed: int | None = _flag("train.seed")
    sample_every: int | None = _flag("train.sample_every")
    checkpoint_every: int | None = _flag("train.checkpoint_every")
    log_every: int | None = _flag("train.log_every")
    amp: bool | None = _flag("train.amp")
    compile: bool | None = _flag("train.compile")
    sync_bn: bool | None = _flag("train.sync_bn")
    score_every: int | None = _flag("train.score_every")
    tensorboard: bool | None = _flag("log.tensorboard")
    recipe: str | None = _flag("recipe")  # resolve() layers the recipe under the --config file

    def dotted(self) -> dict[str, Any]:
        """The config keys these settings set ('train.lr_g': 1e-4, ...)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is not None:
                out.update(dict.fromkeys(f.metadata["keys"], value))
        # a total given one way replaces the preset's total given the other way (a time
        # budget alone replaces both: the run is as long as the time allows)
        if self.iters is not None and self.epochs is None:
            out["train.epochs"] = 0
        if self.epochs is not None and self.iters is None:
            out["train.iters"] = 0
        if self.time is not None and self.iters is None and self.epochs is None:
            out["train.iters"] = out["train.epochs"] = 0
        return out


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

MAX_CONFIG_BYTES = 1 << 20
MAX_WIDTH = 1 << 16  # channels, features, latent size: far above any GAN, far below a memory bomb
MAX_PARAMS = 1 << 28  # per network: 1 GiB of float32 weights, 4 GiB with gradients and Adam's moments
MAX_ACTIVATION = 1 << 26  # values of one layer's output per image: 256 MiB in float32


# ---------------------------------------------------------------- YAML


class _StrictLoader(yaml.SafeLoader):
    """safe_load without aliases: anchors can expand exponentially ("billion laughs")."""

    def compose_node(self, parent, index):  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise yaml.YAMLError(f"YAML aliases (*name) are not accepted (line {mark.line + 1})")
        return super().compose_node(parent, index)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's error in one line: what, and where (its own text quotes the source over several lines)."""
    problem = getattr(exc, "problem", None)
    if not problem:
        return " ".join(str(exc).split())
    context = getattr(exc, "context", None)
    mark = getattr(exc, "problem_mark", None)
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    return " ".join(f"{context + ': ' if context else ''}{problem}{where}".split())


def load_yaml_text(text: str, where: str) -> dict:
    """Parse YAML safely (no Python tags, no aliases) into a mapping."""
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - _StrictLoader is a SafeLoader
    except yaml.YAMLError as exc:
        raise UserError(
            f"{where} is not valid YAML for a gan config: {_yaml_problem(exc)}. Fix the file and try again."
        ) from exc
    except ValueError as exc:  # Python refuses to parse integers of more than 4,300 digits
        raise UserError(
            f"{where} holds a number too long to be a gan config value ({str(exc).split(';')[0]}). Fix the file and try again."
        ) from exc
    except RecursionError as exc:  # PyYAML composes nested nodes recursively
        raise UserError(
            f"{where} nests lists or mappings too deeply to be a gan config. Fix the file and try again."
        ) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(
            f"{where} must hold a mapping of config sections (model, data, train), not a {type(data).__name__}."
        )
    return data


def load_yaml_file(path: str | os.PathLike) -> dict:
    """Read a config file, refusing huge or unreadable ones with a message naming the file."""
    path = Path(path)
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):  # a FIFO or device would block or never end
            raise UserError(
                f"Config file {path} cannot be read: it is not a regular file (a pipe, device or folder). Give the path of a YAML file."
            )
        size = info.st_size
        if size > MAX_CONFIG_BYTES:
            raise UserError(
                f"Config file {path} is {size} bytes; a gan config is at most {MAX_CONFIG_BYTES} bytes."
            )
        with open(path, "rb") as handle:  # bounded: a device or pipe (/dev/zero) reports size 0
            raw = handle.read(MAX_CONFIG_BYTES + 1)
        if len(raw) > MAX_CONFIG_BYTES:
            raise UserError(
                f"Config file {path} holds more than {MAX_CONFIG_BYTES} bytes; a gan config is at most {MAX_CONFIG_BYTES} bytes."
            )
        text = raw.decode("utf-8")
    except FileNotFoundError as exc:
        raise UserError(f"Config file {path} does not exist. Check the path given to --config.") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"Config file {path} cannot be read ({exc}).") from exc
    return load_yaml_text(text, str(path))


# ---------------------------------------------------------------- dataclass <-> dict


def to_dict(cfg: Any) -> Any:
    """A config as plain dicts/lists (for YAML and checkpoints); a layer keeps only its op's keys."""
    if isinstance(cfg, LayerSpec):
        return {"op": cfg.op, **{k: getattr(cfg, k) for k in sorted(LAYER_KEYS[cfg.op])}}
    if dataclasses.is_dataclass(cfg):
        return {f.name: to_dict(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}
    if isinstance(cfg, list):
        return [to_dict(v) for v in cfg]
    return cfg


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp)).replace("typing.", "")


def _convert(value: Any, tp: Any, key: str) -> Any:
    origin = get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise UserError(f"Config key '{key}' must be a mapping, got {value!r}.")
        return _build(tp, value, key)
    if origin is list:
        (item_tp,) = get_args(tp)
        if not isinstance(value, list):
            raise UserError(f"Config key '{key}' must be a list, got {value!r}.")
        return [_convert(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin in (Union, types.UnionType):  # Optional[X] and X | None alike
        for option in get_args(tp):
            try:
                return _convert(value, option, key)
            except UserError:
                continue
        names = " or ".join(_type_name(o) for o in get_args(tp))
        raise UserError(f"Config key '{key}' must be {names}, got {value!r}.")
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "on", "1", "false", "no", "off", "0"):
            return value.lower() in ("true", "yes", "on", "1")
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    elif tp is str and isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value)
    raise UserError(f"Config key '{key}' must be {_type_name(tp)}, got {value!r}.")


def _build(cls: type, data: dict, prefix: str) -> Any:
    hints = get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    if cls is LayerSpec:
        op = data.get("op")
        if not isinstance(op, str) or op not in LAYER_KEYS:
            raise UserError(f"Config key '{prefix}.op' is {op!r}; accepted values: {', '.join(LAYER_KEYS)}.")
        names = ["op", *sorted(LAYER_KEYS[op])]
        for key in data:
            if key not in names:
                raise UserError(
                    f"Config key '{prefix}.{key}' does not apply to a '{op}' layer; "
                    f"it accepts: {', '.join(names)}."
                )
    parsers = {f.name: f.metadata["parse"] for f in dataclasses.fields(cls) if "parse" in f.metadata}
    kwargs = {}
    for key, value in data.items():
        full = f"{prefix}.{key}" if prefix else str(key)
        if key not in hints:
            raise UserError(f"Unknown config key '{full}'. Accepted keys here: {', '.join(names)}.")
        if key in parsers and isinstance(value, (str, int, float)) and not isinstance(value, bool):
            value = parsers[key](value, option=f"Config key '{full}'")
        kwargs[key] = _convert(value, hints[key], full)
    return cls(**kwargs)


def from_dict(data: dict) -> RunConfig:
    """Build and validate a RunConfig from plain data."""
    cfg = _build(RunConfig, data, "")
    if cfg.model.arch in FAST_ARCHS:  # built from model.width: a preset's layer lists do not apply
        cfg.model.generator, cfg.model.discriminator = [], []
    validate(cfg)
    return cfg


def deep_merge(base: dict, override: dict) -> dict:
    """Merge `override` into a copy of `base`; mappings merge, everything else (lists too) replaces."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def set_dotted(data: dict, dotted: str, value: Any) -> None:
    """Set data['a']['b'] for 'a.b', creating mappings on the way."""
    parts = dotted.split(".")
    node = data
    for i, part in enumerate(parts[:-1]):
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise UserError(
                f"Config key '{'.'.join(parts[: i + 1])}' is a value, not a section, so '{dotted}' cannot be set."
            )
    node[parts[-1]] = value


# ---------------------------------------------------------------- validation


def _check_layers(layers: list[LayerSpec], where: str) -> None:
    if not layers:
        raise UserError(f"Config key '{where}' is empty: a network needs at least one layer.")
    for i, layer in enumerate(layers):
        key = f"{where}[{i}]"
        if "out" in LAYER_KEYS[layer.op] and not 0 < layer.out <= MAX_WIDTH:
            raise UserError(
                f"Config key '{key}.out' is {layer.out}; it must be a positive number of channels/features, at most {MAX_WIDTH}."
            )
        if "kernel" in LAYER_KEYS[layer.op] and not 0 < layer.kernel <= 64:
            raise UserError(
                f"Config key '{key}.kernel' is {layer.kernel}; it must be a positive kernel size, at most 64."
            )
        if layer.op in ("conv", "convT") and not 0 < layer.stride <= 64:
            raise UserError(f"Config key '{key}.stride' is {layer.stride}; it must be positive, at most 64.")
        if isinstance(layer.padding, str) and layer.padding not in ("same", "valid"):
            raise UserError(
                f"Config key '{key}.padding' is '{layer.padding}'; accepted: same, valid, or a number."
            )
        if layer.op == "project" and not 0 < layer.size <= MAX_RESOLUTION:
            raise UserError(
                f"Config key '{key}.size' is {layer.size}; it must be the positive side of the projected feature map, at most {MAX_RESOLUTION}."
            )
        if layer.op in ("dropout", "dropout2d") and not 0.0 <= layer.p < 1.0:
            raise UserError(f"Config key '{key}.p' must be in [0, 1).")
        if (
            "padding" in LAYER_KEYS[layer.op]
            and isinstance(layer.padding, int)
            and not 0 <= layer.padding <= 64
        ):
            raise UserError(
                f"Config key '{key}.padding' is {layer.padding}; it must be same, valid, or a number from 0 to 64."
            )
        if layer.op == "convT" and not 0 <= layer.output_padding < max(layer.stride, 1):
            raise UserError(
                f"Config key '{key}.output_padding' is {layer.output_padding}; it must be >= 0 and smaller than the stride ({layer.stride})."
            )
        if layer.op == "upsample" and not 1 <= layer.scale <= 64:
            raise UserError(
                f"Config key '{key}.scale' is {layer.scale}; it must be a whole number from 1 to 64."
            )
        if layer.op == "batchnorm" and not (
            math.isfinite(layer.eps) and layer.eps > 0 and 0.0 <= layer.momentum <= 1.0
        ):
            raise UserError(
                f"Config key '{key}' needs eps > 0 and momentum in [0, 1] (got eps={layer.eps}, momentum={layer.momentum})."
            )
        if layer.op == "leaky_relu" and not math.isfinite(layer.slope):
            raise UserError(f"Config key '{key}.slope' must be a finite number.")


def _layer_output(layer: LayerSpec, shape: tuple[int, ...]) -> tuple[tuple[int, ...], int]:
    """(output shape, parameter count) of one layer, as models/dcgan.py builds it; computed
    here so that sizes are bounded before anything is allocated."""
    flat = math.prod(shape)
    if layer.op == "project":
        return (layer.out, layer.size, layer.size), (flat + layer.bias) * layer.out * layer.size**2
    if layer.op == "linear":
        return (layer.out,), (flat + layer.bias) * layer.out
    if len(shape) != 3:
        return shape, 0  # a conv on a flat input: the model builder names that mistake
    c, h, w = shape
    k, s = layer.kernel, layer.stride
    pad = 0 if layer.padding in ("valid", "same") else int(layer.padding)
    if layer.op == "conv":
        side = (lambda n: -(-n // s)) if layer.padding == "same" else (lambda n: (n + 2 * pad - k) // s + 1)
        return (layer.out, side(h), side(w)), layer.out * (c * k * k + layer.bias)
    if layer.op == "convT":
        side = (
            (lambda n: n * s)
            if layer.padding == "same"
            else (lambda n: (n - 1) * s - 2 * pad + k + layer.output_padding)
        )
        return (layer.out, side(h), side(w)), layer.out * (c * k * k + layer.bias)
    if layer.op == "upsample":
        return (c, h * layer.scale, w * layer.scale), 0
    return shape, 2 * c if layer.op == "batchnorm" else 0


def _check_net_size(layers: list[LayerSpec], shape: tuple[int, ...], where: str) -> None:
    """Refuse a network whose parameters or any layer's output per image exceed the limits."""
    params = 0
    for i, layer in enumerate(layers):
        shape, count = _layer_output(layer, shape)
        params += count
        values = math.prod(shape)
        if values > MAX_ACTIVATION:
            raise UserError(
                f"Config key '{where}[{i}]' ({layer.op}) makes {'x'.join(map(str, shape))} = {values:,} values per image; "
                f"at most {MAX_ACTIVATION:,} (256 MiB in float32) are accepted. Use fewer channels or a smaller size."
            )
        if params > MAX_PARAMS:
            raise UserError(
                f"Config key '{where}' has {params:,} parameters by layer {i} ({layer.op}); at most {MAX_PARAMS:,} "
                "(1 GiB in float32) are accepted. Use fewer channels or a smaller size."
            )
        if min(shape) <= 0:
            return  # the layers do not fit this input: the model builder says where


def _positive(value: float, key: str, allow_zero: bool = False) -> None:
    if (
        (isinstance(value, float) and not math.isfinite(value))
        or value < 0
        or (value == 0 and not allow_zero)
    ):
        need = "zero or more" if allow_zero else "a positive number"
        raise UserError(f"Config key '{key}' is {value}; it must be {need}.")


def _validate_recipe_parts(cfg: RunConfig) -> None:
    """The improved recipe's keys: recipe name, augment policy, EMA and R1 settings."""
    t = cfg.train
    if cfg.recipe not in RECIPES:
        raise UserError(f"Config key 'recipe' is '{cfg.recipe}'; accepted values: {', '.join(RECIPES)}.")
    for op in filter(None, (part.strip() for part in t.augment.split(","))):
        if op not in AUGMENT_OPS:
            raise UserError(
                f"Config key 'train.augment' names '{op}'; accepted: any of {', '.join(AUGMENT_OPS)}, "
                "comma-separated (empty: no augmentation)."
            )
    if not (t.augment_p == "auto" or (isinstance(t.augment_p, float) and 0.0 <= t.augment_p <= 1.0)):
        raise UserError(
            f"Config key 'train.augment_p' is {t.augment_p!r}; give a probability from 0 to 1, or auto (ADA)."
        )
    _positive(t.ema_half_life, "train.ema_half_life", allow_zero=True)
    _positive(t.r1_gamma, "train.r1_gamma", allow_zero=True)
    _positive(t.r1_every, "train.r1_every")
    if not 0.0 <= t.ema_rampup <= 1.0:
        raise UserError(
            f"Config key 'train.ema_rampup' is {t.ema_rampup}; it must be in [0, 1] (0: no ramp-up)."
        )


def _validate_fast_model(m: ModelConfig) -> None:
    """fastgan/projected: a power-of-two resolution they have blocks for, a width, and sizes
    bounded from the architecture's plan before anything is built."""
    if m.resolution not in FAST_RESOLUTIONS:
        raise UserError(
            f"Config key 'model.resolution' is {m.resolution}; arch {m.arch} accepts "
            f"{', '.join(map(str, FAST_RESOLUTIONS))}."
        )
    if not 1 <= m.width <= 1024:
        raise UserError(
            f"Config key 'model.width' is {m.width}; arch {m.arch} needs a width from 1 to 1024 "
            "(its 4x4 map has 16 x width channels; fast64 uses 8)."
        )
    if not 0 <= m.d_width <= 1024:
        raise UserError(
            f"Config key 'model.d_width' is {m.d_width}; give 0 (model.width) or a width up to 1024."
        )
    if m.projected_size and not (32 <= m.projected_size <= 1024 and m.projected_size % 32 == 0):
        raise UserError(
            f"Config key 'model.projected_size' is {m.projected_size}; give 0 (the image's own size) "
            "or a multiple of 32 from 32 to 1024 (Projected GAN uses 224)."
        )
    for where, blocks in (
        ("model.generator", generator_blocks(m)),
        ("model.discriminator", discriminator_plan(m)),
    ):
        if sum(b.params for b in blocks) > MAX_PARAMS:
            raise UserError(
                f"Arch {m.arch} at width {m.width} has more than {MAX_PARAMS:,} parameters in {where}; use a smaller model.width."
            )
        if max(math.prod(b.shape) for b in blocks) > MAX_ACTIVATION:
            raise UserError(
                f"Arch {m.arch} at width {m.width} makes more than {MAX_ACTIVATION:,} values per image in {where}; use a smaller model.width."
            )


def _validate_model(m: ModelConfig) -> None:
    """The model's values, then its size: parameters and activations bounded before any build."""
    if m.channels not in (1, 3):
        raise UserError(
            f"Config key 'model.channels' is {m.channels}; accepted values: 1 (grayscale), 3 (RGB)."
        )
    _positive(m.resolution, "model.resolution")
    if m.resolution > MAX_RESOLUTION:
        raise UserError(
            f"Config key 'model.resolution' is {m.resolution}; at most {MAX_RESOLUTION} is accepted."
        )
    _positive(m.latent_dim, "model.latent_dim")
    if m.arch in FAST_ARCHS:
        if m.latent_dim > MAX_WIDTH:
            raise UserError(
                f"Config key 'model.latent_dim' is {m.latent_dim}; at most {MAX_WIDTH} is accepted."
            )
        _validate_fast_model(m)
        return
    _check_layers(m.generator, "model.generator")
    _check_layers(m.discriminator, "model.discriminator")
    if m.latent_dim <= MAX_WIDTH:  # (a larger one is refused below, naming its key)
        flat = m.generator[0].op in ("project", "linear")  # else a convT takes it as 1x1 (models/dcgan.py)
        _check_net_size(m.generator, (m.latent_dim,) if flat else (m.latent_dim, 1, 1), "model.generator")
    _check_net_size(m.discriminator, (m.channels, m.resolution, m.resolution), "model.discriminator")


def validate(cfg: RunConfig) -> None:
    """Refuse values that cannot work, naming the key and what is accepted."""
    _validate_recipe_parts(cfg)
    for dotted, choices in CHOICES.items():
        section, key = dotted.split(".")
        value = getattr(getattr(cfg, section), key)
        if value not in choices:
            raise UserError(f"Config key '{dotted}' is '{value}'; accepted values: {', '.join(choices)}.")
    m, t, d = cfg.model, cfg.train, cfg.data
    _validate_model(m)
    _positive(t.batch_size, "train.batch_size")
    if t.batch_size > 1 << 16:
        raise UserError(f"Config key 'train.batch_size' is {t.batch_size}; at most 65536 is accepted.")
    for key in ("epochs", "iters", "score_every", "time"):
        _positive(getattr(t, key), f"train.{key}", allow_zero=True)
    for key in ("log_every", "sample_every", "checkpoint_every", "fixed_latents", "score_n"):
        _positive(getattr(t, key), f"train.{key}")
    for key in ("lr_g", "lr_d"):
        _positive(getattr(t, key), f"train.{key}")
    for key in ("beta1", "beta2", "label_flip_prob"):
        value = getattr(t, key)
        if not 0.0 <= value < 1.0:
            raise UserError(f"Config key 'train.{key}' is {value}; it must be in [0, 1).")
    _positive(t.d_loss_scale, "train.d_loss_scale")
    if t.score_every and t.score_n < 10:
        raise UserError(
            f"Config key 'train.score_n' is {t.score_n}; the Inception Score uses 10 splits, so --score-every needs at least 10 images (2000 is a good default)."
        )
    if t.score_every:
        check_scored_images(t.score_n, f"config key 'train.score_n' is {t.score_n}")
    _positive(d.size, "data.size", allow_zero=True)
    for key, value, limit in (
        ("model.latent_dim", m.latent_dim, MAX_WIDTH),
        ("train.fixed_latents", t.fixed_latents, 10_000),
        ("data.size", d.size, 1_000_000),
    ):
        if value > limit:
            raise UserError(f"Config key '{key}' is {value}; at most {limit} is accepted.")
    if not (t.device in ("auto", "cpu", "cuda", "mps") or re.fullmatch(r"cuda:\d{1,4}", t.device)):
        raise UserError(
            f"Config key 'train.device' is '{t.device}'; accepted values: auto, cpu, cuda, cuda:N (N a GPU number), mps."
        )
    if abs(t.seed) > MAX_SEED:
        raise UserError(
            f"Config key 'train.seed' is {t.seed}; it must be between -{MAX_SEED} and {MAX_SEED}."
        )
    for key in ("name", "root"):
        if "\x00" in getattr(d, key):
            raise UserError(
                f"Config key 'data.{key}' contains a NUL character; give a dataset name or a folder path."
            )


def check_global_batch(cfg: RunConfig, world: int) -> None:
    """train.batch_size is the global batch; each of `world` processes takes an equal share."""
    batch_size = cfg.train.batch_size
    if world > 1 and batch_size % world:
        lower, upper = batch_size // world * world, (batch_size // world + 1) * world
        hint = f"{lower} or {upper}" if lower else f"{upper}"
        raise UserError(
            f"--batch-size {batch_size} is the global batch, split evenly across the {world} training processes, and {batch_size} does not divide by {world}. Use a multiple of {world} (for example {hint}), or change the number of processes."
        )


def check_run_length(cfg: RunConfig) -> None:
    """A run to start needs a length (a partial config, e.g. a model only, need not have one)."""
    t = cfg.train
    if t.iters == 0 and t.epochs == 0 and t.time == 0:  # it would leave a folder of config.yaml only
        raise UserError(
            "The run has no length: train.iters, train.epochs and train.time are all 0. Give --iters, --epochs or --time (more than 0)."
        )


def check_dataset_size(cfg: RunConfig, n: int) -> None:
    """A run needs at least one full batch of images."""
    if n < cfg.train.batch_size:
        raise UserError(
            f"The dataset {cfg.data.name} has {n} usable images, fewer than one batch of {cfg.train.batch_size}. Use a smaller --batch-size or more images."
        )


# ---------------------------------------------------------------- presets


def preset_names() -> list[str]:
    """Names of the built-in presets."""
    folder = resources.files("gancli") / "presets"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def preset_dict(name: str) -> dict:
    """A built-in preset's mapping, under the recipe it names (faithful when none)."""
    data = raw_preset_dict(name)
    return with_recipe(data, str(data.get("recipe", "faithful")))


def raw_preset_dict(name: str) -> dict:
    """A built-in preset's mapping as its YAML file writes it (its recipe not applied)."""
    if name not in preset_names():
        raise UserError(
            f"Unknown preset '{name}'. Accepted values: {', '.join(preset_names())} (see `gan presets`)."
        )
    text = (resources.files("gancli") / "presets" / f"{name}.yaml").read_text(encoding="utf-8")
    data = load_yaml_text(text, f"preset {name}")
    data["preset"] = name
    return data


def load_preset(name: str) -> RunConfig:
    """A built-in preset as a validated RunConfig."""
    return from_dict(preset_dict(name))


def resolve(
    preset: str | None, config_file: str | os.PathLike | None, overrides: Overrides | Mapping[str, Any]
) -> RunConfig:
    """preset YAML -> --config file -> overrides (flags, or config keys 'train.lr_g': 1e-4), validated."""
    file_data = load_yaml_file(config_file) if config_file else {}
    name = str(preset or file_data.get("preset") or DEFAULT_PRESET)
    base = raw_preset_dict(name)
    dotted = overrides.dotted() if isinstance(overrides, Overrides) else overrides
    recipe = dotted.get("recipe") or file_data.get("recipe") or base.get("recipe") or "faithful"
    data = deep_merge(with_recipe(base, str(recipe)), file_data)
    data["preset"] = name
    return with_overrides(data, dotted)


def with_overrides(data: dict, overrides: Overrides | Mapping[str, Any]) -> RunConfig:
    """A config mapping (not changed) with overrides set, built and validated: the one place
    flags meet a config, for new and resumed runs alike."""
    dotted = overrides.dotted() if isinstance(overrides, Overrides) else overrides
    data = copy.deepcopy(data)
    for key, value in dotted.items():
        if value is not None:
            set_dotted(data, key, value)
    return from_dict(data)


def with_recipe(preset_data: dict, recipe: str) -> dict:
    """A preset's mapping with `recipe`'s settings on top (what a --config file then overrides)."""
    if recipe not in RECIPES:
        raise UserError(f"Unknown recipe '{recipe}'. Accepted values: {', '.join(RECIPES)}.")
    data = deep_merge(preset_data, RECIPES[recipe])
    data["recipe"] = recipe
    return data


def recipe_changes(preset: str, recipe: str) -> list[tuple[str, Any, Any]]:
    """(key, preset's value, recipe's value) for every setting `recipe` changes in `preset`."""
    raw = raw_preset_dict(preset)
    base = to_dict(from_dict(with_recipe(raw, "faithful")))
    changed = to_dict(from_dict(with_recipe(raw, recipe)))
    out = []
    for section in ("model", "train"):
        for key, value in changed[section].items():
            if key not in ("generator", "discriminator") and base[section][key] != value:
                out.append((f"{section}.{key}", base[section][key], value))
    return out


def dump_yaml(cfg: RunConfig) -> str:
    """The config as YAML text (the effective config saved in each run)."""
    return yaml.safe_dump(to_dict(cfg), sort_keys=False, default_flow_style=None, width=120)
