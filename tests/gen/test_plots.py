"""Generative-model figures: valid PNGs, PCA and manifold-grid correctness, atomic writes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from cilab.core.errors import CilabError
from cilab.gen import plots

Z95 = 1.6448536269514722  # the N(0,1) quantile at 0.95


def _assert_png(path: Path, min_side: int = 200, max_side: int = 4000) -> None:
    """A readable PNG of plausible size with actual content, and nothing else left beside it."""
    with Image.open(path) as im:
        assert im.format == "PNG"
        w, h = im.size
        pixels = np.asarray(im.convert("L"))
    assert min_side <= w <= max_side and min_side <= h <= max_side, (w, h)
    assert pixels.std() > 5, "the figure is blank"
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def _clusters(n: int = 600, d: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    return rng.normal(0, 3, (10, d))[labels] + rng.normal(0, 1, (n, d)), labels


def _digits(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 28, 28)).astype(np.float32)


# ----------------------------------------------------------------------------- projection


def test_pca_recovers_known_directions_and_variances() -> None:
    rng = np.random.default_rng(3)
    t = rng.normal(0, 3.0, 500)  # along d, the dominant direction
    t -= t.mean()
    s = rng.normal(0, 1.0, 500)  # along e, orthogonal to d
    s -= s.mean() + (s @ t) / (t @ t) * t  # exactly uncorrelated, so the PCs are exactly d, e
    d, e = np.array([0.6, 0.8, 0.0]), np.array([0.0, 0.0, 1.0])
    codes = np.array([5.0, -2.0, 1.0]) + t[:, None] * d + s[:, None] * e
    proj = plots.project_2d(codes)
    # The largest loading of each component is made positive, so the signs are fixed too.
    np.testing.assert_allclose(proj.xy[:, 0], t, atol=1e-9)
    np.testing.assert_allclose(proj.xy[:, 1], s, atol=1e-9)
    var_t, var_s = t.var(), s.var()
    assert proj.explained is not None
    np.testing.assert_allclose(proj.explained, [var_t / (var_t + var_s), var_s / (var_t + var_s)])
    assert proj.xlabel == f"PC1 ({100 * var_t / (var_t + var_s):.0f}% var)"
    assert proj.ylabel.startswith("PC2 (")


def test_pca_matches_covariance_eigenvectors_on_random_data() -> None:
    codes, _ = _clusters(d=6)
    centred = codes - codes.mean(axis=0)
    _, vecs = np.linalg.eigh(np.cov(centred.T))
    top2 = vecs[:, ::-1][:, :2]
    np.testing.assert_allclose(
        np.abs(plots.project_2d(codes).xy), np.abs(centred @ top2), atol=1e-8
    )


def test_two_dimensional_codes_are_not_projected() -> None:
    codes = np.random.default_rng(0).normal(size=(50, 2))
    proj = plots.project_2d(codes)
    np.testing.assert_array_equal(proj.xy, codes)
    assert (proj.xlabel, proj.ylabel, proj.explained) == ("z1", "z2", None)


@pytest.mark.parametrize("shape", [(10, 1), (10,), (0, 4)])
def test_projection_rejects_unusable_shapes(shape: tuple[int, ...]) -> None:
    with pytest.raises(CilabError):
        plots.project_2d(np.zeros(shape))


def test_constant_codes_do_not_divide_by_zero() -> None:
    assert plots.project_2d(np.ones((5, 4))).explained == (0.0, 0.0)


# ----------------------------------------------------------------------------- latent plots


def test_latent_scatter_writes_png(tmp_path: Path) -> None:
    codes, labels = _clusters()
    plots.plot_latent_scatter(codes, labels, tmp_path / "latent.png", title="AE")
    _assert_png(tmp_path / "latent.png")


def test_latent_scatter_into_callers_axes_writes_nothing_without_path(tmp_path: Path) -> None:
    fig = Figure()
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    codes, labels = _clusters(d=2)
    plots.plot_latent_scatter(codes, labels, None, ax=ax)
    assert len(ax.collections) == 1 and len(ax.collections[0].get_offsets()) == len(codes)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [str(i) for i in range(10)]
    with pytest.raises(CilabError):
        plots.plot_latent_scatter(codes, labels, None)  # nowhere to draw or save
    assert list(tmp_path.iterdir()) == []


def test_latent_scatter_rejects_label_count_mismatch(tmp_path: Path) -> None:
    codes, labels = _clusters()
    with pytest.raises(CilabError, match="label"):
        plots.plot_latent_scatter(codes, labels[:-1], tmp_path / "x.png")
    assert list(tmp_path.iterdir()) == []


def test_latent_compare_writes_png(tmp_path: Path) -> None:
    ae, labels = _clusters(d=8)
    vae, _ = _clusters(d=2, seed=1)
    plots.plot_latent_compare([("AE", ae, labels), ("VAE", vae, labels)], tmp_path / "cmp.png")
    _assert_png(tmp_path / "cmp.png")


# ----------------------------------------------------------------------------- manifold


class _SpyDecoder:
    """Records what it was asked to decode; returns blobs whose position follows z."""

    def __init__(self) -> None:
        self.calls: list[np.ndarray] = []

    def __call__(self, z: np.ndarray) -> np.ndarray:
        self.calls.append(z.copy())
        yy, xx = np.mgrid[0:28, 0:28]
        cx, cy = 14 + 4 * z[:, 0, None, None], 14 - 4 * z[:, 1, None, None]
        return np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 12.0)


def test_manifold_decodes_the_normal_quantile_grid(tmp_path: Path) -> None:
    spy = _SpyDecoder()
    plots.plot_manifold(spy, tmp_path / "manifold.png", n=3)
    (z,) = spy.calls
    assert z.dtype == np.float32 and z.shape == (9, 2)
    # Row-major picture order: top row has the largest z2, z1 grows to the right.
    q = [-Z95, 0.0, Z95]
    expected = [(z1, z2) for z2 in q[::-1] for z1 in q]
    np.testing.assert_allclose(z, expected, atol=1e-6)
    _assert_png(tmp_path / "manifold.png")


def test_manifold_default_is_twenty_by_twenty_quantiles(tmp_path: Path) -> None:
    spy = _SpyDecoder()
    plots.plot_manifold(spy, tmp_path / "m.png")
    (z,) = spy.calls
    assert z.shape == (400, 2)
    np.testing.assert_allclose(z[:20, 0], plots.manifold_values(20), atol=1e-6)
    np.testing.assert_allclose(
        [z[0, 0], z[19, 0], z[0, 1], z[-1, 1]], [-Z95, Z95, Z95, -Z95], atol=1e-6
    )


def test_manifold_span_gives_an_even_grid(tmp_path: Path) -> None:
    spy = _SpyDecoder()
    plots.plot_manifold(spy, tmp_path / "m.png", n=5, span=2.0)
    np.testing.assert_allclose(spy.calls[0][:5, 0], [-2, -1, 0, 1, 2], atol=1e-6)
    np.testing.assert_allclose(spy.calls[0][::5, 1], [2, 1, 0, -1, -2], atol=1e-6)


def test_manifold_rejects_wrong_decode_output_and_bad_grid(tmp_path: Path) -> None:
    with pytest.raises(CilabError, match="decode returned"):
        plots.plot_manifold(lambda z: np.zeros((3, 28, 28)), tmp_path / "m.png", n=4)
    with pytest.raises(CilabError):
        plots.plot_manifold(_SpyDecoder(), tmp_path / "m.png", n=1)
    with pytest.raises(CilabError):
        plots.plot_manifold(_SpyDecoder(), tmp_path / "m.png", span=-1.0)
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- image figures


def test_samples_and_reconstructions_write_pngs(tmp_path: Path) -> None:
    plots.plot_samples(_digits(64), tmp_path / "samples.png", nrow=8, title="samples")
    _assert_png(tmp_path / "samples.png")
    x = _digits(15)
    plots.plot_reconstructions(x, 1 - x, tmp_path / "recon.png")
    _assert_png(tmp_path / "recon.png")


def test_image_panels_show_each_grid_side_by_side(tmp_path: Path) -> None:
    dark, light = np.zeros((20, 28, 28), np.float32), np.ones((20, 28, 28), np.float32)
    plots.plot_image_panels([("dark", dark), ("light", light)], tmp_path / "p.png")
    img = np.asarray(Image.open(tmp_path / "p.png").convert("L"), dtype=float)
    h, w = img.shape
    assert w > 1.8 * h  # two 10 x 2 grids next to each other
    middle = img[h // 3 : 2 * h // 3]  # below the titles
    left, right = middle[:, w // 8 : 3 * w // 8], middle[:, 5 * w // 8 : 7 * w // 8]
    assert left.mean() < 128 < right.mean()  # the dark panel left, the light one right
    with pytest.raises(CilabError, match="equal grids"):
        plots.plot_image_panels([("a", dark), ("b", light[:5])], tmp_path / "q.png")


def test_fd_by_class_bars_stand_where_their_class_is(tmp_path: Path) -> None:
    tall_first = [10.0, None, None, None, None, None]  # one bar, over class 0
    plots.plot_fd_by_class([("samples", tall_first)], tmp_path / "fd.png", title="FD")
    rgb = np.asarray(Image.open(tmp_path / "fd.png").convert("RGB"), dtype=int)
    lower = rgb[rgb.shape[0] // 2 :]  # below the legend; the full-height bar crosses it
    coloured = np.ptp(lower, axis=2) > 60  # bar fill, not the grey/black of axes and text
    columns = np.flatnonzero(coloured.any(axis=0))
    assert len(columns) and columns.max() < rgb.shape[1] / 3  # in the left third only
    with pytest.raises(CilabError, match="equal lengths"):
        plots.plot_fd_by_class([("a", [1.0, 2.0]), ("b", [1.0])], tmp_path / "x.png")


def test_reconstructions_need_matching_shapes(tmp_path: Path) -> None:
    with pytest.raises(CilabError, match="must match"):
        plots.plot_reconstructions(_digits(4), _digits(5), tmp_path / "r.png")


# ----------------------------------------------------------------------------- curves


def _records(epochs: int = 6) -> list[dict[str, float]]:
    return [
        {
            "epoch": e,
            "train_loss": 100 / e,
            "val_loss": 110 / e,
            "val_recon": 90 - e,
            "val_kl": 5 + e,
            "status": "ok",
        }
        for e in range(1, epochs + 1)
    ]


def test_curves_write_png(tmp_path: Path) -> None:
    plots.plot_curves(_records(), tmp_path / "curves.png")
    _assert_png(tmp_path / "curves.png")
    plots.plot_curves(_records(1), tmp_path / "one.png", keys=["val_kl"])  # one point, one panel
    _assert_png(tmp_path / "one.png")


def test_curves_group_train_and_val_by_family() -> None:
    series = plots._series(_records())
    assert set(series) == {"train_loss", "val_loss", "val_recon", "val_kl"}  # no text, no epoch
    assert plots._select_families(series, None) == ["loss", "recon", "kl"]
    assert plots._select_families(series, ["kl", "val_loss"]) == ["kl", "loss"]


def test_gan_curves_draw_the_slow_average_beside_the_monitor(tmp_path: Path, monkeypatch) -> None:
    from cilab.gen.sample_eval import draw_gan_curves

    lines = [{"epoch": e, "train_d_loss": 1.3, "val_fd": 50.0 / e, "val_fd_slow": 60.0 / e,
              "val_fd_raw": 40.0 / e} for e in (1, 2)]  # fmt: skip
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    drawn: dict[str, object] = {}
    monkeypatch.setattr(plots, "plot_curves", lambda records, path, keys: drawn.update(
        records=records, keys=keys))  # fmt: skip
    draw_gan_curves(tmp_path)
    series = plots._series(drawn["records"])  # type: ignore[arg-type]
    assert series["slow_fd"] == {1.0: 60.0, 2.0: 30.0} and "val_fd_slow" not in series
    assert series["raw_fd"] == {1.0: 40.0, 2.0: 20.0} and "val_fd_raw" not in series
    assert drawn["keys"] == ["d_loss", "fd"]
    assert {k for k in series if plots._split_key(k)[0] == "fd"} == {"val_fd", "slow_fd", "raw_fd"}


def test_curves_keep_the_last_record_of_a_repeated_epoch() -> None:
    records = [*_records(3), {"epoch": 2, "val_loss": -1.0}]  # resumed run re-logged epoch 2
    assert plots._series(records)["val_loss"] == {1.0: 110.0, 2.0: -1.0, 3.0: 110 / 3}


def test_curves_reject_unknown_keys_and_empty_records(tmp_path: Path) -> None:
    with pytest.raises(CilabError, match="unknown metric"):
        plots.plot_curves(_records(), tmp_path / "c.png", keys=["accuracy"])
    with pytest.raises(CilabError, match="no numeric metrics"):
        plots.plot_curves([], tmp_path / "c.png")
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- files and state


def test_unwritable_path_raises_cleanly_and_leaves_nothing(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(CilabError, match="cannot write"):
        plots.plot_samples(_digits(4), blocker / "samples.png", nrow=2)
    with pytest.raises(CilabError, match="cannot write"):
        plots.plot_curves(_records(), blocker / "sub" / "curves.png")
    assert [p.name for p in tmp_path.iterdir()] == ["file"]


def test_failed_save_keeps_the_previous_png(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "curves.png"
    plots.plot_curves(_records(), out)
    good = out.read_bytes()

    def broken_savefig(self: Figure, fname: object, **kwargs: object) -> None:
        Path(str(fname)).write_bytes(b"partial")
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(Figure, "savefig", broken_savefig)
    with pytest.raises(CilabError, match="Input/output error"):
        plots.plot_curves(_records(2), out)
    assert out.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["curves.png"]


def test_plotting_never_loads_pyplot_or_sets_a_backend(tmp_path: Path) -> None:
    code = (
        "import sys, matplotlib, numpy as np\n"
        "from cilab.gen import plots\n"
        f"plots.plot_samples(np.zeros((4, 28, 28)), {str(tmp_path / 's.png')!r}, nrow=2)\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
        "assert matplotlib.rcParams._get_backend_or_none() is None\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={"MPLBACKEND": ""})


def test_run_comparison_has_one_panel_per_key_some_run_logged(tmp_path: Path) -> None:
    a, b = _records(), [{"epoch": e, "val_kl": 1.0 + e} for e in (1, 2)]
    out = tmp_path / "runs.png"
    plots.plot_run_comparison(
        [("a", a), ("b", b)], out, ["val_loss", "val_kl", "absent"], log_keys=["val_loss"],
        references={"val_kl": (3.0, "target")},
    )  # fmt: skip
    _assert_png(out)
    assert Image.open(out).size == (2 * 504, 408)  # two panels of 4.2 x 3.4 in at 120 dpi
    with pytest.raises(CilabError, match="none of the runs logged absent"):
        plots.plot_run_comparison([("a", a)], tmp_path / "x.png", ["absent"])
    assert not (tmp_path / "x.png").exists()
