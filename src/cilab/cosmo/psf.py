"""The Moffat point-spread function: I(r) = I0 (1 + r²/α²)^-β, FWHM = 2α·sqrt(2^(1/β) - 1).

The real cosmology fields use one Moffat PSF per image (FWHM 3.1-4.2 px, β ≈ 4.4); both the
simulator (rendering) and the source features (measuring widths) use these helpers.
"""

from __future__ import annotations

import numpy as np


def fwhm_to_alpha(fwhm: float | np.ndarray, beta: float | np.ndarray) -> float | np.ndarray:
    """The Moffat α (px) that gives this FWHM at this β; inverse of `alpha_to_fwhm`."""
    return fwhm / (2.0 * np.sqrt(2.0 ** (1.0 / beta) - 1.0))


def alpha_to_fwhm(alpha: float | np.ndarray, beta: float | np.ndarray) -> float | np.ndarray:
    """The FWHM (px) of a Moffat of core width α and index β."""
    return 2.0 * alpha * np.sqrt(2.0 ** (1.0 / beta) - 1.0)


def moffat_radius(
    peak: np.ndarray, alpha: np.ndarray, beta: np.ndarray, floor: float
) -> np.ndarray:
    """The radius where a Moffat of this peak falls to `floor` (0 where the peak is below it)."""
    ratio = np.maximum(peak / floor, 1.0)
    return alpha * np.sqrt(np.maximum(ratio ** (1.0 / beta) - 1.0, 0.0))


def add_moffat(
    img: np.ndarray,
    x: float,
    y: float,
    peak: float,
    alpha: float,
    beta: float,
    q: float = 1.0,
    theta: float = 0.0,
    radius: int = 8,
) -> None:
    """Add an elliptical Moffat (axis ratio q, angle theta) at (x, y) = (col, row), in place.

    Only a (2·radius+1)² stamp is evaluated, clipped to the image; pixel centres are integers.
    """
    h, w = img.shape
    cx, cy = round(x), round(y)
    r0, r1 = max(cy - radius, 0), min(cy + radius + 1, h)
    c0, c1 = max(cx - radius, 0), min(cx + radius + 1, w)
    if r0 >= r1 or c0 >= c1:
        return
    dy = (np.arange(r0, r1, dtype=np.float32) - np.float32(y))[:, None]  # [h_stamp, 1]
    dx = (np.arange(c0, c1, dtype=np.float32) - np.float32(x))[None, :]  # [1, w_stamp]
    if q != 1.0:
        c, s = np.float32(np.cos(theta)), np.float32(np.sin(theta))
        u = dx * c + dy * s
        v = -dx * s + dy * c
        r2 = u * u * np.float32(q) + v * v / np.float32(q)
    else:
        r2 = dx * dx + dy * dy
    img[r0:r1, c0:c1] += np.float32(peak) * (1.0 + r2 / np.float32(alpha * alpha)) ** np.float32(
        -beta
    )
