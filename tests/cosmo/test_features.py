"""Feature families: known answers on tiny hand-made images, and scikit-learn's estimator checks."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from cilab.cosmo.features import (
    FAMILIES,
    ExerciseHistogram,
    GreyHistogram,
    MomentsEntropy,
    RadialPowerSpectrum,
    RegionHistograms,
    SourceStatistics,
    WaveletEnergies,
)
from cilab.cosmo.psf import add_moffat, alpha_to_fwhm, fwhm_to_alpha


@parametrize_with_checks([FAMILIES[name]() for name in FAMILIES])
def test_sklearn_estimator_checks(estimator, check) -> None:
    check(estimator)


def field(points: list[tuple[int, int, int]], size: int = 64) -> np.ndarray:
    img = np.zeros((size, size), np.uint8)
    for r, c, v in points:
        img[r, c] = v
    return img


def test_exercise_histogram_equals_numpy() -> None:
    rng = np.random.default_rng(0)
    for lo, hi in [(0, 255), (3, 200), (7, 7), (0, 1)]:
        img = rng.integers(lo, hi + 1, size=(40, 40)).astype(np.uint8)
        expected = np.histogram(img, bins=10)[0]
        np.testing.assert_array_equal(ExerciseHistogram().features_of(img), expected)


def test_grey_histograms() -> None:
    img = field([(1, 1, 1), (2, 2, 3), (3, 3, 200), (4, 4, 255)], size=10)
    log = GreyHistogram(spacing="log", log_counts=False).features_of(img)
    # bins: 0 | 1 | 2-3 | 4-7 | 8-15 | 16-31 | 32-63 | 64-127 | 128-255
    np.testing.assert_allclose(log, [0.96, 0.01, 0.01, 0, 0, 0, 0, 0, 0.02])
    fine = GreyHistogram(bins=256, log_counts=False).features_of(img)
    assert fine[0] == 0.96 and fine[200] == 0.01 and fine[255] == 0.01
    np.testing.assert_allclose(GreyHistogram(bins=10, log_counts=False).features_of(img).sum(), 1)


def test_power_spectrum_of_a_point_source_is_flat() -> None:
    img = np.zeros((64, 64), np.uint8)
    img[20, 37] = 255
    ps = RadialPowerSpectrum(n_bins=8).features_of(img)
    # subtracting the mean only changes k = 0, so |FFT|² / N = 255² / N at every other k
    expected = np.log10(255.0**2 / 64**2 + 1e-12)
    np.testing.assert_allclose(ps, expected, atol=1e-3)


def test_power_spectrum_finds_a_sine_frequency() -> None:
    x = np.arange(128)
    img = np.tile(100 + 100 * np.sin(2 * np.pi * x / 8), (128, 1))  # k = 1/8 cycles/px
    t = RadialPowerSpectrum(n_bins=12)
    ps = t.features_of(img)
    edges = np.geomspace(1 / 128, 0.5 * np.sqrt(2), 13)
    assert int(np.argmax(ps)) == int(np.searchsorted(edges, 1 / 8, side="right") - 1)


def test_source_counts_of_a_drawn_field() -> None:
    img = np.zeros((128, 128), np.float32)
    peaks = [250, 120, 60, 30, 9, 5, 3, 1.5]
    for i, p in enumerate(peaks):
        add_moffat(img, 10 + 15 * i, 20 + 12 * i, p, alpha=1.2, beta=4.4, radius=6)
    img = np.floor(img).astype(np.uint8)
    t = SourceStatistics()
    s = t.detect(img)
    assert s["peak"].size == len(peaks)
    np.testing.assert_allclose(np.sort(s["peak"])[::-1], np.floor(peaks), atol=1)
    f = dict(zip(t.feature_names(img.shape), t.features_of(img), strict=True))
    assert f["src_n_sources"] == pytest.approx(np.log1p(8))
    # one source per log2 peak bin: [1,2) [2,4) [4,8) [8,16) [16,32) [32,64) [64,128) [128,...)
    for e in (1, 2, 4, 8, 16, 32, 64, 128):
        assert f[f"src_n_peak_{e}"] == pytest.approx(np.log1p(1)), e
    assert f["src_background"] == 0 and f["src_noise"] < 0.2


def test_source_fwhm_of_moffat_stars() -> None:
    fwhm = 4.0
    img = np.zeros((200, 200), np.float32)
    rng = np.random.default_rng(1)
    for i in range(16):
        x, y = 20 + 50 * (i % 4) + rng.random(), 20 + 50 * (i // 4) + rng.random()
        add_moffat(img, x, y, 150.0, float(fwhm_to_alpha(fwhm, 4.4)), 4.4, radius=15)
    img = np.floor(img).astype(np.uint8)
    f = dict(
        zip(
            SourceStatistics().feature_names(img.shape),
            SourceStatistics().features_of(img),
            strict=True,
        )
    )
    assert f["src_fwhm_median"] == pytest.approx(fwhm, abs=0.5)
    assert f["src_ellipticity_median"] < 0.05
    assert alpha_to_fwhm(fwhm_to_alpha(fwhm, 4.4), 4.4) == pytest.approx(fwhm)


def test_sources_ignore_a_noisy_pedestal() -> None:
    rng = np.random.default_rng(2)
    img = np.floor(2.3 + 0.3 * rng.standard_normal((100, 100))).clip(0).astype(np.uint8)
    img[50, 50] = 200
    s = SourceStatistics().detect(img)
    assert s["peak"].size == 1 and s["background"] == 2


def test_moments_of_a_two_level_image() -> None:
    img = np.zeros((10, 10), np.uint8)
    img[:5] = 2  # half 0, half 2: mean 1, std 1, no skew, entropy 1 bit
    f = MomentsEntropy().features_of(img)
    names = MomentsEntropy().feature_names(img.shape)
    d = dict(zip(names, f, strict=True))
    assert d["mom_mean"] == 1 and d["mom_std"] == 1 and d["mom_skew"] == 0
    assert d["mom_entropy_bits"] == pytest.approx(1.0) and d["mom_zero_fraction"] == 0.5
    assert d["mom_kurtosis"] == pytest.approx(-2.0)


def test_wavelet_energies() -> None:
    flat = np.full((32, 32), 10, np.uint8)
    e = WaveletEnergies(levels=3).features_of(flat)
    np.testing.assert_allclose(e[:-1], -6)  # no detail anywhere: log10(0 + 1e-6)
    checker = (np.indices((32, 32)).sum(axis=0) % 2 * 100).astype(np.uint8)
    e = WaveletEnergies(levels=3).features_of(checker)
    # all detail energy sits in the finest diagonal band: coefficient 100 on every 2x2 block
    assert e[2] == pytest.approx(np.log10(100.0**2 + 1e-6))
    np.testing.assert_allclose(e[[0, 1, 3, 4, 5, 6, 7, 8]], -6)


def test_region_histograms_see_empty_tiles() -> None:
    img = field([(3, 3, 50)], size=40)
    d = dict(
        zip(
            RegionHistograms(grid=4).feature_names(img.shape),
            RegionHistograms(grid=4).features_of(img),
            strict=True,
        )
    )
    assert d["roi_empty_tiles"] == 15 / 16
    assert d["roi_mean_32"] == pytest.approx(1 / 100 / 16)


def test_transformers_work_in_a_pipeline_with_flattened_images() -> None:
    rng = np.random.default_rng(3)
    X = rng.integers(0, 256, size=(6, 32 * 32)).astype(np.uint8)
    for name, build in FAMILIES.items():
        t = build()
        out = make_pipeline(t, StandardScaler()).fit_transform(X)
        assert out.shape == (6, len(t.get_feature_names_out())), name
        np.testing.assert_allclose(t.transform(X[:1]), t.transform(X)[:1])


def test_family_names_match_the_registry() -> None:
    from cilab.cosmo.config import FAMILY_NAMES

    assert tuple(FAMILIES) == FAMILY_NAMES
