"""The last step of every simulated image: a linear rescale so that exactly one pixel is 255.

The real images were rescaled this way (every one of them has exactly one pixel at 255), which
makes absolute brightness meaningless and relative brightness everything.
"""

from __future__ import annotations

import numpy as np

SATURATION = 255.0  # grey level where bright sources flatten out (before the rescale)


def soft_saturate(img: np.ndarray, level: float = SATURATION, k: float = 4.0) -> np.ndarray:
    """x / (1 + (x/level)^k)^(1/k): linear well below `level`, flat tops above it; in place."""
    bright = img > 0.25 * level
    x = img[bright]
    img[bright] = x / (1.0 + (x / level) ** k) ** (1.0 / k)
    return img


def to_uint8_one_max(img: np.ndarray) -> np.ndarray:
    """Scale so the maximum maps to 255, floor, and keep 255 for the first maximal pixel only.

    Flooring (not rounding) matches the real data, where a faint wing below one grey level is 0.
    Ties at the maximum become 254, so exactly one pixel is 255 whatever the content.
    """
    img = np.asarray(img, dtype=np.float32)
    top = float(img.max())
    if not np.isfinite(top) or top <= 0:
        raise ValueError("an image needs a positive maximum to be rescaled")
    flat = np.floor(img.ravel() * np.float32(255.0 / top))
    np.clip(flat, 0, 255, out=flat)
    out = flat.astype(np.uint8)
    at_max = np.flatnonzero(out == 255)
    keep = int(np.argmax(img.ravel()))
    out[at_max] = 254
    out[keep] = 255
    return out.reshape(img.shape)
