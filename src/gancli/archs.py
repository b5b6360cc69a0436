"""The network architectures a config can name (`model.arch`), as plans of plain numbers.

A plan says which blocks a network has, their channels and sides, and how many parameters
each holds, without torch: `gan presets`, `gan train --dry-run` and config validation read it
(torch takes over a second to import), and `gancli.models.build` builds the modules from the
same plan, so the two cannot drift (tests/models/test_archs.py checks every preset's counts).

- dcgan: the layer lists of the config (`model.generator`, `model.discriminator`), as the
  reference systems write them; their tables come from `layer_math`.
- fastgan: a FastGAN-lite generator (Liu et al. 2021): nearest-neighbour upsampling and a 3x3
  convolution per doubling (no transposed convolutions past the first 4x4, so no checkerboard),
  batch norm and GLU, skip-layer excitation (a low-resolution map gates a map 8x larger,
  channel-wise); with FastGAN's self-supervised discriminator, whose two small decoders must
  rebuild the real image and one quarter of it from D's 8x8 and 16x16 features.
- projected: the same generator, judged by a projected discriminator (Sauer et al. 2021): a
  frozen ImageNet EfficientNet-Lite0 sees the image at four scales; fixed random 1x1
  convolutions mix its channels (CCM) and, top-down, its scales (CSM); one small trainable
  discriminator per scale.
"""

from __future__ import annotations

from dataclasses import dataclass

ARCHS = ("dcgan", "fastgan", "projected")
FAST_ARCHS = ("fastgan", "projected")  # the ones built from model.width, not from layer lists
FAST_RESOLUTIONS = (32, 64, 128, 256)
SLE_RATIO = 8  # a skip-layer excitation gates a map this many times larger than its source
DECODER_MAX = 128  # the self-supervised decoders rebuild the image at most this large
# EfficientNet-Lite0's four feature taps (Projected GAN's): channels, and the image size over
# the feature side. The blocks of each tap are in models/efficientnet_lite.py.
FEATURE_CHANNELS = (24, 40, 112, 320)
FEATURE_STRIDES = (4, 8, 16, 32)
FEATURE_PARAMS = 2_958_848  # the frozen taps' weights (stem and blocks 0-15): not trained, not saved


@dataclass
class Block:
    """One row of an architecture's table: a name, its output shape (C, H, W), its learnable
    parameters (a frozen block counts 0 and says so in its name)."""

    name: str
    shape: tuple[int, ...]
    params: int


