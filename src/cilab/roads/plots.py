"""Figures for road segmentation, from arrays: overlays and a montage of them.

Plain NumPy + Pillow (no pyplot), written atomically like every cilab figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from cilab.core.errors import CilabError
from cilab.viz.grid import make_grid, write_atomically

ROAD_TINT = np.array([255, 0, 0], dtype=np.float32)
OUTLINE = np.array([255, 230, 0], dtype=np.uint8)


def overlay(
    image: np.ndarray, mask: np.ndarray, groundtruth: np.ndarray | None = None, alpha: float = 0.45
) -> np.ndarray:
    """uint8 [H, W, 3]: predicted road (mask >= 128) tinted red, ground truth outlined yellow."""
    if image.shape[:2] != mask.shape:
        raise CilabError(f"overlay: image {image.shape[:2]} and mask {mask.shape} differ")
    out = image.astype(np.float32)
    road = mask >= 128
    out[road] = (1 - alpha) * out[road] + alpha * ROAD_TINT
    out = out.round().clip(0, 255).astype(np.uint8)
    if groundtruth is not None:
        gt = groundtruth >= 128
        edge = gt & ~ndimage.binary_erosion(gt, iterations=2, border_value=1)
        out[edge] = OUTLINE
    return out


def save_montage(paths: Sequence[str | Path], out: str | Path, nrow: int = 4) -> None:
    """Tile same-size RGB images (e.g. overlays) into one PNG."""
    if not paths:
        raise CilabError("save_montage: no images")
    arrays = [np.asarray(Image.open(p).convert("RGB")) for p in paths]
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        side = min(min(a.shape[:2]) for a in arrays)
        arrays = [a[:side, :side] for a in arrays]
    grid = make_grid(np.stack(arrays).transpose(0, 3, 1, 2), nrow=nrow, padding=4)
    write_atomically(out, lambda tmp: Image.fromarray(grid).save(tmp, format="PNG"))
