"""Max-pooled downscaling of the cosmology images for the CNN: streaming, parallel, cached.

A 1000×1000 field is ~99.7 % black with 40-70 point sources a few pixels wide. Averaging 8×8
blocks would divide a faint source's peak by up to 64 and drop it into the 8-bit floor's noise;
the maximum of each block keeps every source's peak grey level (and the pedestal, noise and
streaks of the corrupted fields), at 1/64 of the pixels. Blocks at the edge of a side that
is not a multiple of the factor are padded with black, which cannot change a maximum.

Images are decoded one at a time inside the workers; only the pooled uint8 arrays come back
(1200 × 125 × 125 bytes = 19 MB). Each pooled image is cached as
`CACHE/maxpool-f<factor>/<h[:2]>/<h>.npz`, `h` the BLAKE2 hash of the file's bytes, like the
feature cache it lives in: a renamed file hits the cache, a changed file recomputes.
"""

from __future__ import annotations

import hashlib
import io
import math
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cilab.core.chunks import balanced_chunks
from cilab.core.io import atomic_path
from cilab.cosmo.layout import read_image

CHUNK = 32


def max_pool(img: np.ndarray, factor: int) -> np.ndarray:
    """[H, W] -> [ceil(H/f), ceil(W/f)]: the maximum of each f×f block (edges padded with 0)."""
    if factor < 1:
        raise ValueError("factor must be ≥ 1")
    if factor == 1:
        return img.copy()
    h, w = img.shape
    ph, pw = math.ceil(h / factor) * factor, math.ceil(w / factor) * factor
    if (ph, pw) != (h, w):
        img = np.pad(img, ((0, ph - h), (0, pw - w)))
    return img.reshape(ph // factor, factor, pw // factor, factor).max(axis=(1, 3))


def _cached(path: Path, factor: int, cache_dir: Path | None, size: int | None) -> np.ndarray:
    data = path.read_bytes()
    cache_file = None
    if cache_dir is not None:
        digest = hashlib.blake2b(data, digest_size=16).hexdigest()
        cache_file = cache_dir / f"maxpool-f{factor}" / digest[:2] / f"{digest}.npz"
        try:
            with np.load(cache_file) as z:
                return z["pooled"]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            pass  # absent or damaged: recompute, never trust
    pooled = max_pool(read_image(path, size, data=data), factor)
    if cache_file is not None:
        buf = io.BytesIO()
        np.savez_compressed(buf, pooled=pooled)
        with atomic_path(cache_file) as tmp:
            tmp.write_bytes(buf.getvalue())
    return pooled


def _pool_chunk(
    paths: list[Path], factor: int, cache_dir: Path | None, size: int | None
) -> np.ndarray:
    return np.stack([_cached(Path(p), factor, cache_dir, size) for p in paths])


def pool_images(
    paths: Sequence[Path],
    factor: int = 8,
    workers: int = 1,
    cache_dir: Path | None = None,
    size: int | None = None,
) -> np.ndarray:
    """[N, s, s] uint8: every image max-pooled by `factor`, in order, never all at full size."""
    from joblib import Parallel, delayed, effective_n_jobs

    chunks = balanced_chunks(paths, effective_n_jobs(workers), CHUNK)
    jobs = (delayed(_pool_chunk)(c, factor, cache_dir, size) for c in chunks)
    return np.concatenate(Parallel(n_jobs=workers)(jobs))
