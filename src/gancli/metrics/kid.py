"""Kernel Inception Distance, following torch-fidelity 0.4.0 exactly (subsets, kernel, estimator, seed)."""

from __future__ import annotations

import numpy as np

from gancli.errors import UserError

DEFAULT_SUBSETS = 100
DEFAULT_SUBSET_SIZE = 1000
SEED = 2020  # torch-fidelity's default rng_seed


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(x . y / d + 1)^3, the KID kernel (Binkowski et al. 2018), as float64."""
    # torch-fidelity multiplies float32 features in float32; the features are float32 values
    # either way, so the product is done in float32 (fast) and the rest in float64.
    d = x.shape[1]
    dot = np.matmul(x.astype(np.float32), y.astype(np.float32).T).astype(np.float64)
    return (dot / d + 1.0) ** 3


def mmd2_unbiased(k_xx: np.ndarray, k_xy: np.ndarray, k_yy: np.ndarray) -> float:
    """Unbiased MMD^2: off-diagonal means of k_xx and k_yy minus twice the full mean of k_xy."""
    m = k_xx.shape[0]
    off_xx = k_xx.sum() - np.trace(k_xx)
    off_yy = k_yy.sum() - np.trace(k_yy)
    return float((off_xx + off_yy) / (m * (m - 1)) - 2 * k_xy.sum() / (m * m))


def kid(
    features1,
    features2,
    subset_size: int = DEFAULT_SUBSET_SIZE,
    subsets: int = DEFAULT_SUBSETS,
    seed: int = SEED,
) -> tuple[float, float]:
    """KID mean and population std over ``subsets`` random subsets of ``subset_size`` from each set.

    Like torch-fidelity, a set smaller than ``subset_size`` is an error (we do not shrink the
    subset silently: that would change the estimator's variance and the number it reports).
    Subsets are drawn by ``RandomState(seed).choice(n, m, replace=False)``, set 1 then set 2.
    """
    x = np.asarray(getattr(features1, "pool", features1), dtype=np.float64)
    y = np.asarray(getattr(features2, "pool", features2), dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise UserError(f"KID needs two feature arrays [N, D] of equal D; got {x.shape} and {y.shape}.")
    if subset_size < 2 or subsets < 1:
        raise UserError(
            f"KID needs a subset size of at least 2 and at least 1 subset; got size {subset_size} "
            f"and {subsets} subsets."
        )
    n1, n2 = x.shape[0], y.shape[0]
    if n1 < subset_size or n2 < subset_size:
        raise UserError(
            f"KID subset size {subset_size} is larger than an image set ({n1} generated / "
            f"{n2} reference images). Pass a smaller --kid-subset-size (at most {min(n1, n2)}) "
            "or score more images; the usual setting is 1000."
        )
    rng = np.random.RandomState(seed)
    mmds = np.zeros(subsets)
    for i in range(subsets):
        a = x[rng.choice(n1, subset_size, replace=False)]
        b = y[rng.choice(n2, subset_size, replace=False)]
        mmds[i] = mmd2_unbiased(polynomial_kernel(a, a), polynomial_kernel(a, b), polynomial_kernel(b, b))
    # np.std: population std (ddof 0), as torch-fidelity reports it.
    return float(mmds.mean()), float(mmds.std())


def kid_metric(real, fake, options) -> dict:
    """The registered "kid" (mean and std over the subsets)."""
    # Generated first, reference second: torch-fidelity's input1/input2 order, which fixes
    # which set each RandomState(2020) draw indexes.
    mean, std = kid(fake.pool, real.pool, options.kid_subset_size, options.kid_subsets)
    return {"kid": {"value": mean, "std": std}}
