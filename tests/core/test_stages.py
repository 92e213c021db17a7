"""Stage lines: one per finished stage, with its time; none for a stage that fails."""

from __future__ import annotations

import re

import pytest

from cilab.core.stages import stage


def test_a_finished_stage_prints_its_time(capsys: pytest.CaptureFixture[str]) -> None:
    with stage("drew 10 samples"):
        pass
    captured = capsys.readouterr()
    assert captured.out == ""
    assert re.fullmatch(r"cilab: drew 10 samples: \d+\.\d s\n", captured.err)


def test_a_failed_stage_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError), stage("judged them"):
        raise ValueError("bad")
    assert capsys.readouterr().err == ""
