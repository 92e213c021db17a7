"""A faster decoder for the one PNG kind cosmology images are: 8-bit grey, not interlaced.

Decoding is most of what feature extraction costs (the exercise's 10-bin histogram is about a
millisecond once the pixels are in numpy). libspng, through `pyspng`, inflates and unfilters a
1000x1000 field straight into the numpy array: 2.4 ms against 2.8-3.8 ms for Pillow's decode
plus its copy into numpy in timings on the development machine (docs/RESULTS.md has the
benchmark). It is only a fast path: anything it does not cover (other bit depths
or colour types, interlacing, a corrupt file, pyspng not installed) returns None and the caller
decodes with Pillow, which also produces the error messages. The pixels are identical
(tests/cosmo/test_fastpng.py checks both decoders on the same files).
"""

from __future__ import annotations

import numpy as np

try:
    import pyspng
except ImportError:  # an optional speed-up: Pillow decodes everything without it
    pyspng = None

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def is_plain_grey8(data: bytes) -> bool:
    """True when the IHDR says 8-bit greyscale (colour type 0), no interlace."""
    if len(data) < 33 or data[:8] != PNG_SIGNATURE or data[12:16] != b"IHDR":
        return False
    depth, colour_type, interlace = data[24], data[25], data[28]
    return depth == 8 and colour_type == 0 and interlace == 0


def decode_grey8(data: bytes, shape: tuple[int, int]) -> np.ndarray | None:
    """The [H, W] uint8 pixels of a plain 8-bit grey PNG of `shape`, or None (use Pillow).

    The caller has checked the header with Pillow already (size, decompression bombs).
    """
    if pyspng is None or not is_plain_grey8(data):
        return None
    try:
        arr = pyspng.load(data)
    except RuntimeError:  # corrupt or truncated: Pillow decodes it again and says what is wrong
        return None
    if arr.dtype != np.uint8 or arr.shape != shape:
        return None
    arr.flags.writeable = False  # as Pillow's: read-only pixels let families share their counts
    return arr
