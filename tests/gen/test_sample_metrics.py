"""Sample-quality metrics against cases that can be checked by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import linalg

from cilab.gen.sample_metrics import (
    class_entropy,
    class_feature_stats,
    feature_stats,
    frechet_by_class,
    frechet_distance,
    frechet_distance_of,
    inception_score,
    knn_precision_recall,
    knn_radii,
    nearest_distances,
)


def test_is_of_confident_uniform_classifier_is_ten() -> None:
    probs = np.eye(10)[np.arange(1000) % 10]  # one-hot, each class 100 times
    assert inception_score(probs) == pytest.approx(10.0)
    assert inception_score(probs, splits=10) == pytest.approx(10.0)


def test_is_of_uninformative_or_collapsed_classifier_is_one() -> None:
    assert inception_score(np.full((50, 10), 0.1)) == pytest.approx(1.0)
    assert inception_score(np.eye(10)[np.full(50, 3)]) == pytest.approx(1.0)


def test_is_matches_hand_computed_value() -> None:
    # Two classes, two images: p = (0.9, 0.1) and (0.1, 0.9); marginal (0.5, 0.5).
    probs = np.array([[0.9, 0.1], [0.1, 0.9]])
    kl = 0.9 * math.log(0.9 / 0.5) + 0.1 * math.log(0.1 / 0.5)
    assert inception_score(probs) == pytest.approx(math.exp(kl))
    # k confident classes used equally: IS = k.
    assert inception_score(np.eye(10)[np.arange(40) % 4]) == pytest.approx(4.0)


def test_is_rejects_logits() -> None:
    with pytest.raises(ValueError, match="softmax"):
        inception_score(np.array([[2.0, -1.0]]))


def test_class_entropy() -> None:
    assert class_entropy(np.arange(100) % 10) == pytest.approx(math.log(10))
    assert class_entropy(np.full(7, 4)) == 0.0
    assert class_entropy(np.array([0, 1, 0, 1])) == pytest.approx(math.log(2))
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        class_entropy(np.array([0, 10]))


def test_fd_of_a_set_with_itself_is_zero() -> None:
    rng = np.random.default_rng(0)
    f = rng.normal(size=(500, 8)) @ rng.normal(size=(8, 8))
    assert frechet_distance_of(f, f) == pytest.approx(0.0, abs=1e-8)
    # Rank-deficient features (ReLU-like: constant zero columns) need no fudge term either.
    f[:, :3] = 0.0
    assert frechet_distance_of(f, f) == pytest.approx(0.0, abs=1e-8)


def test_fd_of_gaussians_matches_the_closed_form() -> None:
    # Diagonal covariances: |mu1 - mu2|^2 + sum (sigma1 - sigma2)^2.
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    s1, s2 = np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 1.0])
    expected = 1.0 + 4.0 + (1.0 + 0.0 + 4.0)
    assert frechet_distance(mu1, np.diag(s1**2), mu2, np.diag(s2**2)) == pytest.approx(expected)
    # Non-commuting full covariances: the textbook formula with scipy's sqrtm.
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(4, 4)), rng.normal(size=(4, 4))
    c1, c2 = a @ a.T + 0.1 * np.eye(4), b @ b.T + 0.1 * np.eye(4)
    m1, m2 = rng.normal(size=4), rng.normal(size=4)
    textbook = np.sum((m1 - m2) ** 2) + np.trace(c1 + c2 - 2 * linalg.sqrtm(c1 @ c2).real)
    assert frechet_distance(m1, c1, m2, c2) == pytest.approx(textbook, rel=1e-8)
    assert frechet_distance(m1, c1, m2, c2) == pytest.approx(frechet_distance(m2, c2, m1, c1))


def test_feature_stats_and_fd_of_samples_converge() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(20000, 2)) * [1.0, 2.0] + [3.0, 0.0]
    mu, cov = feature_stats(x)
    assert np.allclose(mu, [3.0, 0.0], atol=0.05) and np.allclose(cov, np.diag([1, 4]), atol=0.1)
    y = rng.normal(size=(20000, 2))  # N(0, I): FD = 9 + (2 - 1)^2 = 10
    assert frechet_distance_of(x, y) == pytest.approx(10.0, rel=0.02)


def test_class_stats_are_each_class_own_and_nan_below_two_rows() -> None:
    f = np.array([[0.0, 0.0], [2.0, 0.0], [1.0, 4.0], [5.0, 5.0]])
    mu, cov = class_feature_stats(f, np.array([0, 0, 0, 2]), num_classes=3)
    assert mu[0] == pytest.approx([1.0, 4 / 3])
    assert cov[0] == pytest.approx(np.cov(f[:3], rowvar=False))
    assert np.isnan(mu[1]).all() and np.isnan(cov[2]).all()  # no rows; one row
    with pytest.raises(ValueError, match="labels"):
        class_feature_stats(f, np.array([0, 1]))


def test_fd_by_class_finds_the_shifted_class() -> None:
    rng = np.random.default_rng(3)
    f = rng.normal(size=(600, 4))
    labels = np.repeat([0, 1, 2], 200)
    f[:, 0] += 10.0 * labels  # three separate clusters
    ref_mu, ref_cov = class_feature_stats(f, labels, num_classes=4)
    shifted = f.copy()
    shifted[labels == 1] += [3.0, 0.0, 4.0, 0.0]  # only class 1 moves, by |d|^2 = 25
    fd = frechet_by_class(shifted, labels, ref_mu, ref_cov)
    assert fd[:3] == pytest.approx([0.0, 25.0, 0.0], abs=1e-6)
    assert np.isnan(fd[3])  # a class neither side has
    # Class 2's rows called 0: class 0's mean moves by 10 along axis 0 (mean term 100).
    swapped = frechet_by_class(f, np.where(labels == 2, 0, labels), ref_mu, ref_cov)
    assert swapped[0] > 90.0 and swapped[1] == pytest.approx(0.0, abs=1e-6)
    assert np.isnan(swapped[2])


def test_knn_radii_by_hand() -> None:
    points = np.array([[0.0], [1.0], [3.0], [7.0]])
    assert knn_radii(points, k=1).tolist() == [1.0, 1.0, 2.0, 4.0]
    assert knn_radii(points, k=2, chunk=3).tolist() == [3.0, 2.0, 3.0, 6.0]


def test_precision_recall_of_identical_sets_is_one() -> None:
    x = np.random.default_rng(3).normal(size=(300, 5))
    assert knn_precision_recall(x, x.copy(), k=3, chunk=64) == (1.0, 1.0)


def test_precision_recall_of_disjoint_far_sets_is_zero() -> None:
    rng = np.random.default_rng(4)
    real, fake = rng.normal(size=(200, 5)), rng.normal(size=(150, 5)) + 100.0
    assert knn_precision_recall(real, fake) == (0.0, 0.0)


def test_precision_recall_separate_quality_from_coverage() -> None:
    # Fakes all sit inside one of two real clusters: they are realistic (precision near 1),
    # but the other cluster is never produced (recall at most 1/2).
    rng = np.random.default_rng(5)
    real = np.concatenate([rng.normal(size=(200, 2)), rng.normal(size=(200, 2)) + 50.0])
    fake = rng.normal(size=(400, 2)) * 0.5
    precision, recall = knn_precision_recall(real, fake, k=3)
    assert precision >= 0.95
    assert 0.3 <= recall <= 0.5


def test_nearest_distances_by_hand() -> None:
    reference = np.array([[0.0, 0.0], [3.0, 4.0]])
    queries = np.array([[0.0, 0.0], [3.0, 0.0], [6.0, 8.0]])
    assert nearest_distances(queries, reference, chunk=2) == pytest.approx([0.0, 3.0, 5.0])
