"""The CIL road-segmentation data: where it lives, and images and masks read with clear errors.

Layout (the competition's): `DIR/training/images/*.png` (RGB aerial images),
`DIR/training/groundtruth/*.png` (same names; grey masks, road = white, anti-aliased edges) and
`DIR/test_images/*.png`. `DIR` is `--data-dir` (the folder itself or `DIR/roads`), else
`$CILAB_DATA/roads`.

What is accepted, and what is refused before it can do harm:

- Images must be RGB. RGBA is accepted when the alpha channel is fully opaque (it is dropped);
  a transparent pixel is refused (there is no right colour to flatten it onto). Palette images
  are expanded to RGB. Grey images are refused: a grey file among the images is almost always a
  mask in the wrong folder.
- Masks must be one channel (`L`, or `1` bilevel). RGB/RGBA masks whose three colour channels
  are equal are accepted (some tools save grey as RGB); any real colour is refused.
- Every image needs a mask of the same name and size, and the reverse.
- The header's width and height are checked before any pixel is decoded: anything over
  `MAX_PIXELS` (a decompression bomb, or simply not an aerial tile) is refused.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from cilab.core.errors import CilabError, DataError

#: Largest image accepted, in pixels (the test images have 608 x 608 = 0.37 M).
MAX_PIXELS = 4096 * 4096
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")

_FIX = (
    "pass --data-dir DIR or set CILAB_DATA=DIR, where DIR (or DIR/roads) holds "
    "training/images, training/groundtruth and test_images"
)


def find_roads_dir(data_dir: str | Path | None = None) -> Path:
    """The folder holding `training/` (and usually `test_images/`)."""
    if data_dir is not None:
        root = Path(data_dir)
        for cand in (root, root / "roads"):
            if (cand / "training").is_dir():
                return cand
        raise CilabError(f"{root}: no training/ folder here or in {root / 'roads'}; {_FIX}")
    env = os.environ.get("CILAB_DATA")
    if env and (Path(env) / "roads" / "training").is_dir():
        return Path(env) / "roads"
    where = f" ($CILAB_DATA={env} has no roads/training)" if env else ""
    raise CilabError(f"no road-segmentation data found{where}; {_FIX}")


def image_number(path: str | Path) -> int:
    """The number in a file name (`test_7.png` -> 7, `satImage_001.png` -> 1): the last digits."""
    found = re.findall(r"\d+", Path(path).stem)
    if not found:
        raise DataError(path, "the file name holds no image number (e.g. test_7.png)")
    return int(found[-1])


def _natural_key(path: Path) -> tuple[str, int, str]:
    digits = re.findall(r"\d+", path.stem)
    return (re.sub(r"\d+", "#", path.stem), int(digits[-1]) if digits else -1, path.name)


def list_images(folder: str | Path) -> list[Path]:
    """Image files of a folder in natural order (test_2 before test_10)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(folder, "not a folder")
    files = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
    if not files:
        raise DataError(folder, f"no images ({', '.join(IMAGE_SUFFIXES)}) in this folder")
    return sorted(files, key=_natural_key)


