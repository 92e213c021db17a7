"""The data layer: layout lookup, pairing, sizes, colour modes, broken and oversized files."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cilab.core.errors import CilabError, DataError
from cilab.roads.data import (
    MAX_PIXELS,
    find_roads_dir,
    image_number,
    list_images,
    load_pairs,
    load_training,
    read_image,
    read_mask,
)


def test_find_roads_dir_accepts_the_folder_its_parent_and_cilab_data(
    tiny_roads: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert find_roads_dir(tiny_roads) == tiny_roads / "roads"
    assert find_roads_dir(tiny_roads / "roads") == tiny_roads / "roads"
    with pytest.raises(CilabError, match="no road-segmentation data"):
        find_roads_dir(None)
    monkeypatch.setenv("CILAB_DATA", str(tiny_roads))
    assert find_roads_dir(None) == tiny_roads / "roads"
    with pytest.raises(CilabError, match="no training/ folder"):
        find_roads_dir(tmp_path)


def test_load_training(tiny_roads: Path) -> None:
    data = load_training(tiny_roads)
    assert data.images.shape == (10, 48, 48, 3) and data.images.dtype == np.uint8
    assert data.masks.shape == (10, 48, 48)
    assert data.names[0] == "satImage_001.png"
    assert len(data.subset([2, 0])) == 2 and data.subset([2, 0]).names[1] == "satImage_001.png"
    assert len(load_training(tiny_roads, limit=3)) == 3


def test_natural_order_and_numbers(tmp_path: Path) -> None:
    for n in (10, 2, 1):
        Image.new("RGB", (4, 4)).save(tmp_path / f"test_{n}.png")
    assert [p.name for p in list_images(tmp_path)] == ["test_1.png", "test_2.png", "test_10.png"]
    assert image_number("satImage_007.png") == 7 and image_number("test_123.png") == 123
    with pytest.raises(DataError, match="no image number"):
        image_number("road.png")


def make_pairs(root: Path, n: int = 2, size: int = 16) -> tuple[Path, Path]:
    imgs, masks = root / "images", root / "gt"
    imgs.mkdir(parents=True)
    masks.mkdir(parents=True)
    for i in range(n):
        Image.new("RGB", (size, size), (10, 20, 30)).save(imgs / f"satImage_{i:03d}.png")
        Image.new("L", (size, size), 255).save(masks / f"satImage_{i:03d}.png")
    return imgs, masks


def test_unpaired_files_and_size_mismatch_name_the_file(tmp_path: Path) -> None:
    imgs, masks = make_pairs(tmp_path)
    (masks / "satImage_001.png").unlink()
    with pytest.raises(DataError, match=r"satImage_001\.png: no mask of the same name"):
        load_pairs(imgs, masks)
    Image.new("L", (16, 16)).save(masks / "satImage_001.png")
    Image.new("L", (16, 16)).save(masks / "satImage_009.png")
    with pytest.raises(DataError, match=r"satImage_009\.png: a mask without an image"):
        load_pairs(imgs, masks)
    (masks / "satImage_009.png").unlink()
    Image.new("L", (16, 12)).save(masks / "satImage_001.png")
    with pytest.raises(DataError, match=r"mask is 16x12 but its image is 16x16"):
        load_pairs(imgs, masks)
    Image.new("L", (20, 20)).save(masks / "satImage_001.png")
    Image.new("RGB", (20, 20)).save(imgs / "satImage_001.png")
    with pytest.raises(DataError, match="training needs one size"):
        load_pairs(imgs, masks)


def test_colour_modes(tmp_path: Path) -> None:
    rgba = np.full((8, 8, 4), 255, np.uint8)
    rgba[..., 0] = 7
    Image.fromarray(rgba).save(tmp_path / "opaque.png")
    assert read_image(tmp_path / "opaque.png").shape == (8, 8, 3)
    assert read_image(tmp_path / "opaque.png")[0, 0, 0] == 7
    rgba[0, 0, 3] = 0
    Image.fromarray(rgba).save(tmp_path / "transparent.png")
    with pytest.raises(DataError, match="transparent"):
        read_image(tmp_path / "transparent.png")
    Image.new("L", (8, 8)).save(tmp_path / "grey.png")
    with pytest.raises(DataError, match="grey image"):
        read_image(tmp_path / "grey.png")
    Image.new("P", (8, 8)).save(tmp_path / "palette.png")
    assert read_image(tmp_path / "palette.png").shape == (8, 8, 3)
    # Masks: grey saved as RGB is fine, real colour is not, bilevel becomes 0/255.
    Image.new("RGB", (8, 8), (200, 200, 200)).save(tmp_path / "greyrgb.png")
    assert read_mask(tmp_path / "greyrgb.png").max() == 200
    Image.new("RGB", (8, 8), (200, 0, 0)).save(tmp_path / "red.png")
    with pytest.raises(DataError, match="colour image where a grey mask"):
        read_mask(tmp_path / "red.png")
    Image.new("1", (8, 8), 1).save(tmp_path / "bilevel.png")
    assert read_mask(tmp_path / "bilevel.png").max() == 255


def test_unreadable_and_truncated_files(tmp_path: Path) -> None:
    (tmp_path / "junk.png").write_bytes(b"not an image at all")
    with pytest.raises(DataError, match="not a readable image"):
        read_image(tmp_path / "junk.png")
    Image.new("RGB", (64, 64), (1, 2, 3)).save(tmp_path / "ok.png")
    data = (tmp_path / "ok.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"cut\.png: (truncated|not a readable)"):
        read_image(tmp_path / "cut.png")
    with pytest.raises(DataError, match="file not found"):
        read_image(tmp_path / "missing.png")


def png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG whose header claims width x height RGB but whose pixel data is a few bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 100)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("side", [5000, 60000])  # over cilab's limit; over Pillow's own as well
def test_oversized_images_are_refused_before_decoding(tmp_path: Path, side: int) -> None:
    assert side * side > MAX_PIXELS
    png_header_only(tmp_path / "bomb.png", side, side)
    with pytest.raises(DataError, match=r"bomb\.png: refused"):
        read_image(tmp_path / "bomb.png")
    with pytest.raises(DataError, match="refused"):
        read_mask(tmp_path / "bomb.png")
