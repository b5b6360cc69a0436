"""Typed run configuration: preset YAML -> --config file -> CLI flags, validated with clear messages.

A config is plain data (dataclasses of ints, floats, strings and layer lists) so that it
round-trips through YAML and through a weights-only checkpoint unchanged. The package is split
by job; the names the rest of gancli uses are re-exported here (`from gancli.config import X`):

- `schema`: the dataclasses, layer ops and their keys, choices, recipes;
- `loading`: YAML in and out, and strict conversion of plain data into the dataclasses;
- `validation`: values and bounds (sizes by arithmetic, before anything is allocated);
- `presets`: built-in presets and recipes resolved with a --config file and overrides;
- `overrides`: the command line's settings (`Overrides`), dotted keys, merging mappings.
"""

from gancli.config.loading import (
    MAX_CONFIG_BYTES,
    dump_yaml,
    from_dict,
    load_yaml_file,
    load_yaml_text,
    to_dict,
)
from gancli.config.overrides import Overrides, deep_merge, set_dotted, with_overrides
from gancli.config.presets import (
    load_preset,
    preset_dict,
    preset_names,
    raw_preset_dict,
    recipe_changes,
    resolve,
    with_recipe,
)
from gancli.config.schema import (
    AUGMENT_OPS,
    CHOICES,
    DEFAULT_PRESET,
    LAYER_KEYS,
    RECIPES,
    DataConfig,
    LayerSpec,
    LogConfig,
    ModelConfig,
    RunConfig,
    TrainConfig,
)
from gancli.config.validation import (
    MAX_ACTIVATION,
    MAX_PARAMS,
    MAX_WIDTH,
    check_dataset_size,
    check_global_batch,
    check_run_length,
    validate,
)

__all__ = [
    "AUGMENT_OPS",
    "CHOICES",
    "DEFAULT_PRESET",
    "LAYER_KEYS",
    "MAX_ACTIVATION",
    "MAX_CONFIG_BYTES",
    "MAX_PARAMS",
    "MAX_WIDTH",
    "RECIPES",
    "DataConfig",
    "LayerSpec",
    "LogConfig",
    "ModelConfig",
    "Overrides",
    "RunConfig",
    "TrainConfig",
    "check_dataset_size",
    "check_global_batch",
    "check_run_length",
    "deep_merge",
    "dump_yaml",
    "from_dict",
    "load_preset",
    "load_yaml_file",
    "load_yaml_text",
    "preset_dict",
    "preset_names",
    "raw_preset_dict",
    "recipe_changes",
    "resolve",
    "set_dotted",
    "to_dict",
    "validate",
    "with_overrides",
    "with_recipe",
]
