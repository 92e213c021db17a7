"""Streaming extraction: parallel equals serial, and the on-disk cache keyed by content + params."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cilab.core.errors import CilabError
from cilab.cosmo.extract import extract_features, family_key
from cilab.cosmo.features import FAMILIES, GreyHistogram
from cilab.cosmo.layout import load_layout


def test_extract_parallel_equals_serial_and_transform(tiny_data: Path, tmp_path: Path) -> None:
    split = load_layout(tiny_data).labeled
    serial, _ = extract_features(split.paths, split.ids, workers=1)
    parallel, stats = extract_features(split.paths, split.ids, workers=2)
    np.testing.assert_array_equal(serial.X, parallel.X)
    assert stats.images == len(split) and serial.X.shape[0] == len(split)
    assert serial.family_names() == list(FAMILIES)
    # the same numbers as the transformers on flattened images
    img = np.asarray(Image.open(split.paths[3]))
    for name in FAMILIES:
        t = FAMILIES[name]().fit(img.reshape(1, -1))
        np.testing.assert_allclose(
            serial.X[3, serial.columns(name)], t.transform(img.reshape(1, -1))[0]
        )
        assert list(t.get_feature_names_out()) == [serial.names[i] for i in serial.columns(name)]


def test_cache_hits_and_invalidation(
    tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "data"
    shutil.copytree(tiny_data / "labeled", root)
    paths = sorted(root.iterdir())[:6]
    ids = [p.stem for p in paths]
    cache = tmp_path / "cache"
    first, _ = extract_features(paths, ids, ["hist10", "moments"], cache_dir=cache)
    assert len(list(cache.rglob("*.npz"))) == 6

    calls: list[str] = []
    import cilab.cosmo.extract as ex

    real_read = ex.read_image
    monkeypatch.setattr(
        ex, "read_image", lambda *a, **k: calls.append("read") or real_read(*a, **k)
    )
    again, _ = extract_features(paths, ids, ["hist10", "moments"], cache_dir=cache)
    np.testing.assert_array_equal(first.X, again.X)
    assert calls == []  # everything came from the cache

    # a renamed file keeps its cache entry (the key is the content)
    moved = paths[0].with_name("9999999.png")
    paths[0].rename(moved)
    extract_features([moved], ["9999999"], ["hist10"], cache_dir=cache)
    assert calls == []

    # new content recomputes that image only
    img = np.zeros((128, 128), np.uint8)
    img[5, 5] = 255
    Image.fromarray(img).save(paths[1])
    changed, _ = extract_features(paths[1:], ids[1:], ["hist10", "moments"], cache_dir=cache)
    assert calls == ["read"]
    assert changed.X[0, 0] == 128 * 128 - 1  # hist10 of the new content

    # another parameter value is another cache entry
    calls.clear()
    fams = {"finehist": GreyHistogram(bins=16)}
    extract_features(paths[2:4], ids[2:4], fams, cache_dir=cache)
    assert calls == ["read", "read"]
    assert family_key("finehist", GreyHistogram(bins=16)) != family_key(
        "finehist", GreyHistogram(bins=32)
    )


def test_damaged_cache_entry_is_recomputed(tiny_data: Path, tmp_path: Path) -> None:
    paths = sorted((tiny_data / "labeled").iterdir())[:2]
    cache = tmp_path / "cache"
    good, _ = extract_features(paths, ["a", "b"], ["hist10"], cache_dir=cache)
    for f in cache.rglob("*.npz"):
        f.write_bytes(b"garbage")
    again, _ = extract_features(paths, ["a", "b"], ["hist10"], cache_dir=cache)
    np.testing.assert_array_equal(good.X, again.X)


def test_unknown_family_lists_the_valid_ones(tiny_data: Path) -> None:
    paths = sorted((tiny_data / "labeled").iterdir())[:1]
    with pytest.raises(CilabError, match="valid: hist10, finehist"):
        extract_features(paths, ["x"], ["nope"])


@pytest.mark.slow
def test_extraction_on_a_two_worker_dask_cluster(tiny_data: Path) -> None:
    """joblib's Dask backend sends the same chunks to a Dask cluster (local, loopback only)."""
    distributed = pytest.importorskip("distributed")
    from joblib import parallel_config

    split = load_layout(tiny_data).labeled
    serial, _ = extract_features(split.paths, split.ids, ["hist10", "sources"])
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster) as client,
        parallel_config(backend="dask"),
    ):
        on_dask, _ = extract_features(split.paths, split.ids, ["hist10", "sources"], workers=2)
        assert len(client.scheduler_info()["workers"]) == 2
    np.testing.assert_array_equal(serial.X, on_dask.X)
