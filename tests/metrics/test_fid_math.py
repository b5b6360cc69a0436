"""Fréchet distance and FID statistics: closed forms, singular covariances, the .npz layout."""

from __future__ import annotations

import numpy as np
import pytest

from gancli.errors import UserError
from gancli.metrics.fid import (
    frechet_distance,
    load_stats_npz,
    save_stats_npz,
    statistics,
    trace_sqrt_product,
)


def test_diagonal_gaussians_closed_form():
    # N(mu1, diag(a)) vs N(mu2, diag(b)): |mu1-mu2|^2 + sum (sqrt(a) - sqrt(b))^2.
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
    # by hand: |d|^2 = 1 + 0 + 4 = 5; (1-2)^2 + (2-1)^2 + (3-3)^2 = 2
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(7.0, abs=1e-12)


def test_identical_gaussians_and_scaled_covariance():
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.standard_normal((5, 5)))
    s = q @ np.diag([5.0, 3.0, 2.0, 1.0, 0.5]) @ q.T
    mu = rng.standard_normal(5)
    assert frechet_distance(mu, s, mu, s) == pytest.approx(0.0, abs=1e-12)
    # sigma2 = 4 sigma1: tr(s) + 4 tr(s) - 2 * 2 tr(s) = tr(s) = 11.5
    assert frechet_distance(mu, s, mu, 4 * s) == pytest.approx(11.5, abs=1e-10)


def test_trace_sqrt_matches_scipy_sqrtm_on_full_rank():
    from scipy import linalg

    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((200, 40)), rng.standard_normal((200, 40)) * 1.3 + 0.2
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    expected = np.trace(linalg.sqrtm(s1 @ s2).real)
    assert trace_sqrt_product(s1, s2) == pytest.approx(expected, rel=1e-10)


def test_singular_covariances_fewer_samples_than_dims():
    rng = np.random.default_rng(2)
    x = np.abs(rng.standard_normal((20, 300)))
    y = np.abs(rng.standard_normal((20, 300))) * 1.2
    mu1, s1 = statistics(x)
    mu2, s2 = statistics(y)
    assert frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-9)
    # Exact value: the non-zero eigenvalues of s1 s2 are the squared singular values of
    # A1 A2^T / (N - 1), with A the centred features.
    a1, a2 = x - mu1, y - mu2
    nuclear = np.linalg.svd(a1 @ a2.T, compute_uv=False).sum() / (len(x) - 1)
    exact = (mu1 - mu2) @ (mu1 - mu2) + np.trace(s1) + np.trace(s2) - 2 * nuclear
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(exact, rel=1e-9)


def test_statistics_match_numpy_and_reject_too_few_images():
    x = np.arange(12.0).reshape(4, 3) ** 1.5
    mu, sigma = statistics(x)
    np.testing.assert_allclose(mu, x.mean(0))
    np.testing.assert_allclose(sigma, np.cov(x, rowvar=False))
    with pytest.raises(UserError, match="at least 2 images"):
        statistics(x[:1])
    with pytest.raises(UserError, match="NaN"):
        statistics(np.full((3, 2), np.nan))


def test_mismatched_dimensions_are_a_clear_error():
    with pytest.raises(UserError, match="same dimension"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


def test_npz_round_trip_in_pytorch_fid_layout(tmp_path):
    rng = np.random.default_rng(3)
    mu, sigma = rng.standard_normal(6), np.cov(rng.standard_normal((10, 6)), rowvar=False)
    path = save_stats_npz(tmp_path / "stats.npz", mu, sigma)
    with np.load(path) as data:  # what pytorch-fid's compute_statistics_of_path reads
        assert sorted(data.files) == ["mu", "sigma"]
        np.testing.assert_array_equal(data["mu"], mu)
    mu2, sigma2 = load_stats_npz(path)
    np.testing.assert_array_equal(mu2, mu)
    np.testing.assert_array_equal(sigma2, sigma)
    assert [p.name for p in tmp_path.iterdir()] == ["stats.npz"]  # no temporary file left


def test_npz_errors(tmp_path):
    np.savez(tmp_path / "other.npz", mean=np.zeros(3))
    with pytest.raises(UserError, match="mu.*sigma"):
        load_stats_npz(tmp_path / "other.npz")
    np.savez(tmp_path / "pickled.npz", mu=np.array([{"a": 1}], dtype=object), sigma=np.eye(1))
    with pytest.raises(UserError, match="pickled.npz"):
        load_stats_npz(tmp_path / "pickled.npz")
    (tmp_path / "broken.npz").write_bytes(b"not a zip")
    with pytest.raises(UserError, match="broken.npz"):
        load_stats_npz(tmp_path / "broken.npz")
    np.savez(tmp_path / "shape.npz", mu=np.zeros(3), sigma=np.eye(4))
    with pytest.raises(UserError, match="expected"):
        load_stats_npz(tmp_path / "shape.npz")
