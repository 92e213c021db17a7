"""Clean cosmology fields: point sources and a few small galaxies under one Moffat PSF.

A field is drawn as parameters first (`draw_field`) and rendered second (`render_field`), so the
similarity score of a field (a function of its parameters, see `scores.py`) can be computed and
calibrated without rendering anything. Calibration targets (../shared/ANCHORS.md, measured on the
real data): 40-70 visible sources, ≈ 21 with a peak ≥ 4 and 3-6 with a peak > 100 grey levels,
cumulative counts falling as F^-0.55...-0.65, FWHM 3.1-4.2 px, β ≈ 4.4, ellipticity ≈ 0.05,
under 1 % of sources extended, a 1-3 grey-level pedestal on about a quarter of the images.
Source counts scale with the image area, so a 128-pixel test image is a 128-pixel cut-out of
a field.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cilab.cosmo.psf import add_moffat, fwhm_to_alpha, moffat_radius
from cilab.cosmo.rescale import SATURATION, soft_saturate

REFERENCE_SIZE = 1000
MIN_PEAK = 0.55  # grey levels: the faintest sources drawn (below 1 they vanish when floored)
RENDER_FLOOR = 0.2  # stamps extend until the profile falls below this many grey levels
GALAXY_BETA = 2.5


@dataclass(frozen=True)
class FieldParams:
    """Everything needed to render one field; arrays are per source, galaxies last."""

    size: int
    fwhm: float  # px
    beta: float
    psf_q: float  # axis ratio of the PSF, 1 - ellipticity
    psf_theta: float
    slope: float  # cumulative counts N(>F) ∝ F^-slope
    x: np.ndarray  # [N] column, px
    y: np.ndarray  # [N] row, px
    peak: np.ndarray  # [N] peak height in grey levels before saturation and rescale
    alpha: np.ndarray  # [N] Moffat alpha, px (PSF alpha for stars, wider for galaxies)
    beta_src: np.ndarray  # [N]
    q: np.ndarray  # [N] axis ratio
    theta: np.ndarray  # [N]
    n_galaxies: int
    pedestal: float  # grey levels added everywhere (0 for none)

    @property
    def n_sources(self) -> int:
        return int(self.x.size)

    def scaled_peaks(self) -> np.ndarray:
        """Peaks in final grey levels: saturated at 255, after the one-pixel-is-255 rescale."""
        top = float(self.peak.max())
        sat_top = top / (1.0 + (top / SATURATION) ** 4) ** 0.25
        scale = 255.0 / max(sat_top + self.pedestal, 1e-6)
        return np.minimum(self.peak * scale, 255.0)


def draw_field(
    rng: np.random.Generator,
    size: int,
    n_sources: tuple[int, int] = (55, 85),
    pedestal_prob: float = 0.25,
    galaxies_per_field: float = 0.5,
) -> FieldParams:
    """Draw a field: the number of sources (per 1000² px) uniform in `n_sources`."""
    area = (size / REFERENCE_SIZE) ** 2
    n_star = max(2, round(rng.integers(n_sources[0], n_sources[1] + 1) * area))
    n_gal = int(rng.poisson(galaxies_per_field * area))
    n = n_star + n_gal
    fwhm = float(rng.uniform(3.1, 4.2))
    beta = float(rng.normal(4.4, 0.08))
    ell = float(np.clip(abs(rng.normal(0.05, 0.02)), 0.0, 0.15))
    psf_theta = float(rng.uniform(0, np.pi))
    slope = float(rng.uniform(0.55, 0.65))
    # Pareto peaks: P(peak > p) = (p / MIN_PEAK)^-slope
    peak = MIN_PEAK * rng.uniform(1e-6, 1.0, size=n) ** (-1.0 / slope)
    psf_alpha = float(fwhm_to_alpha(fwhm, beta))
    alpha = np.full(n, psf_alpha)
    beta_src = np.full(n, beta)
    q = np.full(n, 1.0 - ell)
    theta = np.full(n, psf_theta)
    if n_gal:
        g = slice(n_star, n)
        alpha[g] = psf_alpha * rng.uniform(1.8, 3.5, size=n_gal)
        beta_src[g] = GALAXY_BETA
        q[g] = 1.0 - rng.uniform(0.1, 0.6, size=n_gal)
        theta[g] = rng.uniform(0, np.pi, size=n_gal)
        peak[g] = np.minimum(peak[g], rng.uniform(8, 60, size=n_gal))  # galaxies never saturate
    pedestal = float(rng.uniform(0.6, 3.2)) if rng.random() < pedestal_prob else 0.0
    return FieldParams(
        size=size,
        fwhm=fwhm,
        beta=beta,
        psf_q=1.0 - ell,
        psf_theta=psf_theta,
        slope=slope,
        x=rng.uniform(0, size, size=n),
        y=rng.uniform(0, size, size=n),
        peak=peak,
        alpha=alpha,
        beta_src=beta_src,
        q=q,
        theta=theta,
        n_galaxies=n_gal,
        pedestal=pedestal,
    )


def render_sources(p: FieldParams) -> np.ndarray:
    """The field's sources as a float32 image in grey levels, saturated, before the rescale."""
    img = np.zeros((p.size, p.size), dtype=np.float32)
    radii = moffat_radius(p.peak, p.alpha, p.beta_src, RENDER_FLOOR)
    for i in range(p.n_sources):
        r = int(np.clip(np.ceil(radii[i]), 2, 80))
        add_moffat(img, p.x[i], p.y[i], p.peak[i], p.alpha[i], p.beta_src[i], p.q[i], p.theta[i], r)
    return soft_saturate(img)


def add_pedestal(img: np.ndarray, level: float, rng: np.random.Generator) -> np.ndarray:
    """A constant background of `level` grey levels with a little read noise (σ = 0.3), in place."""
    if level > 0:
        noise = rng.standard_normal(img.shape, dtype=np.float32)
        img += np.float32(level) + np.float32(0.3) * noise
        np.maximum(img, 0, out=img)
    return img
