"""Every example config resolves to a valid config of the preset it names."""

from pathlib import Path

import pytest

from gancli import config

EXAMPLES = sorted((Path(__file__).parents[2] / "examples").glob("*.yaml"))


def test_there_is_one_example_per_preset():
    assert sorted(p.stem for p in EXAMPLES) == config.preset_names()


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_resolves(path):
    cfg = config.resolve(None, path, {})
    assert cfg.preset == path.stem
