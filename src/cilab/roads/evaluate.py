"""`cilab roads eval`: metrics of a folder of predicted masks against ground truth."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cilab.core.errors import CilabError, DataError
from cilab.core.io import write_json
from cilab.roads.data import list_images, read_mask
from cilab.roads.metrics import SegCounts, image_counts, summarize
from cilab.roads.patches import FOREGROUND_THRESHOLD


def prediction_masks(pred_dir: str | Path) -> list[Path]:
    """The mask files of a prediction folder (its PNGs; overlays live in a subfolder)."""
    paths = [p for p in list_images(pred_dir) if p.suffix.lower() == ".png"]
    if not paths:
        raise DataError(pred_dir, "no predicted masks (*.png) in this folder")
    return paths


def evaluate_folder(
    pred_dir: str | Path,
    gt_dir: str | Path,
    patch_threshold: float,
    gt_threshold: float = FOREGROUND_THRESHOLD,
) -> dict[str, Any]:
    """Overall and per-image metrics; written to PRED_DIR/metrics.json."""
    per_image: dict[str, SegCounts] = {}
    gt_dir = Path(gt_dir)
    if not gt_dir.is_dir():
        raise DataError(gt_dir, "not a folder")
    for path in prediction_masks(pred_dir):
        gt_path = gt_dir / path.name
        if not gt_path.is_file():
            raise DataError(path, f"no ground truth of the same name in {gt_dir}")
        pred, gt = read_mask(path), read_mask(gt_path)
        if pred.shape != gt.shape:
            raise DataError(
                path, f"mask is {pred.shape[1]}x{pred.shape[0]}, its ground truth "
                f"{gt.shape[1]}x{gt.shape[0]}",
            )  # fmt: skip
        per_image[path.name] = image_counts(pred, gt, patch_threshold, gt_threshold)
    if not per_image:
        raise CilabError(f"{pred_dir}: nothing to evaluate")
    result = {
        **summarize(per_image),
        "patch_threshold": patch_threshold,
        "gt_threshold": gt_threshold,
        "groundtruth": str(gt_dir),
    }
    write_json(Path(pred_dir) / "metrics.json", result)
    return result
