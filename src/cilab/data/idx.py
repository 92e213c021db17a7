"""Reading IDX files (the MNIST / Fashion-MNIST format), gzip-compressed or plain.

An IDX file is a 4-byte magic number (two zero bytes, a dtype code, the number of dimensions),
one big-endian uint32 per dimension, then the row-major payload. Only the unsigned-byte dtype
(0x08) is accepted: it is the one MNIST uses, and anything else in a MNIST folder is a mistake.

The header is never trusted for allocation: the payload is read in bounded chunks and compared
with the header as it arrives, so a corrupt or hostile header that claims 10^9 images costs only
as much memory as the bytes really present. Every problem raises `DataError(path, problem)`,
a one-line message that names the file.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from cilab.core.errors import DataError

UBYTE = 0x08
_DTYPE_NAMES = {
    0x08: "ubyte",
    0x09: "byte",
    0x0B: "short",
    0x0C: "int",
    0x0D: "float",
    0x0E: "double",
}
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20  # 1 MiB: bounded reads, so memory tracks the real payload, not the header.

MNIST_IMAGE_SHAPE = (28, 28)


def read_idx(path: str | Path, item_shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Parse an IDX file into a uint8 array of shape (N, *item_shape).

    `item_shape` is the expected shape of one item (every dimension after the first): `()` for
    labels, `(28, 28)` for MNIST images; None accepts any shape. Checking it before the payload
    is read turns a swapped images/labels file into an immediate, clear error.
    """
    path = Path(path)
    try:
        with _open(path) as stream:
            dims = _read_header(stream, path)
            _check_shape(dims, item_shape, path)
            _check_plain_size(stream, dims, path)
            payload = _read_payload(stream, dims, path)
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError(path, "file not found") from None
    except EOFError:
        raise DataError(path, "gzip stream is truncated (file incomplete?)") from None
    except (gzip.BadGzipFile, zlib.error) as e:
        raise DataError(path, f"corrupt gzip data ({_one_line(e)})") from None
    except OSError as e:
        raise DataError(path, f"cannot read file ({e.strerror or _one_line(e)})") from None
    return np.frombuffer(payload, dtype=np.uint8).reshape(dims)


def read_idx_images(
    path: str | Path, image_shape: tuple[int, int] = MNIST_IMAGE_SHAPE
) -> np.ndarray:
    """Read an images file: uint8 array [N, H, W], with (H, W) required to be `image_shape`."""
    return read_idx(path, tuple(image_shape))


def read_idx_labels(path: str | Path) -> np.ndarray:
    """Read a labels file: uint8 array [N]."""
    return read_idx(path, ())


def encode_idx(array: np.ndarray) -> bytes:
    """The IDX bytes of a uint8 array (uncompressed); used to write test fixtures and caches."""
    array = np.ascontiguousarray(array)
    if array.dtype != np.uint8 or array.ndim == 0:
        raise ValueError("encode_idx needs a uint8 array with at least one dimension")
    header = struct.pack(f">BBBB{array.ndim}I", 0, 0, UBYTE, array.ndim, *array.shape)
    return header + array.tobytes()


def _open(path: Path) -> BinaryIO:
    """Open `path` as a byte stream, decompressing when it starts with the gzip magic bytes.

    Sniffing the content rather than the name accepts both `x.gz` and a decompressed `x`.
    """
    with open(path, "rb") as f:
        head = f.read(2)
    if head == _GZIP_MAGIC:
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def _read_exact(stream: BinaryIO, n: int) -> bytes:
    data = stream.read(n)
    return data if data is not None else b""


def _read_header(stream: BinaryIO, path: Path) -> tuple[int, ...]:
    """Validate the magic number and return the dimensions the header declares."""
    magic = _read_exact(stream, 4)
    if len(magic) == 0:
        raise DataError(path, "file is empty")
    if len(magic) < 4 or magic[0] != 0 or magic[1] != 0:
        hint = " (named .gz but not gzip-compressed)" if path.suffix == ".gz" else ""
        raise DataError(path, f"not an IDX file: magic bytes {magic.hex(' ')}{hint}")
    code, ndim = magic[2], magic[3]
    if code != UBYTE:
        name = _DTYPE_NAMES.get(code, "unknown")
        raise DataError(
            path, f"IDX dtype code 0x{code:02X} ({name}); only 0x08 (ubyte) is supported"
        )
    if ndim == 0:
        raise DataError(path, "IDX header declares 0 dimensions")
    raw = _read_exact(stream, 4 * ndim)
    if len(raw) < 4 * ndim:
        raise DataError(path, f"header ends early: {ndim} dimensions declared, file too short")
    return struct.unpack(f">{ndim}I", raw)


def _fmt(dims: tuple[object, ...]) -> str:
    shown = [str(d) for d in dims[:4]] + (["…"] if len(dims) > 4 else [])
    return "×".join(shown) if dims else "scalar"


def _count(n: int) -> str:
    """A byte count for a message; absurd header claims stay short."""
    return str(n) if n < 10**15 else f"~10^{len(str(n)) - 1}"


def _check_shape(dims: tuple[int, ...], item_shape: tuple[int, ...] | None, path: Path) -> None:
    if item_shape is None:
        return
    if len(dims) != 1 + len(item_shape):
        want = _fmt(("N", *item_shape))
        raise DataError(
            path,
            f"IDX header declares {len(dims)} dimension(s) ({_fmt(dims)}), expected "
            f"{1 + len(item_shape)} ({want}): images and labels files swapped?",
        )
    if tuple(dims[1:]) != tuple(item_shape):
        raise DataError(path, f"items are {_fmt(dims[1:])}, expected {_fmt(item_shape)}")


def _check_plain_size(stream: BinaryIO, dims: tuple[int, ...], path: Path) -> None:
    """For an uncompressed file, compare header and file size before reading anything."""
    if isinstance(stream, gzip.GzipFile):
        return
    size = os.fstat(stream.fileno()).st_size - stream.tell()
    expected = math.prod(dims)
    if size != expected:
        raise DataError(path, _size_problem(size, expected, dims))


def _size_problem(actual: int, expected: int, dims: tuple[int, ...]) -> str:
    if actual < expected:
        return (
            f"payload is {actual} bytes but the header ({_fmt(dims)}) needs {_count(expected)}: "
            "file truncated or header corrupt"
        )
    return f"payload is longer than the {expected} bytes the header ({_fmt(dims)}) declares"


def _read_payload(stream: BinaryIO, dims: tuple[int, ...], path: Path) -> bytearray:
    """Read exactly prod(dims) bytes in bounded chunks, then require end of stream.

    Growing the buffer only by bytes actually read keeps memory bounded by the real payload.
    Reading one byte past the end also makes gzip verify its CRC and length trailer.
    """
    expected = math.prod(dims)
    buf = bytearray()
    while len(buf) < expected:
        chunk = stream.read(min(_CHUNK, expected - len(buf)))
        if not chunk:
            raise DataError(path, _size_problem(len(buf), expected, dims))
        buf += chunk
    if stream.read(1):
        raise DataError(path, _size_problem(expected + 1, expected, dims))
    return buf


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__
