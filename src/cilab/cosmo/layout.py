"""The cosmology data layout: find it, read its CSVs and images, and refuse anything malformed.

The original layout (and the one `cilab cosmo simulate` writes)::

    DIR/labeled/<Id>.png   DIR/labeled.csv   Id,Actual   (1.0 real cosmology image, 0.0 not)
    DIR/scored/<Id>.png    DIR/scored.csv    Id,Actual   (similarity score, float 0-8)
    DIR/query/<Id>.png     DIR/query_example.csv (optional) Id,Predicted   (submission order)
    DIR/query_truth.csv    (simulated data only) Id,Actual   (the hidden query scores)

Images are 8-bit grey PNGs (1000x1000 in the original). Ids are digit strings. `scored` and
`query` may share ids (the original shares two), so every split is its own `Split` and code
never looks an image up by id alone.

Every problem is a one-line `DataError` naming the file and saying what is wrong.
"""

from __future__ import annotations

import csv
import io
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from cilab.core.errors import CilabError, DataError
from cilab.cosmo.fastpng import decode_grey8

SPLITS = ("labeled", "scored", "query")
# An image header may claim at most this many pixels (a 1000x1000 image has 1e6): anything larger
# is refused before decoding, so a tiny file cannot make us allocate gigabytes.
MAX_PIXELS = 16_000_000


def resolve_data_dir(data_dir: str | Path | None = None) -> Path:
    """The data folder: `--data-dir`, else `$COSMOLOGY_DATA`, else `$CILAB_DATA/cosmology`.

    `COSMOLOGY_DATA` is the variable the exercise's script reads.
    """
    if data_dir is not None:
        where = "--data-dir"
        path = Path(data_dir)
    elif os.environ.get("COSMOLOGY_DATA", "").strip():
        where = "$COSMOLOGY_DATA"
        path = Path(os.environ["COSMOLOGY_DATA"].strip())
    elif os.environ.get("CILAB_DATA", "").strip():
        where = "$CILAB_DATA/cosmology"
        path = Path(os.environ["CILAB_DATA"].strip()) / "cosmology"
    else:
        raise CilabError(
            "no cosmology data folder: pass --data-dir DIR, or set COSMOLOGY_DATA "
            "(make one with: cilab cosmo simulate --out DIR)"
        )
    if not path.is_dir():
        raise DataError(path, f"cosmology data folder not found (from {where})")
    return path


@dataclass(frozen=True)
class Split:
    """One split's images, in CSV order (or sorted by id when it has no CSV)."""

    name: str
    ids: tuple[str, ...]
    paths: tuple[Path, ...]
    targets: np.ndarray | None  # [N] float64 labels or scores; None for `query`

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class CosmoData:
    """A checked data folder, from `load_layout`: its splits (None when absent), the
    submission order and, on simulated data, the hidden query scores.
    """

    root: Path
    labeled: Split | None
    scored: Split | None
    query: Split | None
    query_order: tuple[str, ...] | None  # ids of query_example.csv, the submission order
    query_truth: dict[str, float] | None  # simulated data only

    def require(self, name: str) -> Split:
        split = getattr(self, name)
        if split is None:
            raise DataError(self.root, f"has no {name}/ folder and {name}.csv")
        return split


def read_id_csv(path: Path, value_column: str) -> tuple[tuple[str, ...], np.ndarray]:
    """Read `Id,<value_column>`; ids must be digits and unique, values finite floats."""
    try:
        with open(path, newline="") as fh:
            rows = list(csv.reader(fh))
    except OSError as e:
        raise DataError(path, f"cannot read ({e.strerror or e})") from None
    except (UnicodeDecodeError, csv.Error) as e:
        raise DataError(path, f"not a CSV text file ({e})") from None
    if not rows or [c.strip() for c in rows[0]] != ["Id", value_column]:
        got = ",".join(rows[0]) if rows else "an empty file"
        raise DataError(path, f"header must be 'Id,{value_column}', got {got!r}")
    ids: list[str] = []
    values: list[float] = []
    seen: set[str] = set()
    for line_no, row in enumerate(rows[1:], start=2):
        if not row or all(not c.strip() for c in row):
            continue  # blank line (e.g. a trailing newline)
        if len(row) != 2:
            raise DataError(
                path, f"line {line_no}: expected 2 fields (Id,{value_column}), got {len(row)}"
            )
        ident, raw = row[0].strip(), row[1].strip()
        if not ident.isdigit():
            raise DataError(path, f"line {line_no}: id {ident!r} is not a number")
        try:
            value = float(raw)
        except ValueError:
            raise DataError(
                path, f"line {line_no}: {value_column} {raw!r} is not a number"
            ) from None
        if not math.isfinite(value):
            raise DataError(path, f"line {line_no}: {value_column} {raw!r} is not finite")
        if ident in seen:
            raise DataError(path, f"line {line_no}: id {ident} appears twice")
        seen.add(ident)
        ids.append(ident)
        values.append(value)
    return tuple(ids), np.asarray(values, dtype=np.float64)


