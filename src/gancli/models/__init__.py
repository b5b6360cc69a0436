"""Generator and discriminator networks built from a config's layer lists."""

from gancli.models.dcgan import build_discriminator, build_generator, layer_table

__all__ = ["build_generator", "build_discriminator", "layer_table"]