def _open(path: Path, max_pixels: int) -> Image.Image:
    """Open lazily and check the header's size before anything is decoded."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise DataError(path, "refused: the image is too large (decompression bomb?)") from None
    except FileNotFoundError:
        raise DataError(path, "file not found") from None
    except (UnidentifiedImageError, OSError) as e:
        raise DataError(path, f"not a readable image ({e.__class__.__name__})") from None
    w, h = im.size
    if w * h > max_pixels:
        im.close()
        raise DataError(
            path,
            f"refused: {w}x{h} pixels is over the limit of {max_pixels} "
            "(a decompression bomb, or not an aerial tile)",
        )
    return im


def _decode(im: Image.Image, path: Path) -> None:
    try:
        im.load()
    except (OSError, ValueError, SyntaxError) as e:
        raise DataError(path, f"truncated or corrupt image ({e})") from None


def read_image(path: str | Path, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """An RGB image as uint8 [H, W, 3]; see the module docstring for what is accepted."""
    path = Path(path)
    im = _open(path, max_pixels)
    with im:
        mode = im.mode
        if mode in ("L", "LA", "I", "I;16", "F", "1"):
            raise DataError(
                path,
                f"a grey image ({mode}) where an RGB aerial image is expected "
                "(is it a mask in the images folder?)",
            )
        _decode(im, path)
        if mode == "P":
            im = im.convert("RGBA") if "transparency" in im.info else im.convert("RGB")
            mode = im.mode
        if mode == "RGBA":
            arr = np.asarray(im)
            if (arr[..., 3] != 255).any():
                raise DataError(
                    path, "RGBA with transparent pixels; save it as RGB (flatten it) first"
                )
            return np.ascontiguousarray(arr[..., :3])
        if mode != "RGB":
            try:
                im = im.convert("RGB")
            except (OSError, ValueError) as e:
                raise DataError(path, f"cannot convert mode {mode} to RGB ({e})") from None
        return np.asarray(im, dtype=np.uint8).copy()


def read_mask(path: str | Path, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """A ground-truth or predicted mask as uint8 [H, W] (0 background ... 255 road)."""
    path = Path(path)
    im = _open(path, max_pixels)
    with im:
        _decode(im, path)
        mode = im.mode
        if mode == "1":
            return np.asarray(im, dtype=np.uint8) * 255
        if mode == "L":
            return np.asarray(im, dtype=np.uint8).copy()
        if mode == "LA":
            return np.asarray(im)[..., 0].copy()
        if mode in ("RGB", "RGBA", "P"):
            arr = np.asarray(im.convert("RGB"))
            if (arr[..., 0] != arr[..., 1]).any() or (arr[..., 0] != arr[..., 2]).any():
                raise DataError(path, "a colour image where a grey mask is expected")
            return arr[..., 0].copy()
        raise DataError(path, f"unsupported mask mode {mode}; save it as 8-bit grey (L)")


@dataclass(frozen=True, eq=False)
class RoadsSet:
    """Training pairs: `images` uint8 [N, H, W, 3], `masks` uint8 [N, H, W], and file names."""

    names: tuple[str, ...]
    images: np.ndarray
    masks: np.ndarray

    def __len__(self) -> int:
        return len(self.names)

    def subset(self, idx: Sequence[int] | np.ndarray) -> RoadsSet:
        idx = np.asarray(idx, dtype=np.int64)
        return RoadsSet(tuple(self.names[i] for i in idx), self.images[idx], self.masks[idx])


def load_pairs(images_dir: str | Path, masks_dir: str | Path, limit: int | None = None) -> RoadsSet:
    """Read matching image/mask pairs; every mismatch is a one-line error naming the file."""
    images = {p.name: p for p in list_images(images_dir)}
    masks = {p.name: p for p in list_images(masks_dir)}
    missing_mask = sorted(set(images) - set(masks))
    if missing_mask:
        raise DataError(
            Path(images_dir) / missing_mask[0],
            f"no mask of the same name in {masks_dir} ({len(missing_mask)} image(s) without one)",
        )
    missing_image = sorted(set(masks) - set(images))
    if missing_image:
        raise DataError(
            Path(masks_dir) / missing_image[0],
            f"a mask without an image in {images_dir} ({len(missing_image)} such mask(s))",
        )
    names = [p.name for p in list_images(images_dir)][:limit]
    imgs, msks = [], []
    for name in names:
        img, msk = read_image(images[name]), read_mask(masks[name])
        if img.shape[:2] != msk.shape:
            raise DataError(
                masks[name],
                f"mask is {msk.shape[1]}x{msk.shape[0]} but its image is "
                f"{img.shape[1]}x{img.shape[0]}",
            )
        if imgs and img.shape != imgs[0].shape:
            raise DataError(
                images[name],
                f"{img.shape[1]}x{img.shape[0]} differs from the other training images "
                f"({imgs[0].shape[1]}x{imgs[0].shape[0]}); training needs one size",
            )
        imgs.append(img)
        msks.append(msk)
    return RoadsSet(tuple(names), np.stack(imgs), np.stack(msks))


def load_training(data_dir: str | Path | None = None, limit: int | None = None) -> RoadsSet:
    """The training pairs of the data folder (see `find_roads_dir`)."""
    root = find_roads_dir(data_dir)
    return load_pairs(root / "training" / "images", root / "training" / "groundtruth", limit)
