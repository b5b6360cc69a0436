"""Settings given on the command line over a config mapping: `Overrides` (each field naming the
config keys it sets), dotted keys, and merging mappings."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gancli.config.loading import from_dict
from gancli.config.schema import RunConfig
from gancli.errors import UserError


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
    resolution: int | None = _flag("model.resolution")
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
    conditional: bool | None = _flag("model.conditional")
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


def with_overrides(data: dict, overrides: Overrides | Mapping[str, Any]) -> RunConfig:
    """A config mapping (not changed) with overrides set, built and validated: the one place
    flags meet a config, for new and resumed runs alike."""
    dotted = overrides.dotted() if isinstance(overrides, Overrides) else overrides
    data = copy.deepcopy(data)
    for key, value in dotted.items():
        if value is not None:
            set_dotted(data, key, value)
    return from_dict(data)
