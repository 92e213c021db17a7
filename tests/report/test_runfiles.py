"""The report's readers survive a run being written; its numbers read the same everywhere."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from cilab.report.runfiles import (
    RECENT_S,
    curve_keys,
    records_of,
    rel_name,
    stamped,
    training_state,
)
from cilab.report.view import duration, fmt


def _log(run: Path, epochs: int, torn: bool = False) -> None:
    lines = [
        json.dumps({"epoch": e, "train_loss": 1.0 / e, "time_s": 2.0}) for e in range(1, 1 + epochs)
    ]
    (run / "metrics.jsonl").write_text("\n".join(lines) + ('\n{"epoch": 9' if torn else "\n"))


def test_a_torn_log_reads_as_far_as_it_goes(tmp_path: Path) -> None:
    _log(tmp_path, 3, torn=True)
    assert [r["epoch"] for r in records_of(tmp_path / "metrics.jsonl")] == [1, 2, 3]
    assert records_of(tmp_path / "missing.jsonl") == []


def test_training_state_by_epochs_and_log_age(tmp_path: Path) -> None:
    _log(tmp_path, 3)
    records = records_of(tmp_path / "metrics.jsonl")
    assert training_state(tmp_path, records, 3) == ("done", "trained (3 epochs)")
    assert training_state(tmp_path, records, 5)[0] == "running"  # the log was just written
    old = time.time() - RECENT_S - 60
    os.utime(tmp_path / "metrics.jsonl", (old, old))
    assert training_state(tmp_path, records, 5) == ("stopped", "stopped after epoch 3 of 5")


def test_stamped_facts_only_for_files_that_exist(tmp_path: Path) -> None:
    (tmp_path / "cv.json").write_text("{}")
    ((label, when),) = stamped("cv.json written", tmp_path / "cv.json")
    assert label == "cv.json written" and when.startswith(time.strftime("%Y-"))
    assert stamped("predicted", tmp_path / "predict.json") == []


def test_names_relative_to_the_runs_folder(tmp_path: Path) -> None:
    assert rel_name(tmp_path / "gen" / "vae", tmp_path) == "gen/vae"
    assert rel_name(tmp_path, tmp_path) == tmp_path.name  # the folder itself: its own name
    assert rel_name(Path("/elsewhere/run"), tmp_path) == "/elsewhere/run"


def test_curve_panels_skip_times_and_put_the_loss_first() -> None:
    records = [{"epoch": 1, "val_acc": 0.5, "train_loss": 1.0, "time_s": 3.0, "lr": 0.1}]
    assert curve_keys(records) == ["loss", "acc"]
    assert curve_keys(records, order=("acc",)) == ["acc", "loss"]
    assert curve_keys([{"step": 3, "train_loss": 1.0}]) is None  # no epoch records


def test_number_and_time_formats() -> None:
    assert [fmt(v) for v in (12345, 42, 0.5, 123.456, 2500.0, 1e-5, True, None)] == [
        "12,345", "42", "0.5000", "123.46", "2,500.0", "1.000e-05", "True", "–",
    ]  # fmt: skip
    assert [duration(s) for s in (42.04, 187, 7500, None)] == [
        "42.0 s", "3 min 07 s", "2 h 05 min", "–",
    ]  # fmt: skip
