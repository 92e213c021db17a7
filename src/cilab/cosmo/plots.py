"""Figures for the cosmology commands, from plain arrays (never from a model or a loop).

Built on `matplotlib.figure.Figure` with an Agg canvas (no pyplot state) and written atomically.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from cilab.core.io import atomic_path

DPI = 110
# Okabe-Ito: distinguishable without colour vision; line styles repeat the distinction
COLOURS = ("#000000", "#E69F00", "#56B4E9", "#009E73", "#D55E00", "#0072B2", "#CC79A7")
STYLES = ("-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1)), (0, (1, 1)))


def new_figure(width: float, height: float) -> Figure:
    """A constrained-layout Figure with its own Agg canvas (no pyplot, no global state)."""
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path: str | Path) -> None:
    """Write `fig` as a PNG atomically (a temporary file renamed into place)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI)


def roc_pr_figure(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]],
    metrics: Mapping[str, tuple[float, float]],
    path: str | Path,
    prevalence: float,
) -> None:
    """ROC and precision-recall curves of out-of-fold scores, one line per model.

    `curves[name] = (y_true, score)`; `metrics[name] = (auroc, auprc)` as shown in the legend.
    """
    from sklearn.metrics import precision_recall_curve, roc_curve

    fig = new_figure(10, 4.4)
    roc_ax, pr_ax = fig.subplots(1, 2)
    for i, (name, (y, s)) in enumerate(curves.items()):
        style = {"color": COLOURS[i % len(COLOURS)], "linestyle": STYLES[i % len(STYLES)]}
        fpr, tpr, _ = roc_curve(y, s)
        prec, rec, _ = precision_recall_curve(y, s)
        auroc, auprc = metrics[name]
        roc_ax.plot(fpr, tpr, label=f"{name} (AUROC {auroc:.3f})", **style)
        pr_ax.plot(rec, prec, label=f"{name} (AUPRC {auprc:.3f})", **style)
    roc_ax.plot([0, 1], [0, 1], color="0.7", linewidth=0.8)
    pr_ax.axhline(prevalence, color="0.7", linewidth=0.8)
    roc_ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (out of fold)")
    pr_ax.set(xlabel="recall", ylabel="precision", title="precision-recall (out of fold)")
    pr_ax.set_ylim(min(prevalence, 0.8) - 0.05, 1.01)
    for ax in (roc_ax, pr_ax):
        ax.legend(fontsize=8, loc="lower right" if ax is roc_ax else "lower left")
        ax.grid(alpha=0.3)
    save_figure(fig, path)


def importance_figure(
    families: Sequence[str],
    mean: np.ndarray,
    std: np.ndarray,
    metric: str,
    title: str,
    path: str | Path,
) -> None:
    """Horizontal bars: what permuting one feature family costs; `metric` labels the axis."""
    order = np.argsort(mean)
    fig = new_figure(6.5, 0.45 * len(families) + 1.4)
    ax = fig.add_subplot()
    ax.barh(
        np.arange(len(order)), np.asarray(mean)[order], xerr=np.asarray(std)[order], color="#0072B2"
    )
    ax.set_yticks(np.arange(len(order)), [families[i] for i in order])
    ax.axvline(0, color="0.5", linewidth=0.8)
    ax.set(xlabel=metric, title=title)
    ax.grid(axis="x", alpha=0.3)
    save_figure(fig, path)


def scatter_figure(y: np.ndarray, pred: np.ndarray, title: str, path: str | Path) -> None:
    """Out-of-fold predicted vs true scores with the y = x line (regress's scatter.png)."""
    fig = new_figure(5, 5)
    ax = fig.add_subplot()
    ax.scatter(y, pred, s=4, alpha=0.4, color="#0072B2", linewidths=0)
    top = float(max(y.max(), pred.max(), 1e-3))
    ax.plot([0, top], [0, top], color="0.5", linewidth=0.8)
    ax.set(xlabel="true score", ylabel="predicted score (out of fold)", title=title)
    ax.grid(alpha=0.3)
    save_figure(fig, path)


SIM = {"color": "#0072B2", "label": "simulated"}
REAL = {"color": "#D55E00", "label": "real"}
BAND = {"color": "0.85", "zorder": 0}


