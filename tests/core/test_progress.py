"""Progress lines for logs: when they are printed, what they say, and when tqdm is used instead."""

from __future__ import annotations

import io

import pytest
from tqdm.auto import tqdm

from cilab.core import progress as progress_mod
from cilab.core.errors import CilabError
from cilab.core.progress import LineProgress, every_seconds, progress_bar


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_lines_every_interval_with_rate_eta_and_postfix() -> None:
    clock, out = Clock(), io.StringIO()
    bar = LineProgress(range(100), desc="epoch 3/50", unit="step", every=60, file=out, clock=clock)
    bar.set_postfix({"d_loss": 1.23456}, g_loss=0.5)
    for _ in bar:
        clock.now += 2.0  # 0.5 step/s: a line after steps 30, 60 and 90
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    assert (
        lines[0]
        == "epoch 3/50: 30/100 step (30%), 0.5 step/s, 02:20 left; d_loss=1.235, g_loss=0.5"
    )
    assert lines[2].startswith("epoch 3/50: 90/100 step (90%), 0.5 step/s, 00:20 left;")


def test_resumed_epoch_counts_rate_from_its_own_start() -> None:
    clock, out = Clock(), io.StringIO()
    bar = LineProgress(total=1000, initial=900, unit="step", every=10, file=out, clock=clock)
    clock.now = 10.0
    bar.update(20)  # 20 steps in 10 s since this process started, not 920
    assert out.getvalue() == "920/1000 step (92%), 2 step/s, 00:40 left\n"


def test_bytes_without_total_and_silence_at_zero() -> None:
    clock, out = Clock(), io.StringIO()
    sized = LineProgress(unit="B", unit_scale=True, desc="mnist", every=1, file=out, clock=clock)
    clock.now = 2.0
    sized.update(3 * 2**20)
    assert out.getvalue() == "mnist: 3.00MB, 1.50MB/s\n"
    quiet = LineProgress(range(5), every=0, file=out, clock=clock)
    for _ in quiet:
        clock.now += 100
    assert out.getvalue() == "mnist: 3.00MB, 1.50MB/s\n"


def test_progress_bar_picks_tqdm_on_a_terminal_and_lines_in_a_log(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(progress_mod.sys.stderr, "isatty", lambda: True, raising=False)
    assert isinstance(progress_bar(range(3), desc="x"), tqdm)
    monkeypatch.setattr(progress_mod.sys.stderr, "isatty", lambda: False, raising=False)
    monkeypatch.setenv("CILAB_PROGRESS_EVERY", "5")
    bar = progress_bar(range(3), desc="x", leave=False)
    assert isinstance(bar, LineProgress) and bar.every == 5 and bar.total == 3
    silent = progress_bar(range(3), show=False)
    assert isinstance(silent, tqdm) and silent.disable and list(silent) == [0, 1, 2]


def test_interval_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CILAB_PROGRESS_EVERY", raising=False)
    assert every_seconds() == 60.0
    monkeypatch.setenv("CILAB_PROGRESS_EVERY", "0")
    assert every_seconds() == 0.0
    monkeypatch.setenv("CILAB_PROGRESS_EVERY", "soon")
    with pytest.raises(CilabError, match="CILAB_PROGRESS_EVERY='soon' is not a number"):
        every_seconds()
