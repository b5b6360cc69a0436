"""The metrics `gan score` knows, by name: what each needs and where its function lives.

A metric is one module with a function `(real, fake, options) -> {key: {"value", "std"}}` and
one `register_metric(...)` line below. The registry itself imports neither torch nor numpy (the
function is named by "module:attribute" and imported when the metric runs), so `gan score --help`
lists the registered names at once.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MetricValues = dict[str, dict[str, float | None]]


@dataclass(frozen=True)
class MetricOptions:
    """The knobs of the metrics that take one (defaults: torch-fidelity's)."""

    kid_subset_size: int = 1000
    kid_subsets: int = 100
    is_splits: int = 10
    pr_k: int = 3


@dataclass(frozen=True)
class Metric:
    """One registered metric: its --metrics name, the result keys it writes (the JSON keys and
    the table's rows, each with a label and its decimals), and what its inputs must hold."""

    name: str
    function: str  # "module:attribute", imported when the metric is computed
    keys: dict[str, str]  # result key -> table label
    decimals: int = 4
    needs_logits: bool = False  # the generated set's Inception logits (IS)
    needs_reference_features: bool = False  # the reference set's pool features, not only mu/sigma
    needs_pairs: bool = True  # at least 2 images in each set (a covariance or a pairing)
    help: str = field(default="", compare=False)

    def compute(self, real: Any, fake: Any, options: MetricOptions) -> MetricValues:
        """Import the metric's function and run it."""
        module, _, attribute = self.function.partition(":")
        function: Callable[..., MetricValues] = getattr(importlib.import_module(module), attribute)
        return function(real, fake, options)


METRICS: dict[str, Metric] = {}


def register_metric(metric: Metric) -> Metric:
    """Add a metric under its name (a second registration of a name is a programming error)."""
    if metric.name in METRICS:
        raise ValueError(f"metric {metric.name!r} is registered twice")
    METRICS[metric.name] = metric
    return metric


def unregister_metric(name: str) -> None:
    """Remove a metric (tests that register one of their own)."""
    METRICS.pop(name, None)


def labels() -> dict[str, str]:
    """Result key -> table label, over every registered metric."""
    return {key: label for metric in METRICS.values() for key, label in metric.keys.items()}


def decimals(key: str) -> int:
    """The decimals a result key is shown with in `gan score`'s table."""
    for metric in METRICS.values():
        if key in metric.keys:
            return metric.decimals
    return 4


# fmt: off
register_metric(Metric("fid", "gancli.metrics.fid:fid_metric", {"fid": "FID"}, help="Fréchet Inception Distance"))
register_metric(Metric("kid", "gancli.metrics.kid:kid_metric", {"kid": "KID"}, decimals=6,
                       needs_reference_features=True, help="Kernel Inception Distance"))
register_metric(Metric("is", "gancli.metrics.inception_score:is_metric", {"is": "Inception Score"},
                       needs_logits=True, needs_pairs=False, help="Inception Score"))
register_metric(Metric("pr", "gancli.metrics.prdc:pr_metric", {"precision": "Precision", "recall": "Recall"},
                       decimals=6, needs_reference_features=True, help="precision and recall"))
# fmt: on
