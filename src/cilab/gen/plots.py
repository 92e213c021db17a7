"""Figures for generative-model runs: latent spaces, manifolds, samples, reconstructions, curves.

Every function takes plain arrays (or a decode callable), never a model or a training loop, so
figures can be redrawn from saved outputs and tested without training anything. Figures are
built with `matplotlib.figure.Figure` on an Agg canvas: no pyplot, no backend switch, no global
state, so importing or calling this module is safe in headless jobs and threads. PNGs are
written atomically.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist
from typing import Any

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from cilab.core.errors import CilabError
from cilab.viz.grid import ImageBatch, make_grid, to_uint8, write_atomically

DPI = 120
# Petroff's 10-colour sequence was chosen for colour-vision-deficiency accessibility; tab10 is
# the fallback on matplotlib < 3.10.
_CLASS_COLOURS = matplotlib.color_sequences.get("petroff10", matplotlib.color_sequences["tab10"])
# Okabe-Ito colours plus distinct line styles, so train/val stay apart without colour vision.
_SPLIT_STYLE: dict[str | None, dict[str, Any]] = {
    "train": {"color": "#0072B2", "linestyle": "-"},
    "val": {"color": "#D55E00", "linestyle": "--"},
    "test": {"color": "#009E73", "linestyle": ":"},
    "slow": {"color": "#CC79A7", "linestyle": "-."},  # a DCGAN's slow weight average (val_X_slow)
    "raw": {"color": "#56B4E9", "linestyle": ":"},  # its trained generator beside an average
    None: {"color": "#000000", "linestyle": "-"},
}
_X_KEYS = frozenset({"epoch", "step", "global_step"})


# ----------------------------------------------------------------------------- shared helpers


def _new_figure(width: float, height: float) -> Figure:
    """A figure with constrained layout on its own Agg canvas (no pyplot registry, no leaks)."""
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save_figure(fig: Figure, path: str | Path) -> None:
    write_atomically(path, lambda tmp: fig.savefig(tmp, format="png", dpi=DPI))


def _image_axes(
    canvas: np.ndarray, title: str | None, min_width: float = 4.0
) -> tuple[Figure, Axes]:
    """A figure showing a uint8 canvas at about 2 output pixels per image pixel."""
    h, w = canvas.shape[:2]
    width = float(np.clip(2.0 * w / DPI, min_width, 14.0))
    height = width * h / w + (0.4 if title else 0.1)
    fig = _new_figure(width, height)
    ax = fig.add_subplot()
    ax.imshow(canvas, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    if title:
        ax.set_title(title)
    return fig, ax


# ----------------------------------------------------------------------------- latent space


@dataclass(frozen=True)
class Projection:
    """2-D coordinates of latent codes plus the axis labels that say what they are."""

    xy: np.ndarray  # [N, 2] float64
    xlabel: str
    ylabel: str
    explained: tuple[float, float] | None  # variance fraction of PC1, PC2; None if no PCA


def project_2d(codes: np.ndarray) -> Projection:
    """Project codes [N, D] to 2-D: identity for D == 2, else PCA onto the top two components.

    PCA (not t-SNE/UMAP) keeps the picture linear and deterministic, so distances and the
    prior's scale remain readable. Component signs are fixed (largest loading positive) so
    the same codes always give the same picture.
    """
    x = np.asarray(codes, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] < 2 or x.shape[0] == 0:
        raise CilabError(f"latent codes must have shape [N, D] with N >= 1, D >= 2; got {x.shape}")
    if x.shape[1] == 2:
        return Projection(x.copy(), "z1", "z2", None)
    centred = x - x.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    comps = vt[:2]
    signs = np.sign(comps[np.arange(2), np.abs(comps).argmax(axis=1)])
    comps = comps * np.where(signs == 0, 1.0, signs)[:, None]
    var = s**2
    total = var.sum()
    ratio = (var[:2] / total) if total > 0 else np.zeros(2)
    labels = [f"PC{i + 1} ({100 * r:.0f}% var)" for i, r in enumerate(ratio)]
    return Projection(centred @ comps.T, labels[0], labels[1], (float(ratio[0]), float(ratio[1])))


def _class_handles(classes: np.ndarray) -> list[Line2D]:
    """Legend entries with markers much larger than the scatter's, so colours are legible."""
    return [
        Line2D([], [], ls="", marker="o", markersize=7, color=_CLASS_COLOURS[i % 10], label=str(c))
        for i, c in enumerate(classes)
    ]


