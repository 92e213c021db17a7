"""Ctrl-C that stops at a step boundary, so the checkpoint saved on the way out is consistent."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class StopFlag:
    """Set by the first SIGINT; a second SIGINT interrupts at once (the usual escape hatch)."""

    def __init__(self) -> None:
        self.requested = False

    def _handler(self, signum: int, frame: object) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True


@contextmanager
def graceful_interrupt() -> Iterator[StopFlag]:
    """Within the block, Ctrl-C sets `flag.requested` instead of raising mid-step."""
    flag = StopFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = signal.signal(signal.SIGINT, flag._handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)
