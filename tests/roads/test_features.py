"""Patch features against hand-computed values; the logistic-regression pipeline and its files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cilab.core.errors import DataError
from cilab.roads.data import load_training
from cilab.roads.features import PatchFeatures, basic_features, extended_features
from cilab.roads.models.logreg import (
    LogRegConfig,
    build_logreg,
    load_logreg,
    predict_patch_proba,
    save_logreg,
)
from cilab.roads.patches import patch_labels


def test_basic_features_are_the_course_mean_and_variance() -> None:
    img = np.zeros((16, 32, 3), np.uint8)
    img[:, :16, 0] = 255  # left patch: red channel constant 1
    img[::2, 16:, 1] = 255  # right patch: green alternates 0 / 1 -> mean 0.5, variance 0.25
    f = basic_features(img)
    assert f.shape == (1, 2, 6)
    np.testing.assert_allclose(f[0, 0], [1, 0, 0, 0, 0, 0])
    np.testing.assert_allclose(f[0, 1], [0, 0.5, 0, 0, 0.25, 0])
    course = [*np.mean(img[:, 16:] / 255, axis=(0, 1)), *np.var(img[:, 16:] / 255, axis=(0, 1))]
    np.testing.assert_allclose(f[0, 1], course)


def test_extended_features_are_finite_and_row_order_matches_labels(tiny_roads: Path) -> None:
    data = load_training(tiny_roads, limit=2)
    f = extended_features(data.images[0])
    assert f.shape[:2] == (3, 3) and np.isfinite(f).all()
    rows = PatchFeatures("extended").fit(data.images).transform(data.images)
    assert rows.shape == (2 * 9, f.shape[-1])
    np.testing.assert_allclose(rows[9 + 4], extended_features(data.images[1])[1, 1], rtol=1e-5)
    with pytest.raises(ValueError, match="unknown feature set"):
        PatchFeatures("nope").fit(data.images)


@pytest.mark.parametrize("feature_set", ["basic", "extended"])
def test_pipeline_learns_and_saves_without_pickle(
    tiny_roads: Path, tmp_path: Path, feature_set: str
) -> None:
    data = load_training(tiny_roads)
    y = patch_labels(data.masks)
    cfg = LogRegConfig(feature_set=feature_set, C=1.0, class_weight=None)  # type: ignore[arg-type]
    pipe = build_logreg(cfg).fit(data.images, y.reshape(-1))
    proba = predict_patch_proba(pipe, data.images)
    assert proba.shape == y.shape
    assert ((proba > 0.5) == y).mean() > 0.8  # grey roads on green: easy
    save_logreg(pipe, cfg, tmp_path / "m.npz")
    loaded, cfg2 = load_logreg(tmp_path / "m.npz")
    assert cfg2 == cfg
    np.testing.assert_allclose(predict_patch_proba(loaded, data.images), proba, rtol=1e-6)
    (tmp_path / "m.npz").write_bytes(b"junk")
    with pytest.raises(DataError, match="not a readable logreg model"):
        load_logreg(tmp_path / "m.npz")
