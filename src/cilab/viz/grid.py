"""Image grids, PNGs and GIFs without torchvision.

Everything here is plain NumPy plus Pillow, so it works identically on CPU-only machines and
never touches matplotlib's global backend state. Files are written atomically: a crash never
leaves a truncated PNG or GIF where a good one was.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from cilab.core.errors import CilabError
from cilab.core.io import atomic_path

ImageBatch = np.ndarray | torch.Tensor


def to_uint8(images: ImageBatch) -> np.ndarray:
    """Convert a batch to uint8, channels last: [N,H,W] or [N,C,H,W] -> [N,H,W] or [N,H,W,3].

    Floats are read as intensities in [0, 1]: values outside are clipped (a decoder's logits or
    an un-squashed output must not wrap around), NaN becomes 0, and rounding is to nearest.
    uint8 passes through unchanged. C must be 1 (dropped) or 3.
    """
    if isinstance(images, torch.Tensor):
        images = images.detach().cpu().numpy()
    arr = np.asarray(images)
    if arr.ndim == 4:
        if arr.shape[1] not in (1, 3):
            raise CilabError(f"expected [N,C,H,W] with C in (1, 3), got shape {arr.shape}")
        arr = arr[:, 0] if arr.shape[1] == 1 else np.moveaxis(arr, 1, -1)
    elif arr.ndim != 3:
        raise CilabError(f"expected images of shape [N,H,W] or [N,C,H,W], got {arr.shape}")
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr)
    if not np.issubdtype(arr.dtype, np.floating):
        raise CilabError(f"expected float images in [0, 1] or uint8, got dtype {arr.dtype}")
    scaled = np.nan_to_num(arr.astype(np.float32), nan=0.0).clip(0.0, 1.0) * 255.0
    return np.rint(scaled).astype(np.uint8)


def make_grid(
    images: ImageBatch, nrow: int, padding: int = 2, pad_value: float = 1.0
) -> np.ndarray:
    """Tile a batch into one uint8 image (HxW for grey, HxWx3 for colour).

    `nrow` is the number of images per row (torchvision's meaning; fewer when the batch is
    smaller). Image k sits in row
    k // nrow, column k % nrow, at pixel offset (padding + r*(H+padding),
    padding + c*(W+padding)); padding surrounds every tile, the outer border included, and
    fills empty cells of a short last row. `pad_value` is an intensity in [0, 1] whatever
    the input dtype, so white separators look the same for float and uint8 batches.
    """
    if nrow < 1 or padding < 0:
        raise CilabError(f"make_grid needs nrow >= 1 and padding >= 0 (got {nrow}, {padding})")
    tiles = to_uint8(images)
    n, h, w = tiles.shape[:3]
    if n == 0:
        raise CilabError("make_grid got an empty batch")
    ncol = min(nrow, n)
    rows = -(-n // ncol)
    fill = round(float(np.clip(pad_value, 0.0, 1.0)) * 255)
    shape = (padding + rows * (h + padding), padding + ncol * (w + padding), *tiles.shape[3:])
    grid = np.full(shape, fill, dtype=np.uint8)
    for k in range(n):
        y = padding + (k // ncol) * (h + padding)
        x = padding + (k % ncol) * (w + padding)
        grid[y : y + h, x : x + w] = tiles[k]
    return grid


def write_atomically(path: str | Path, write: Callable[[Path], None]) -> None:
    """Run `write(tmp)` under `atomic_path`, turning OS errors into one-line `CilabError`s."""
    try:
        with atomic_path(path) as tmp:
            write(tmp)
    except OSError as e:
        raise CilabError(f"{path}: cannot write ({e.strerror or e})") from None


def save_image_grid(images: ImageBatch, path: str | Path, nrow: int, scale: int = 1) -> None:
    """Write `make_grid(images, nrow)` as a PNG, optionally upscaled by an integer factor.

    Upscaling is nearest-neighbour (pixel replication), so 28x28 digits stay crisp instead of
    being blurred by a viewer's interpolation.
    """
    if scale < 1:
        raise CilabError(f"scale must be a positive integer, got {scale}")
    grid = make_grid(images, nrow)
    if scale > 1:
        grid = grid.repeat(scale, axis=0).repeat(scale, axis=1)
    write_atomically(path, lambda tmp: Image.fromarray(grid).save(tmp, format="PNG"))


def save_gif(frames: Sequence[np.ndarray], path: str | Path, duration_ms: int = 200) -> None:
    """Write frames (each HxW or HxWx3, uint8 or float in [0, 1]) as a looping animated GIF.

    All frames must share one shape, since a GIF has one canvas. Pillow merges consecutive
    identical frames into one with the summed duration, so playback time is unchanged.
    """
    if len(frames) == 0:
        raise CilabError("save_gif needs at least one frame")
    shapes = {np.shape(f) for f in frames}
    if len(shapes) != 1:
        raise CilabError(f"save_gif frames differ in shape: {sorted(shapes)}")
    arrays = [_frame_to_uint8(f) for f in frames]
    pics = [Image.fromarray(a) for a in arrays]

    def write(tmp: Path) -> None:
        pics[0].save(
            tmp,
            format="GIF",
            save_all=True,
            append_images=pics[1:],
            duration=int(duration_ms),
            loop=0,
        )

    write_atomically(path, write)


def _frame_to_uint8(frame: np.ndarray) -> np.ndarray:
    """One HxW or HxWx3 frame to uint8, reusing the batch conversion."""
    arr = np.asarray(frame)
    if arr.ndim == 3 and arr.shape[-1] == 3:
        return to_uint8(np.moveaxis(arr, -1, 0)[None])[0]
    if arr.ndim != 2:
        raise CilabError(f"a GIF frame must be HxW or HxWx3, got shape {arr.shape}")
    return to_uint8(arr[None])[0]
