"""The CV report's threshold choices: tuned by hand-checkable cases, and said honestly."""

from __future__ import annotations

import numpy as np

from cilab.roads.cv_report import _threshold_note, threshold_grid, tune_threshold


def test_tune_threshold_by_hand() -> None:
    stats = [np.array([0.1, 0.3, 0.35, 0.8])]
    labels = [np.array([0, 0, 1, 1])]
    grid = np.array([0.2, 0.32, 0.5])
    assert tune_threshold(stats, labels, "accuracy", grid) == 0.32  # 4/4 correct
    assert tune_threshold(stats, labels, "f1", np.array([0.05, 0.5])) == 0.05  # F1 6/7 > 2/3


def test_tune_threshold_breaks_ties_towards_the_smallest() -> None:
    stats, labels = [np.array([0.1, 0.9])], [np.array([0, 1])]
    assert tune_threshold(stats, labels, "accuracy", np.array([0.3, 0.5, 0.7])) == 0.3


def test_threshold_grids() -> None:
    patch, pixel = threshold_grid(True), threshold_grid(False)
    assert (patch[0], patch[-1], len(patch)) == (0.02, 0.98, 97)
    assert (pixel[0], pixel[-1], len(pixel)) == (0.02, 0.8, 79)
    assert np.allclose(np.diff(patch), 0.01)


def test_the_threshold_note_says_how_honest_the_fold_numbers_are() -> None:
    assert "other folds" in _threshold_note(5, "f1")
    assert "optimistic" in _threshold_note(1, "accuracy")
    assert "fixed" in _threshold_note(5, "none") and "fixed" in _threshold_note(1, "none")
