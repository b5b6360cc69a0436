"""One definition per layer op: the builders, the config keys and the shapes cover the same ops,
and validation bounds sizes with the shapes the builders make (a transposed 'same' conv whose
kernel is smaller than its stride included)."""

import pytest
import torch
from conftest import tiny_config_dict

from gancli import config, layer_ops
from gancli.errors import UserError
from gancli.models import dcgan


def test_builders_keys_and_shapes_cover_the_same_ops():
    assert set(dcgan.LAYERS) == set(layer_ops.OPS) == set(config.LAYER_KEYS)


@pytest.mark.parametrize(("kernel", "stride"), [(1, 2), (2, 4), (4, 2), (5, 2), (3, 3)])
def test_transposed_same_conv_side_is_what_the_module_makes(kernel, stride):
    spec = config.LayerSpec(op="convT", out=2, kernel=kernel, stride=stride, padding="same")
    module = dcgan.LAYERS["convT"](spec, (3, 5, 5), False)
    made = tuple(module(torch.zeros(1, 3, 5, 5)).shape[1:])
    assert layer_ops.layer_output(spec, (3, 5, 5)) == (made, sum(p.numel() for p in module.parameters()))


def test_validation_bounds_sizes_with_the_same_shapes(monkeypatch):
    """With kernel < stride a transposed 'same' conv makes (n-1)s+k, not n*s: a bound set just
    above the true activation passes, where the old n*s arithmetic would have refused it."""
    data = tiny_config_dict()
    data["model"]["generator"] = [
        {"op": "project", "out": 4, "size": 4},
        {"op": "convT", "out": 3, "kernel": 1, "stride": 4, "padding": "same"},  # 4 -> 13, not 16
        {"op": "tanh"},
    ]
    data["model"]["resolution"] = 13
    monkeypatch.setattr(config.validation, "MAX_ACTIVATION", 3 * 13 * 13)
    config.from_dict(data)  # 3x13x13 fits exactly
    monkeypatch.setattr(config.validation, "MAX_ACTIVATION", 3 * 13 * 13 - 1)
    with pytest.raises(UserError, match="3x13x13"):
        config.from_dict(data)
