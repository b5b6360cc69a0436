"""Property tests of config parsing and overrides: whatever keys and values arrive (flags, a
--config file, a checkpoint's saved config), the result is a valid config or a UserError,
never another exception; and a config that is accepted survives a YAML round trip."""

from __future__ import annotations

import dataclasses
import string

import yaml
from conftest import tiny_config_dict
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gancli import config
from gancli.errors import UserError


def dotted_keys() -> list[str]:
    keys = []
    for section in ("model", "data", "train"):
        cls = type(getattr(config.RunConfig(), section))
        keys += [f"{section}.{f.name}" for f in dataclasses.fields(cls)]
    return keys + ["preset", "description", "source"]


KEYS = dotted_keys()
junk_keys = st.lists(
    st.text(string.ascii_lowercase + "._[]0", min_size=0, max_size=8), min_size=1, max_size=3
).map(".".join)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)
    | st.sampled_from(["0", "1e3", "-1", "nan", "inf", "true", "cuda:0", "cpu", "same", " 7 "])
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
overrides = st.dictionaries(
    st.sampled_from(KEYS) | junk_keys | st.sampled_from(KEYS).map(lambda k: k + ".x"), values, max_size=4
)

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def round_trips(cfg: config.RunConfig) -> None:
    again = config.from_dict(config.load_yaml_text(config.dump_yaml(cfg), "round trip"))
    assert config.to_dict(again) == config.to_dict(cfg)


@SETTINGS
@given(overrides)
def test_any_overrides_give_a_config_or_a_user_error(extra):
    try:
        cfg = config.resolve("quick", None, extra)
    except UserError as exc:
        assert str(exc) and "\n\n" not in str(exc)
        return
    round_trips(cfg)


layer_fields = st.sampled_from(
    [
        "op",
        "out",
        "kernel",
        "stride",
        "padding",
        "output_padding",
        "bias",
        "size",
        "scale",
        "eps",
        "momentum",
        "slope",
        "p",
        "junk",
    ]
)


@SETTINGS
@given(
    st.sampled_from(["generator", "discriminator"]),
    st.integers(0, 8),
    st.dictionaries(layer_fields, values, max_size=3),
    st.booleans(),
)
def test_any_layer_edit_gives_a_config_or_a_user_error(net, index, edit, replace):
    data = tiny_config_dict()
    layers = data["model"][net]
    if index < len(layers):
        layers[index] = dict(edit) if replace else {**layers[index], **edit}
    else:
        layers.append(dict(edit))
    try:
        cfg = config.from_dict(data)
    except UserError:
        return
    round_trips(cfg)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200) | values.map(lambda v: yaml.safe_dump(v)))
def test_any_yaml_text_gives_a_mapping_or_a_user_error(text):
    try:
        data = config.load_yaml_text(text, "fuzz.yaml")
    except UserError as exc:
        assert "fuzz.yaml" in str(exc) and "\n" not in str(exc)
        return
    assert isinstance(data, dict)
    try:
        cfg = config.from_dict(config.deep_merge(config.preset_dict("quick"), data))
    except UserError:
        return
    round_trips(cfg)
