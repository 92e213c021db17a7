"""The documented similarity score of simulated images, calibrated to the real `scored.csv`.

The real scores (9600 of them, stated range 0-8) fall in three groups: < 0.01 for images of
other content (11.7 %), 0.01-1 for corrupted or off-looking fields (11.9 %), and ≥ 1 for clean
fields (76.4 %, a sharp peak at 1.25-1.5 and a tail to 6.25). The simulator gives each image a
score in the same way, as a monotone function of one content parameter within its group:

- other content: s rises with the image's median grey level (its target, `q` in [0, 1]);
- corrupted field: s falls with the corruption strength κ in [0, 1] (κ → 0: nearly clean);
- clean field: s rises with the field's *richness* t = Σ_sources log2(1 + peak), peaks in final
  grey levels (capped at 255): more and brighter sources score higher.

Each parameter is mapped to its group's share of the real distribution through the real
quantile function below, so the simulated scores follow the real distribution (within sampling
noise: `cilab cosmo validate-sim` reports the Kolmogorov-Smirnov distance) while depending on
image content in a way that image features can learn. For fields the map goes through the
distribution of t over reference fields drawn with a fixed seed, so the score of a field is a
fixed function of its sources.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from cilab.cosmo.field import FieldParams, draw_field

# 257 quantiles (at 0, 1/256, ..., 1) of `Actual` in the real scored.csv (9600 rows), made by
#   np.quantile(scores, np.linspace(0, 1, 257))   (see `quantiles_from_csv`; a test re-checks it
# against ../shared/data/cosmology/real_csv/scored.csv when that file is present).
REAL_SCORE_QUANTILES = np.array(
    [
        5.87466e-05,
        0.000298742,
        0.000369553,
        0.000427149,
        0.000465165,
        0.000503794,
        0.000523483,
        0.000539883,
        0.000584265,
        0.000616894,
        0.000647536,
        0.000671021,
        0.000710363,
        0.00074602,
        0.000783525,
        0.000828732,
        0.000881645,
        0.000932659,
        0.000987827,
        0.00103745,
        0.00110701,
        0.00120204,
        0.00132425,
        0.00147785,
        0.00161435,
        0.00186641,
        0.00224844,
        0.00282448,
        0.00435626,
        0.0058857,
        0.0103726,
        0.0221005,
        0.194941,
        0.285097,
        0.321617,
        0.344612,
        0.38329,
        0.407279,
        0.428997,
        0.458435,
        0.480272,
        0.502433,
        0.52818,
        0.55288,
        0.577518,
        0.603112,
        0.625741,
        0.64546,
        0.666801,
        0.692407,
        0.713593,
        0.736664,
        0.761338,
        0.787972,
        0.810199,
        0.834048,
        0.85981,
        0.883707,
        0.919632,
        0.952877,
        0.984294,
        1.01353,
        1.0431,
        1.07132,
        1.10159,
        1.13307,
        1.1603,
        1.17636,
        1.18684,
        1.19535,
        1.2036,
        1.21186,
        1.21855,
        1.22714,
        1.23269,
        1.2394,
        1.24503,
        1.2498,
        1.25721,
        1.26293,
        1.26762,
        1.27243,
        1.27626,
        1.28115,
        1.2861,
        1.29151,
        1.29589,
        1.2994,
        1.30333,
        1.30662,
        1.3112,
        1.31647,
        1.32052,
        1.32522,
        1.32874,
        1.33252,
        1.33694,
        1.3411,
        1.34513,
        1.35002,
        1.35409,
        1.35885,
        1.36368,
        1.3676,
        1.37146,
        1.37548,
        1.38061,
        1.38623,
        1.39099,
        1.39456,
        1.39997,
        1.40386,
        1.40831,
        1.41505,
        1.42041,
        1.42702,
        1.43187,
        1.43715,
        1.44132,
        1.44782,
        1.45366,
        1.46057,
        1.46603,
        1.47131,
        1.47918,
        1.48503,
        1.49107,
        1.49567,
        1.50272,
        1.50892,
        1.5157,
        1.52364,
        1.53111,
        1.53916,
        1.54624,
        1.55246,
        1.56034,
        1.5681,
        1.57424,
        1.58256,
        1.58963,
        1.59776,
        1.60379,
        1.61178,
        1.62165,
        1.62829,
        1.63682,
        1.64383,
        1.65108,
        1.65888,
        1.66765,
        1.67787,
        1.68685,
        1.69854,
        1.70463,
        1.71409,
        1.72474,
        1.73746,
        1.74821,
        1.76017,
        1.77052,
        1.78251,
        1.79438,
        1.80627,
        1.81817,
        1.83405,
        1.84919,
        1.86151,
        1.87239,
        1.88471,
        1.90117,
        1.91624,
        1.92798,
        1.94407,
        1.96117,
        1.97533,
        1.98917,
        2.00163,
        2.02086,
        2.03773,
        2.05496,
        2.07175,
        2.08939,
        2.1035,
        2.1161,
        2.13463,
        2.15392,
        2.17463,
        2.19101,
        2.20992,
        2.22702,
        2.2436,
        2.26934,
        2.28857,
        2.30856,
        2.3225,
        2.33681,
        2.35949,
        2.38094,
        2.40289,
        2.4298,
        2.45225,
        2.47253,
        2.48688,
        2.50341,
        2.52352,
        2.54247,
        2.55728,
        2.57719,
        2.59646,
        2.61725,
        2.63723,
        2.66372,
        2.68447,
        2.71087,
        2.73924,
        2.77023,
        2.79187,
        2.80429,
        2.8336,
        2.86348,
        2.89577,
        2.92455,
        2.95225,
        2.97737,
        3.00089,
        3.02603,
        3.05138,
        3.08246,
        3.11341,
        3.1405,
        3.1677,
        3.19848,
        3.22203,
        3.25877,
        3.30034,
        3.3323,
        3.36555,
        3.40726,
        3.44282,
        3.48995,
        3.52969,
        3.5815,
        3.63056,
        3.6895,
        3.75184,
        3.82546,
        3.91127,
        3.9923,
        4.08154,
        4.18091,
        4.2703,
        4.39726,
        4.56252,
        4.81791,
        5.12589,
        6.24979,
    ]
)
_U = np.linspace(0.0, 1.0, REAL_SCORE_QUANTILES.size)
OTHER_MAX = 0.01  # scores below this: other content
CORRUPTED_MAX = 1.0  # scores below this (and ≥ OTHER_MAX): corrupted fields
U_OTHER = float(np.interp(OTHER_MAX, REAL_SCORE_QUANTILES, _U))  # share of other content
U_CORRUPTED = float(np.interp(CORRUPTED_MAX, REAL_SCORE_QUANTILES, _U))

# Clean fields of the scored/query sets: a wider range of source counts than the labeled real
# images, so that richness (and with it the score) varies.
SCORED_FIELD_SOURCES = (40, 150)
_REFERENCE_FIELDS = 4000
_REFERENCE_SEED = 20170429


def score_at(u: float | np.ndarray) -> float | np.ndarray:
    """The real score distribution's quantile function (piecewise linear between quantiles)."""
    return np.interp(u, _U, REAL_SCORE_QUANTILES)


