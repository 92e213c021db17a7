"""Haar wavelet energies: mean squared detail coefficients per level and orientation.

An orthonormal 2-D Haar transform in NumPy (2x2 blocks: LL = (a+b+c+d)/2, horizontal, vertical
and diagonal details likewise), repeated on LL for `levels` levels; odd rows or columns are
dropped at each level. Point sources put their energy in the finest levels, smooth photographs
and backgrounds in the coarse ones. Returned as log10(energy + 1e-6), plus the final LL energy.
"""

from __future__ import annotations

import numpy as np

from cilab.cosmo.features.base import ImageFeatures

ORIENTATIONS = ("h", "v", "d")


def haar_step(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One orthonormal Haar level: (LL, dh, dv, dd), each [h//2, w//2].

    An odd last row or column is dropped.
    """
    h, w = (x.shape[0] // 2) * 2, (x.shape[1] // 2) * 2
    b = x[:h, :w].reshape(h // 2, 2, w // 2, 2)  # [h/2, 2, w/2, 2]: the 2x2 blocks
    a00, a01, a10, a11 = b[:, 0, :, 0], b[:, 0, :, 1], b[:, 1, :, 0], b[:, 1, :, 1]
    ll = (a00 + a01 + a10 + a11) * 0.5
    dh = (a00 - a01 + a10 - a11) * 0.5  # left minus right: vertical edges
    dv = (a00 + a01 - a10 - a11) * 0.5  # top minus bottom: horizontal edges
    dd = (a00 - a01 - a10 + a11) * 0.5
    return ll, dh, dv, dd


class WaveletEnergies(ImageFeatures):
    """log10 mean energy of the Haar details per level and orientation, and of the last LL."""

    prefix = "wav"

    def __init__(self, levels: int = 5, image_shape: tuple[int, int] | None = None) -> None:
        self.levels = levels
        self.image_shape = image_shape

    def feature_names(self, shape: tuple[int, int]) -> list[str]:
        names = [f"wav_l{lv + 1}_{o}" for lv in range(self.levels) for o in ORIENTATIONS]
        return [*names, "wav_ll"]

    def features_of(self, img: np.ndarray) -> np.ndarray:
        x = img.astype(np.float32)
        out = np.zeros(3 * self.levels + 1)
        for lv in range(self.levels):
            if min(x.shape) < 2:
                break  # too small for another level: its energies stay 0
            x, dh, dv, dd = haar_step(x)
            for j, d in enumerate((dh, dv, dd)):
                out[3 * lv + j] = float(np.mean(np.square(d, dtype=np.float64)))
        out[-1] = float(np.mean(np.square(x, dtype=np.float64))) if x.size else 0.0
        return np.log10(out + 1e-6)
