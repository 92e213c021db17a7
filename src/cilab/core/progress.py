"""Progress of long work, on a terminal and in a log file.

On a terminal, tqdm's bar. In a log file (`nohup`, a cluster job's output, CI) tqdm switches
itself off (`disable=None`), and a training whose epochs take minutes says nothing between its
epoch lines; there `progress_bar` prints a plain line every `CILAB_PROGRESS_EVERY` seconds (default
60; 0 keeps the log silent), e.g.

    epoch 3/50: 1200/1875 step (64%), 3.12 step/s, 03:36 left; d_loss=1.21, g_loss=1.04

`progress_bar` takes tqdm's arguments, and what it returns offers the part of tqdm's interface cilab
uses: iteration, `update`, `set_postfix`, `close` and `with`.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from typing import Any, TextIO

from tqdm.auto import tqdm

from cilab.core.errors import CilabError

ENV_EVERY, DEFAULT_EVERY = "CILAB_PROGRESS_EVERY", 60.0


def progress_bar(
    iterable: Iterable[Any] | None = None, *, show: bool = True, **kwargs: Any
) -> tqdm | LineProgress:
    """tqdm(iterable, **kwargs) on a terminal; `LineProgress` when stderr is not one; a
    disabled tqdm (silent, same interface) when `show` is False, e.g. on every rank but 0."""
    if not show:
        return tqdm(iterable, disable=True, **kwargs)
    if sys.stderr.isatty():
        return tqdm(iterable, **kwargs)
    return LineProgress(iterable, every=every_seconds(), **kwargs)


def note(message: str) -> None:
    """Tell the user something skipped or assumed, as `cilab: note: ...` on stderr: stdout keeps
    only the results (metrics, summaries), so piping them stays clean."""
    print(f"cilab: note: {message}", file=sys.stderr, flush=True)


def format_interval(seconds: float) -> str:
    """tqdm's H:MM:SS (MM:SS under an hour), for times left."""
    return tqdm.format_interval(seconds)


def every_seconds() -> float:
    """Seconds between progress lines in a log: $CILAB_PROGRESS_EVERY, else 60 (0: none)."""
    raw = os.environ.get(ENV_EVERY, "")
    try:
        every = float(raw) if raw else DEFAULT_EVERY
    except ValueError:
        raise CilabError(f"{ENV_EVERY}={raw!r} is not a number of seconds") from None
    return max(every, 0.0)


class LineProgress:
    """tqdm for log files: one line every `every` seconds (none when 0), nothing else.

    Accepts tqdm's keyword arguments and uses `total`, `desc`, `unit`, `initial` and
    `unit_scale`; the rest (`leave`, `unit_divisor`, ...) only matter to a bar."""

    def __init__(
        self,
        iterable: Iterable[Any] | None = None,
        *,
        total: float | None = None,
        desc: str | None = None,
        unit: str = "it",
        initial: float = 0,
        unit_scale: bool = False,
        every: float = DEFAULT_EVERY,
        file: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
        **_bar_only: Any,
    ) -> None:
        self.iterable, self.desc, self.unit, self.unit_scale = iterable, desc, unit, unit_scale
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.total, self.n, self.initial = total, initial, initial
        self.every, self.file, self.clock = every, file, clock
        self.start = self.last = clock()
        self.postfix: dict[str, Any] = {}

    def __iter__(self) -> Iterator[Any]:
        if self.iterable is None:
            raise TypeError("LineProgress made without an iterable: use update()")
        for item in self.iterable:
            yield item
            self.update(1)

    def update(self, n: float = 1) -> None:
        self.n += n
        now = self.clock()
        if self.every and now - self.last >= self.every:
            self.last = now
            print(self.line(now), file=self.file or sys.stderr, flush=True)

    def set_postfix(self, ordered_dict: dict[str, Any] | None = None, **kwargs: Any) -> None:
        self.postfix = {**(ordered_dict or {}), **kwargs}

    def line(self, now: float) -> str:
        """The progress line at time `now` (the clock's)."""
        rate = (self.n - self.initial) / max(now - self.start, 1e-9)
        text = f"{self.desc}: " if self.desc else ""
        if self.total:
            text += f"{self._count(self.n, self.total)} ({100 * self.n / self.total:.0f}%)"
        else:
            text += self._count(self.n)
        text += f", {self._count(rate)}/s"
        if self.total and rate > 0:
            text += f", {format_interval(max(self.total - self.n, 0) / rate)} left"
        if self.postfix:
            text += "; " + ", ".join(f"{k}={_short(v)}" for k, v in self.postfix.items())
        return text

    def _count(self, x: float, total: float | None = None) -> str:
        """A count, with its total when given: e.g. "1200/1875 step", "3.12 step", or with
        unit_scale "12.0MB/50.0MB"."""
        if self.unit_scale:
            size = partial(tqdm.format_sizeof, suffix=self.unit,
                           divisor=1024 if self.unit == "B" else 1000)  # fmt: skip
            return size(x) + (f"/{size(total)}" if total else "")
        shown = _short(float(x))
        return (f"{shown}/{_short(float(total))}" if total else shown) + f" {self.unit}"

    def close(self) -> None:
        """Nothing to clear: the lines stay in the log."""

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _short(value: Any) -> str:
    """Whole numbers as integers, other floats to 4 significant digits."""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:.4g}"
    return str(value)
