"""Splitting a list of work items into chunks that keep every worker busy to the end.

Fixed-size chunks leave a ragged tail: 300 images in chunks of 32 make 9 full chunks and one of
12, so with 2 workers one of them decodes 160 images while the other stops after 140, and the
wall time is that of the busier one (7 % lost here). Equal chunks whose count is a multiple of the
worker count share the work evenly when items cost about the same, which a folder of images of
one size does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def balanced_chunks(items: Sequence[T], workers: int, max_size: int = 32) -> list[list[T]]:
    """`items` in order, cut into equal chunks (sizes differ by at most one) of <= `max_size`.

    The number of chunks is the smallest multiple of `workers` that keeps chunks within
    `max_size` (bounded memory and a responsive progress bar), and never more than the items.
    """
    if workers < 1 or max_size < 1:
        raise ValueError(f"workers and max_size must be >= 1, got {workers} and {max_size}")
    n = len(items)
    if n == 0:
        return []
    count = min(n, workers * math.ceil(n / (max_size * workers)))
    base, extra = divmod(n, count)
    chunks, start = [], 0
    for i in range(count):
        stop = start + base + (i < extra)
        chunks.append(list(items[start:stop]))
        start = stop
    return chunks
