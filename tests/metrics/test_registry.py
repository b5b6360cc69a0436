"""Adding a metric is one module plus one registration: done here once with a toy metric, which
then runs through compute_metrics, gan score's defaults and its table like the built-in ones."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from gancli.metrics import registry
from gancli.metrics.api import compute_metrics, parse_metrics
from gancli.metrics.features import Features
from gancli.metrics.inception_score import DEFAULT_SPLITS
from gancli.metrics.kid import DEFAULT_SUBSET_SIZE, DEFAULT_SUBSETS
from gancli.metrics.prdc import DEFAULT_K


def _features(n: int, d: int = 8, seed: int = 0) -> Features:
    rng = np.random.default_rng(seed)
    return Features(pool=rng.normal(size=(n, d)), logits=rng.normal(size=(n, 10)))


@pytest.fixture
def mean_gap():
    """The recipe of docs/architecture.md: a module with the function, and one registration."""
    module = types.ModuleType("toy_mean_gap")

    def mean_gap_metric(real, fake, options):
        gap = float(np.abs(fake.pool.mean(0) - real.pool.mean(0)).mean())
        return {"mean_gap": {"value": gap, "std": None}}

    module.mean_gap_metric = mean_gap_metric
    sys.modules["toy_mean_gap"] = module
    registry.register_metric(
        registry.Metric("gap", "toy_mean_gap:mean_gap_metric", {"mean_gap": "Mean gap"}, decimals=3)
    )
    yield
    registry.unregister_metric("gap")
    del sys.modules["toy_mean_gap"]


def test_a_registered_metric_is_parsed_computed_and_labelled(mean_gap):
    real, fake = _features(20), _features(20, seed=1)
    assert parse_metrics("gap,fid") == {"gap", "fid"}
    out = compute_metrics(real, fake, "fid,gap")
    assert list(out) == ["fid", "mean_gap"]  # the registry's order
    assert out["mean_gap"]["value"] == pytest.approx(np.abs(fake.pool.mean(0) - real.pool.mean(0)).mean())
    assert registry.labels()["mean_gap"] == "Mean gap" and registry.decimals("mean_gap") == 3


def test_the_table_shows_a_registered_metric_with_its_label_and_decimals(mean_gap):
    from rich.console import Console

    from gancli.cli.score import _table

    report = {
        "target": "t", "reference": "r", "n": 20, "n_ref": 20, "resize": "tf", "resolution": 8,
        "channels": 3, "weights_sha256_prefix": "abc", "kid_subset_size": None,
        "metrics": {"mean_gap": {"value": 0.12345, "std": None}},
    }  # fmt: skip
    console = Console(record=True, width=120)
    console.print(_table(report))
    text = console.export_text()
    assert "Mean gap" in text and "0.123 " in text


def test_registering_a_name_twice_is_refused():
    with pytest.raises(ValueError, match="twice"):
        registry.register_metric(registry.METRICS["fid"])


def test_metric_options_defaults_are_the_metric_modules_own():
    assert registry.MetricOptions() == registry.MetricOptions(
        DEFAULT_SUBSET_SIZE, DEFAULT_SUBSETS, DEFAULT_SPLITS, DEFAULT_K
    )


def test_gan_score_help_lists_every_registered_metric(cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    text = cli("score", "--help").out
    assert all(name in text for name in registry.METRICS), text
