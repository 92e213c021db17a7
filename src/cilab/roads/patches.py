"""The competition's 16x16 patches: labelling, and submission files written and read back.

A patch is road when the mean of its mask, scaled to [0, 1], is strictly above a threshold
(0.25 for the ground truth, the competition's rule). A submission has one row `Id,Prediction`
per patch, `Id = NNN_x_y` with NNN the image number (at least three digits), x the patch's
column offset and y its row offset in pixels. Within an image, patches are listed column by
column (x outer, y inner), as the course's `mask_to_submission.py` does. The images are listed
in `sample_submission.csv`'s order, which follows no sort (it is the organisers' directory
order), so it is kept here as `COMPETITION_ORDER`; other image numbers follow in increasing
order. A template CSV (`template=`) overrides both orders.

Images whose sides are not multiples of 16 get partial patches at the right and bottom edges
(the mean is over the pixels present), as in the course's script.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np

from cilab.core.errors import CilabError, DataError
from cilab.core.io import atomic_write

PATCH = 16
FOREGROUND_THRESHOLD = 0.25

#: Image numbers in the order of the competition's sample_submission.csv (94 test images).
COMPETITION_ORDER: tuple[int, ...] = (
    136, 115, 221, 76, 218, 129, 153, 21, 189, 170, 190, 155, 15, 208, 107, 124, 116, 151, 200,
    211, 177, 216, 130, 106, 108, 12, 69, 41, 14, 159, 157, 220, 122, 40, 80, 222, 11, 139, 49,
    175, 144, 9, 207, 105, 138, 152, 131, 64, 176, 223, 186, 143, 168, 54, 174, 79, 27, 140, 169,
    187, 196, 145, 29, 10, 162, 161, 25, 26, 142, 65, 92, 8, 61, 36, 202, 154, 90, 50, 201, 121,
    215, 137, 23, 123, 192, 204, 191, 51, 219, 93, 128, 205, 7, 206,
)  # fmt: skip

_ID = re.compile(r"^(\d+)_(\d+)_(\d+)$")


def patch_grid(height: int, width: int, patch: int = PATCH) -> tuple[int, int]:
    """Number of patch rows and columns (partial edge patches count)."""
    return -(-height // patch), -(-width // patch)


def patch_means(masks: np.ndarray, patch: int = PATCH) -> np.ndarray:
    """Mean of each patch: [..., H, W] (any scale) -> [..., ceil(H/p), ceil(W/p)] float64."""
    m = np.asarray(masks, dtype=np.float64)
    h, w = m.shape[-2:]
    ys, xs = np.arange(0, h, patch), np.arange(0, w, patch)
    sums = np.add.reduceat(np.add.reduceat(m, ys, axis=-2), xs, axis=-1)
    counts = np.outer(np.diff(np.append(ys, h)), np.diff(np.append(xs, w)))
    return sums / counts


def patch_labels(
    masks: np.ndarray, threshold: float = FOREGROUND_THRESHOLD, patch: int = PATCH
) -> np.ndarray:
    """Road (1) where the patch mean of a uint8 0..255 mask, scaled to [0, 1], is > threshold.

    Float masks are taken as already in [0, 1]. Returns uint8 [..., h, w].
    """
    m = np.asarray(masks)
    scale = 255.0 if m.dtype == np.uint8 else 1.0
    return (patch_means(m, patch) > threshold * scale).astype(np.uint8)


def labels_to_mask(labels: np.ndarray, shape: tuple[int, int], patch: int = PATCH) -> np.ndarray:
    """Expand patch labels [..., h, w] (0/1) to a uint8 0/255 mask [..., H, W]."""
    lab = np.asarray(labels, dtype=np.uint8)
    full = lab.repeat(patch, axis=-2).repeat(patch, axis=-1)
    return full[..., : shape[0], : shape[1]] * np.uint8(255)


def patch_ids(number: int, grid: tuple[int, int], patch: int = PATCH) -> Iterator[str]:
    """The ids of one image's patches in submission order: column offset x outer, row y inner."""
    rows, cols = grid
    for j in range(cols):
        for i in range(rows):
            yield f"{number:03d}_{j * patch}_{i * patch}"


