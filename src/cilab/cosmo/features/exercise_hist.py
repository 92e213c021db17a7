"""The exercise's baseline: `np.histogram(image, bins=10)`, edges spanning the image's range."""

from __future__ import annotations

import numpy as np

from cilab.cosmo.features.base import ImageFeatures, grey_counts


class ExerciseHistogram(ImageFeatures):
    """Counts in `bins` equal bins between the image's min and max, exactly as the exercise.

    For uint8 images the counts come from a 256-level `bincount` (one pass, no float copy) and
    are identical to `np.histogram(img, bins)`.
    """

    prefix = "hist10"

    def __init__(self, bins: int = 10, image_shape: tuple[int, int] | None = None) -> None:
        self.bins = bins
        self.image_shape = image_shape

    def feature_names(self, shape: tuple[int, int]) -> list[str]:
        return [f"{self.prefix}_{i}" for i in range(self.bins)]

    def features_of(self, img: np.ndarray) -> np.ndarray:
        counts = grey_counts(img)
        if counts is None:
            return np.histogram(img, bins=self.bins)[0].astype(np.float64)
        levels = np.flatnonzero(counts)
        lo, hi = float(levels[0]), float(levels[-1])
        hist, _ = np.histogram(levels, bins=self.bins, range=_range(lo, hi), weights=counts[levels])
        return hist.astype(np.float64)


def _range(lo: float, hi: float) -> tuple[float, float]:
    # np.histogram widens an empty range by 0.5 each side; it must see the same edges here
    return (lo - 0.5, hi + 0.5) if lo == hi else (lo, hi)
