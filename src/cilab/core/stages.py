"""One line on stderr per finished stage of a long command, with its time.

A 10,000-sample `gen eval` takes minutes on a CPU; without a word it looks hung, and a progress
bar would say nothing in the log of a background run. A line per stage does both, and the times
say where the minutes went.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def stage(what: str) -> Iterator[None]:
    """Time the block; when it finishes, print `cilab: <what>: <seconds> s` on stderr (nothing
    when it raises: the error says enough)."""
    start = time.perf_counter()
    yield
    print(f"cilab: {what}: {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