def _draw_latent(
    ax: Axes, codes: np.ndarray, labels: np.ndarray, classes: np.ndarray, title: str | None
) -> None:
    """Scatter one latent space, points in random order so no class hides the others."""
    labels = np.asarray(labels)
    if labels.shape != (len(codes),):
        raise CilabError(f"need one label per code: {len(codes)} codes, labels {labels.shape}")
    proj = project_2d(codes)
    colours = np.asarray(_CLASS_COLOURS)[np.searchsorted(classes, labels) % 10]
    order = np.random.default_rng(0).permutation(len(labels))
    size = float(np.clip(4000 / len(labels), 1.0, 20.0))
    xy = proj.xy[order]
    ax.scatter(xy[:, 0], xy[:, 1], c=colours[order], s=size, alpha=0.6, linewidths=0)
    ax.set_xlabel(proj.xlabel)
    ax.set_ylabel(proj.ylabel)
    ax.set_aspect("equal", adjustable="datalim")
    if title:
        ax.set_title(title)


def plot_latent_scatter(
    codes: np.ndarray,
    labels: np.ndarray,
    path: str | Path | None,
    title: str | None = None,
    ax: Axes | None = None,
) -> None:
    """Latent codes coloured by digit, PCA-projected when D > 2; saved as a PNG at `path`.

    With `ax`, draws into that axes (for a caller's own figure) and saves its figure only if
    `path` is given.
    """
    classes = np.unique(np.asarray(labels))
    if ax is None:
        if path is None:
            raise CilabError("plot_latent_scatter needs a path when no axes is given")
        ax = _new_figure(6.4, 5.4).add_subplot()
    _draw_latent(ax, codes, labels, classes, title)
    ax.legend(
        handles=_class_handles(classes),
        title="digit",
        loc="center left",
        bbox_to_anchor=(1.0, 0.5),
        frameon=False,
    )
    if path is not None:
        _save_figure(ax.figure, path)  # type: ignore[arg-type]


def plot_latent_compare(
    runs: Sequence[tuple[str, np.ndarray, np.ndarray]], path: str | Path
) -> None:
    """Latent spaces side by side (e.g. AE vs VAE), each `(title, codes, labels)`, one legend.

    Colours are assigned over the union of all runs' labels, so a digit has the same colour
    in every panel.
    """
    if not runs:
        raise CilabError("plot_latent_compare needs at least one run")
    classes = np.unique(np.concatenate([np.asarray(lab).ravel() for _, _, lab in runs]))
    fig = _new_figure(4.6 * len(runs) + 0.9, 4.8)
    axes = fig.subplots(1, len(runs), squeeze=False)[0]
    for ax, (title, codes, labels) in zip(axes, runs, strict=True):
        _draw_latent(ax, codes, labels, classes, title)
    fig.legend(
        handles=_class_handles(classes), title="digit", loc="outside right center", frameon=False
    )
    _save_figure(fig, path)


# ----------------------------------------------------------------------------- decoded images


def manifold_values(n: int = 20, span: float | None = None) -> np.ndarray:
    """The n latent values per axis: N(0,1) quantiles of linspace(0.05, 0.95, n) by default.

    Quantiles (Kingma & Welling, fig. 4) space the grid by prior probability mass, so every
    cell is a typical code; `span` instead gives an even grid over [-span, span].
    """
    if n < 2:
        raise CilabError(f"the manifold grid needs n >= 2, got {n}")
    if span is None:
        return np.array([NormalDist().inv_cdf(p) for p in np.linspace(0.05, 0.95, n)])
    if not span > 0:
        raise CilabError(f"span must be positive, got {span}")
    return np.linspace(-span, span, n)


