"""Metrics against hand-computed counts."""

from __future__ import annotations

import numpy as np
import pytest

from cilab.roads.metrics import (
    Counts,
    SegCounts,
    accuracy,
    confusion,
    f1,
    image_counts,
    iou,
    summarize,
)


def test_confusion_counts_by_hand() -> None:
    pred = np.array([1, 1, 0, 0, 1, 0, 0, 0])
    true = np.array([1, 0, 1, 0, 1, 0, 0, 1])
    c = confusion(pred, true)
    assert c == Counts(tp=2, fp=1, fn=2, tn=3)
    assert accuracy(c) == pytest.approx(5 / 8)
    assert f1(c) == pytest.approx(2 * 2 / (2 * 2 + 1 + 2))  # 4/7
    assert iou(c) == pytest.approx(2 / 5)


def test_empty_truth_and_prediction_is_perfect_and_shapes_must_match() -> None:
    c = confusion(np.zeros(4), np.zeros(4))
    assert (accuracy(c), f1(c), iou(c)) == (1.0, 1.0, 1.0)
    assert f1(confusion(np.zeros(4), np.ones(4))) == 0.0
    with pytest.raises(ValueError, match="differ"):
        confusion(np.zeros(3), np.zeros(4))


def test_counts_add_and_overall_is_a_micro_average() -> None:
    a = SegCounts(Counts(1, 0, 0, 3), Counts(10, 0, 0, 54))
    b = SegCounts(Counts(0, 2, 1, 1), Counts(0, 5, 5, 54))
    out = summarize({"a.png": a, "b.png": b})
    assert out["counts"]["patch"] == {"tp": 1, "fp": 2, "fn": 1, "tn": 4}
    assert out["overall"]["patch_accuracy"] == pytest.approx(5 / 8)  # not the mean of 1 and 1/4
    assert out["overall"]["patch_f1"] == pytest.approx(2 / (2 + 2 + 1))
    assert out["overall"]["pixel_iou"] == pytest.approx(10 / 20)
    assert out["per_image"]["a.png"]["patch_accuracy"] == 1.0
    assert out["per_image"]["b.png"]["patch_accuracy"] == pytest.approx(1 / 4)


def test_image_counts_patches_and_pixels() -> None:
    # 32x32 image = 2x2 patches. Truth: the top-left patch full of road, plus a 4x16 strip
    # (mean 0.25, not road) in the top-right patch.
    gt = np.zeros((32, 32), dtype=np.uint8)
    gt[:16, :16] = 255
    gt[:4, 16:] = 255
    pred = np.zeros_like(gt)
    pred[:16, :8] = 255  # half of the road patch: mean 0.5
    pred[16:, 16:] = 255  # a false road patch
    c = image_counts(pred, gt)
    assert c.patch == Counts(tp=1, fp=1, fn=0, tn=2)
    assert c.pixel == Counts(tp=128, fp=256, fn=128 + 64, tn=1024 - 128 - 256 - 192)
    # A stricter threshold on the prediction drops the half-covered patch.
    assert image_counts(pred, gt, pred_threshold=0.5).patch == Counts(tp=0, fp=1, fn=1, tn=2)
