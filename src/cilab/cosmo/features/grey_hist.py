"""Grey-level histograms on a fixed 0-255 range: fine (many linear bins) or log-spaced bins.

Fractions of pixels, optionally log-scaled (`log10(fraction + 1e-7)`), so the rare bright pixels
that make a cosmology field are not drowned by its 99.7 % of zeros.
"""

from __future__ import annotations

import itertools
from typing import Literal

import numpy as np

from cilab.cosmo.features.base import ImageFeatures, grey_counts


class GreyHistogram(ImageFeatures):
    """`spacing="linear"`: `bins` equal bins over [0, 256). `"log"`: bin 0 holds level 0, then
    edges at 1, 2, 4, ..., 256 (`bins` is ignored: 9 bins).
    """

    def __init__(
        self,
        bins: int = 64,
        spacing: Literal["linear", "log"] = "linear",
        log_counts: bool = True,
        image_shape: tuple[int, int] | None = None,
    ) -> None:
        self.bins = bins
        self.spacing = spacing
        self.log_counts = log_counts
        self.image_shape = image_shape

    def _edges(self) -> np.ndarray:
        if self.spacing == "log":
            return np.array([0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0])
        if self.spacing != "linear":
            raise ValueError(f"spacing must be 'linear' or 'log', got {self.spacing!r}")
        if not 1 <= int(self.bins) <= 256:
            raise ValueError(f"bins must be 1-256, got {self.bins}")
        return np.linspace(0.0, 256.0, int(self.bins) + 1)

    def feature_names(self, shape: tuple[int, int]) -> list[str]:
        e = self._edges()
        tag = "loghist" if self.spacing == "log" else f"hist{int(self.bins)}"
        return [f"{tag}_{int(a)}-{int(np.ceil(b)) - 1}" for a, b in itertools.pairwise(e)]

    def features_of(self, img: np.ndarray) -> np.ndarray:
        edges = self._edges()
        counts = grey_counts(img)
        if counts is None:
            hist = np.histogram(img, bins=edges)[0].astype(np.float64)
        else:
            starts = np.ceil(edges[:-1]).astype(int)  # level v >= edge: bin starts at ceil(edge)
            hist = np.add.reduceat(counts, starts).astype(np.float64)
        frac = hist / max(img.size, 1)
        return np.log10(frac + 1e-7) if self.log_counts else frac