def manifold_codes(n: int = 20, span: float | None = None) -> np.ndarray:
    """The [n*n, 2] float32 codes `plot_manifold` decodes, in row-major image order.

    Row i of the picture (top to bottom) holds z2 = values[n-1-i], column j holds
    z1 = values[j], so z2 grows upwards like an ordinary plot.
    """
    v = manifold_values(n, span)
    z1, z2 = np.meshgrid(v, v[::-1])
    return np.stack([z1.ravel(), z2.ravel()], axis=1).astype(np.float32)


def _num(x: float) -> str:
    """Two decimals with a typographic minus, matching matplotlib's own tick labels."""
    return f"{x:.2f}".replace("-", "\u2212")


def plot_manifold(
    decode: Callable[[np.ndarray], np.ndarray],
    path: str | Path,
    n: int = 20,
    span: float | None = None,
) -> None:
    """Decode an n x n grid over a 2-D latent plane and tile the results, axes showing z.

    `decode` receives `manifold_codes(n, span)` ([n*n, 2] float32) and returns
    [n*n, H, W] images in [0, 1] (typically 28x28).
    """
    values = manifold_values(n, span)
    images = decode(manifold_codes(n, span))
    if len(images) != n * n:
        raise CilabError(f"decode returned {len(images)} images for {n * n} codes")
    tiles = to_uint8(images)
    h, w = tiles.shape[1:3]
    where = "N(0,1) quantiles 5%-95%" if span is None else f"[-{span:g}, {span:g}]"
    fig, ax = _image_axes(
        make_grid(tiles, nrow=n, padding=0), f"decoded latent grid, z in {where}", min_width=5.0
    )
    ticks = list(range(0, n, max(1, math.ceil(n / 10))))
    ax.set_xticks([j * w + (w - 1) / 2 for j in ticks], [_num(values[j]) for j in ticks])
    ax.set_yticks([i * h + (h - 1) / 2 for i in ticks], [_num(values[n - 1 - i]) for i in ticks])
    ax.tick_params(axis="x", labelrotation=90)
    ax.set_xlabel("z1")
    ax.set_ylabel("z2")
    _save_figure(fig, path)


def plot_samples(
    images: ImageBatch, path: str | Path, nrow: int = 10, title: str | None = None
) -> None:
    """A grid of generated images (N x 28 x 28 in [0, 1]), `nrow` per row, white separators."""
    fig, ax = _image_axes(make_grid(images, nrow=nrow), title)
    ax.set_axis_off()
    _save_figure(fig, path)


