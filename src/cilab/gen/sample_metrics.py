"""Metrics of generated images, each a pure function of NumPy arrays.

The networks that produce the inputs (an MNIST classifier's probabilities and penultimate
features, or raw pixels) live elsewhere (`cilab.gen.classifier`, `cilab.gen.sample_eval`); here is
only arithmetic, tested against cases that can be checked by hand:

- `inception_score`: exp(E_x KL(p(y|x) || p(y))) (Salimans et al. 2016) with an MNIST classifier in
  place of Inception. 1 <= IS <= number of classes; 10 for confident, balanced predictions.
- `frechet_distance`: |mu1 - mu2|^2 + tr(C1 + C2 - 2 (C1 C2)^(1/2)) between Gaussians fitted to two
  feature sets (Heusel et al. 2017), computed with symmetric eigendecompositions, so singular
  covariances (ReLU features) need no fudge term. `frechet_by_class` takes it class by class
  (which digits carry it).
- `class_entropy`: entropy in nats of the predicted-label histogram; ln 10 is perfect coverage.
- `knn_precision_recall`: Kynkäänniemi et al. 2019 ("Improved precision and recall metric for
  assessing generative models"): a sample is precise when it falls inside some real point's
  k-NN ball; a real point is recalled when it falls inside some sample's k-NN ball.
- `nearest_distances`: Euclidean distance of each row to its nearest reference row (with pixel
  rows and the training set: a memorization check).

Distances are computed in row chunks of `chunk` rows, so 10,000 x 60,000 pairs need one chunk of
memory, never the whole matrix.
"""

from __future__ import annotations

import numpy as np

NDArray = np.ndarray


def inception_score(probs: NDArray, splits: int = 1) -> float:
    """exp(mean_i KL(p(y|x_i) || p(y))), p(y) the mean of the rows; mean over `splits` parts.

    `probs` [N, K]: rows are class probabilities (non-negative, summing to 1). With splits > 1 the
    rows are cut into equal consecutive parts and the scores averaged (the usual protocol uses 10);
    the default scores the whole set at once.
    """
    p = _check_probs(probs)
    if not 1 <= splits <= len(p):
        raise ValueError(f"splits must be in [1, {len(p)}], got {splits}")
    scores = []
    for part in np.array_split(p, splits):
        marginal = part.mean(axis=0, keepdims=True)  # p(y) [1, K]
        kl = _xlogy(part, part) - _xlogy(part, np.broadcast_to(marginal, part.shape))  # [n, K]
        scores.append(np.exp(kl.sum(axis=1).mean()))
    return float(np.mean(scores))


def class_entropy(labels: NDArray, num_classes: int = 10) -> float:
    """Entropy (nats) of the histogram of integer `labels`; ln(num_classes) when all are equal."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) == 0:
        raise ValueError(f"labels must be a non-empty 1-D array, got shape {labels.shape}")
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(
            f"labels must lie in [0, {num_classes}), got {labels.min()}..{labels.max()}"
        )
    freq = np.bincount(labels, minlength=num_classes) / len(labels)
    return float(0.0 - _xlogy(freq, freq).sum())  # 0.0 - x: no '-0.0' for one class


def feature_stats(features: NDArray) -> tuple[NDArray, NDArray]:
    """Mean [D] and covariance [D, D] (unbiased, float64) of rows `features` [N, D]."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or len(f) < 2:
        raise ValueError(f"features must be [N >= 2, D], got shape {f.shape}")
    return f.mean(axis=0), np.cov(f, rowvar=False).reshape(f.shape[1], f.shape[1])


