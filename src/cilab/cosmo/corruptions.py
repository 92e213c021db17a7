"""Corrupted fields: a clean field spoiled by one of several defects of strength κ in [0, 1].

Each corruption acts on a rendered field in grey levels (sources peak near 255, before the final
rescale). κ → 0 leaves a nearly clean field (e.g. a 1-3 grey-level raised background, the most
common kind of corrupted image among the real scores 0.01-1); κ → 1 is a strong defect.
The registry `CORRUPTIONS` maps a name to `(function, probability)`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage as ndi

Corruption = Callable[[np.ndarray, np.random.Generator, float], np.ndarray]


def raised_background(img: np.ndarray, rng: np.random.Generator, kappa: float) -> np.ndarray:
    """A background of 1-3 grey levels (weak) up to ~40 (strong), maybe tilted, with read noise."""
    level = 1.0 + 2.0 * rng.random() + 40.0 * kappa**1.5
    h, w = img.shape
    tilt = rng.uniform(0.0, 0.6) * level * kappa
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * np.arange(w, dtype=np.float32)[None, :] / w) + (
        np.sin(angle) * np.arange(h, dtype=np.float32)[:, None] / h
    )  # [h, w] in about [-1.4, 1.4]
    img += np.float32(level) + np.float32(tilt) * ramp
    img += np.float32(0.3 + 2.0 * kappa) * rng.standard_normal(img.shape, dtype=np.float32)
    return np.maximum(img, 0, out=img)


def noise(img: np.ndarray, rng: np.random.Generator, kappa: float) -> np.ndarray:
    """Gaussian noise spread over many grey levels (σ from 1.5 to 40), clipped at 0."""
    sigma = 1.5 + 38.5 * kappa
    img += np.float32(sigma) * rng.standard_normal(img.shape, dtype=np.float32)
    return np.maximum(img, 0, out=img)


def blur(img: np.ndarray, rng: np.random.Generator, kappa: float) -> np.ndarray:
    """A Gaussian blur (σ 1.2-7 px): sources too wide for the PSF."""
    return ndi.gaussian_filter(img, sigma=1.2 + 5.8 * kappa * rng.uniform(0.7, 1.0))


def streaks(img: np.ndarray, rng: np.random.Generator, kappa: float) -> np.ndarray:
    """Satellite trails: 1-9 straight lines 1-3 px wide across the field."""
    h, w = img.shape
    rows = np.arange(h, dtype=np.float32)[:, None]
    cols = np.arange(w, dtype=np.float32)[None, :]
    for _ in range(1 + round(8 * kappa * rng.random())):
        angle = rng.uniform(0, np.pi)
        x0, y0 = rng.uniform(0, w), rng.uniform(0, h)
        dist = np.abs(
            (cols - x0) * np.float32(np.sin(angle)) - (rows - y0) * np.float32(np.cos(angle))
        )
        width = rng.uniform(0.5, 1.5)
        img += np.float32(rng.uniform(5, 20 + 200 * kappa)) * np.exp(-0.5 * (dist / width) ** 2)
    return img


def hot_pixels(img: np.ndarray, rng: np.random.Generator, kappa: float) -> np.ndarray:
    """Isolated bright pixels and short cosmic-ray tracks, hundreds to tens of thousands."""
    h, w = img.shape
    n = int((300 + 30000 * kappa**2) * h * w / 1e6) + 1
    r = rng.integers(0, h, size=n)
    c = rng.integers(0, w, size=n)
    img[r, c] += rng.uniform(10, 255, size=n).astype(np.float32)
    for _ in range(int(5 + 50 * kappa)):  # cosmic-ray tracks: a few pixels in a row
        r0, c0 = rng.integers(0, h), rng.integers(0, w)
        length = int(rng.integers(3, 15))
        dr, dc = rng.choice([-1, 0, 1]), rng.choice([-1, 1])
        rr = np.clip(r0 + dr * np.arange(length), 0, h - 1)
        cc = np.clip(c0 + dc * np.arange(length), 0, w - 1)
        img[rr, cc] += np.float32(rng.uniform(30, 255))
    return img


CORRUPTIONS: dict[str, tuple[Corruption, float]] = {
    "raised_background": (raised_background, 0.35),
    "noise": (noise, 0.25),
    "blur": (blur, 0.15),
    "streaks": (streaks, 0.10),
    "hot_pixels": (hot_pixels, 0.15),
}


def choose_corruption(rng: np.random.Generator) -> str:
    """A corruption name drawn with the registry's probabilities (normalized to sum 1)."""
    names = list(CORRUPTIONS)
    probs = np.array([CORRUPTIONS[n][1] for n in names])
    return names[int(rng.choice(len(names), p=probs / probs.sum()))]


def corrupt(img: np.ndarray, name: str, rng: np.random.Generator, kappa: float) -> np.ndarray:
    """Corruption `name` of strength κ applied to `img`, which it may change in place."""
    if name not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {name!r}; valid: {', '.join(CORRUPTIONS)}")
    return CORRUPTIONS[name][0](img, rng, kappa)
