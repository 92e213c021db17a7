"""Arrays computed once and kept in a `.npz` file: a cache that can never be the reason for a
wrong number or a failed run.

The caller names the file after everything the arrays depend on (e.g. a classifier's weights id
and a hash of the data), so a stale entry is never found. A file that cannot be read, or lacks
an expected array (torn by a crash, written by another version), is computed again and replaced;
writes are atomic, so a reader never sees half a file.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from cilab.core.io import atomic_write


def cached_arrays(
    path: Path, compute: Callable[[], dict[str, np.ndarray]], expect: Iterable[str]
) -> dict[str, np.ndarray]:
    """The arrays stored at `path` when it holds every name in `expect`; else `compute()`'s,
    stored at `path` for the next call."""
    names = set(expect)
    try:
        with np.load(path, allow_pickle=False) as z:
            if names <= set(z.files):
                return {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        pass  # missing, torn or foreign: compute again
    arrays = compute()
    missing = names - set(arrays)
    if missing:
        raise KeyError(f"computed arrays lack {sorted(missing)}")
    atomic_write(path, lambda f: np.savez(f, **arrays))
    return arrays