def _image_ids(folder: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for p in folder.iterdir():
        if p.name.startswith(".") or p.suffix.lower() != ".png":
            continue  # hidden files (e.g. half-written temporaries) and non-images are not ours
        if not p.stem.isdigit():
            raise DataError(p, "image name is not <Id>.png with a numeric id")
        found[p.stem] = p
    return found


def _match(folder: Path, csv_path: Path | None, ids: tuple[str, ...] | None) -> tuple[Path, ...]:
    files = _image_ids(folder)
    if ids is None:
        return tuple(files[i] for i in sorted(files))
    missing = [i for i in ids if i not in files]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise DataError(
            csv_path or folder, f"id {missing[0]} has no image {folder.name}/{missing[0]}.png{more}"
        )
    extra = sorted(set(files) - set(ids))
    if extra:
        more = f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""
        name = csv_path.name if csv_path else "the CSV"
        raise DataError(files[extra[0]], f"image has no row in {name}{more}")
    return tuple(files[i] for i in ids)


def load_split(root: Path, name: str) -> Split | None:
    """One split, or None when neither its folder nor its CSV exists."""
    folder = root / name
    csv_path = root / f"{name}.csv"
    if name == "query":
        if not folder.is_dir():
            return None
        return Split(name, *_query_ids(folder), None)
    if not folder.is_dir() and not csv_path.is_file():
        return None
    if not folder.is_dir():
        raise DataError(folder, f"folder missing (the images of {csv_path.name})")
    if not csv_path.is_file():
        raise DataError(csv_path, f"missing (the {name}/ images need their CSV)")
    ids, values = read_id_csv(csv_path, "Actual")
    if name == "labeled" and not np.isin(values, (0.0, 1.0)).all():
        bad = values[~np.isin(values, (0.0, 1.0))][0]
        raise DataError(csv_path, f"labels must be 1.0 (real) or 0.0 (not real), found {bad:g}")
    return Split(name, ids, _match(folder, csv_path, ids), values)


def _query_ids(folder: Path) -> tuple[tuple[str, ...], tuple[Path, ...]]:
    files = _image_ids(folder)
    ids = tuple(sorted(files))
    return ids, tuple(files[i] for i in ids)


def load_layout(data_dir: str | Path | None = None) -> CosmoData:
    """Find the data folder and check that every CSV row has its image and vice versa."""
    root = resolve_data_dir(data_dir)
    splits = {name: load_split(root, name) for name in SPLITS}
    if all(s is None for s in splits.values()):
        raise DataError(root, "holds none of labeled/, scored/, query/ (is it the right folder?)")
    query_order = None
    example = root / "query_example.csv"
    query = splits["query"]
    if example.is_file():
        order, _ = read_id_csv(example, "Predicted")
        if query is not None:
            _match(root / "query", example, order)
            query = Split("query", order, tuple(root / "query" / f"{i}.png" for i in order), None)
        query_order = order
    truth = None
    truth_path = root / "query_truth.csv"
    if truth_path.is_file():
        t_ids, t_vals = read_id_csv(truth_path, "Actual")
        truth = dict(zip(t_ids, t_vals.tolist(), strict=True))
        if query is not None:
            missing = [i for i in query.ids if i not in truth]
            if missing:
                raise DataError(truth_path, f"no score for query image {missing[0]}")
    return CosmoData(root, splits["labeled"], splits["scored"], query, query_order, truth)


def read_image(path: str | Path, size: int | None = None, data: bytes | None = None) -> np.ndarray:
    """Decode one 8-bit grey PNG into a [H, W] uint8 array, refusing anything else.

    The header is checked before decoding: a wrong size, a non-grey mode or a pixel count over
    `MAX_PIXELS` (a decompression bomb) is refused without allocating the image. `data`: the
    file's bytes when the caller has read them already (`path` then only names it in errors).
    Plain 8-bit grey PNGs decode through `cilab.cosmo.fastpng` (libspng), the rest with Pillow.
    """
    path = Path(path)
    try:
        if data is None:
            data = path.read_bytes()
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                w, h = im.size
                if w * h > MAX_PIXELS:
                    raise DataError(path, f"claims {w}x{h} pixels: refused as a decompression bomb")
                if size is not None and (w, h) != (size, size):
                    raise DataError(path, f"is {w}x{h}, expected {size}x{size}")
                if im.mode != "L":
                    raise DataError(path, f"is mode {im.mode}, expected 8-bit grey (mode L)")
                arr = decode_grey8(data, (h, w))
                if arr is None:
                    arr = np.asarray(im)
    except DataError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise DataError(path, "refused as a decompression bomb") from None
    except FileNotFoundError:
        raise DataError(path, "image not found") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise DataError(path, f"unreadable image ({str(e).splitlines()[0][:120]})") from None
    if arr.shape != (h, w):
        raise DataError(path, f"decoded to shape {arr.shape}, expected ({h}, {w})")
    return arr


def image_size(path: str | Path) -> int:
    """The side of a square image, from its header alone."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            w, h = im.size
    except (OSError, SyntaxError, ValueError) as e:
        raise DataError(path, f"unreadable image ({str(e).splitlines()[0][:120]})") from None
    if w != h:
        raise DataError(path, f"is {w}x{h}; cosmology images are square")
    return w
