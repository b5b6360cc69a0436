"""KID, Inception Score and precision/recall on hand-checkable inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gancli.errors import UserError
from gancli.metrics.inception_score import inception_score
from gancli.metrics.kid import kid, mmd2_unbiased, polynomial_kernel
from gancli.metrics.prdc import precision_recall


def _kid_brute_force(x, y, subset_size, subsets, seed=2020):
    """The unbiased MMD^2 estimator written out term by term, with torch-fidelity's draws."""
    rng = np.random.RandomState(seed)
    d = x.shape[1]
    k = lambda a, b: (float(a @ b) / d + 1) ** 3  # noqa: E731
    values = []
    for _ in range(subsets):
        a = x[rng.choice(len(x), subset_size, replace=False)]
        b = y[rng.choice(len(y), subset_size, replace=False)]
        m = subset_size
        xx = sum(k(a[i], a[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
        yy = sum(k(b[i], b[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
        xy = sum(k(a[i], b[j]) for i in range(m) for j in range(m)) / (m * m)
        values.append(xx + yy - 2 * xy)
    return np.mean(values), np.std(values)


def test_kid_matches_the_estimator_written_out():
    rng = np.random.default_rng(0)
    x, y = rng.random((12, 5)), rng.random((15, 5)) * 1.5
    mean, std = kid(x, y, subset_size=6, subsets=7)
    ref_mean, ref_std = _kid_brute_force(x, y, 6, 7)
    assert mean == pytest.approx(ref_mean, rel=1e-6)
    assert std == pytest.approx(ref_std, rel=1e-6)


def test_kid_of_identical_sets():
    # Exact: with every feature equal the kernel is constant and the unbiased MMD^2 is 0.
    x = np.full((10, 4), 0.3)
    assert kid(x, x, subset_size=5, subsets=3) == (0.0, 0.0)
    # Exact: full-size subsets of one set give 2 (mean off-diagonal k - mean of all k), in every subset.
    rng = np.random.default_rng(1)
    x = rng.random((8, 4))
    k = polynomial_kernel(x, x)
    expected = 2 * ((k.sum() - np.trace(k)) / 56 - k.sum() / 64)
    mean, std = kid(x, x, subset_size=8, subsets=4)
    assert mean == pytest.approx(expected, rel=1e-6)
    assert std == pytest.approx(0.0, abs=1e-9)
    # ~0 in expectation: two samples of one distribution score far below two different ones.
    a, b = rng.random((400, 8)), rng.random((400, 8))
    same = kid(a, b, subset_size=100, subsets=50)[0]
    different = kid(a, b + 0.5, subset_size=100, subsets=50)[0]
    assert abs(same) < 0.02 * different


def test_kid_rejects_sets_smaller_than_the_subset():
    x = np.zeros((10, 4))
    with pytest.raises(UserError, match="--kid-subset-size.*at most 10"):
        kid(x, np.zeros((20, 4)), subset_size=15)
    with pytest.raises(UserError, match="equal D"):
        kid(x, np.zeros((10, 5)), subset_size=5)


def test_mmd2_unbiased_by_hand():
    kxx = np.array([[9.0, 1.0], [1.0, 9.0]])
    kyy = np.array([[9.0, 3.0], [3.0, 9.0]])
    kxy = np.array([[1.0, 2.0], [3.0, 2.0]])
    # (2 + 6) / 2 - 2 * 8 / 4 = 0
    assert mmd2_unbiased(kxx, kxy, kyy) == pytest.approx(0.0)


def test_inception_score_of_uniform_logits_is_one():
    mean, std = inception_score(np.zeros((50, 1008)))
    assert mean == pytest.approx(1.0, abs=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("classes", [1, 4, 7])
def test_inception_score_of_confident_even_logits_is_the_class_count(classes):
    # Each split holds every class equally often (no shuffle), each prediction is certain.
    per_split = np.repeat(np.arange(classes), 3)
    labels = np.tile(per_split, 10)
    logits = np.full((len(labels), 1008), -60.0)
    logits[np.arange(len(labels)), labels] = 60.0
    mean, std = inception_score(logits, splits=10, seed=None)
    assert mean == pytest.approx(classes, rel=1e-12)
    assert std == pytest.approx(0.0, abs=1e-9)
    # One split is order-free, so the shuffle cannot matter.
    assert inception_score(logits, splits=1)[0] == pytest.approx(classes, rel=1e-12)


def test_inception_score_matches_its_definition_with_the_shuffle():
    rng = np.random.default_rng(2)
    logits = rng.standard_normal((23, 6)) * 3
    perm = np.random.RandomState(2020).permutation(23)
    x = logits[perm]
    p = np.exp(x - x.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    scores = []
    for i in range(10):
        chunk = p[i * 23 // 10 : (i + 1) * 23 // 10]
        q = chunk.mean(0)
        scores.append(math.exp(np.mean(np.sum(chunk * (np.log(chunk) - np.log(q)), axis=1))))
    mean, std = inception_score(logits)
    assert mean == pytest.approx(np.mean(scores), rel=1e-12)
    assert std == pytest.approx(np.std(scores), rel=1e-9)


def test_inception_score_needs_enough_images():
    with pytest.raises(UserError, match="10 splits"):
        inception_score(np.zeros((5, 10)))


def test_precision_recall_two_dimensional_by_hand():
    # Real: unit square corners. With k=3 each corner's radius is its 3rd nearest corner: sqrt(2).
    real = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    # Fake: a tight cluster at the centre and one far point at (3, 3).
    # Fake radii (k=3): each cluster point's 3rd neighbour is the diagonal one, 0.1*sqrt(2);
    # the far point's neighbours are 3.39, 3.47, 3.47 away, so its radius is 3.47.
    fake = np.array([[0.5, 0.5], [0.6, 0.5], [0.5, 0.6], [0.6, 0.6], [3.0, 3.0]])
    precision, recall = precision_recall(real, fake, k=3)
    # Precision: the 4 cluster points lie within sqrt(2) of a corner; (3, 3) is 2.83 from (1, 1).
    assert precision == pytest.approx(4 / 5)
    # Recall: corners are >= 0.57 from the cluster (radius 0.14); only (1, 1) is within 3.47 of
    # (3, 3) (2.83; the others are 3.61 and 4.24 away).
    assert recall == pytest.approx(1 / 4)
    # Swapping the roles swaps the numbers' meaning: precision/recall of real against itself is 1.
    assert precision_recall(real, real, k=3) == (1.0, 1.0)


def test_precision_recall_is_chunk_independent():
    rng = np.random.default_rng(3)
    real, fake = rng.standard_normal((57, 6)), rng.standard_normal((43, 6)) + 0.3
    assert precision_recall(real, fake, chunk=7) == precision_recall(real, fake, chunk=1000)


def test_precision_recall_needs_more_than_k_points():
    with pytest.raises(UserError, match="more than 3"):
        precision_recall(np.zeros((3, 2)), np.zeros((10, 2)))