def plot_image_panels(
    panels: Sequence[tuple[str, ImageBatch]], path: str | Path, nrow: int = 10
) -> None:
    """Titled image grids side by side, e.g. the samples a discriminator likes least and most.
    Every panel has the same number of images (the grids must line up)."""
    grids = [make_grid(images, nrow=nrow) for _, images in panels]
    if not grids or any(g.shape != grids[0].shape for g in grids):
        raise CilabError(f"image panels need equal grids, got {[g.shape for g in grids]}")
    h, w = grids[0].shape[:2]
    width = float(np.clip(2.0 * w * len(grids) / DPI, 6.0, 14.0))
    fig = _new_figure(width, width / len(grids) * h / w + 0.4)
    for i, ((title, _), grid) in enumerate(zip(panels, grids, strict=True)):
        ax = fig.add_subplot(1, len(grids), i + 1)
        ax.imshow(grid, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        ax.set_title(title)
        ax.set_axis_off()
    _save_figure(fig, path)


def plot_reconstructions(
    originals: ImageBatch, recons: ImageBatch, path: str | Path, ncol: int = 10
) -> None:
    """Originals above their reconstructions: row pairs of `ncol` images, labelled per row.

    A short last chunk is padded with blank (white) cells so every reconstruction stays
    directly below its original.
    """
    orig, rec = to_uint8(originals), to_uint8(recons)
    if orig.shape != rec.shape or len(orig) == 0:
        raise CilabError(f"originals {orig.shape} and reconstructions {rec.shape} must match")
    ncol = min(ncol, len(orig))
    nchunks = -(-len(orig) // ncol)
    blank = np.full((nchunks * ncol - len(orig), *orig.shape[1:]), 255, dtype=np.uint8)
    orig, rec = np.concatenate([orig, blank]), np.concatenate([rec, blank])
    rows = [part[c * ncol : (c + 1) * ncol] for c in range(nchunks) for part in (orig, rec)]
    pad = 2
    grid = make_grid(np.concatenate(rows), nrow=ncol, padding=pad)
    fig, ax = _image_axes(grid, None, min_width=6.5)
    h = orig.shape[1]
    centres = [pad + r * (h + pad) + (h - 1) / 2 for r in range(len(rows))]
    ax.set_yticks(centres, ["original", "reconstruction"] * nchunks)
    ax.set_xticks([])
    ax.tick_params(axis="y", length=0)
    _save_figure(fig, path)


# ----------------------------------------------------------------------------- training curves


def _split_key(key: str) -> tuple[str, str | None]:
    """'val_kl' -> ('kl', 'val'); keys without a train_/val_/test_/slow_/raw_ prefix are their
    own family."""
    for split in ("train", "val", "test", "slow", "raw"):
        if key.startswith(split + "_"):
            return key[len(split) + 1 :], split
    return key, None


def _series(records: Sequence[dict[str, Any]]) -> dict[str, dict[float, float]]:
    """Per metric key, epoch -> value; a later record for the same epoch wins.

    A resumed run may log an epoch twice (once before the crash, once after); the last value
    is the one the surviving checkpoint belongs to.
    """
    out: dict[str, dict[float, float]] = {}
    for rec in records:
        if "epoch" not in rec:
            continue
        for key, val in rec.items():
            if key in _X_KEYS or isinstance(val, bool) or not isinstance(val, int | float):
                continue
            out.setdefault(key, {})[float(rec["epoch"])] = float(val)
    return out


def _select_families(series: dict[str, Any], keys: Sequence[str] | None) -> list[str]:
    """Families to plot, 'loss' first; `keys` may name families ('kl') or keys ('val_kl')."""
    families = list(dict.fromkeys(_split_key(k)[0] for k in series))
    if not families:
        raise CilabError("no numeric metrics with an 'epoch' found in the records")
    if keys is None:
        return sorted(families, key=lambda f: f != "loss")
    chosen = [k if k in families else _split_key(k)[0] for k in keys]
    unknown = [k for k, f in zip(keys, chosen, strict=True) if f not in families]
    if unknown:
        raise CilabError(f"unknown metric(s) {', '.join(unknown)}; have {', '.join(families)}")
    return list(dict.fromkeys(chosen))


def plot_curves(
    records: Sequence[dict[str, Any]], path: str | Path, keys: Sequence[str] | None = None
) -> None:
    """Training curves from metrics.jsonl records: one panel per metric family over epochs.

    Families group `train_X`, `val_X` and `test_X` on one axis (so over-fitting shows as the
    curves parting); `keys` restricts and orders the families.
    """
    series = _series(records)
    families = _select_families(series, keys)
    ncols = min(3, len(families))
    nrows = -(-len(families) // ncols)
    fig = _new_figure(4.2 * ncols, 3.2 * nrows)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, family in zip(axes, families, strict=False):
        _draw_family(ax, family, {k: v for k, v in series.items() if _split_key(k)[0] == family})
    for ax in axes[len(families) :]:
        ax.set_visible(False)
    _save_figure(fig, path)


def _draw_family(ax: Axes, family: str, members: dict[str, dict[float, float]]) -> None:
    """One panel: each split's series in its fixed style, markers when points are few."""
    all_int = True
    for key, points in members.items():
        epochs = sorted(points)
        all_int &= all(e.is_integer() for e in epochs)
        style = _SPLIT_STYLE[_split_key(key)[1]]
        marker = "o" if len(epochs) <= 30 else None
        ax.plot(
            epochs, [points[e] for e in epochs], label=key, marker=marker, markersize=3, **style
        )
    ax.set_title(family)
    ax.set_xlabel("epoch")
    ax.grid(True, alpha=0.3)
    if all_int:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(frameon=False)  # even for one series: it says which split ("val_kl") it is


# Line styles beside the colours, so runs stay apart in greyscale and without colour vision.
_RUN_STYLES = ("-", "--", "-.", ":")


def plot_run_comparison(
    runs: Sequence[tuple[str, Sequence[dict[str, Any]]]],
    path: str | Path,
    keys: Sequence[str],
    log_keys: Sequence[str] = (),
    references: dict[str, tuple[float, str]] | None = None,
) -> None:
    """Several runs' metrics over epochs, one panel per key and one line per run.

    `runs`: (label, metrics.jsonl records). Keys in `log_keys` get a log axis (a Fréchet
    distance falls over orders of magnitude); `references` maps a key to (value, label) of a
    dotted horizontal line (e.g. a target). Runs lacking a key are left out of its panel.
    """
    series = [(label, _series(records)) for label, records in runs]
    shown = [k for k in keys if any(k in s for _, s in series)]
    if not shown:
        raise CilabError(f"none of the runs logged {', '.join(keys)}")
    fig = _new_figure(4.2 * len(shown), 3.4)
    for ax, key in zip(fig.subplots(1, len(shown), squeeze=False)[0], shown, strict=True):
        for i, (label, s) in enumerate(series):
            points = s.get(key)
            if points:
                epochs = sorted(points)
                style = _RUN_STYLES[i // len(_CLASS_COLOURS) % len(_RUN_STYLES)]
                colour = _CLASS_COLOURS[i % len(_CLASS_COLOURS)]
                ax.plot(epochs, [points[e] for e in epochs], style, color=colour, label=label)
        if references and key in references:
            value, label = references[key]
            line = ax.axhline(value, color="black", linestyle=":", linewidth=1, label=label)
            ax.legend(handles=[line], frameon=False, fontsize="small")
        if key in log_keys:
            ax.set_yscale("log")
        ax.set_title(key)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, which="both", alpha=0.3)
    fig.axes[0].legend(frameon=False, fontsize="small")  # the runs' labels, once
    _save_figure(fig, path)


def plot_fd_by_class(
    bars: Sequence[tuple[str, Sequence[float | None]]], path: str | Path, title: str | None = None
) -> None:
    """Per-class Fréchet distances as grouped bars, one group per class and one bar per series
    (label, values; None = no value, drawn as no bar), e.g. samples against real test images
    of the same size: which digits carry a generator's FD."""
    if not bars or any(len(v) != len(bars[0][1]) for _, v in bars):
        raise CilabError(f"per-class bars need equal lengths, got {[len(v) for _, v in bars]}")
    classes = np.arange(len(bars[0][1]))
    width = 0.8 / len(bars)
    fig = _new_figure(max(5.0, 2.0 + 0.35 * len(classes) * len(bars)), 3.4)
    ax = fig.add_subplot(1, 1, 1)
    for i, (label, values) in enumerate(bars):
        heights = [np.nan if v is None else v for v in values]
        ax.bar(classes + (i - (len(bars) - 1) / 2) * width, heights, width, label=label,
               color=_CLASS_COLOURS[i % len(_CLASS_COLOURS)])  # fmt: skip
    ax.set_xticks(classes)
    ax.set_xlabel("class (the classifier's label)")
    ax.set_ylabel("Fréchet distance")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(frameon=False, fontsize="small")
    if title:
        ax.set_title(title)
    _save_figure(fig, path)