def other_score(q: float) -> float:
    """Other content whose median grey level sits at `q` of its range."""
    return float(score_at(np.clip(q, 0.0, 1.0) * U_OTHER))


def corrupted_score(kappa: float) -> float:
    """A corrupted field of strength κ (0 = barely, 1 = fully)."""
    q = 1.0 - float(np.clip(kappa, 0.0, 1.0))
    return float(score_at(U_OTHER + q * (U_CORRUPTED - U_OTHER)))


def field_richness(p: FieldParams) -> float:
    """t = Σ log2(1 + peak) over the sources, peaks in final grey levels."""
    return float(np.log2(1.0 + p.scaled_peaks()).sum())


@lru_cache(maxsize=8)
def _reference_richness(size: int) -> np.ndarray:
    rng = np.random.default_rng(_REFERENCE_SEED)
    t = [
        field_richness(draw_field(rng, size, SCORED_FIELD_SOURCES, pedestal_prob=0.0))
        for _ in range(_REFERENCE_FIELDS)
    ]
    return np.sort(np.asarray(t))


def field_score(p: FieldParams) -> float:
    """A clean field's score: its richness's rank among reference fields, mapped to s ≥ 1."""
    ref = _reference_richness(p.size)
    rank = np.interp(field_richness(p), ref, (np.arange(ref.size) + 0.5) / ref.size)
    return float(score_at(U_CORRUPTED + float(rank) * (1.0 - U_CORRUPTED)))


def quantiles_from_csv(path: str | Path, n: int = REAL_SCORE_QUANTILES.size) -> np.ndarray:
    """Recompute the quantile table from a scored.csv."""
    from cilab.cosmo.layout import read_id_csv

    _, scores = read_id_csv(Path(path), "Actual")
    return np.quantile(scores, np.linspace(0.0, 1.0, n))


def ks_distance(a: np.ndarray, b: np.ndarray) -> float:
    """The two-sample Kolmogorov-Smirnov distance sup |F_a - F_b|."""
    from scipy.stats import ks_2samp

    return float(ks_2samp(np.asarray(a), np.asarray(b)).statistic)
