"""Image grids, PNG and GIF writing: pixel placement, conversion, atomicity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageSequence

from cilab.core.errors import CilabError
from cilab.viz.grid import make_grid, save_gif, save_image_grid, to_uint8


def _numbered(n: int, h: int = 3, w: int = 4) -> np.ndarray:
    """Tiles whose every pixel equals 10 * (index + 1): placement is readable from the grid."""
    return np.stack([np.full((h, w), 10 * (k + 1), dtype=np.uint8) for k in range(n)])


def test_grid_shape_arithmetic() -> None:
    grid = make_grid(_numbered(5), nrow=3, padding=2)
    # 2 rows x 3 columns of 3x4 tiles, 2-pixel padding between and around.
    assert grid.shape == (2 + 2 * (3 + 2), 2 + 3 * (4 + 2))
    assert grid.dtype == np.uint8


def test_each_image_lands_at_its_offset_and_padding_is_pad_value() -> None:
    h, w, pad, nrow = 3, 4, 2, 3
    grid = make_grid(_numbered(5, h, w), nrow=nrow, padding=pad, pad_value=1.0)
    mask = np.zeros(grid.shape, dtype=bool)
    for k in range(5):
        y = pad + (k // nrow) * (h + pad)
        x = pad + (k % nrow) * (w + pad)
        assert (grid[y : y + h, x : x + w] == 10 * (k + 1)).all(), f"image {k} misplaced"
        mask[y : y + h, x : x + w] = True
    # Everything else (separators, border, the empty sixth cell) is padding.
    assert (grid[~mask] == 255).all()


def test_pad_value_is_an_intensity_whatever_the_dtype() -> None:
    floats = np.full((2, 2, 2), 0.5, dtype=np.float32)
    assert make_grid(floats, nrow=2, pad_value=0.0)[0, 0] == 0
    assert make_grid(_numbered(2), nrow=2, pad_value=0.2)[0, 0] == 51


def test_padding_zero_is_plain_concatenation() -> None:
    tiles = np.random.default_rng(0).integers(0, 256, (6, 5, 7), dtype=np.uint8)
    expected = np.block([[tiles[0], tiles[1], tiles[2]], [tiles[3], tiles[4], tiles[5]]])
    np.testing.assert_array_equal(make_grid(tiles, nrow=3, padding=0), expected)


def test_nrow_larger_than_batch_gives_one_row() -> None:
    assert make_grid(_numbered(2), nrow=10, padding=1).shape == (5, 11)


def test_channels_first_colour_and_single_channel() -> None:
    rgb = np.zeros((2, 3, 4, 4), dtype=np.float32)
    rgb[:, 0], rgb[:, 2] = 1.0, 0.2
    grid = make_grid(rgb, nrow=2, padding=0)
    assert grid.shape == (4, 8, 3)
    assert tuple(grid[0, 0]) == (255, 0, 51)
    assert make_grid(np.zeros((3, 1, 4, 4)), nrow=3).ndim == 2


def test_float_conversion_clips_rounds_and_zeroes_nan() -> None:
    values = np.array([[[-0.5, 0.0, 0.2, 0.5, 1.0, 1.7, np.nan]]], dtype=np.float32)
    np.testing.assert_array_equal(to_uint8(values)[0, 0], [0, 0, 51, 128, 255, 255, 0])


def test_torch_tensor_matches_numpy() -> None:
    x = torch.rand(4, 1, 6, 6)
    np.testing.assert_array_equal(make_grid(x, nrow=2), make_grid(x.numpy(), nrow=2))


@pytest.mark.parametrize(
    "bad",
    [np.zeros((2, 5, 4, 4)), np.zeros((4, 4)), np.zeros((2, 4, 4), dtype=np.int32)],
)
def test_bad_inputs_are_user_errors(bad: np.ndarray) -> None:
    with pytest.raises(CilabError):
        make_grid(bad, nrow=2)


def test_bad_layout_arguments() -> None:
    with pytest.raises(CilabError):
        make_grid(_numbered(2), nrow=0)
    with pytest.raises(CilabError):
        make_grid(np.zeros((0, 4, 4), dtype=np.uint8), nrow=2)


def test_save_image_grid_roundtrip_scale_and_no_temp_files(tmp_path: Path) -> None:
    tiles = np.random.default_rng(1).random((7, 5, 5))
    out = tmp_path / "sub" / "grid.png"
    save_image_grid(tiles, out, nrow=4, scale=3)
    with Image.open(out) as im:
        assert im.format == "PNG"
        got = np.asarray(im)
    expected = make_grid(tiles, nrow=4)
    assert got.shape == (3 * expected.shape[0], 3 * expected.shape[1])
    np.testing.assert_array_equal(got[::3, ::3], expected)
    np.testing.assert_array_equal(got[2::3, 1::3], expected)  # nearest-neighbour replication
    assert [p.name for p in out.parent.iterdir()] == ["grid.png"]


def test_gif_has_every_frame_with_its_pixels_and_duration(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    frames = [rng.integers(0, 256, (8, 10), dtype=np.uint8) for _ in range(4)]
    out = tmp_path / "progress.gif"
    save_gif(frames, out, duration_ms=150)
    with Image.open(out) as im:
        assert im.format == "GIF"
        assert im.n_frames == 4
        for k, frame in enumerate(ImageSequence.Iterator(im)):
            np.testing.assert_array_equal(np.asarray(frame.convert("L")), frames[k])
            assert frame.info["duration"] == 150
    assert [p.name for p in tmp_path.iterdir()] == ["progress.gif"]


def test_gif_accepts_float_colour_frames(tmp_path: Path) -> None:
    frames = [np.full((6, 6, 3), v, dtype=np.float32) for v in (0.0, 0.5, 1.0)]
    save_gif(frames, tmp_path / "c.gif")
    with Image.open(tmp_path / "c.gif") as im:
        assert im.n_frames == 3
        assert im.size == (6, 6)


def test_gif_rejects_mixed_shapes_and_empty(tmp_path: Path) -> None:
    with pytest.raises(CilabError, match="shape"):
        save_gif([np.zeros((4, 4)), np.zeros((5, 4))], tmp_path / "x.gif")
    with pytest.raises(CilabError):
        save_gif([], tmp_path / "x.gif")
    assert list(tmp_path.iterdir()) == []


def test_unwritable_path_is_a_clean_user_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("a file where a directory should be")
    with pytest.raises(CilabError, match="cannot write"):
        save_image_grid(_numbered(2), blocker / "grid.png", nrow=2)
    with pytest.raises(CilabError, match="cannot write"):
        save_gif([np.zeros((4, 4), dtype=np.uint8)], blocker / "a.gif")
    assert [p.name for p in tmp_path.iterdir()] == ["not_a_dir"]


def test_failure_mid_write_keeps_the_old_file_and_no_partial(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "grid.png"
    save_image_grid(_numbered(2), out, nrow=2)
    good = out.read_bytes()

    def half_write(self: Image.Image, fp: object, *args: object, **kwargs: object) -> None:
        Path(str(fp)).write_bytes(b"\x89PNG truncated")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", half_write)
    with pytest.raises(CilabError, match="No space left"):
        save_image_grid(_numbered(3), out, nrow=3)
    assert out.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["grid.png"]
