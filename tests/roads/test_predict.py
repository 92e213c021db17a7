"""Test-time augmentation: symmetries, multi-scale zoom, and old runs that predate the zoom."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from cilab.core.errors import CilabError
from cilab.roads.predict import torch_probabilities, zoom_factors
from cilab.roads.train import RoadsTrainConfig, saved_config

CPU = torch.device("cpu")


def pixel_model() -> nn.Module:
    """A per-pixel logit (1x1 convolution): equivariant to every symmetry and scale."""
    torch.manual_seed(0)
    return nn.Conv2d(3, 1, 1).eval()


def image(seed: int = 0, size: int = 40) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


def test_zoom_factors() -> None:
    assert zoom_factors(1.0) == (1.0,)
    assert zoom_factors(1.25) == (0.8, 1.0, 1.25)
    with pytest.raises(ValueError, match="tta-zoom must be >= 1"):
        zoom_factors(0.8)


def test_zoom_averages_the_three_scales_at_full_resolution() -> None:
    model, img = pixel_model(), image()
    got = torch_probabilities([model], img, 0.5, "flips", False, CPU, zoom=1.25)
    parts = [
        torch_probabilities([model], img, 0.5 * f, "flips", False, CPU) for f in (0.8, 1, 1.25)
    ]
    assert got.shape == (40, 40)
    np.testing.assert_allclose(got, np.mean(parts, axis=0), rtol=1e-6, atol=1e-7)
    assert not np.allclose(parts[0], parts[1])  # the scales really differ
    one = torch_probabilities([model], img, 0.5, "flips", False, CPU)
    np.testing.assert_array_equal(torch_probabilities([model], img, 0.5, "flips", False, CPU,
                                                      zoom=1.0), one)  # fmt: skip


def test_symmetries_of_an_equivariant_model_change_nothing() -> None:
    model, img = pixel_model(), image(1)
    base = torch_probabilities([model], img, 1.0, "none", False, CPU)
    for tta in ("flips", "d4"):
        np.testing.assert_allclose(
            torch_probabilities([model], img, 1.0, tta, False, CPU), base, rtol=1e-5, atol=1e-6
        )


def test_patch_models_refuse_the_zoom() -> None:
    with pytest.raises(CilabError, match="multi-scale TTA needs a pixel model"):
        torch_probabilities([pixel_model()], image(), 0.5, "none", True, CPU, zoom=1.25)
    with pytest.raises(ValueError, match="tta-zoom needs the U-Net"):
        RoadsTrainConfig(model="patchcnn", tta_zoom=1.25)
    assert RoadsTrainConfig(model="patchcnn").tta_zoom == 1.0
    assert RoadsTrainConfig(model="unet").tta_zoom == 1.25
    with pytest.raises(ValueError, match="tta-zoom must be >= 1"):
        RoadsTrainConfig(model="unet", tta_zoom=0.5)


def test_runs_from_before_the_zoom_keep_predicting_at_one_scale(tmp_path: Path) -> None:
    from dataclasses import asdict

    saved = asdict(RoadsTrainConfig(model="unet"))
    del saved["tta_zoom"]
    (tmp_path / "config.json").write_text(json.dumps(saved))
    assert saved_config(tmp_path).tta_zoom == 1.0