def channels(side: int, width: int) -> int:
    """Channels of a FastGAN-class map of `side` pixels: halved at each doubling from 16 x width
    at 4x4, never below width / 2 (at least 4)."""
    return max(width * 64 // side, width // 2, 4)


def _sides(low: int, high: int) -> list[int]:
    """low, 2 low, ..., high."""
    out = [low]
    while out[-1] < high:
        out.append(out[-1] * 2)
    return out


def sle_pairs(resolution: int) -> list[tuple[int, int]]:
    """(source side, gated side) of each skip-layer excitation: 4 -> 32, 8 -> 64, ..."""
    return [(s, s * SLE_RATIO) for s in _sides(4, resolution // SLE_RATIO)] if resolution >= 32 else []


def generator_plan(resolution: int, image_channels: int, latent_dim: int, width: int) -> list[Block]:
    """FastGAN-lite's generator: latent -> 4x4 (transposed conv of a 1x1 input, BN, GLU), then
    per doubling upsample + 3x3 conv + BN + GLU, SLE gates, and a 3x3 conv to the image."""
    c4 = channels(4, width)
    blocks = [Block("init (convT 4x4, BN, GLU)", (c4, 4, 4), latent_dim * 2 * c4 * 16 + 4 * c4)]
    for side in _sides(8, resolution):
        c_in, c_out = channels(side // 2, width), channels(side, width)
        blocks.append(
            Block("up (nearest, conv 3x3, BN, GLU)", (c_out, side, side), 9 * c_in * 2 * c_out + 4 * c_out)
        )
    for low, high in sle_pairs(resolution):
        c_low, c_high = channels(low, width), channels(high, width)
        blocks.append(
            Block(
                f"SLE {low}x{low} gates {high}x{high}", (c_high, high, high), 16 * c_low * c_high + c_high**2
            )
        )
    c_top = channels(resolution, width)
    blocks.append(
        Block(
            "to image (conv 3x3, tanh)",
            (image_channels, resolution, resolution),
            9 * c_top * image_channels + image_channels,
        )
    )
    return blocks


def decoder_size(resolution: int) -> int:
    """The side at which the self-supervised decoders rebuild the image (and its quarter)."""
    return min(resolution // 2, DECODER_MAX)


def decoder_width(width: int) -> int:
    return max(width, 8)


def _decoder_blocks(label: str, c_in: int, image_channels: int, resolution: int, width: int) -> list[Block]:
    c = decoder_width(width)
    blocks = []
    for side in _sides(16, decoder_size(resolution)):
        blocks.append(Block(f"{label} up", (c, side, side), 9 * c_in * 2 * c + 4 * c))
        c_in = c
    size = decoder_size(resolution)
    blocks.append(
        Block(f"{label} to image", (image_channels, size, size), 9 * c * image_channels + image_channels)
    )
    return blocks


def selfsup_plan(resolution: int, image_channels: int, width: int) -> list[Block]:
    """FastGAN's discriminator: conv 4x4/2 from the image, then conv 4x4/2 + BN + LeakyReLU per
    halving down to 4x4, a 4x4 conv to one logit; decoders from the 8x8 and 16x16 maps."""
    half = resolution // 2
    blocks = [
        Block(
            "from image (conv 4x4/2)",
            (channels(half, width), half, half),
            16 * image_channels * channels(half, width),
        )
    ]
    for side in reversed(_sides(4, half // 2)):
        c_in, c_out = channels(side * 2, width), channels(side, width)
        blocks.append(Block("down (conv 4x4/2, BN)", (c_out, side, side), 16 * c_in * c_out + 2 * c_out))
    blocks.append(Block("logit (conv 4x4)", (1, 1, 1), 16 * channels(4, width)))
    blocks += _decoder_blocks("decoder 8x8", channels(8, width), image_channels, resolution, width)
    blocks += _decoder_blocks("decoder 16x16 quarter", channels(16, width), image_channels, resolution, width)
    return blocks


def mix_channels(width: int) -> tuple[int, ...]:
    """The projected D's channels after cross-channel mixing, per scale (Projected GAN's
    expanding 1x, 2x, 4x, 8x of a base)."""
    return tuple(width * m for m in (1, 2, 4, 8))


def feature_sides(input_size: int) -> tuple[int, ...]:
    return tuple(max(input_size // s, 1) for s in FEATURE_STRIDES)


def projected_plan(input_size: int, width: int) -> list[Block]:
    """The projected D: frozen features and fixed random mixing (0 learnable parameters), then
    per scale conv 4x4/2 + BN + LeakyReLU down to 4x4 and a conv to a map of logits."""
    sides, mixed = feature_sides(input_size), mix_channels(width)
    blocks = [
        Block(f"EfficientNet-Lite0 at {input_size}px, CCM+CSM (frozen)", (sum(mixed), sides[0], sides[0]), 0)
    ]
    for i, (side, c) in enumerate(zip(sides, mixed)):
        params = 0
        while side > 4:
            params += 16 * c * c + 2 * c
            side //= 2
        kernel = 4 if side >= 4 else 1
        out = side - kernel + 1
        blocks.append(
            Block(f"scale {i} head (down to 4x4, logits)", (1, out, out), params + kernel * kernel * c + 1)
        )
    return blocks


def logits_per_image(input_size: int) -> int:
    """How many logits the projected D gives per image (one map per scale)."""
    total = 0
    for side in feature_sides(input_size):
        while side > 4:
            side //= 2
        out = side - (4 if side >= 4 else 1) + 1
        total += out * out
    return total


def generator_blocks(m) -> list[Block]:
    """The generator plan of a fast arch's model config (`m` is a config.ModelConfig)."""
    return generator_plan(m.resolution, m.channels, m.latent_dim, m.width)


def discriminator_plan(m) -> list[Block]:
    """The discriminator plan of a fast arch's model config."""
    width = m.d_width or m.width
    if m.arch == "projected":
        return projected_plan(m.projected_size or m.resolution, width)
    return selfsup_plan(m.resolution, m.channels, width)


def generator_bn_channels(m) -> int:
    """The channels of a fast arch generator's batch norms, together (each gains a per-class
    gain and bias when the model is conditional): the 4x4 init's and each up block's."""
    return 2 * channels(4, m.width) + sum(2 * channels(s, m.width) for s in _sides(8, m.resolution))


def projection_channels(m) -> int:
    """The features a fast arch discriminator's class projection embeds per class: the 4x4 map
    before FastGAN's logit, or every scale's map before the projected D's logits."""
    width = m.d_width or m.width
    return sum(mix_channels(width)) if m.arch == "projected" else channels(4, width)
