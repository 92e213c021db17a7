"""Moments and entropy of the grey levels: mean, spread, skewness, kurtosis, entropy, quantiles.

For uint8 images everything comes from one 256-level histogram (exact and fast).
"""

from __future__ import annotations

import numpy as np

from cilab.cosmo.features.base import ImageFeatures, grey_counts

NAMES = (
    "mean", "std", "skew", "kurtosis", "entropy_bits", "zero_fraction", "median", "p99",
    "p999", "max_over_mean",
)  # fmt: skip


class MomentsEntropy(ImageFeatures):
    """Grey-level moments, entropy (bits), zero fraction, quantiles and max/mean."""

    prefix = "mom"

    def __init__(self, image_shape: tuple[int, int] | None = None) -> None:
        self.image_shape = image_shape

    def feature_names(self, shape: tuple[int, int]) -> list[str]:
        return [f"mom_{n}" for n in NAMES]

    def features_of(self, img: np.ndarray) -> np.ndarray:
        counts = grey_counts(img)
        if counts is None:  # any other dtype: exact values, histogram of the distinct values
            values, counts = np.unique(img.astype(np.float64), return_counts=True)
        else:
            values = np.arange(256, dtype=np.float64)
        p = counts / counts.sum()
        mean = float(p @ values)
        d = values - mean
        var = float(p @ d**2)
        std = np.sqrt(var)
        skew = float(p @ d**3) / std**3 if std > 0 else 0.0
        kurt = float(p @ d**4) / var**2 - 3.0 if var > 0 else 0.0
        nz = p[p > 0]
        entropy = float(-(nz * np.log2(nz)).sum())
        cdf = np.cumsum(p)
        q = [values[min(np.searchsorted(cdf, t), values.size - 1)] for t in (0.5, 0.99, 0.999)]
        zero = float(p[values == 0].sum())
        top = float(values[counts > 0].max())
        return np.array(
            [mean, std, skew, kurt, entropy, zero, *q, top / mean if mean > 0 else 0.0],
            dtype=np.float64,
        )
