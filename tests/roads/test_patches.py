"""Patch labelling at the threshold edge; submission ids, order and round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cilab.core.errors import CilabError, DataError
from cilab.roads.patches import (
    COMPETITION_ORDER,
    labels_to_mask,
    patch_labels,
    patch_means,
    read_submission,
    read_submission_ids,
    write_submission,
)
from cilab.roads.submit import folder_labels, submission_to_masks, submit_folder

from .conftest import SHARED_DATA


def test_threshold_is_strictly_greater_than_a_quarter() -> None:
    mask = np.zeros((16, 32), dtype=np.uint8)
    mask[:4, :16] = 255  # left patch: 64 of 256 pixels = exactly 0.25 -> background
    mask[:4, 16:] = 255
    mask[4, 16] = 255  # right patch: 65 pixels -> road
    assert patch_labels(mask).tolist() == [[0, 1]]
    assert patch_labels(mask, threshold=0.26).tolist() == [[0, 0]]
    assert patch_labels(mask, threshold=0.0).tolist() == [[1, 1]]
    # Floats are read as [0, 1]; the anti-aliased grey levels count by value.
    soft = np.full((16, 16), 0.25)
    assert patch_labels(soft).tolist() == [[0]]
    assert patch_labels(soft + 1e-9).tolist() == [[1]]


def test_partial_edge_patches_average_the_pixels_present() -> None:
    mask = np.zeros((20, 20))
    mask[16:, :] = 1.0  # the 4-pixel-high bottom patches are all road
    means = patch_means(mask)
    assert means.shape == (2, 2)
    assert means[1].tolist() == [1.0, 1.0] and means[0].tolist() == [0.0, 0.0]
    assert labels_to_mask(np.array([[1, 0], [0, 1]]), (20, 20))[19, 19] == 255


def write_masks(folder: Path, numbers: list[int], size: int, rng=None) -> dict[int, np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    labels = {}
    for n in numbers:
        lab = np.zeros((size // 16, size // 16), np.uint8)
        if rng is not None:
            lab = rng.integers(0, 2, lab.shape).astype(np.uint8)
        Image.fromarray(labels_to_mask(lab, (size, size))).save(folder / f"test_{n}.png")
        labels[n] = lab
    return labels


def course_ids(numbers: list[int], size: int) -> list[str]:
    """Ids as the course's mask_to_submission.py lists them (column j outer, row i inner)."""
    ids = []
    for n in numbers:
        for j in range(0, size, 16):
            for i in range(0, size, 16):
                ids.append(f"{n:03d}_{j}_{i}")
    return ids


def test_94_background_masks_give_the_sample_submission_ids(tmp_path: Path) -> None:
    numbers = sorted(COMPETITION_ORDER)  # files listed in any order
    write_masks(tmp_path / "pred", numbers, size=32)
    out = tmp_path / "sub.csv"
    assert submit_folder(tmp_path / "pred", out, 0.25, None) == 94 * 4
    lines = out.read_text().splitlines()
    assert lines[0] == "Id,Prediction"
    assert [s.split(",")[0] for s in lines[1:]] == course_ids(list(COMPETITION_ORDER), 32)
    assert {s.split(",")[1] for s in lines[1:]} == {"0"}
    assert lines[1:4] == ["136_0_0,0", "136_0_16,0", "136_16_0,0"]  # sample's first image: 136


def test_unknown_numbers_follow_in_increasing_order(tmp_path: Path) -> None:
    write_masks(tmp_path / "p", [1000, 7, 500, 136], size=16)
    write_submission(folder_labels(tmp_path / "p", 0.25), tmp_path / "s.csv")
    ids = read_submission_ids(tmp_path / "s.csv")
    assert ids == ["136_0_0", "007_0_0", "500_0_0", "1000_0_0"]


def test_round_trip_masks_submission_masks(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    labels = write_masks(tmp_path / "pred", [7, 8, 9], size=48, rng=rng)
    write_submission(folder_labels(tmp_path / "pred", 0.25), tmp_path / "s.csv")
    back = read_submission(tmp_path / "s.csv")
    assert back.keys() == labels.keys()
    for n in labels:
        assert np.array_equal(back[n], labels[n])
    for path in submission_to_masks(tmp_path / "s.csv", tmp_path / "masks"):
        original = np.asarray(Image.open(tmp_path / "pred" / path.name))
        assert np.array_equal(np.asarray(Image.open(path)), original)


def test_template_fixes_the_order_and_must_match(tmp_path: Path) -> None:
    labels = {7: np.array([[1, 0], [0, 0]], np.uint8), 9: np.zeros((2, 2), np.uint8)}
    template = tmp_path / "t.csv"
    ids = ["009_16_16", "007_0_0", "009_0_0", "007_16_0", "007_0_16", "009_0_16", "009_16_0",
           "007_16_16"]  # fmt: skip
    template.write_text("Id,Prediction\n" + "".join(f"{i},1\n" for i in ids))
    write_submission(labels, tmp_path / "s.csv", template)
    rows = (tmp_path / "s.csv").read_text().splitlines()[1:]
    assert [r.split(",")[0] for r in rows] == ids
    assert rows[1] == "007_0_0,1" and sum(r.endswith(",1") for r in rows) == 1
    with pytest.raises(CilabError, match="no rows for image"):
        write_submission({**labels, 5: labels[9]}, tmp_path / "x.csv", template)
    with pytest.raises(CilabError, match="no predicted mask"):
        write_submission({7: labels[7]}, tmp_path / "x.csv", template)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("id,pred\n001_0_0,1\n", "header"),
        ("Id,Prediction\n001_0_0,2\n", "0 or 1"),
        ("Id,Prediction\n001_0_0,1\n001_0_0,0\n", "twice"),
        ("Id,Prediction\n001_0_0,1\n001_16_16,0\n", "grid"),
        ("Id,Prediction\n001_0_8,1\n", "16-pixel grid"),
        ("Id,Prediction\nabc,1\n", "NNN_x_y"),
    ],
)
def test_bad_submissions_are_one_line_errors(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "s.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=problem):
        read_submission(path)


def test_real_sample_submission_ids_are_reproduced(tmp_path: Path) -> None:
    if not SHARED_DATA or not (Path(SHARED_DATA) / "roads/sample_submission.csv").is_file():
        pytest.skip("needs CILAB_DATA with roads/sample_submission.csv (the shared data)")
    sample = Path(SHARED_DATA) / "roads/sample_submission.csv"
    numbers = [
        int(p.stem.split("_")[1]) for p in (Path(SHARED_DATA) / "roads/test_images").iterdir()
    ]
    assert sorted(numbers) == sorted(COMPETITION_ORDER)
    write_masks(tmp_path / "pred", numbers, size=608)
    submit_folder(tmp_path / "pred", tmp_path / "s.csv", 0.25, None)
    assert read_submission_ids(tmp_path / "s.csv") == read_submission_ids(sample)
    # The sample's own predictions survive a read -> write round trip through its template.
    write_submission(read_submission(sample), tmp_path / "again.csv", sample)
    assert (tmp_path / "again.csv").read_text() == sample.read_text()
