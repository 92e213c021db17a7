"""Source statistics: detect connected sources above the background and describe them.

Detection: the background is the median grey level, the noise a clipped standard deviation
around it; a pixel belongs to a source when it is at least `background + max(threshold,
4·noise)` (so on a clean field every non-zero pixel does), and sources are 8-connected groups.
Per source: peak and flux above the background, area, centroid, second moments, and the area
at half maximum (which gives a FWHM for bright unsaturated sources). The features summarise
these: counts by peak (log2 bins), the tail index of the peak distribution (cumulative counts
∝ peak^-slope), sizes, fluxes, PSF width and ellipticity, extended fraction and
nearest-neighbour distances.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from scipy.spatial import cKDTree

from cilab.cosmo.features.base import ImageFeatures, grey_counts

PEAK_EDGES = (1, 2, 4, 8, 16, 32, 64, 128)  # count bins [1,2), [2,4), ..., [128, inf)
NAMES = (
    "n_sources",
    *(f"n_peak_{e}" for e in PEAK_EDGES),
    "slope", "area_median", "area_p90", "area_max", "flux_median", "flux_p90", "flux_max",
    "flux_fraction", "fwhm_median", "fwhm_iqr", "n_fwhm", "ellipticity_median",
    "extended_fraction", "nn_median", "nn_min", "background", "noise",
)  # fmt: skip
EIGHT = np.ones((3, 3), dtype=bool)


def background_and_noise(img: np.ndarray) -> tuple[float, float]:
    """Median grey level and the standard deviation of pixels within ±4 levels of it."""
    counts = grey_counts(img)
    if counts is not None:
        counts = counts.astype(np.float64)
        bkg = float(np.searchsorted(np.cumsum(counts), 0.5 * img.size))
        lo, hi = int(max(bkg - 4, 0)), int(min(bkg + 4, 255))
        c = counts[lo : hi + 1]
        v = np.arange(lo, hi + 1, dtype=np.float64)
        m = (c @ v) / c.sum()
        return bkg, float(np.sqrt(max((c @ (v - m) ** 2) / c.sum(), 0.0)))
    x = img.astype(np.float64).ravel()
    bkg = float(np.median(x))
    near = x[np.abs(x - bkg) <= 4]
    return bkg, float(near.std()) if near.size else 0.0


def _total_above(img: np.ndarray, bkg: float) -> float:
    """Σ max(pixel - background, 0)."""
    counts = grey_counts(img)
    if counts is not None:
        return float(counts @ np.clip(np.arange(256) - bkg, 0, None))
    return float(np.clip(img.astype(np.float64) - bkg, 0, None).sum())


class SourceStatistics(ImageFeatures):
    """Summaries of the detected sources: counts by peak, sizes, fluxes, PSF, spacing.

    `fwhm_peak_range`: the peaks whose width is measured (bright, unsaturated);
    `extended_sigma`: the width (px) above which a source counts as extended.
    """

    prefix = "src"

    def __init__(
        self,
        threshold: float = 1.0,
        fwhm_peak_range: tuple[float, float] = (20.0, 200.0),
        extended_sigma: float = 2.3,
        image_shape: tuple[int, int] | None = None,
    ) -> None:
        self.threshold = threshold
        self.fwhm_peak_range = fwhm_peak_range
        self.extended_sigma = extended_sigma
        self.image_shape = image_shape

    def feature_names(self, shape: tuple[int, int]) -> list[str]:
        return [f"src_{n}" for n in NAMES]

    def detect(self, img: np.ndarray) -> dict[str, np.ndarray | float]:
        """Per-source arrays (peak, flux, area, x, y, sigma, ellipticity, half_area) and levels."""
        bkg, noise = background_and_noise(img)
        thr = bkg + max(float(self.threshold), 4.0 * noise)
        mask = img >= thr
        labels, n = ndi.label(mask, structure=EIGHT)
        ys, xs = np.nonzero(mask)
        lab = labels[ys, xs] - 1  # [pixels in sources] -> source index
        w = img[ys, xs].astype(np.float64) - bkg
        peak = np.zeros(n)
        np.maximum.at(peak, lab, w)
        area = np.bincount(lab, minlength=n).astype(np.float64)
        flux = np.bincount(lab, weights=w, minlength=n)
        safe = np.maximum(flux, 1e-12)
        cx = np.bincount(lab, weights=w * xs, minlength=n) / safe
        cy = np.bincount(lab, weights=w * ys, minlength=n) / safe
        dx, dy = xs - cx[lab], ys - cy[lab]
        ixx = np.bincount(lab, weights=w * dx * dx, minlength=n) / safe
        iyy = np.bincount(lab, weights=w * dy * dy, minlength=n) / safe
        ixy = np.bincount(lab, weights=w * dx * dy, minlength=n) / safe
        tr = ixx + iyy
        ell = np.sqrt((ixx - iyy) ** 2 + 4 * ixy**2) / np.maximum(tr, 1e-12)
        half = np.bincount(lab, weights=(w >= 0.5 * peak[lab]).astype(np.float64), minlength=n)
        return {
            "peak": peak, "flux": flux, "area": area, "x": cx, "y": cy,
            "sigma": np.sqrt(np.maximum(tr / 2, 0.0)), "ellipticity": ell, "half_area": half,
            "background": bkg, "noise": noise, "total": _total_above(img, bkg),
        }  # fmt: skip

    def features_of(self, img: np.ndarray) -> np.ndarray:
        s = self.detect(img)
        peak, flux, area = s["peak"], s["flux"], s["area"]
        n = peak.size
        f = dict.fromkeys(NAMES, 0.0)
        f["n_sources"] = np.log1p(n)
        edges = np.array([*PEAK_EDGES, np.inf])
        counts = np.histogram(peak, bins=edges)[0] if n else np.zeros(len(PEAK_EDGES))
        for e, c in zip(PEAK_EDGES, counts, strict=True):
            f[f"n_peak_{e}"] = np.log1p(c)
        f["background"], f["noise"] = s["background"], s["noise"]
        if n == 0:
            return np.array([f[k] for k in NAMES], dtype=np.float64)
        bright = peak[peak >= 4]
        if bright.size >= 3:
            f["slope"] = 1.0 / max(float(np.mean(np.log(bright / 4.0))), 1e-3)  # Hill estimator
        f["area_median"], f["area_p90"], f["area_max"] = np.log1p(
            np.percentile(area, [50, 90, 100])
        )
        f["flux_median"], f["flux_p90"], f["flux_max"] = np.log10(
            1 + np.percentile(flux, [50, 90, 100])
        )
        f["flux_fraction"] = float(flux.sum() / s["total"]) if s["total"] > 0 else 0.0
        lo, hi = self.fwhm_peak_range
        ok = (peak >= lo) & (peak <= hi)
        if ok.any():
            fwhm = 2.0 * np.sqrt(s["half_area"][ok] / np.pi)
            f["fwhm_median"] = float(np.median(fwhm))
            f["fwhm_iqr"] = float(np.subtract(*np.percentile(fwhm, [75, 25])))
            f["n_fwhm"] = np.log1p(ok.sum())
            f["ellipticity_median"] = float(np.median(s["ellipticity"][ok]))
        visible = peak >= 4
        if visible.any():
            f["extended_fraction"] = float((s["sigma"][visible] > self.extended_sigma).mean())
        if visible.sum() >= 2:
            pts = np.column_stack([s["x"][visible], s["y"][visible]])[:20000]
            d, _ = cKDTree(pts).query(pts, k=2)
            side = float(max(img.shape))
            f["nn_median"] = float(np.median(d[:, 1])) / side
            f["nn_min"] = float(d[:, 1].min()) / side
        return np.array([f[k] for k in NAMES], dtype=np.float64)
