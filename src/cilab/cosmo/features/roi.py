"""Region-of-interest histograms: the image cut into a grid of tiles, one histogram per tile.

Per log-spaced grey-level bin (0, 1, 2-3, 4-7, ..., 128-255) the mean and the spread over the
tiles of the fraction of pixels in that bin, plus the spread of the tile means and the fraction
of empty tiles. A field's sources are scattered (many empty tiles, uneven bright bins), a raised
or tilted background or a photograph fills every tile but unevenly.
"""

from __future__ import annotations

import numpy as np

from cilab.cosmo.features.base import ImageFeatures

EDGES = np.array([0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, np.inf])


class RegionHistograms(ImageFeatures):
    """Log-binned histograms of `grid`×`grid` tiles, summarized over the tiles."""

    prefix = "roi"

    def __init__(self, grid: int = 4, image_shape: tuple[int, int] | None = None) -> None:
        self.grid = grid
        self.image_shape = image_shape

    def feature_names(self, shape: tuple[int, int]) -> list[str]:
        bins = [f"{int(a)}" for a in EDGES[:-1]]
        return (
            [f"roi_mean_{b}" for b in bins]
            + [f"roi_std_{b}" for b in bins]
            + ["roi_tile_mean_cv", "roi_empty_tiles"]
        )

    def features_of(self, img: np.ndarray) -> np.ndarray:
        h, w = img.shape
        g = max(1, min(int(self.grid), h, w))
        rows = np.linspace(0, h, g + 1).astype(int)
        cols = np.linspace(0, w, g + 1).astype(int)
        nb = EDGES.size - 1
        fracs = np.zeros((g * g, nb))
        means = np.zeros(g * g)
        for i in range(g):
            for j in range(g):
                tile = img[rows[i] : rows[i + 1], cols[j] : cols[j + 1]]
                if tile.dtype == np.uint8:
                    counts = np.bincount(tile.ravel(), minlength=256)
                    hist = np.add.reduceat(counts, [0, 1, 2, 4, 8, 16, 32, 64, 128])
                    means[i * g + j] = counts @ np.arange(256) / max(tile.size, 1)
                else:
                    hist = np.histogram(tile, bins=EDGES)[0]
                    means[i * g + j] = float(tile.mean()) if tile.size else 0.0
                fracs[i * g + j] = hist / max(tile.size, 1)
        m = float(np.abs(means).mean())
        cv = float(means.std() / m) if m > 0 else 0.0
        empty = float((fracs[:, 1:].sum(axis=1) == 0).mean())
        return np.concatenate([fracs.mean(axis=0), fracs.std(axis=0), [cv, empty]])
