"""Hand-crafted feature families for cosmology images, one scikit-learn transformer per file.

`FAMILIES` maps a family name to a builder of its default transformer; `cilab.cosmo.extract`
computes any subset of them for a list of image files.
"""

from __future__ import annotations

from collections.abc import Callable

from cilab.cosmo.features.base import ImageFeatures
from cilab.cosmo.features.exercise_hist import ExerciseHistogram
from cilab.cosmo.features.grey_hist import GreyHistogram
from cilab.cosmo.features.moments import MomentsEntropy
from cilab.cosmo.features.power_spectrum import RadialPowerSpectrum
from cilab.cosmo.features.roi import RegionHistograms
from cilab.cosmo.features.sources import SourceStatistics
from cilab.cosmo.features.wavelets import WaveletEnergies

FAMILIES: dict[str, Callable[[], ImageFeatures]] = {
    "hist10": ExerciseHistogram,  # the exercise's baseline
    "finehist": lambda: GreyHistogram(bins=64, spacing="linear"),
    "loghist": lambda: GreyHistogram(spacing="log"),
    "powerspec": RadialPowerSpectrum,
    "roi": RegionHistograms,
    "sources": SourceStatistics,
    "moments": MomentsEntropy,
    "wavelets": WaveletEnergies,
}

__all__ = [
    "FAMILIES",
    "ExerciseHistogram",
    "GreyHistogram",
    "ImageFeatures",
    "MomentsEntropy",
    "RadialPowerSpectrum",
    "RegionHistograms",
    "SourceStatistics",
    "WaveletEnergies",
]
