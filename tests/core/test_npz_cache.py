"""The npz cache: computed once, reused exactly, recomputed when unreadable or incomplete."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cilab.core.npz_cache import cached_arrays


def test_computed_once_then_read_back_exactly(tmp_path: Path) -> None:
    calls: list[int] = []

    def compute() -> dict[str, np.ndarray]:
        calls.append(1)
        return {"mu": np.array([0.1, 0.2]), "labels": np.arange(3, dtype=np.int64)}

    path = tmp_path / "deep" / "x.npz"  # folders are created
    first = cached_arrays(path, compute, ("mu", "labels"))
    second = cached_arrays(path, compute, ("mu", "labels"))
    assert len(calls) == 1
    assert all(np.array_equal(first[k], second[k]) and first[k].dtype == second[k].dtype
               for k in first)  # fmt: skip
    assert list(tmp_path.glob("deep/.*")) == []  # no temporary file left behind


def test_torn_foreign_or_incomplete_files_are_recomputed(tmp_path: Path) -> None:
    path = tmp_path / "x.npz"
    compute = lambda: {"a": np.ones(4)}  # noqa: E731
    for bad in (b"", b"not a zip file", None):
        if bad is None:  # a valid file that lacks an expected array
            np.savez(path, b=np.zeros(1))
        else:
            path.write_bytes(bad)
        assert np.array_equal(cached_arrays(path, compute, ("a",))["a"], np.ones(4))
        with np.load(path) as z:
            assert z.files == ["a"]


def test_compute_must_return_what_is_expected(tmp_path: Path) -> None:
    with pytest.raises(KeyError, match="lack"):
        cached_arrays(tmp_path / "x.npz", lambda: {"a": np.ones(1)}, ("a", "b"))
    assert not (tmp_path / "x.npz").exists()