def validate_figure(
    sim: list[dict[str, Any]],
    real: dict[str, Any],
    sim_scores: np.ndarray | None,
    numbers: dict[str, Any],
    anchor: dict[str, Any],
    peak_bins: Sequence[int],
    path: str | Path,
) -> None:
    """Six panels: pixel histogram, zero fraction, counts by peak, PSF width, scores, numbers."""
    fig = new_figure(15, 8.5)
    axes = fig.subplots(2, 3)
    sample = real.get("sample")
    # 1. pixel histogram (fraction of pixels per grey level, log scale)
    ax = axes[0, 0]
    levels = np.sum([s["levels"] for s in sim], axis=0).astype(np.float64)
    ax.step(np.arange(256), levels / levels.sum(), where="mid", **SIM)
    if sample is not None:
        ax.step(
            np.arange(256),
            sample["levels"] / sample["levels"].sum(),
            where="mid",
            linestyle="--",
            **REAL,
        )
    ax.set(yscale="log", xlabel="grey level", ylabel="fraction of pixels", title="pixel histogram")
    # 2. zero fraction
    ax = axes[0, 1]
    zf = np.array([s["zero_fraction"] for s in sim])
    ax.hist(zf[zf > 0.98], bins=30, **SIM)
    ax.axvline(anchor["zero_fraction"], color="0.4", linestyle=":", label="ANCHORS 99.7 %")
    if sample is not None:
        ax.axvline(sample["zero_fraction"], linestyle="--", **REAL)
    ax.set(xlabel="fraction of zero pixels (images > 98 %)", ylabel="images", title="zero fraction")
    # 3. source counts by peak
    ax = axes[0, 2]
    clean = [s for s in sim if not s["pedestal"]] or sim  # a pedestal hides the faintest
    pc = np.array([s["peak_counts"] for s in clean])  # [images, bins]
    x = np.arange(len(peak_bins))
    q25, q50, q75 = np.percentile(pc, [25, 50, 75], axis=0)
    ax.errorbar(x - 0.1, q50, yerr=[q50 - q25, q75 - q50], fmt="o", capsize=3, **SIM)
    if sample is not None:
        ax.plot(x + 0.1, sample["peak_counts"], "s", **REAL)
    ax.set_xticks(x, [f"≥{b}" if b == peak_bins[-1] else f"{b}-{2 * b - 1}" for b in peak_bins])
    ax.set(
        xlabel="source peak (grey levels)",
        ylabel="sources per clean image (median, IQR)",
        title="source counts by peak",
    )
    # 4. PSF width
    ax = axes[1, 0]
    fw = np.array([np.median(s["fwhm"]) for s in sim if s["fwhm"].size])
    ax.axvspan(*anchor["fwhm"], label="ANCHORS FWHM 3.1-4.2", **BAND)
    bins = np.linspace(2, 6, 33)
    ax.hist(fw, bins=bins, density=True, alpha=0.8, **SIM)
    if "mosaic_fwhm" in real and real["mosaic_fwhm"].size:
        _real_outline(ax, real["mosaic_fwhm"], bins, "real (mosaic sources)")
    ax.set(
        xlabel="FWHM from the half-maximum area (px)",
        ylabel="density",
        title="PSF width (peaks 20-200)",
    )
    # 5. scores
    ax = axes[1, 1]
    if sim_scores is not None:
        b = np.linspace(0, 6.5, 53)
        ax.hist(sim_scores, bins=b, density=True, alpha=0.8, **SIM)
        if "scores" in real:
            _real_outline(ax, real["scores"], b, "real scored.csv")
        ks = numbers.get("score_ks_distance")
        ax.set_title("score histogram" + (f" (KS distance {ks:.3f})" if ks is not None else ""))
    ax.set(xlabel="similarity score", ylabel="density")
    for a in axes.ravel()[:5]:
        a.legend(fontsize=8)
        a.grid(alpha=0.3)
    # 6. the numbers
    ax = axes[1, 2]
    ax.axis("off")
    ax.text(0.0, 1.0, _numbers_text(numbers, anchor), va="top", family="monospace", fontsize=8.5)
    save_figure(fig, path)


def _real_outline(ax: Any, values: np.ndarray, bins: np.ndarray, label: str) -> None:
    """A real distribution as an outline over the filled simulated histogram."""
    ax.hist(values, bins=bins, density=True, histtype="step", linewidth=2, color=REAL["color"],
            label=label)  # fmt: skip


def _numbers_text(n: dict[str, Any], anchor: dict[str, Any]) -> str:
    s, r = n["sim"], n["real"].get("sample", {})

    def f(v: Any, fmt: str = "{:.3g}") -> str:
        return "-" if v is None else fmt.format(v)

    rows = [
        ("", "simulated", "real sample", "ANCHORS"),
        (
            "zero fraction",
            f(s["zero_fraction_median_clean"], "{:.4f}"),
            f(r.get("zero_fraction"), "{:.4f}"),
            "0.997",
        ),
        ("sources", f(s["n_sources_median"]), f(r.get("n_sources")), "40-70"),
        ("  peak ≥ 4", f(s["n_peak_ge4_median"]), f(r.get("n_peak_ge4")), "≈ 21"),
        ("  peak > 100", f(s["n_peak_gt100_median"]), f(r.get("n_peak_gt100")), "3-6"),
        (
            "FWHM (px)",
            f(s["fwhm_median"]),
            f(n["real"].get("mosaic_fwhm_median")) + " (mosaics)",
            "3.1-4.2",
        ),
        ("pedestal share", f(s["pedestal_share"], "{:.2f}"), "-", "0.22-0.27"),
        (
            "score median",
            f(s.get("score_median")),
            f(n["real"].get("score_median")) + " (csv)",
            "1.50",
        ),
    ]
    lines = [f"{a:<15}{b:>11}{c:>21}{d:>11}" for a, b, c, d in rows]
    ks = n.get("score_ks_distance")
    lines += [
        "",
        f"score KS distance: {f(ks, '{:.4f}')}",
        f"simulated label-1 images: {n['sim_images']}",
    ]
    lines += ["(medians over images; real = the one real", " sample image unless noted)"]
    return "\n".join(lines)
