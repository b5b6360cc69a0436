"""One entry point for scoring: validate inputs, then compute FID, KID, IS and precision/recall."""

from __future__ import annotations

from gancli.errors import UserError
from gancli.metrics.features import Features
from gancli.metrics.inception_score import DEFAULT_SPLITS
from gancli.metrics.kid import DEFAULT_SUBSET_SIZE, DEFAULT_SUBSETS
from gancli.metrics.prdc import DEFAULT_K
from gancli.metrics.reference import ReferenceStats
from gancli.metrics.registry import METRICS, MetricOptions, MetricValues

MetricResult = MetricValues


def parse_metrics(text: str | set[str] | list[str]) -> set[str]:
    """Turn "fid,kid" (or a collection) into a validated set of registered metric names."""
    names = [t.strip().lower() for t in (text.split(",") if isinstance(text, str) else text)]
    names = [n for n in names if n]
    unknown = [n for n in names if n not in METRICS]
    if unknown or not names:
        raise UserError(
            f"Unknown metric(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(METRICS)} "
            "(comma-separated, e.g. --metrics fid,kid)."
        )
    return set(names)


def _meta(ref: Features | ReferenceStats, key: str):
    if isinstance(ref, ReferenceStats):
        value = ref.meta.get(key)
    else:
        value = getattr(ref, key, None)
    return tuple(value) if isinstance(value, list) else value


def check_reference(real: Features | ReferenceStats, metrics: set[str]) -> None:
    """Raise a UserError when KID or precision/recall are asked of a mu/sigma-only reference."""
    needs_pool = [m for m in METRICS if m in metrics and METRICS[m].needs_reference_features]
    if needs_pool and isinstance(real, ReferenceStats) and real.pool is None:
        source = real.meta.get("source", "the reference statistics")
        raise UserError(
            f"{' and '.join(m.upper() for m in needs_pool)} need the reference set's Inception "
            f"features, but {source} holds only the mean and covariance (mu, sigma). Use a dataset "
            "or image folder as --ref, or ask only for fid/is."
        )


def validate(real: Features | ReferenceStats, fake: Features, metrics: set[str]) -> None:
    """Raise a UserError for inputs that cannot be compared or that lack what a metric needs."""
    if not isinstance(fake, Features):
        raise UserError(
            "The generated set must be Features (pool features and logits) from extract_features."
        )
    dim_fake = fake.pool.shape[1]
    dim_real = real.mu.shape[0] if isinstance(real, ReferenceStats) else real.pool.shape[1]
    if dim_fake != dim_real:
        raise UserError(
            f"Feature dimensions differ: generated {dim_fake}, reference {dim_real}. Both must come "
            "from the same Inception layer (2048-d pool features)."
        )
    for key, what in (
        ("resize", "resize mode"),
        ("image_size", "image size (H, W)"),
        ("channels", "channel count"),
    ):
        a, b = _meta(real, key), _meta(fake, key)
        if a is not None and b is not None and a != b:
            raise UserError(
                f"The reference and generated images differ in {what}: {a} vs {b}. Score both at "
                "the same resolution, channels and --resize mode, or the numbers are not comparable."
            )
    if any(METRICS[m].needs_pairs for m in metrics):
        if len(fake) < 2:
            raise UserError(f"Scoring needs at least 2 generated images for a covariance; got {len(fake)}.")
        if isinstance(real, Features) and len(real) < 2:
            raise UserError(f"Scoring needs at least 2 reference images for a covariance; got {len(real)}.")
    check_reference(real, metrics)
    if any(METRICS[m].needs_logits for m in metrics) and fake.logits is None:
        raise UserError("The Inception Score needs the generated set's logits, which were not kept.")


def compute_metrics(
    real: Features | ReferenceStats,
    fake: Features,
    metrics: set[str] | str = frozenset({"fid"}),
    kid_subset_size: int = DEFAULT_SUBSET_SIZE,
    kid_subsets: int = DEFAULT_SUBSETS,
    *,
    is_splits: int = DEFAULT_SPLITS,
    pr_k: int = DEFAULT_K,
) -> MetricResult:
    """Compute the requested metrics: {name: {"value": float, "std": float | None}}, in the
    registry's order.

    Names: "fid", "kid", "is", and for "pr" both "precision" and "recall". IS uses ``fake`` only.
    """
    metrics = parse_metrics(metrics)
    validate(real, fake, metrics)
    options = MetricOptions(kid_subset_size, kid_subsets, is_splits, pr_k)
    out: MetricResult = {}
    for name, metric in METRICS.items():
        if name in metrics:
            out.update(metric.compute(real, fake, options))
    return out
