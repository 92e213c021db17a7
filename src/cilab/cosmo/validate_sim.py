"""`cilab cosmo validate-sim DIR --out FIG.png`: simulated vs real statistics, side by side.

On the simulated label-1 images and on whatever real data is at hand (the real sample image,
the mosaics of real cells, the real scored.csv under `--real-dir`), the same measurements:
pixel histogram, zero fraction, source counts by peak, PSF width, pedestal share and the score
distribution (with the Kolmogorov-Smirnov distance). The numbers go to the figure and to
`FIG.json` beside it; ANCHORS.md's published ranges are drawn as bands where they exist.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from cilab.core.errors import CilabError
from cilab.core.io import write_json
from cilab.cosmo.features.sources import SourceStatistics
from cilab.cosmo.layout import load_layout, read_id_csv, read_image
from cilab.cosmo.scores import ks_distance

PEAK_BINS = (1, 2, 4, 8, 16, 32, 64, 128)
# ANCHORS.md (real data): what a clean real image looks like
ANCHOR = {
    "zero_fraction": 0.997,
    "sources": (40, 70),
    "n_peak_ge4": 21,
    "n_peak_gt100": (3, 6),
    "fwhm": (3.1, 4.2),
    "pedestal_share": (0.22, 0.27),
}


def image_stats(img: np.ndarray) -> dict[str, Any]:
    """One image's measurements: grey-level counts, zero fraction, sources by peak,
    FWHMs of the sources peaking at 20-200, and whether it has a pedestal.
    """
    s = SourceStatistics().detect(img)
    peak = np.asarray(s["peak"])
    ok = (peak >= 20) & (peak <= 200)
    fwhm = 2.0 * np.sqrt(np.asarray(s["half_area"])[ok] / np.pi)
    counts = np.bincount(img.ravel(), minlength=256)
    return {
        "levels": counts,
        "zero_fraction": float(counts[0] / img.size),
        "n_sources": int(peak.size),
        "peak_counts": np.histogram(peak, bins=[*PEAK_BINS, np.inf])[0],
        "n_peak_ge4": int((peak >= 4).sum()),
        "n_peak_gt100": int((peak > 100).sum()),
        "fwhm": fwhm,
        "pedestal": float(s["background"]) > 0,
    }


def _stats_of_files(paths: list[Path]) -> list[dict[str, Any]]:
    return [image_stats(read_image(p)) for p in paths]


def default_real_dir() -> Path | None:
    """`$CILAB_DATA/cosmology` when it exists (the shared calibration data), else None."""
    base = os.environ.get("CILAB_DATA", "").strip()
    if base and (Path(base) / "cosmology").is_dir():
        return Path(base) / "cosmology"
    return None


def validate_sim(
    sim_dir: str | Path,
    out: str | Path,
    real_dir: str | Path | None = None,
    n_images: int = 200,
    workers: int = 1,
) -> dict[str, Any]:
    """Measure up to `n_images` simulated label-1 images and the real data at hand;
    write the figure `out` and `out` with suffix .json; return the numbers.
    """
    from joblib import Parallel, delayed

    data = load_layout(sim_dir)
    lab = data.require("labeled")
    real_paths = [p for p, t in zip(lab.paths, lab.targets, strict=True) if t == 1.0][:n_images]
    if not real_paths:
        raise CilabError(f"{data.root}: no label-1 images in labeled.csv")
    chunks = [real_paths[i : i + 16] for i in range(0, len(real_paths), 16)]
    sim = [
        s for c in Parallel(n_jobs=workers)(delayed(_stats_of_files)(c) for c in chunks) for s in c
    ]
    real_root = Path(real_dir) if real_dir else default_real_dir()
    real: dict[str, Any] = {}
    if real_root is not None:
        samples = sorted((real_root / "real_samples").glob("*.png"))
        if samples:
            real["sample"] = image_stats(read_image(samples[0]))
            real["sample_name"] = samples[0].name
        mosaics = sorted((real_root / "real_patch_mosaics").glob("*.png"))
        if mosaics:
            m = _stats_of_files(mosaics)
            real["mosaic_fwhm"] = np.concatenate([s["fwhm"] for s in m])
        scored = real_root / "real_csv" / "scored.csv"
        if scored.is_file():
            real["scores"] = read_id_csv(scored, "Actual")[1]
    sim_scores = data.scored.targets if data.scored is not None else None
    numbers = summarize(sim, real, sim_scores)
    numbers["sim_dir"] = str(data.root)
    numbers["real_dir"] = str(real_root) if real_root else None
    from cilab.cosmo.plots import validate_figure

    validate_figure(sim, real, sim_scores, numbers, ANCHOR, PEAK_BINS, out)
    write_json(Path(out).with_suffix(".json"), numbers)
    return numbers


def summarize(
    sim: list[dict[str, Any]], real: dict[str, Any], sim_scores: np.ndarray | None
) -> dict[str, Any]:
    """The numbers of the figure and FIG.json: simulated medians, real values, KS distance."""

    def med(key: str) -> float:
        return float(np.median([s[key] for s in sim]))

    sim_fwhm = np.array([np.median(s["fwhm"]) for s in sim if s["fwhm"].size])
    clean = [s for s in sim if not s["pedestal"]]
    n: dict[str, Any] = {
        "sim_images": len(sim),
        "sim": {
            "zero_fraction_median_clean": float(np.median([s["zero_fraction"] for s in clean]))
            if clean
            else None,
            "n_sources_median": med("n_sources"),
            "n_sources_p5_p95": [
                float(v) for v in np.percentile([s["n_sources"] for s in sim], [5, 95])
            ],
            "n_peak_ge4_median": med("n_peak_ge4"),
            "n_peak_gt100_median": med("n_peak_gt100"),
            "fwhm_median": float(np.median(sim_fwhm)) if sim_fwhm.size else None,
            "pedestal_share": float(np.mean([s["pedestal"] for s in sim])),
        },
        "real": {},
    }
    if "sample" in real:
        r = real["sample"]
        n["real"]["sample"] = {
            "name": real["sample_name"],
            "zero_fraction": r["zero_fraction"],
            "n_sources": r["n_sources"],
            "n_peak_ge4": r["n_peak_ge4"],
            "n_peak_gt100": r["n_peak_gt100"],
            "fwhm_median": float(np.median(r["fwhm"])) if r["fwhm"].size else None,
        }
    if "mosaic_fwhm" in real and real["mosaic_fwhm"].size:
        n["real"]["mosaic_fwhm_median"] = float(np.median(real["mosaic_fwhm"]))
        n["real"]["mosaic_fwhm_sources"] = int(real["mosaic_fwhm"].size)
    if sim_scores is not None and "scores" in real:
        n["score_ks_distance"] = ks_distance(sim_scores, real["scores"])
        n["sim"]["score_median"] = float(np.median(sim_scores))
        n["real"]["score_median"] = float(np.median(real["scores"]))
    return n