def image_order(numbers: list[int] | set[int]) -> list[int]:
    """Competition order for the numbers it knows, then the others in increasing order."""
    present = set(numbers)
    known = [n for n in COMPETITION_ORDER if n in present]
    return known + sorted(present - set(known))


def submission_rows(
    labels: Mapping[int, np.ndarray], template: str | Path | None = None, patch: int = PATCH
) -> list[tuple[str, int]]:
    """(id, 0/1) rows for patch labels per image number, in competition (or template) order."""
    if template is None:
        rows: list[tuple[str, int]] = []
        for n in image_order(list(labels)):
            lab = np.asarray(labels[n])
            flat = lab.T.reshape(-1)  # [h, w] -> column-major order: x outer, y inner
            rows.extend(zip(patch_ids(n, lab.shape, patch), flat.tolist(), strict=True))
        return rows
    ids = read_submission_ids(template)
    rows = []
    unused = set(labels)
    for pid in ids:
        n, x, y = (int(v) for v in _ID.match(pid).groups())  # type: ignore[union-attr]
        if n not in labels:
            raise CilabError(f"{template}: lists image {n}, which has no predicted mask")
        unused.discard(n)
        lab = labels[n]
        if y // patch >= lab.shape[0] or x // patch >= lab.shape[1]:
            raise CilabError(f"{template}: patch {pid} lies outside image {n}'s mask")
        rows.append((pid, int(lab[y // patch, x // patch])))
    if unused:
        raise CilabError(f"{template}: has no rows for image(s) {sorted(unused)[:10]}")
    return rows


def write_submission(
    labels: Mapping[int, np.ndarray], out: str | Path, template: str | Path | None = None
) -> int:
    """Write `Id,Prediction` atomically; returns the number of rows."""
    if not labels:
        raise CilabError("no masks to write a submission from")
    rows = submission_rows(labels, template)
    text = "Id,Prediction\n" + "".join(f"{pid},{v}\n" for pid, v in rows)
    atomic_write(out, lambda f: f.write(text.encode()))
    return len(rows)


def _read_rows(path: str | Path) -> Iterator[tuple[int, str, str]]:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise DataError(path, f"cannot read ({e.strerror})") from None
    lines = io.StringIO(text)
    header = lines.readline().strip()
    if header.replace(" ", "") != "Id,Prediction":
        raise DataError(path, f"line 1: expected the header 'Id,Prediction', got {header[:40]!r}")
    for lineno, line in enumerate(lines, start=2):
        line = line.strip()
        if not line:
            continue
        parts = line.split(",")
        if len(parts) != 2 or not _ID.match(parts[0].strip()):
            raise DataError(path, f"line {lineno}: expected NNN_x_y,0|1, got {line[:40]!r}")
        yield lineno, parts[0].strip(), parts[1].strip()


def read_submission_ids(path: str | Path) -> list[str]:
    """The id column of a submission (or sample_submission.csv), in file order."""
    return [pid for _, pid, _ in _read_rows(path)]


def read_submission(path: str | Path, patch: int = PATCH) -> dict[int, np.ndarray]:
    """Patch labels per image number, uint8 [h, w], from a submission CSV.

    Every image's patches must form a full grid, each listed once, with 0/1 predictions.
    """
    cells: dict[int, dict[tuple[int, int], int]] = {}
    for lineno, pid, value in _read_rows(path):
        if value not in ("0", "1"):
            raise DataError(path, f"line {lineno}: prediction must be 0 or 1, got {value!r}")
        n, x, y = (int(v) for v in _ID.match(pid).groups())  # type: ignore[union-attr]
        if x % patch or y % patch:
            raise DataError(path, f"line {lineno}: {pid} is not on the {patch}-pixel grid")
        key = (y // patch, x // patch)
        if key in cells.setdefault(n, {}):
            raise DataError(path, f"line {lineno}: {pid} listed twice")
        cells[n][key] = int(value)
    out: dict[int, np.ndarray] = {}
    for n, cell in cells.items():
        rows = 1 + max(i for i, _ in cell)
        cols = 1 + max(j for _, j in cell)
        if len(cell) != rows * cols:
            raise DataError(
                path, f"image {n}: {len(cell)} patches do not fill a {rows}x{cols} grid"
            )
        lab = np.zeros((rows, cols), dtype=np.uint8)
        for (i, j), v in cell.items():
            lab[i, j] = v
        out[n] = lab
    return out
