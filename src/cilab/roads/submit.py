"""`cilab roads submit`: a folder of predicted masks -> the competition's submission CSV."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cilab.core.errors import DataError
from cilab.roads.data import image_number, read_mask
from cilab.roads.evaluate import prediction_masks
from cilab.roads.patches import labels_to_mask, patch_labels, read_submission, write_submission
from cilab.viz.grid import write_atomically


def folder_labels(pred_dir: str | Path, patch_threshold: float) -> dict[int, np.ndarray]:
    """Patch labels [h, w] per image number of every mask in `pred_dir`."""
    labels: dict[int, np.ndarray] = {}
    names: dict[int, str] = {}
    for path in prediction_masks(pred_dir):
        n = image_number(path)
        if n in labels:
            raise DataError(path, f"image number {n} also belongs to {names[n]}")
        labels[n], names[n] = patch_labels(read_mask(path), patch_threshold), path.name
    return labels


def submit_folder(
    pred_dir: str | Path, out: str | Path, patch_threshold: float, template: str | Path | None
) -> int:
    """Write the submission; returns its number of rows."""
    return write_submission(folder_labels(pred_dir, patch_threshold), out, template)


def submission_to_masks(
    csv_path: str | Path, out_dir: str | Path, prefix: str = "test_"
) -> list[Path]:
    """Paint a submission back into 0/255 masks `OUT/<prefix><N>.png` (patch-sized blocks)."""
    from PIL import Image

    written = []
    for n, lab in read_submission(csv_path).items():
        mask = labels_to_mask(lab, (lab.shape[0] * 16, lab.shape[1] * 16))
        path = Path(out_dir) / f"{prefix}{n}.png"
        write_atomically(path, lambda tmp, m=mask: Image.fromarray(m, mode="L").save(tmp, "PNG"))
        written.append(path)
    return written
