"""Fréchet Inception Distance: Gaussian statistics of pool features and the Fréchet distance."""

from __future__ import annotations

import os
import warnings
import zipfile
from pathlib import Path

import numpy as np

from gancli.errors import UserError
from gancli.fsutil import atomic_write
from gancli.limits import MAX_FEATURES


def statistics(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (N - 1 denominator, float64) of [N, D] features, as np.mean/np.cov in both peers."""
    x = np.asarray(getattr(features, "pool", features), dtype=np.float64)
    if x.ndim != 2:
        raise UserError(f"Features must be a 2-D array [N, D]; got shape {x.shape}.")
    if x.shape[0] < 2:
        raise UserError(
            f"A covariance needs at least 2 images; got {x.shape[0]}. Score more images "
            "(FID is only meaningful with thousands: 10,000 or 50,000 is usual)."
        )
    if not np.isfinite(x).all():
        raise UserError(
            "The Inception features contain NaN or infinity; check the images and the weights file."
        )
    mu = x.mean(axis=0)
    sigma = np.cov(x, rowvar=False)
    return mu, np.atleast_2d(sigma)


def _clip_noise(w: np.ndarray) -> np.ndarray:
    # Eigenvalues of a PSD matrix below n * eps * max (numpy's matrix_rank tolerance) are rounding
    # noise of an eigensolver; zero them. With N < 2048 images the covariances are singular, and
    # the square roots of ~2000 noise eigenvalues would otherwise add up to a visible bias
    # (a set against itself would not give 0).
    tol = w.shape[0] * np.finfo(np.float64).eps * max(float(np.abs(w).max(initial=0.0)), 0.0)
    return np.where(w > tol, w, 0.0)


def _psd_sqrt(s: np.ndarray) -> np.ndarray:
    # Symmetric square root via eigh, for a symmetric positive semi-definite covariance.
    w, v = np.linalg.eigh(s)
    return (v * np.sqrt(_clip_noise(w))) @ v.T


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """tr(sqrt(sigma1 @ sigma2)) for symmetric PSD matrices, in float64 without complex arithmetic.

    sigma1 @ sigma2 is similar to r @ sigma2 @ r with r = sqrt(sigma1) (symmetric PSD), so both
    have the same eigenvalues, and the latter's come from a stable symmetric eigensolver. The
    peers get the same number as the real part of scipy.linalg.sqrtm (pytorch-fid) or of
    sqrt(eigvals(sigma1 @ sigma2)) (torch-fidelity); this route never yields complex values and
    handles singular covariances (N < D) without pytorch-fid's 1e-6 diagonal offset.
    """
    r = _psd_sqrt(sigma1)
    m = r @ sigma2 @ r
    m = (m + m.T) / 2
    ev = _clip_noise(np.linalg.eigvalsh(m))
    return float(np.sqrt(ev).sum())


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """||mu1 - mu2||^2 + tr(sigma1) + tr(sigma2) - 2 tr(sqrt(sigma1 sigma2)), all in float64."""
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (mu1.shape[0],) * 2:
        raise UserError(
            f"Statistics do not match: mean {mu1.shape} with covariance {s1.shape} against mean "
            f"{mu2.shape} with covariance {s2.shape}; both sets need features of the same dimension "
            "(2048 for the FID Inception pool layer)."
        )
    for name, a in (("mean", mu1), ("covariance", s1), ("mean", mu2), ("covariance", s2)):
        if not np.isfinite(a).all():
            raise UserError(f"The {name} statistics contain NaN or infinity; recompute them.")
    # Symmetrise: stored statistics may have lost exact symmetry in a round trip.
    s1, s2 = (s1 + s1.T) / 2, (s2 + s2.T) / 2
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * trace_sqrt_product(s1, s2))


def _trace_sqrt_low_rank(x: np.ndarray, mu: np.ndarray, sigma2: np.ndarray) -> float:
    # With A the centred [N, D] features and N <= D, cov = A^T A / (N - 1), and the non-zero
    # eigenvalues of cov @ sigma2 are those of the N x N matrix A sigma2 A^T / (N - 1): exact
    # for the rank-deficient case, and O(N D^2) instead of two D x D eigendecompositions.
    a = x - mu
    m = a @ sigma2 @ a.T / (x.shape[0] - 1)
    ev = _clip_noise(np.linalg.eigvalsh((m + m.T) / 2))
    return float(np.sqrt(ev).sum())


def fid_against(features, mu2, sigma2) -> float:
    """FID of [N, D] pool features against statistics (mu2, sigma2); exact low-rank route when N <= D."""
    x = np.asarray(getattr(features, "pool", features), dtype=np.float64)
    mu1, sigma1 = statistics(x)
    mu2, sigma2 = np.asarray(mu2, np.float64), np.asarray(sigma2, np.float64)
    if x.shape[0] > x.shape[1] or sigma2.shape != sigma1.shape:
        return frechet_distance(mu1, sigma1, mu2, sigma2)  # (also reports mismatched shapes)
    for name, arr in (("mean", mu2), ("covariance", sigma2)):
        if not np.isfinite(arr).all():
            raise UserError(f"The reference {name} contains NaN or infinity; recompute the statistics.")
    sigma2 = (sigma2 + sigma2.T) / 2
    diff = mu1 - mu2
    tr = _trace_sqrt_low_rank(x, mu1, sigma2)
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * tr)


def fid_from_features(features1, features2) -> float:
    """FID between two sets of pool features (the smaller set takes the low-rank route if N <= D)."""
    x = np.asarray(getattr(features1, "pool", features1), dtype=np.float64)
    y = np.asarray(getattr(features2, "pool", features2), dtype=np.float64)
    if y.shape[0] < x.shape[0]:
        x, y = y, x  # the Fréchet distance is symmetric
    return fid_against(x, *statistics(y))


def save_stats_npz(path: str | os.PathLike, mu: np.ndarray, sigma: np.ndarray, **extra: np.ndarray) -> Path:
    """Write statistics in pytorch-fid's .npz layout (``mu``, ``sigma``; extra arrays allowed), atomically."""
    path = Path(path)
    with atomic_write(path, "wb") as handle:
        np.savez(handle, mu=np.asarray(mu, np.float64), sigma=np.asarray(sigma, np.float64), **extra)
    return path


def _npz_shape(data, name: str) -> tuple[int, ...]:
    """The shape an array of an open .npz declares in its header, read without loading the array."""
    with data.zip.open(f"{name}.npy") as member:
        fmt = np.lib.format
        major, _ = fmt.read_magic(member)
        shape, _, _ = (fmt.read_array_header_1_0 if major == 1 else fmt.read_array_header_2_0)(member)
    return tuple(shape)


def _check_npz_shapes(path: Path, data) -> None:
    """Refuse mu/sigma whose headers declare more than MAX_FEATURES dimensions: a 1.6 KB .npz can
    declare a 100000 x 100000 sigma (75 GiB), which loading would try to allocate."""
    mu, sigma = _npz_shape(data, "mu"), _npz_shape(data, "sigma")
    if len(mu) != 1 or sigma != (mu[0], mu[0]) or not 0 < mu[0] <= MAX_FEATURES:
        raise UserError(
            f"Statistics file {path} declares mu of shape {mu} and sigma of shape {sigma}; expected "
            f"[D] and [D, D] with D at most {MAX_FEATURES} (Inception's pool features: D = 2048)."
        )


def load_stats_npz(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read ``mu`` and ``sigma`` from a pytorch-fid style .npz (no pickles), checking their shapes."""
    path = Path(path)
    if path.is_file() and not zipfile.is_zipfile(path):  # numpy's own error advises allow_pickle
        raise UserError(
            f"{path} is not a statistics file: a .npz (a zip of arrays, as pytorch-fid --save-stats and gan score --export-ref write) was expected. Point --ref at such a file, a dataset or an image folder."
        )
    try:
        with np.load(path, allow_pickle=False) as data:
            if "mu" not in data.files or "sigma" not in data.files:
                raise UserError(
                    f"Statistics file {path} has arrays {sorted(data.files)}, not the `mu` and "
                    "`sigma` of pytorch-fid's layout (as written by pytorch-fid --save-stats); "
                    "point --ref at such a file, a dataset or an image folder."
                )
            _check_npz_shapes(path, data)
            mu, sigma = np.asarray(data["mu"], np.float64), np.asarray(data["sigma"], np.float64)
    except UserError:
        raise
    except (OSError, ValueError, EOFError) as exc:
        raise UserError(f"Statistics file {path} cannot be read as a .npz file: {exc}.") from exc
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise UserError(
            f"Statistics file {path} holds mu of shape {mu.shape} and sigma of shape "
            f"{sigma.shape}; expected [D] and [D, D]."
        )
    _check_covariance(path, mu, sigma)
    return mu, sigma


def _check_covariance(path: Path, mu: np.ndarray, sigma: np.ndarray) -> None:
    """Refuse a mean or covariance that no image set has: non-finite, not symmetric, or not
    positive semi-definite (within rounding: a Cholesky factor of sigma plus a relative 1e-6
    of its mean variance must exist). Such a file would give any FID, even a negative one."""
    problem = None
    if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        problem = "holds NaN or inf"
    else:
        scale = max(float(np.abs(sigma).max(initial=0.0)), 1e-30)
        if float(np.abs(sigma - sigma.T).max(initial=0.0)) > 1e-6 * scale:
            problem = "has a sigma that is not symmetric"
        else:
            ridge = 1e-6 * max(float(np.trace(sigma)) / max(sigma.shape[0], 1), 1e-30)
            try:
                np.linalg.cholesky(sigma + ridge * np.eye(sigma.shape[0]))
            except np.linalg.LinAlgError:
                problem = "has a sigma that is not positive semi-definite (no covariance of features is)"
    if problem is not None:
        raise UserError(
            f"Statistics file {path} {problem}, so it is not the statistics of any image set. Recompute it (gan score --export-ref), or point --ref at a dataset or image folder."
        )


def warn_small_n(n: int, dim: int = 2048) -> None:
    """Warn that FID from fewer images than feature dimensions is rank-deficient and biased upward."""
    if n < dim:
        warnings.warn(
            f"FID from {n} images (< {dim} feature dimensions): the covariance is rank-deficient "
            "and FID is biased upward (about proportional to 1/N); compare FIDs only at equal N.",
            stacklevel=5,  # compute_metrics' caller: via compute_metrics, Metric.compute, fid_metric
        )


def fid_metric(real, fake, options) -> dict:
    """The registered "fid": against a reference's mu/sigma, or between two feature sets."""
    sigma = getattr(real, "sigma", None)  # ReferenceStats; Features keep only their pool
    n_real = real.n if sigma is not None else len(real)
    warn_small_n(min(len(fake), n_real or len(fake)), fake.pool.shape[1])
    value = fid_against(fake, real.mu, sigma) if sigma is not None else fid_from_features(fake, real)
    return {"fid": {"value": value, "std": None}}
