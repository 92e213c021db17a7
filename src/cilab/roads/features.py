"""Hand-crafted per-patch features, as a scikit-learn transformer from images to patch rows.

`PatchFeatures.transform(images)` maps uint8 images [N, H, W, 3] to one row per 16x16 patch,
[N * h * w, F], rows in image, patch-row, patch-column order (so `.reshape(N, h, w)` of any
per-row output lines up with `patches.patch_labels`).

- `basic`: the course baseline, the mean and variance of each RGB channel in [0, 1] (6 numbers).
- `extended`: RGB and HSV mean and standard deviation, grey-level percentiles, gradient
  magnitude statistics (Sobel), the Laplacian's mean absolute value, structure-tensor coherence
  and orientation (roads are long straight edges), and the same features averaged over the 3x3
  and 7x7 neighbourhoods of patches (context: a road continues into its neighbours).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy import ndimage
from sklearn.base import BaseEstimator, TransformerMixin

from cilab.roads.patches import PATCH, patch_means

FeatureSet = Literal["basic", "extended"]
FEATURE_SETS: tuple[str, ...] = ("basic", "extended")
CONTEXT_SIZES = (3, 7)


def _rgb_to_hsv(rgb: np.ndarray) -> np.ndarray:
    """[..., 3] floats in [0, 1] -> HSV in [0, 1]; hue as a fraction of the circle."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    mx, mn = rgb.max(-1), rgb.min(-1)
    delta = mx - mn
    safe = np.where(delta > 0, delta, 1.0)
    hue = np.where(
        mx == r, ((g - b) / safe) % 6, np.where(mx == g, (b - r) / safe + 2, (r - g) / safe + 4)
    )
    hue = np.where(delta > 0, hue / 6.0, 0.0)
    sat = np.where(mx > 0, delta / np.where(mx > 0, mx, 1.0), 0.0)
    return np.stack([hue, sat, mx], axis=-1)


def _patch_stats(x: np.ndarray, patch: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-patch mean and standard deviation of [H, W] -> two [h, w] maps."""
    m = patch_means(x, patch)
    var = np.maximum(patch_means(x * x, patch) - m * m, 0.0)
    return m, np.sqrt(var)


def _patch_percentiles(x: np.ndarray, patch: int, qs: tuple[float, ...]) -> list[np.ndarray]:
    h, w = x.shape
    ph, pw = -(-h // patch), -(-w // patch)
    pad = np.pad(x, ((0, ph * patch - h), (0, pw * patch - w)), mode="edge")
    blocks = pad.reshape(ph, patch, pw, patch).transpose(0, 2, 1, 3).reshape(ph, pw, -1)
    return list(np.percentile(blocks, qs, axis=-1))


def basic_features(image: np.ndarray, patch: int = PATCH) -> np.ndarray:
    """The course's features of one image: [h, w, 6] (RGB means, then RGB variances)."""
    x = image.astype(np.float64) / 255.0
    means = [patch_means(x[..., c], patch) for c in range(3)]
    vars_ = [
        np.maximum(patch_means(x[..., c] ** 2, patch) - m**2, 0.0) for c, m in enumerate(means)
    ]
    return np.stack(means + vars_, axis=-1)


def extended_features(image: np.ndarray, patch: int = PATCH) -> np.ndarray:
    """Colour, texture and context features of one image: [h, w, F]."""
    x = image.astype(np.float64) / 255.0
    grey = x @ np.array([0.299, 0.587, 0.114])
    maps: list[np.ndarray] = []
    for c in range(3):
        maps.extend(_patch_stats(x[..., c], patch))
    hsv = _rgb_to_hsv(x)
    for c in range(3):
        maps.extend(_patch_stats(hsv[..., c], patch))
    maps.extend(_patch_percentiles(grey, patch, (10.0, 50.0, 90.0)))
    gx, gy = ndimage.sobel(grey, axis=1), ndimage.sobel(grey, axis=0)
    maps.extend(_patch_stats(np.hypot(gx, gy), patch))
    maps.append(patch_means(np.abs(ndimage.laplace(grey)), patch))
    # Structure tensor averaged over the patch: coherent (line-like) texture and its direction.
    jxx, jyy, jxy = (patch_means(a, patch) for a in (gx * gx, gy * gy, gx * gy))
    diff, trace = jxx - jyy, jxx + jyy + 1e-12
    maps.append(np.sqrt(diff**2 + 4 * jxy**2) / trace)  # coherence in [0, 1]
    maps.append(np.abs(diff) / trace)  # axis-aligned-ness of the dominant orientation
    local = np.stack(maps, axis=-1)  # [h, w, F0]
    context = [ndimage.uniform_filter(local, size=(s, s, 1), mode="reflect") for s in CONTEXT_SIZES]
    return np.concatenate([local, *context], axis=-1)


class PatchFeatures(TransformerMixin, BaseEstimator):
    """Images [N, H, W, 3] uint8 -> patch feature rows [N * h * w, F]; stateless."""

    def __init__(self, feature_set: FeatureSet = "basic", patch: int = PATCH) -> None:
        self.feature_set = feature_set
        self.patch = patch

    def fit(self, images: np.ndarray, y: np.ndarray | None = None) -> PatchFeatures:
        if self.feature_set not in FEATURE_SETS:
            raise ValueError(
                f"unknown feature set {self.feature_set!r}; choose {', '.join(FEATURE_SETS)}"
            )
        return self

    def transform(self, images: np.ndarray) -> np.ndarray:
        fn = basic_features if self.feature_set == "basic" else extended_features
        rows = [fn(np.asarray(img), self.patch) for img in images]
        return np.concatenate([r.reshape(-1, r.shape[-1]) for r in rows]).astype(np.float32)

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        return tags