def frechet_distance(mu1: NDArray, cov1: NDArray, mu2: NDArray, cov2: NDArray) -> float:
    """Fréchet (2-Wasserstein squared) distance between N(mu1, cov1) and N(mu2, cov2).

    tr((C1 C2)^(1/2)) is the sum of square roots of the eigenvalues of C1^(1/2) C2 C1^(1/2), a
    symmetric positive semi-definite matrix with the same spectrum as C1 C2: no complex parts, no
    sqrtm iterations. Tiny negative eigenvalues from rounding are clipped to 0.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    c1, c2 = np.asarray(cov1, np.float64), np.asarray(cov2, np.float64)
    if mu1.shape != mu2.shape or c1.shape != c2.shape or c1.shape != (len(mu1), len(mu1)):
        raise ValueError(f"shape mismatch: mu {mu1.shape}/{mu2.shape}, cov {c1.shape}/{c2.shape}")
    s1 = _psd_sqrt(c1)
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(s1 @ c2 @ s1), 0.0, None)).sum()
    value = np.sum((mu1 - mu2) ** 2) + np.trace(c1) + np.trace(c2) - 2.0 * cross
    return float(max(value, 0.0))


def frechet_distance_of(features_a: NDArray, features_b: NDArray) -> float:
    """`frechet_distance` of the Gaussians fitted to two feature sets [N, D] and [M, D]."""
    return frechet_distance(*feature_stats(features_a), *feature_stats(features_b))


def class_feature_stats(
    features: NDArray, labels: NDArray, num_classes: int = 10
) -> tuple[NDArray, NDArray]:
    """Per-class mean [K, D] and covariance [K, D, D] of rows `features` [N, D] by `labels` [N];
    NaN for a class with fewer than two rows (no covariance)."""
    f, labels = np.asarray(features, np.float64), np.asarray(labels)
    if f.ndim != 2 or labels.shape != (len(f),):
        raise ValueError(f"need features [N, D] and labels [N], got {f.shape} and {labels.shape}")
    mu = np.full((num_classes, f.shape[1]), np.nan)
    cov = np.full((num_classes, f.shape[1], f.shape[1]), np.nan)
    for c in range(num_classes):
        rows = f[labels == c]
        if len(rows) >= 2:
            mu[c], cov[c] = feature_stats(rows)
    return mu, cov


def frechet_by_class(
    features: NDArray, labels: NDArray, ref_mu: NDArray, ref_cov: NDArray
) -> NDArray:
    """Fréchet distance of each class's rows of `features` [N, D] (by `labels` [N]) against the
    reference Gaussian of that class (`ref_mu` [K, D], `ref_cov` [K, D, D], from
    `class_feature_stats`) [K]; NaN where either side has fewer than two rows.

    The classes' distances do not add up to the whole set's: that one also counts the class
    proportions and the gaps between classes. With few rows a class's distance is biased
    upwards (the sample covariance's noise), so compare it with a real set of the same size.
    """
    mu, cov = class_feature_stats(features, labels, len(ref_mu))
    out = np.full(len(ref_mu), np.nan)
    for c in range(len(ref_mu)):
        if not (np.isnan(mu[c]).any() or np.isnan(ref_mu[c]).any()):
            out[c] = frechet_distance(mu[c], cov[c], ref_mu[c], ref_cov[c])
    return out


def knn_radii(features: NDArray, k: int = 3, chunk: int = 1024) -> NDArray:
    """Distance of each row to its k-th nearest other row [N] (the row itself not counted)."""
    f = np.asarray(features, dtype=np.float64)
    if not 1 <= k < len(f):
        raise ValueError(f"k must be in [1, {len(f) - 1}] for {len(f)} points, got {k}")
    radii = np.empty(len(f))
    for s in range(0, len(f), chunk):
        d2 = _sq_dists(f[s : s + chunk], f)  # [c, N]
        # The row itself sits at distance ~0, so the k-th other neighbour is the (k+1)-th smallest.
        radii[s : s + chunk] = np.partition(d2, k, axis=1)[:, k]
    return np.sqrt(radii)


def knn_precision_recall(
    real: NDArray, fake: NDArray, k: int = 3, chunk: int = 1024
) -> tuple[float, float]:
    """(precision, recall) of `fake` [M, D] against `real` [N, D], k-NN manifolds (Kynkäänniemi).

    precision: fraction of fake rows within the k-NN radius of at least one real row.
    recall: fraction of real rows within the k-NN radius of at least one fake row.
    """
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"need [N, D] and [M, D] arrays, got {real.shape} and {fake.shape}")
    precision = _covered(fake, real, knn_radii(real, k, chunk), chunk).mean()
    recall = _covered(real, fake, knn_radii(fake, k, chunk), chunk).mean()
    return float(precision), float(recall)


def nearest_distances(queries: NDArray, reference: NDArray, chunk: int = 1024) -> NDArray:
    """Euclidean distance of each query row [M, D] to its nearest row of `reference` [N, D]."""
    q, r = np.asarray(queries, np.float32), np.asarray(reference, np.float32)
    if q.ndim != 2 or r.ndim != 2 or q.shape[1] != r.shape[1]:
        raise ValueError(f"need [M, D] and [N, D] arrays, got {q.shape} and {r.shape}")
    out = np.empty(len(q))
    for s in range(0, len(q), chunk):
        out[s : s + chunk] = _sq_dists(q[s : s + chunk], r).min(axis=1)
    return np.sqrt(out)


# -- helpers ---------------------------------------------------------------------------------
def _covered(points: NDArray, centres: NDArray, radii: NDArray, chunk: int) -> NDArray:
    """Boolean [M]: does point m lie in some ball (centre n, radius radii[n])?"""
    hit = np.zeros(len(points), dtype=bool)
    r2 = radii**2
    for s in range(0, len(points), chunk):
        hit[s : s + chunk] = (_sq_dists(points[s : s + chunk], centres) <= r2[None, :]).any(axis=1)
    return hit


def _sq_dists(a: NDArray, b: NDArray) -> NDArray:
    """Squared Euclidean distances [len(a), len(b)] via |a|^2 + |b|^2 - 2ab, clipped at 0."""
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    return np.maximum(d2, 0.0)


def _psd_sqrt(c: NDArray) -> NDArray:
    """Symmetric square root of a positive semi-definite matrix (negative eigenvalues -> 0)."""
    w, v = np.linalg.eigh((c + c.T) / 2)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def _xlogy(x: NDArray, y: NDArray) -> NDArray:
    """x * log(y), with 0 where x == 0 (so 0 log 0 = 0)."""
    out = np.zeros(np.broadcast(x, y).shape)
    mask = np.broadcast_to(x, out.shape) > 0
    out[mask] = np.broadcast_to(x, out.shape)[mask] * np.log(np.broadcast_to(y, out.shape)[mask])
    return out


def _check_probs(probs: NDArray) -> NDArray:
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or len(p) == 0:
        raise ValueError(f"probs must be [N, K] with N >= 1, got shape {p.shape}")
    if (p < 0).any() or not np.allclose(p.sum(axis=1), 1.0, atol=1e-4):
        raise ValueError("probs rows must be non-negative and sum to 1 (apply softmax first)")
    return p
