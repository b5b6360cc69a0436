"""Validation and bounds: values that cannot work are refused naming the key and what is
accepted, and network sizes are bounded by arithmetic before anything is allocated."""

from __future__ import annotations

import math
import re

from gancli.archs import FAST_ARCHS, FAST_RESOLUTIONS, discriminator_plan, generator_blocks
from gancli.config.schema import AUGMENT_OPS, CHOICES, LAYER_KEYS, RECIPES, LayerSpec, ModelConfig, RunConfig
from gancli.errors import UserError
from gancli.layer_ops import layer_output
from gancli.limits import MAX_RESOLUTION, MAX_SEED, check_scored_images

MAX_WIDTH = 1 << 16  # channels, features, latent size: far above any GAN, far below a memory bomb
MAX_PARAMS = 1 << 28  # per network: 1 GiB of float32 weights, 4 GiB with gradients and Adam's moments
MAX_ACTIVATION = 1 << 26  # values of one layer's output per image: 256 MiB in float32


def _check_layers(layers: list[LayerSpec], where: str) -> None:
    if not layers:
        raise UserError(f"Config key '{where}' is empty: a network needs at least one layer.")
    for i, layer in enumerate(layers):
        for wrong, message in _layer_rules(layer, f"{where}[{i}]"):
            if wrong:
                raise UserError(message)


def _layer_rules(layer: LayerSpec, key: str):
    """(whether the layer breaks the rule, the message) for each rule, in the order checked;
    a rule's test runs only when the ones before it held."""
    keys = LAYER_KEYS[layer.op]
    yield (
        "out" in keys and not 0 < layer.out <= MAX_WIDTH,
        f"Config key '{key}.out' is {layer.out}; it must be a positive number of channels/features, at most {MAX_WIDTH}.",
    )
    yield (
        "kernel" in keys and not 0 < layer.kernel <= 64,
        f"Config key '{key}.kernel' is {layer.kernel}; it must be a positive kernel size, at most 64.",
    )
    yield (
        layer.op in ("conv", "convT") and not 0 < layer.stride <= 64,
        f"Config key '{key}.stride' is {layer.stride}; it must be positive, at most 64.",
    )
    yield (
        isinstance(layer.padding, str) and layer.padding not in ("same", "valid"),
        f"Config key '{key}.padding' is '{layer.padding}'; accepted: same, valid, or a number.",
    )
    yield (
        layer.op == "project" and not 0 < layer.size <= MAX_RESOLUTION,
        f"Config key '{key}.size' is {layer.size}; it must be the positive side of the projected feature map, at most {MAX_RESOLUTION}.",
    )
    yield (
        layer.op in ("dropout", "dropout2d") and not 0.0 <= layer.p < 1.0,
        f"Config key '{key}.p' must be in [0, 1).",
    )
    yield (
        "padding" in keys and isinstance(layer.padding, int) and not 0 <= layer.padding <= 64,
        f"Config key '{key}.padding' is {layer.padding}; it must be same, valid, or a number from 0 to 64.",
    )
    yield (
        layer.op == "convT" and not 0 <= layer.output_padding < max(layer.stride, 1),
        f"Config key '{key}.output_padding' is {layer.output_padding}; it must be >= 0 and smaller than the stride ({layer.stride}).",
    )
    yield (
        layer.op == "upsample" and not 1 <= layer.scale <= 64,
        f"Config key '{key}.scale' is {layer.scale}; it must be a whole number from 1 to 64.",
    )
    yield (
        layer.op == "batchnorm"
        and not (math.isfinite(layer.eps) and layer.eps > 0 and 0.0 <= layer.momentum <= 1.0),
        f"Config key '{key}' needs eps > 0 and momentum in [0, 1] (got eps={layer.eps}, momentum={layer.momentum}).",
    )
    yield (
        layer.op == "leaky_relu" and not math.isfinite(layer.slope),
        f"Config key '{key}.slope' must be a finite number.",
    )


def _layer_output(layer: LayerSpec, shape: tuple[int, ...]) -> tuple[tuple[int, ...], int] | None:
    """(output shape, parameter count) of one layer (gancli/layer_ops.py, as the builders make
    it), so that sizes are bounded before anything is allocated; None for an input the op
    cannot take (the model builder names that mistake)."""
    try:
        return layer_output(layer, shape)
    except ValueError:
        return None


def _check_net_size(layers: list[LayerSpec], shape: tuple[int, ...], where: str) -> None:
    """Refuse a network whose parameters or any layer's output per image exceed the limits."""
    params = 0
    for i, layer in enumerate(layers):
        result = _layer_output(layer, shape)
        if result is None:
            return
        shape, count = result
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


def _validate_conditional(m: ModelConfig) -> None:
    """A conditional model's classes (filled from the data: none yet before it is read) and a
    generator batch norm to condition; classes without model.conditional are refused."""
    if not m.conditional:
        if m.classes:
            raise UserError(
                f"Config key 'model.classes' lists {len(m.classes)} classes but 'model.conditional' is false. Set model.conditional: true (or --conditional), or remove model.classes."
            )
        return
    if m.classes and (len(m.classes) < 2 or len(set(m.classes)) != len(m.classes)):
        raise UserError(
            f"Config key 'model.classes' is {m.classes}; a conditional model needs two or more distinct class names (they are filled from the data's class folders)."
        )
    if m.arch not in FAST_ARCHS and not any(spec.op == "batchnorm" for spec in m.generator):
        raise UserError(
            "model.conditional needs a batch norm layer in model.generator (each becomes a class-conditional batch norm). Add {op: batchnorm} after a generator convolution, or use model.arch fastgan."
        )


def validate(cfg: RunConfig) -> None:
    """Refuse values that cannot work, naming the key and what is accepted."""
    _validate_recipe_parts(cfg)
    for dotted, choices in CHOICES.items():
        section, key = dotted.split(".")
        value = getattr(getattr(cfg, section), key)
        if value not in choices:
            raise UserError(f"Config key '{dotted}' is '{value}'; accepted values: {', '.join(choices)}.")
    _validate_model(cfg.model)
    _validate_conditional(cfg.model)
    _validate_train(cfg)
    _validate_limits(cfg)


def _validate_train(cfg: RunConfig) -> None:
    """The schedule and the optimiser: batch, lengths, intervals, rates and scoring."""
    t = cfg.train
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


def _validate_limits(cfg: RunConfig) -> None:
    """Sizes, the device, the seed and the data keys' characters."""
    m, t, d = cfg.model, cfg.train, cfg.data
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
