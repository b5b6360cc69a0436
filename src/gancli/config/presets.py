"""Presets and recipes: a built-in preset's YAML, a recipe on top of it, then a --config file and
the command line's overrides, resolved into one validated RunConfig."""

from __future__ import annotations

import os
from collections.abc import Mapping
from importlib import resources
from typing import Any

from gancli.config.loading import from_dict, load_yaml_file, load_yaml_text, to_dict
from gancli.config.overrides import Overrides, deep_merge, with_overrides
from gancli.config.resolution import fit_to_resolution
from gancli.config.schema import DEFAULT_PRESET, RECIPES, RunConfig
from gancli.errors import UserError


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
    resolution = dotted.get("model.resolution")
    if resolution is not None:
        data = deep_merge(data, {"model": {"resolution": resolution}})
    file_model = file_data.get("model") if isinstance(file_data.get("model"), dict) else {}
    own_layers = "generator" in file_model or "discriminator" in file_model
    data = fit_to_resolution(data, int(base.get("model", {}).get("resolution", 64)), own_layers)
    return with_overrides(data, dotted)


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
