"""The libspng fast path decodes exactly what Pillow decodes, and hands everything else back."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cilab.core.errors import DataError
from cilab.cosmo import fastpng
from cilab.cosmo.fastpng import decode_grey8, is_plain_grey8
from cilab.cosmo.layout import read_image

pytest.importorskip("pyspng", reason="pyspng is a pinned dependency; this checks its fast path")


def _png(arr: np.ndarray, **save: object) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", **save)
    return buf.getvalue()


def test_simulated_fields_decode_identically(tiny_data: Path) -> None:
    paths = (
        sorted((tiny_data / "scored").glob("*.png"))[:12]
        + sorted((tiny_data / "labeled").glob("*.png"))[:12]
    )
    for p in paths:
        data = p.read_bytes()
        fast = decode_grey8(data, (128, 128))
        assert fast is not None, p
        assert not fast.flags.writeable  # grey_counts shares counts of read-only arrays only
        np.testing.assert_array_equal(fast, np.asarray(Image.open(p)))


def test_every_png_filter_decodes_identically() -> None:
    # Pillow's encoder picks per-row filters (none/sub/up/average/paeth) on textured content
    rng = np.random.default_rng(0)
    arr = np.cumsum(rng.integers(0, 4, (97, 131)), axis=1).astype(np.uint8)
    arr[40:60] = rng.integers(0, 256, (20, 131))
    data = _png(arr)
    np.testing.assert_array_equal(decode_grey8(data, arr.shape), arr)


@pytest.mark.parametrize(
    ("image", "save"),
    [
        (Image.new("RGB", (8, 8)), {}),
        (Image.new("I;16", (8, 8)), {}),
        (Image.new("1", (8, 8)), {}),
    ],
)
def test_other_kinds_are_left_to_pillow(image: Image.Image, save: dict) -> None:
    buf = io.BytesIO()
    image.save(buf, format="PNG", **save)
    assert decode_grey8(buf.getvalue(), (8, 8)) is None


def test_ihdr_check() -> None:
    data = _png(np.zeros((5, 6), np.uint8))
    assert is_plain_grey8(data)
    assert not is_plain_grey8(data[:20])
    assert not is_plain_grey8(b"GIF89a" + data[6:])
    interlaced = data[:28] + b"\x01" + data[29:]  # Pillow never writes Adam7; only the flag matters
    assert not is_plain_grey8(interlaced)


def test_wrong_shape_or_corrupt_body_falls_back(tmp_path: Path) -> None:
    arr = (np.arange(64 * 64) % 251).astype(np.uint8).reshape(64, 64)
    data = _png(arr)
    assert decode_grey8(data, (64, 65)) is None
    cut = data[: len(data) // 2]
    assert decode_grey8(cut, (64, 64)) is None
    bad = tmp_path / "cut.png"
    bad.write_bytes(cut)
    with pytest.raises(DataError, match=r"cut\.png.*unreadable"):
        read_image(bad)


def test_read_image_without_pyspng_gives_the_same_pixels(
    tiny_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = sorted((tiny_data / "scored").glob("*.png"))[0]
    fast = read_image(path)
    monkeypatch.setattr(fastpng, "pyspng", None)
    np.testing.assert_array_equal(read_image(path), fast)
