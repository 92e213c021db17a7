"""The simulator: determinism, file formats, and calibration against the real data's facts."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage as ndi
from scipy.stats import spearmanr

from cilab.core.errors import CilabError
from cilab.cosmo import scores
from cilab.cosmo.field import draw_field
from cilab.cosmo.rescale import to_uint8_one_max
from cilab.cosmo.simulate import Item, SimulateConfig, render_item, simulate

from .conftest import TINY, real_csv


def digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "simulation.json"  # which holds the wall time
    }


def test_same_seed_same_bytes_whatever_the_workers(tiny_data: Path, tmp_path: Path) -> None:
    simulate(SimulateConfig(out=str(tmp_path / "w2"), workers=2, **TINY))
    assert digests(tmp_path / "w2") == digests(tiny_data)
    other = dict(TINY, seed=TINY["seed"] + 1, n_scored=4, n_query=2, n_labeled=4)
    simulate(SimulateConfig(out=str(tmp_path / "s2"), **other))
    first = sorted((tmp_path / "s2" / "labeled").iterdir())[0].read_bytes()
    assert all(first != p.read_bytes() for p in (tiny_data / "labeled").iterdir())


def test_refuses_a_non_empty_out(tiny_data: Path) -> None:
    with pytest.raises(CilabError, match="not an empty folder"):
        simulate(SimulateConfig(out=str(tiny_data), n_labeled=1, n_scored=0, n_query=0))


def test_every_image_is_grey_sized_and_has_exactly_one_255(tiny_data: Path) -> None:
    pngs = sorted(tiny_data.rglob("*.png"))
    assert len(pngs) == 36 + 48 + 12 - 2 + 2  # shared ids exist in scored/ and query/
    for p in pngs:
        with Image.open(p) as im:
            assert im.mode == "L" and im.size == (128, 128)
            a = np.asarray(im)
        assert (a == 255).sum() == 1, p


def test_csv_formats(tiny_data: Path) -> None:
    def rows(name: str) -> list[list[str]]:
        with open(tiny_data / name, newline="") as fh:
            return list(csv.reader(fh))

    lab = rows("labeled.csv")
    assert lab[0] == ["Id", "Actual"]
    assert {r[1] for r in lab[1:]} == {"1.0", "0.0"}
    assert sum(r[1] == "1.0" for r in lab[1:]) == 30  # 5/6 real, like 1000 of 1200
    assert all(len(r[0]) == 7 and r[0].isdigit() for r in lab[1:])
    sco = rows("scored.csv")
    assert sco[0] == ["Id", "Actual"]
    assert all(0.0 < float(v) < 8.0 and len(v.split(".")[1]) == 10 for _, v in sco[1:])
    ex = rows("query_example.csv")
    assert ex[0] == ["Id", "Predicted"] and {r[1] for r in ex[1:]} == {"0.0"}
    assert {r[0] for r in ex[1:]} == {p.stem for p in (tiny_data / "query").iterdir()}
    truth = rows("query_truth.csv")
    assert truth[0] == ["Id", "Actual"] and len(truth) == 13


def test_one_pixel_at_255_even_with_ties() -> None:
    img = np.zeros((8, 8), np.float32)
    img[2:5, 2:5] = 7.0  # a flat top: nine maximal pixels
    out = to_uint8_one_max(img)
    assert (out == 255).sum() == 1 and (out == 254).sum() == 8


def field_stats(img: np.ndarray) -> tuple[int, int, int, float]:
    labels, n = ndi.label(img > 0, structure=np.ones((3, 3)))
    peaks = ndi.maximum(img, labels, np.arange(1, n + 1))
    return n, int((peaks >= 4).sum()), int((peaks > 100).sum()), float((img == 0).mean())


def test_real_fields_match_the_anchors() -> None:
    """Clean full-size fields: ANCHORS.md's source counts, bright sources and zero fraction."""
    stats = []
    for i in range(24):
        img, meta = render_item(Item("labeled", i, "1", "real"), seed=11, size=1000)
        if meta["pedestal"] == 0:
            stats.append(field_stats(img))
    clusters, bright4, bright100, zero = np.median(np.array(stats), axis=0)
    assert 45 <= clusters <= 70  # real: 40-70 sources, median 64 clusters
    assert 16 <= bright4 <= 30  # real: ≈ 21 with peak ≥ 4
    assert 3 <= bright100 <= 6  # real: 3-6 bright ones
    assert 0.996 <= zero <= 0.999  # real: 99.7 % zeros


