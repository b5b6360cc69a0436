"""layer_math's arithmetic layer tables equal the built nets' tables, for every preset and odd layers."""

import pytest
import torch
from conftest import tiny_model

from gancli import config
from gancli.errors import UserError
from gancli.layer_math import discriminator_rows, generator_rows, param_count
from gancli.models.dcgan import build_discriminator, build_generator, count_params, layer_table


def built_rows(net):
    return [(r.index, r.op, tuple(r.output_shape), r.params) for r in layer_table(net)]


def arith_rows(rows):
    return [(r.index, r.op, tuple(r.output_shape), r.params) for r in rows]


def check(model):
    with torch.device("meta"):
        g, d = build_generator(model), build_discriminator(model)
    assert arith_rows(generator_rows(model)) == built_rows(g)
    assert arith_rows(discriminator_rows(model)) == built_rows(d)
    assert param_count(generator_rows(model)) == count_params(g)
    assert param_count(discriminator_rows(model)) == count_params(d)


@pytest.mark.parametrize(
    "name", [n for n in config.preset_names() if config.load_preset(n).model.arch == "dcgan"]
)
def test_every_preset_table_matches_the_built_nets(name):
    check(config.load_preset(name).model)


@pytest.mark.parametrize("name", ["flowers64", "mnist32"])
def test_the_improved_recipe_table_matches_the_built_nets(name):
    data = config.with_recipe(config.preset_dict(name), "improved")
    data["model"]["spectral_norm"] = True  # D's batch norms become identities
    model = config.from_dict(data).model
    check(model)


def test_odd_layers_match_the_built_nets():
    # transposed 'same' with kernel < stride, integer padding with output_padding, upsample,
    # a dense head after convs, biases on and off
    data = tiny_model(channels=1)
    data["generator"] = [
        {"op": "convT", "out": 6, "kernel": 3, "stride": 1, "padding": 0},
        {"op": "convT", "out": 5, "kernel": 1, "stride": 2, "padding": "same", "bias": False},
        {"op": "upsample", "scale": 2},
        {"op": "convT", "out": 4, "kernel": 3, "stride": 2, "padding": 1, "output_padding": 1},
        {"op": "conv", "out": 1, "kernel": 3, "stride": 1, "padding": "valid"},
        {"op": "tanh"},
    ]
    data["discriminator"] = [
        {"op": "conv", "out": 4, "kernel": 4, "stride": 3, "padding": 2, "bias": False},
        {"op": "dropout2d", "p": 0.1},
        {"op": "linear", "out": 7},
        {"op": "relu"},
        {"op": "linear", "out": 1},
    ]
    model = config.from_dict({"model": {**data, "resolution": 18}}).model
    assert generator_rows(model)[-1].output_shape == (1, 18, 18)
    check(model)


def test_a_shape_that_cannot_work_is_a_user_error():
    data = tiny_model()
    data["discriminator"] = [{"op": "linear", "out": 4}, {"op": "conv", "out": 1, "kernel": 3}]
    model = config.from_dict({"model": data}).model
    with pytest.raises(UserError, match=r"model.discriminator\[1\] \(conv\)"):
        discriminator_rows(model)
