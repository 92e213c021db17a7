"""Data layout: where the folder comes from, CSV and image validation, split separation."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cilab.core.errors import CilabError, DataError
from cilab.cosmo.layout import load_layout, read_id_csv, read_image, resolve_data_dir


def copy_data(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "data"
    shutil.copytree(src, dst)
    return dst


def test_data_dir_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("a", "b", "c/cosmology"):
        (tmp_path / name).mkdir(parents=True)
    with pytest.raises(CilabError, match="--data-dir"):
        resolve_data_dir()
    monkeypatch.setenv("CILAB_DATA", str(tmp_path / "c"))
    assert resolve_data_dir() == tmp_path / "c" / "cosmology"
    monkeypatch.setenv("COSMOLOGY_DATA", str(tmp_path / "b"))
    assert resolve_data_dir() == tmp_path / "b"
    assert resolve_data_dir(tmp_path / "a") == tmp_path / "a"
    with pytest.raises(DataError, match="not found"):
        resolve_data_dir(tmp_path / "missing")


def test_tiny_layout_loads_and_keeps_splits_apart(tiny_data: Path) -> None:
    data = load_layout(tiny_data)
    assert len(data.labeled) == 36 and len(data.scored) == 48 and len(data.query) == 12
    assert set(np.unique(data.labeled.targets)) == {0.0, 1.0}
    shared = set(data.scored.ids) & set(data.query.ids)
    assert len(shared) == 2  # like the original
    for ident in shared:
        s = data.scored.paths[data.scored.ids.index(ident)]
        q = data.query.paths[data.query.ids.index(ident)]
        assert s.parent.name == "scored" and q.parent.name == "query" and s != q
    assert data.query.ids == data.query_order  # query_example.csv order
    assert set(data.query_truth) == set(data.query.ids)


def test_csv_id_without_image(tiny_data: Path, tmp_path: Path) -> None:
    root = copy_data(tiny_data, tmp_path)
    victim = sorted((root / "scored").iterdir())[0]
    victim.unlink()
    with pytest.raises(DataError, match=f"id {victim.stem} has no image scored/{victim.name}"):
        load_layout(root)


def test_image_without_csv_row(tiny_data: Path, tmp_path: Path) -> None:
    root = copy_data(tiny_data, tmp_path)
    shutil.copy(sorted((root / "labeled").iterdir())[0], root / "labeled" / "1234567.png")
    with pytest.raises(DataError, match=r"has no row in labeled\.csv"):
        load_layout(root)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Id,Score\n1,1.0\n", "header must be 'Id,Actual'"),
        ("Id,Actual\n1,1.0,3\n", "line 2: expected 2 fields"),
        ("Id,Actual\n1,abc\n", "line 2: Actual 'abc' is not a number"),
        ("Id,Actual\nx1,1.0\n", "line 2: id 'x1' is not a number"),
        ("Id,Actual\n1,nan\n", "is not finite"),
        ("Id,Actual\n1,1.0\n1,0.0\n", "line 3: id 1 appears twice"),
        ("", "an empty file"),
    ],
)
def test_malformed_csv(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "scored.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=problem):
        read_id_csv(path, "Actual")


def test_csv_tolerates_blank_trailing_lines(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("Id,Actual\n7,0.5\n\n")
    ids, values = read_id_csv(path, "Actual")
    assert ids == ("7",) and values.tolist() == [0.5]


def test_labels_must_be_zero_or_one(tiny_data: Path, tmp_path: Path) -> None:
    root = copy_data(tiny_data, tmp_path)
    lines = (root / "labeled.csv").read_text().splitlines()
    lines[1] = lines[1].split(",")[0] + ",0.5"
    (root / "labeled.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"labels must be 1\.0"):
        load_layout(root)


def test_read_image_checks(tmp_path: Path) -> None:
    good = tmp_path / "1.png"
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(good)
    assert read_image(good, 16).shape == (16, 16)
    with pytest.raises(DataError, match="is 16x16, expected 32x32"):
        read_image(good, 32)
    rgb = tmp_path / "2.png"
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(rgb)
    with pytest.raises(DataError, match="mode RGB"):
        read_image(rgb, 16)
    broken = tmp_path / "3.png"
    broken.write_bytes(good.read_bytes()[:40])
    with pytest.raises(DataError, match="unreadable image"):
        read_image(broken, 16)
    text = tmp_path / "4.png"
    text.write_text("not a png")
    with pytest.raises(DataError, match="unreadable image"):
        read_image(text)
    with pytest.raises(DataError, match="not found"):
        read_image(tmp_path / "5.png")


def test_decompression_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.png"
    Image.new("L", (5000, 4000)).save(bomb)  # 20 Mpx of zeros: a few kB on disk
    assert bomb.stat().st_size < 100_000
    with pytest.raises(DataError, match="decompression bomb"):
        read_image(bomb)
