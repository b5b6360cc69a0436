import json

from gancli import config


def test_presets_json_lists_every_preset_with_counts(cli):
    res = cli("presets", "--json")
    assert res.code == 0
    rows = json.loads(res.out)
    assert [r["name"] for r in rows] == config.preset_names()
    flowers = next(r for r in rows if r["name"] == "flowers64")
    assert flowers["resolution"] == 64 and flowers["channels"] == 3
    assert (flowers["generator_params"], flowers["discriminator_params"]) == (5_134_339, 4_316_545)


def test_preset_detail_shows_layers(cli):
    res = cli("presets", "mnist32")
    assert res.code == 0 and "batchnorm" in res.out and "g_then_d" in res.out
    detail = json.loads(cli("presets", "mnist32", "--json").out)
    assert detail["generator"][-1]["output_shape"] == [1, 32, 32]
    assert detail["discriminator_params"] == sum(r["params"] for r in detail["discriminator"])


def test_every_command_has_help_with_an_example(cli):
    for cmd in ("train", "sample", "presets"):
        res = cli(cmd, "--help")
        assert res.code == 0 and "Example" in res.out, cmd


def test_presets_show_what_the_improved_recipe_changes(cli):
    res = cli("presets", "quick", "--json", "--recipe", "improved")
    assert res.code == 0, res.text
    detail = json.loads(res.out)
    changes = {c["key"]: (c["preset"], c["recipe"]) for c in detail["recipe_changes"]}
    assert changes["train.augment"] == ("", "translation,color")
    assert changes["train.ema_half_life"] == (0, 10_000)
    assert detail["config"]["train"]["augment"] == "translation,color"
    faithful = json.loads(cli("presets", "quick", "--json", "--recipe", "faithful").out)
    assert faithful["config"]["train"]["augment"] == "" and faithful["config"]["recipe"] == "faithful"
    assert json.loads(cli("presets", "quick", "--json").out)["config"]["recipe"] == "improved"  # quick's own
    text = cli("presets", "flowers64").out
    assert "--recipe improved changes:" in " ".join(text.split())