def test_field_parameters_match_the_anchors() -> None:
    rng = np.random.default_rng(0)
    fields = [draw_field(rng, 1000, (65, 100)) for _ in range(600)]
    fwhm = np.array([f.fwhm for f in fields])
    assert fwhm.min() >= 3.1 and fwhm.max() <= 4.2 and 3.4 <= np.median(fwhm) <= 3.8
    assert abs(np.mean([f.beta for f in fields]) - 4.4) < 0.05
    assert 0.2 <= np.mean([f.pedestal > 0 for f in fields]) <= 0.3  # real: 22-27 %
    peds = [f.pedestal for f in fields if f.pedestal > 0]
    assert min(peds) > 0.5 and max(peds) < 3.3
    ell = np.array([1 - f.psf_q for f in fields])
    assert 0.04 <= ell.mean() <= 0.06
    extended = sum(f.n_galaxies for f in fields) / sum(f.n_sources for f in fields)
    assert extended < 0.01  # real: under 1 % of sources extended
    # cumulative counts N(>F) ∝ F^-slope with slope 0.55-0.65 (Hill estimator of the tail index)
    peaks = np.concatenate([f.peak[: f.n_sources - f.n_galaxies] for f in fields])
    assert 0.55 <= 1.0 / np.mean(np.log(peaks / peaks.min())) <= 0.65


def sample_scores(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Scores as the simulator draws them (without rendering), plus the field source counts."""
    rng = np.random.default_rng(seed)
    probs = [scores.U_OTHER, scores.U_CORRUPTED - scores.U_OTHER, 1 - scores.U_CORRUPTED]
    out, counts = [], []
    for kind in rng.choice(3, size=n, p=probs):
        if kind == 0:
            out.append(scores.other_score(rng.random()))
        elif kind == 1:
            out.append(scores.corrupted_score(rng.random()))
        else:
            f = draw_field(rng, 1000, scores.SCORED_FIELD_SOURCES, pedestal_prob=0.0)
            out.append(scores.field_score(f))
            counts.append((f.n_sources, out[-1]))
    return np.array(out), np.array(counts)


def test_score_distribution_matches_the_real_one() -> None:
    sim, counts = sample_scores(3000, seed=5)
    table = scores.score_at(np.random.default_rng(1).random(20000))
    assert scores.ks_distance(sim, table) < 0.03
    assert sim.min() > 0 and sim.max() <= 6.25
    # ...and depends on content: richer fields score higher
    assert spearmanr(counts[:, 0], counts[:, 1]).statistic > 0.8


def test_score_distribution_against_real_csv() -> None:
    from cilab.cosmo.layout import read_id_csv

    _, real = read_id_csv(real_csv("scored.csv"), "Actual")
    sim, _ = sample_scores(3000, seed=6)
    assert scores.ks_distance(sim, real) < 0.03
    np.testing.assert_allclose(
        scores.quantiles_from_csv(real_csv("scored.csv")), scores.REAL_SCORE_QUANTILES, rtol=1e-5
    )


def test_simulated_scores_follow_kinds(tiny_data: Path) -> None:
    with open(tiny_data / "sim_meta.csv", newline="") as fh:
        meta = [r for r in csv.DictReader(fh) if r["split"] != "labeled"]
    for r in meta:
        s = float(r["score"])
        band = {"other": (0, 0.01), "corrupted": (0.01, 1.0), "field": (1.0, 6.26)}[r["kind"]]
        assert band[0] <= s <= band[1], r
