"""IDX parsing: valid files round-trip; every malformed file is a one-line DataError."""

from __future__ import annotations

import re
import struct
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from cilab.core.errors import DataError
from cilab.data.idx import encode_idx, read_idx, read_idx_images, read_idx_labels

from .conftest import gz, synthetic_split


def header(n: int, *item: int, code: int = 0x08, ndim: int | None = None) -> bytes:
    dims = (n, *item)
    return struct.pack(f">BBBB{len(dims)}I", 0, 0, code, len(dims) if ndim is None else ndim, *dims)


@pytest.mark.parametrize("compressed", [True, False])
def test_round_trip_images_and_labels(tmp_path: Path, compressed: bool) -> None:
    images, labels = synthetic_split(7, seed=0)
    wrap = gz if compressed else (lambda b: b)
    (tmp_path / "img").write_bytes(wrap(encode_idx(images)))
    (tmp_path / "lbl").write_bytes(wrap(encode_idx(labels)))
    got_images = read_idx_images(tmp_path / "img")
    got_labels = read_idx_labels(tmp_path / "lbl")
    assert got_images.dtype == np.uint8 and got_images.shape == (7, 28, 28)
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)
    assert got_images.flags.writeable  # so torch.from_numpy does not warn


def test_gzip_detected_by_content_not_name(tmp_path: Path) -> None:
    images, _ = synthetic_split(3, seed=0)
    (tmp_path / "plain.gz").write_bytes(encode_idx(images))
    (tmp_path / "packed").write_bytes(gz(encode_idx(images)))
    np.testing.assert_array_equal(read_idx_images(tmp_path / "plain.gz"), images)
    np.testing.assert_array_equal(read_idx_images(tmp_path / "packed"), images)


def test_multi_member_gzip_is_accepted(tmp_path: Path) -> None:
    data = encode_idx(synthetic_split(4, seed=3)[0])
    (tmp_path / "f.gz").write_bytes(gz(data[:100]) + gz(data[100:]))
    assert read_idx(tmp_path / "f.gz").shape == (4, 28, 28)


def test_image_shape_is_a_parameter(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(encode_idx(np.zeros((2, 32, 32), np.uint8)))
    assert read_idx_images(tmp_path / "f", image_shape=(32, 32)).shape == (2, 32, 32)
    assert read_idx(tmp_path / "f").shape == (2, 32, 32)


def test_zero_items_is_valid(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(header(0, 28, 28))
    assert read_idx_images(tmp_path / "f").shape == (0, 28, 28)


GOOD = encode_idx(np.zeros((3, 28, 28), np.uint8))
GOOD_GZ = gz(GOOD)
DEFLATE_START = 10  # gzip.compress(mtime=0) writes a 10-byte member header


def _set_byte(data: bytes, index: int, value: int) -> bytes:
    out = bytearray(data)
    out[index] = value
    return bytes(out)


# name -> (file bytes, reader, expected phrase in the message)
BAD: dict[str, tuple[bytes, Callable[[Path], np.ndarray], str]] = {
    "empty": (b"", read_idx, "file is empty"),
    "wrong magic": (b"\x01\x02\x08\x03" + GOOD[4:], read_idx, "not an IDX file"),
    "short magic": (b"\x00\x00", read_idx, "not an IDX file"),
    "float dtype": (header(3, 28, 28, code=0x0D) + GOOD[16:], read_idx, "dtype code 0x0D"),
    "zero dims": (b"\x00\x00\x08\x00", read_idx, "0 dimensions"),
    "header cut": (GOOD[:10], read_idx, "header ends early"),
    "labels as images": (encode_idx(np.zeros(5, np.uint8)), read_idx_images, "swapped"),
    "images as labels": (GOOD, read_idx_labels, "expected 1 (N)"),
    "wrong image size": (encode_idx(np.zeros((2, 32, 32), np.uint8)), read_idx_images, "32×32"),
    "plain truncated": (GOOD[:-5], read_idx, "file truncated or header corrupt"),
    "plain too long": (GOOD + b"\x00", read_idx, "longer than"),
    "gzip payload short": (gz(GOOD[:-5]), read_idx, "file truncated or header corrupt"),
    "gzip payload long": (gz(GOOD + b"\x00"), read_idx, "longer than"),
    "gzip stream truncated": (GOOD_GZ[: len(GOOD_GZ) // 2], read_idx, "gzip stream is truncated"),
    "gzip trailer missing": (GOOD_GZ[:-8], read_idx, "gzip stream is truncated"),
    "gzip bad block": (_set_byte(GOOD_GZ, DEFLATE_START, 0xFF), read_idx, "corrupt gzip data"),
    "gzip bad crc": (GOOD_GZ[:-8] + b"\x00" * 4 + GOOD_GZ[-4:], read_idx, "corrupt gzip data"),
    "gzip bad length": (GOOD_GZ[:-4] + b"\x01\x00\x00\x00", read_idx, "corrupt gzip data"),
    "gzip header broken": (_set_byte(GOOD_GZ, 2, 0x07), read_idx, "corrupt gzip data"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_malformed_file_is_a_one_line_data_error(tmp_path: Path, case: str) -> None:
    data, reader, phrase = BAD[case]
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(data)
    with pytest.raises(DataError) as info:
        reader(path)
    message = str(info.value)
    assert phrase in message
    assert message.startswith(f"{path}: ")  # names the file
    assert "\n" not in message  # the CLI prints it as one line
    assert info.value.path == path


def test_plain_file_named_gz_gets_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "x.gz"
    path.write_bytes(b"PK\x03\x04 not gzip")
    with pytest.raises(DataError, match=re.escape("named .gz but not gzip-compressed")):
        read_idx(path)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="file not found"):
        read_idx(tmp_path / "nope.gz")
    with pytest.raises(DataError, match="cannot read file"):
        read_idx(tmp_path)


@pytest.mark.parametrize("compressed", [True, False])
def test_huge_header_claim_does_not_allocate(tmp_path: Path, compressed: bool) -> None:
    """10^9 images declared (784 GB), 10 present: fails without allocating for the claim."""
    data = header(10**9, 28, 28) + bytes(10 * 28 * 28)
    path = tmp_path / "f"
    path.write_bytes(gz(data) if compressed else data)
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match="file truncated or header corrupt"):
            read_idx_images(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20, f"peak {peak / 2**20:.1f} MiB"


def test_max_dimensions_header_does_not_allocate(tmp_path: Path) -> None:
    """255 dimensions of 2^32-1 each: an astronomically large claim, rejected cheaply."""
    path = tmp_path / "f"
    path.write_bytes(gz(b"\x00\x00\x08\xff" + b"\xff" * (4 * 255) + b"\x00" * 100))
    with pytest.raises(DataError, match="file truncated or header corrupt") as info:
        read_idx(path)
    assert len(str(info.value)) < 300  # the claim is summarised, not printed in full


def test_encode_idx_rejects_non_uint8() -> None:
    with pytest.raises(ValueError):
        encode_idx(np.zeros(3, np.float32))
