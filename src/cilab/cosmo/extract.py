"""Feature extraction over image files: streaming, parallel (joblib), cached on disk.

Images are decoded one at a time inside the workers (never all of them in memory), in chunks
handed out by `joblib.Parallel`; under `joblib.parallel_config(backend="dask")` the same code
runs on a Dask cluster. Each image's features are cached in `CACHE/<h[:2]>/<h>.npz`, `h` a hash
of the file's bytes, one array per family keyed by a hash of the family's name and parameters:
changing a parameter recomputes that family only, renaming or moving a file recomputes nothing,
and changing a file's content always recomputes.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cilab.core.chunks import balanced_chunks
from cilab.core.errors import CilabError
from cilab.core.io import atomic_path, atomic_write
from cilab.core.progress import progress_bar
from cilab.cosmo.features import FAMILIES, ImageFeatures
from cilab.cosmo.layout import image_size, read_image

CACHE_VERSION = 1  # bump when a family's computation changes without a parameter change
CHUNK = 32


def default_cache_dir() -> Path:
    """`$CILAB_CACHE/cosmo-features`, else `~/.cache/cilab/cosmo-features`."""
    base = os.environ.get("CILAB_CACHE") or str(Path.home() / ".cache" / "cilab")
    return Path(base) / "cosmo-features"


def family_key(name: str, transformer: ImageFeatures) -> str:
    """A family's cache key: hash of CACHE_VERSION, its name, class and parameters.

    `image_shape` is left out: it says how to unflatten rows, not what is computed.
    """
    params = {k: v for k, v in transformer.get_params().items() if k != "image_shape"}
    blob = json.dumps([CACHE_VERSION, name, type(transformer).__name__, params], default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def build_families(names: Sequence[str]) -> dict[str, ImageFeatures]:
    """Default transformers of the named families; CilabError on an unknown name."""
    unknown = [n for n in names if n not in FAMILIES]
    if unknown:
        raise CilabError(f"unknown feature family {unknown[0]!r}; valid: {', '.join(FAMILIES)}")
    return {n: FAMILIES[n]() for n in names}


@dataclass(frozen=True)
class FeatureTable:
    """Features of N images: X [N, F], column names, and the family of each column."""

    ids: tuple[str, ...]
    X: np.ndarray
    names: tuple[str, ...]
    families: tuple[str, ...]

    def columns(self, family: str) -> np.ndarray:
        return np.flatnonzero(np.asarray(self.families) == family)

    def family_names(self) -> list[str]:
        return list(dict.fromkeys(self.families))


def _load_cache(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        return {}  # a damaged cache file is recomputed, never trusted


def _save_cache(path: Path, entries: dict[str, np.ndarray]) -> None:
    """Write atomically but without fsync: a cache entry lost in a crash is just recomputed."""
    buf = io.BytesIO()
    np.savez(buf, **entries)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buf.getvalue())


def features_of_file(
    path: Path,
    families: dict[str, ImageFeatures],
    keys: dict[str, str],
    cache_dir: Path | None,
    size: int | None,
) -> list[np.ndarray]:
    """One image's feature vectors, one per family, from the cache where possible."""
    data = Path(path).read_bytes() if cache_dir is not None else None
    cached: dict[str, np.ndarray] = {}
    cache_file = None
    if cache_dir is not None and data is not None:
        digest = hashlib.blake2b(data, digest_size=16).hexdigest()
        cache_file = cache_dir / digest[:2] / f"{digest}.npz"
        if cache_file.is_file():
            cached = _load_cache(cache_file)
    missing = [n for n in families if keys[n] not in cached]
    if missing:
        img = read_image(path, size, data=data)
        for n in missing:
            cached[keys[n]] = families[n].features_of(img)
        if cache_file is not None:
            _save_cache(cache_file, cached)
    return [np.asarray(cached[keys[n]], dtype=np.float64) for n in families]


def _extract_chunk(
    paths: list[Path],
    families: dict[str, ImageFeatures],
    keys: dict[str, str],
    cache_dir: Path | None,
    size: int | None,
) -> tuple[np.ndarray, float]:
    """Feature rows of a chunk, and the CPU seconds the worker spent on them."""
    cpu = time.process_time()
    rows = [np.concatenate(features_of_file(p, families, keys, cache_dir, size)) for p in paths]
    return np.vstack(rows), time.process_time() - cpu


@dataclass(frozen=True)
class ExtractStats:
    """Size and cost of one `extract_features` pass; `features_for` puts it in features.json."""

    images: int
    seconds: float  # wall clock
    cpu_seconds: float  # summed over workers: what the work costs on an otherwise idle machine


def extract_features(
    paths: Sequence[Path],
    ids: Sequence[str],
    families: Sequence[str] | dict[str, ImageFeatures] = tuple(FAMILIES),
    workers: int = 1,
    cache_dir: Path | None = None,
    size: int | None = None,
    progress: bool = False,
) -> tuple[FeatureTable, ExtractStats]:
    """Features of every image in `paths` (all of `size`×`size` when given), in order."""
    from joblib import Parallel, delayed, effective_n_jobs

    fam = build_families(families) if not isinstance(families, dict) else dict(families)
    keys = {n: family_key(n, t) for n, t in fam.items()}
    if not paths:
        raise CilabError("no images to extract features from")
    side = size if size is not None else image_size(paths[0])  # from the header alone
    names: list[str] = []
    owners: list[str] = []
    for n, t in fam.items():
        cols = t.feature_names((side, side))
        names += cols
        owners += [n] * len(cols)
    start = time.perf_counter()
    chunks = balanced_chunks(paths, effective_n_jobs(workers), CHUNK)
    jobs = (delayed(_extract_chunk)(c, fam, keys, cache_dir, size) for c in chunks)
    results = Parallel(n_jobs=workers, return_as="generator")(jobs)
    if progress:
        results = progress_bar(
            results, total=len(chunks), unit="chunk", desc="features", leave=False
        )
    parts = list(results)
    X = np.vstack([p[0] for p in parts])
    seconds = time.perf_counter() - start
    table = FeatureTable(tuple(ids), X, tuple(names), tuple(owners))
    return table, ExtractStats(len(paths), seconds, float(sum(p[1] for p in parts)))


def extract_layout(
    data_dir: str | Path | None,
    out: str | Path | None,
    splits: Sequence[str] = ("labeled", "scored", "query"),
    families: Sequence[str] = tuple(FAMILIES),
    workers: int = 1,
    cache_dir: Path | None = None,
    progress: bool = False,
) -> tuple[FeatureTable, ExtractStats, list[str]]:
    """Features of every image of the given splits, in one streaming pass; optionally saved.

    `out` (.npz) holds `X`, `ids`, `split` (per row), `names` and `families` (per column).
    """
    from cilab.cosmo.layout import load_layout

    data = load_layout(data_dir)
    paths: list[Path] = []
    ids: list[str] = []
    owner: list[str] = []
    for name in splits:
        split = data.require(name)
        paths += split.paths
        ids += split.ids
        owner += [name] * len(split)
    size = image_size(paths[0]) if paths else None
    table, stats = extract_features(paths, ids, families, workers, cache_dir, size, progress)
    if out is not None:
        buf = io.BytesIO()
        np.savez_compressed(
            buf,
            X=table.X,
            ids=np.asarray(table.ids),
            split=np.asarray(owner),
            names=np.asarray(table.names),
            families=np.asarray(table.families),
        )
        atomic_write(out, lambda f: f.write(buf.getvalue()))
    return table, stats, owner
