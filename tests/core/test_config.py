import pytest
from conftest import tiny_config_dict

from gancli import config
from gancli.errors import UserError


def test_every_preset_loads_and_round_trips_through_yaml():
    for name in config.preset_names():
        cfg = config.load_preset(name)
        again = config.from_dict(config.load_yaml_text(config.dump_yaml(cfg), "dump"))
        assert again == cfg, name


def test_presets_named_by_the_spec_exist():
    assert {"flowers64", "faces256", "mnist32", "dcgan64", "quick"} <= set(config.preset_names())


def test_resolve_applies_preset_then_file_then_flags(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("preset: mnist32\ntrain: {batch_size: 32, lr_g: 0.001}\n")
    cfg = config.resolve(None, path, {"train.batch_size": 16})
    assert cfg.preset == "mnist32"
    assert cfg.model.channels == 1  # from the preset
    assert cfg.train.lr_g == 0.001  # from the file
    assert cfg.train.batch_size == 16  # from the flag, last


def test_unknown_key_names_the_key_and_the_accepted_ones():
    with pytest.raises(UserError, match=r"'train\.bach_size'.*batch_size"):
        config.from_dict({**tiny_config_dict(), "train": {"bach_size": 3}})


def test_bad_choice_lists_accepted_values():
    data = tiny_config_dict()
    data["train"]["step"] = "alternate"
    with pytest.raises(UserError, match="simultaneous, d_then_g, g_then_d"):
        config.from_dict(data)


@pytest.mark.parametrize(
    "key,value,match",
    [
        ("batch_size", 0, "positive"),
        ("batch_size", -4, "positive"),
        ("lr_g", "fast", "must be float"),
        ("label_flip_prob", 1.5, r"\[0, 1\)"),
        ("iters", -1, "zero or more"),
    ],
)
def test_bad_values_are_refused(key, value, match):
    data = tiny_config_dict()
    data["train"][key] = value
    with pytest.raises(UserError, match=match):
        config.from_dict(data)


def test_layer_key_that_does_not_apply_is_refused():
    data = tiny_config_dict()
    data["model"]["generator"][2] = {"op": "batchnorm", "kernel": 3}
    with pytest.raises(UserError, match=r"generator\[2\]\.kernel.*batchnorm"):
        config.from_dict(data)


def test_yaml_python_tags_and_aliases_are_refused(tmp_path):
    evil = tmp_path / "evil.yaml"
    evil.write_text("train: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(UserError, match="not valid YAML"):
        config.load_yaml_file(evil)
    laughs = tmp_path / "laughs.yaml"
    laughs.write_text("a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n")
    with pytest.raises(UserError, match="aliases"):
        config.load_yaml_file(laughs)


def test_missing_config_file_is_named(tmp_path):
    with pytest.raises(UserError, match="nope.yaml does not exist"):
        config.load_yaml_file(tmp_path / "nope.yaml")


def test_atomic_writes_get_normal_file_permissions(tmp_path):
    import os

    from gancli.fsutil import atomic_write_text

    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "config.yaml", "a: 1\n")
    finally:
        os.umask(old)
    assert (tmp_path / "config.yaml").stat().st_mode & 0o777 == 0o644  # not mkstemp's 0o600


def test_every_command_line_override_reaches_its_config_key():
    """Overrides (the flags of `gan train`) name real config keys, and --lr sets both nets'."""
    given = config.Overrides(
        data="photos", root="/data", iters=7, batch_size=16, lr=1e-3, device="cpu", seed=5,
        sample_every=3, checkpoint_every=4, log_every=2, amp=True, compile=True, sync_bn=True,
        score_every=9, tensorboard=True, recipe="improved",
    )  # fmt: skip
    cfg = config.resolve("quick", None, given)
    t = cfg.train
    assert (cfg.data.name, cfg.data.root, cfg.recipe, cfg.log.tensorboard) == (
        "photos",
        "/data",
        "improved",
        True,
    )
    assert (t.iters, t.epochs, t.batch_size, t.lr_g, t.lr_d, t.device, t.seed) == (
        7,
        0,
        16,
        1e-3,
        1e-3,
        "cpu",
        5,
    )
    assert (t.sample_every, t.checkpoint_every, t.log_every, t.score_every) == (3, 4, 2, 9)
    assert (t.amp, t.compile, t.sync_bn) == (True, True, True)
    assert (
        config.resolve("quick", None, config.Overrides(epochs=2)).train.iters == 0
    )  # one total replaces the other
