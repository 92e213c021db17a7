"""The radially averaged power spectrum, in log-spaced frequency bins.

P(k) = |FFT(img - mean)|² / (h·w), averaged over rings of |k| (cycles per pixel) between
1/max(h, w) and 0.5·√2, returned as log10(P + 1e-12). Point sources give a spectrum that falls
off at the PSF's scale; photographs follow a power law; noise is flat.
"""

from __future__ import annotations

import itertools
from functools import lru_cache

import numpy as np
import scipy.fft

from cilab.cosmo.features.base import ImageFeatures


@lru_cache(maxsize=16)
def _ring_index(h: int, w: int, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Each rfft2 coefficient's ring (n_bins = outside), its weight, and the ring sizes."""
    ky = np.fft.fftfreq(h)[:, None]
    kx = np.fft.rfftfreq(w)[None, :]
    k = np.sqrt(kx**2 + ky**2)  # [h, w//2+1]
    edges = np.geomspace(1.0 / max(h, w, 2), 0.5 * np.sqrt(2) + 1e-9, n_bins + 1)
    ring = np.searchsorted(edges, k, side="right") - 1
    ring[(ring < 0) | (ring >= n_bins)] = n_bins
    # rfft2 keeps half the plane: columns 1..(w-1)//2 stand for two coefficients each
    weight = np.full(k.shape, 2.0)
    weight[:, 0] = 1.0
    if w % 2 == 0:
        weight[:, -1] = 1.0
    sizes = np.bincount(ring.ravel(), weights=weight.ravel(), minlength=n_bins + 1)
    return (ring.ravel(), weight.ravel()), sizes  # type: ignore[return-value]


class RadialPowerSpectrum(ImageFeatures):
    """log10 of the ring-averaged power spectrum in `n_bins` log-spaced rings."""

    prefix = "ps"

    def __init__(self, n_bins: int = 24, image_shape: tuple[int, int] | None = None) -> None:
        self.n_bins = n_bins
        self.image_shape = image_shape

    def feature_names(self, shape: tuple[int, int]) -> list[str]:
        h, w = shape
        edges = np.geomspace(1.0 / max(h, w, 2), 0.5 * np.sqrt(2), self.n_bins + 1)
        return [f"ps_k{np.sqrt(a * b):.4f}" for a, b in itertools.pairwise(edges)]

    def features_of(self, img: np.ndarray) -> np.ndarray:
        h, w = img.shape
        x = img.astype(np.float32)
        x -= x.mean()
        f = scipy.fft.rfft2(x, workers=1)  # [h, w//2+1] complex64
        power = (f.real * f.real + f.imag * f.imag) / np.float32(h * w)
        (ring, weight), sizes = _ring_index(h, w, self.n_bins)
        total = np.bincount(ring, weights=power.ravel() * weight, minlength=self.n_bins + 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = total[: self.n_bins] / sizes[: self.n_bins]
        mean = np.where(sizes[: self.n_bins] > 0, mean, 0.0)  # rings without a coefficient
        return np.log10(mean + 1e-12)
