"""YAML in and out, and the strict conversion of plain data into the config dataclasses (every
key known, every value of its field's type, durations parsed through field metadata)."""

from __future__ import annotations

import dataclasses
import os
import stat
import types
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

import yaml

from gancli.archs import FAST_ARCHS
from gancli.config.schema import LAYER_KEYS, LayerSpec, RunConfig
from gancli.config.validation import validate
from gancli.errors import UserError

MAX_CONFIG_BYTES = 1 << 20


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
    converted = _SCALARS[tp](value) if tp in _SCALARS else _MISMATCH
    if converted is _MISMATCH:
        raise UserError(f"Config key '{key}' must be {_type_name(tp)}, got {value!r}.")
    return converted


_MISMATCH = object()  # what a scalar conversion returns for a value not of its type
_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _to_bool(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _TRUE + _FALSE:
        return value.lower() in _TRUE
    return _MISMATCH


def _parsed(value: Any, parse: Any) -> Any:
    """`parse(value)` for a string, _MISMATCH when it does not parse or is not a string."""
    if not isinstance(value, str):
        return _MISMATCH
    try:
        return parse(value)
    except ValueError:
        return _MISMATCH


def _to_int(value: Any) -> Any:
    return value if isinstance(value, int) and not isinstance(value, bool) else _parsed(value, int)


def _to_float(value: Any) -> Any:
    return float(value) if _is_number(value) else _parsed(value, float)


def _to_str(value: Any) -> Any:
    return str(value) if isinstance(value, str) or _is_number(value) else _MISMATCH


_SCALARS = {bool: _to_bool, int: _to_int, float: _to_float, str: _to_str}


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


def dump_yaml(cfg: RunConfig) -> str:
    """The config as YAML text (the effective config saved in each run)."""
    return yaml.safe_dump(to_dict(cfg), sort_keys=False, default_flow_style=None, width=120)
