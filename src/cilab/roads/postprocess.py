"""From model probabilities to masks and patch decisions, the same way in CV and in `predict`.

- Pixel models (`unet`): the mask is `probability > 0.5`, optionally cleaned by a morphological
  opening and/or closing with a disk; a patch is road when the mask's patch mean exceeds the
  patch threshold (tuned on validation folds; the competition's 0.25 when not tuned).
- Patch models (`logreg`, `patchcnn`): a patch is road when its probability exceeds the patch
  threshold; the mask is those patches painted full size, so any threshold in (0, 1) recovers
  the same patches from the mask (the predictor records 0.5).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy import ndimage

from cilab.roads.patches import PATCH, labels_to_mask, patch_means

Morphology = Literal["none", "open", "close", "open-close"]
MORPHOLOGY_CHOICES: tuple[str, ...] = ("none", "open", "close", "open-close")
PIXEL_THRESHOLD = 0.5


def disk(radius: int) -> np.ndarray:
    """Boolean disk of `radius` pixels, [2r+1, 2r+1]: the structuring element of `clean`."""
    r = np.arange(-radius, radius + 1)
    return (r[:, None] ** 2 + r[None, :] ** 2) <= radius**2


def clean(mask: np.ndarray, morphology: Morphology, radius: int) -> np.ndarray:
    """Morphological clean-up of a boolean mask [H, W]."""
    if morphology == "none" or radius < 1:
        return mask
    se = disk(radius)
    if morphology in ("open", "open-close"):
        mask = ndimage.binary_opening(mask, structure=se, border_value=0)
    if morphology in ("close", "open-close"):
        # Pad so that closing does not eat road at the border.
        pad = np.pad(mask, radius, mode="edge")
        mask = ndimage.binary_closing(pad, structure=se)[radius:-radius, radius:-radius]
    return mask


def pixel_mask(prob: np.ndarray, morphology: Morphology = "none", radius: int = 0) -> np.ndarray:
    """Boolean road mask [H, W] from a pixel probability map."""
    return clean(prob > PIXEL_THRESHOLD, morphology, radius)


def patch_statistic(
    prob: np.ndarray, patch_output: bool, morphology: Morphology = "none", radius: int = 0
) -> np.ndarray:
    """What the patch threshold is compared with: [h, w] floats in [0, 1]."""
    if patch_output:
        return np.asarray(prob, dtype=np.float64)
    return patch_means(pixel_mask(prob, morphology, radius), PATCH)


def final_mask(
    prob: np.ndarray,
    patch_output: bool,
    threshold: float,
    shape: tuple[int, int],
    morphology: Morphology = "none",
    radius: int = 0,
) -> np.ndarray:
    """The uint8 0/255 mask written to disk, full resolution."""
    if patch_output:
        return labels_to_mask(np.asarray(prob) > threshold, shape)
    return pixel_mask(prob, morphology, radius).astype(np.uint8) * np.uint8(255)
