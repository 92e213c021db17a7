"""Segmentation metrics: accumulate a confusion count first, then reduce it.

Counts add up exactly over images, so "overall" numbers are micro-averages: the counts of all
images summed, then reduced (what the leaderboard computed for accuracy). Per-image numbers
reduce each image's own counts. The road class is the positive class.

- `patch_accuracy`: fraction of correctly labelled 16x16 patches (the leaderboard score).
- `patch_f1`: F1 of the road patches.
- `pixel_f1`, `pixel_iou`: F1 and intersection-over-union of the road pixels.

F1 and IoU with no road in the prediction nor the truth (tp = fp = fn = 0) are 1.0: nothing to
find, nothing wrongly found.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from cilab.roads.patches import FOREGROUND_THRESHOLD, PATCH, patch_labels


@dataclass(frozen=True)
class Counts:
    """Confusion counts of a binary labelling, road positive."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.tp + other.tp, self.fp + other.fp, self.fn + other.fn, self.tn + other.tn
        )

    @property
    def total(self) -> int:
        return self.tp + self.fp + self.fn + self.tn


def confusion(pred: np.ndarray, target: np.ndarray) -> Counts:
    """Counts of two boolean (or 0/1) arrays of one shape."""
    p, t = np.asarray(pred).astype(bool), np.asarray(target).astype(bool)
    if p.shape != t.shape:
        raise ValueError(f"prediction {p.shape} and target {t.shape} differ in shape")
    tp = int(np.count_nonzero(p & t))
    fp = int(np.count_nonzero(p & ~t))
    fn = int(np.count_nonzero(~p & t))
    return Counts(tp, fp, fn, p.size - tp - fp - fn)


def accuracy(c: Counts) -> float:
    """Share of correct labels, (tp + tn) / total, of patch or pixel `Counts`; NaN if empty."""
    return (c.tp + c.tn) / c.total if c.total else float("nan")


def f1(c: Counts) -> float:
    """Road F1, 2 tp / (2 tp + fp + fn), of patch or pixel `Counts`; 1.0 with no road at all."""
    denom = 2 * c.tp + c.fp + c.fn
    return 2 * c.tp / denom if denom else 1.0


def iou(c: Counts) -> float:
    """Road intersection over union, tp / (tp + fp + fn), of `Counts`; 1.0 with no road at all."""
    denom = c.tp + c.fp + c.fn
    return c.tp / denom if denom else 1.0


def precision(c: Counts) -> float:
    """Share of predicted road that is road, tp / (tp + fp), of `Counts`; 1.0 if none."""
    return c.tp / (c.tp + c.fp) if c.tp + c.fp else 1.0


def recall(c: Counts) -> float:
    """Share of true road that is found, tp / (tp + fn), of `Counts`; 1.0 if there is none."""
    return c.tp / (c.tp + c.fn) if c.tp + c.fn else 1.0


@dataclass(frozen=True)
class SegCounts:
    """Patch and pixel counts of one or many images."""

    patch: Counts = Counts()
    pixel: Counts = Counts()

    def __add__(self, other: SegCounts) -> SegCounts:
        return SegCounts(self.patch + other.patch, self.pixel + other.pixel)

    def metrics(self) -> dict[str, float]:
        return {
            "patch_accuracy": accuracy(self.patch),
            "patch_f1": f1(self.patch),
            "patch_precision": precision(self.patch),
            "patch_recall": recall(self.patch),
            "pixel_accuracy": accuracy(self.pixel),
            "pixel_f1": f1(self.pixel),
            "pixel_iou": iou(self.pixel),
        }


def image_counts(
    pred_mask: np.ndarray,
    gt_mask: np.ndarray,
    pred_threshold: float = FOREGROUND_THRESHOLD,
    gt_threshold: float = FOREGROUND_THRESHOLD,
    patch: int = PATCH,
) -> SegCounts:
    """Counts for one image from uint8 masks (0..255): pixels split at 128, patches by the rule.

    `pred_threshold` applies to the predicted mask's patch means, `gt_threshold` to the truth's.
    """
    pred, gt = np.asarray(pred_mask), np.asarray(gt_mask)
    if pred.shape != gt.shape:
        raise ValueError(f"predicted mask {pred.shape} and ground truth {gt.shape} differ")
    pixel = confusion(pred >= 128, gt >= 128)
    pl = patch_labels(pred, pred_threshold, patch)
    gl = patch_labels(gt, gt_threshold, patch)
    return SegCounts(confusion(pl, gl), pixel)


def summarize(per_image: dict[str, SegCounts]) -> dict[str, Any]:
    """`overall` metrics (summed counts) and `per_image` metrics, JSON-ready, with the counts."""
    total = sum(per_image.values(), SegCounts())
    return {
        "overall": total.metrics(),
        "counts": {"patch": asdict(total.patch), "pixel": asdict(total.pixel)},
        "n_images": len(per_image),
        "per_image": {name: c.metrics() for name, c in per_image.items()},
    }
