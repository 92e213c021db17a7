"""The cross-validation report of a road run: honest thresholds, cv.json and predictor.json.

Every fold's out-of-fold (OOF) predictions are scored with the patch threshold tuned on the
*other* folds' OOF predictions (never its own), so the per-fold numbers are what a threshold
chosen before seeing the fold would score; the deployed threshold is tuned on all of them.
Training writes the OOF predictions (`cilab.roads.train`); `rescore` re-runs this report with
another decision rule without retraining.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cilab.core.io import read_json, write_json
from cilab.roads.data import load_training
from cilab.roads.metrics import Counts, SegCounts, accuracy, confusion, f1, image_counts
from cilab.roads.models import PATCH_OUTPUT
from cilab.roads.patches import FOREGROUND_THRESHOLD, labels_to_mask, patch_labels
from cilab.roads.postprocess import patch_statistic, pixel_mask
from cilab.roads.predict import REFIT_DIR

if TYPE_CHECKING:
    from cilab.roads.train import RoadsTrainConfig


def threshold_grid(patch_output: bool) -> np.ndarray:
    """The thresholds tuned over, in steps of 0.01: 0.02-0.98 for a patch model's probability,
    0.02-0.80 for a pixel model's patch statistic (the share of the patch's pixels predicted
    road, which the competition's rule cuts at 0.25)."""
    return np.round(np.arange(0.02, 0.99 if patch_output else 0.81, 0.01), 2)


def _score(c: Counts, metric: str) -> float:
    return f1(c) if metric == "f1" else accuracy(c)


def tune_threshold(
    stats: list[np.ndarray], labels: list[np.ndarray], metric: str, grid: np.ndarray
) -> float:
    """The grid value maximizing `metric` of (stat > t) against labels (ties: the smallest t)."""
    s = np.concatenate([a.reshape(-1) for a in stats])
    y = np.concatenate([a.reshape(-1) for a in labels]).astype(bool)
    scores = [_score(confusion(s > t, y), metric) for t in grid]
    return float(grid[int(np.argmax(scores))])


def _mean_std(values: list[float]) -> dict[str, float]:
    """Mean and sample std (ddof 1; 0 for one fold) of per-fold metrics."""
    arr = np.asarray(values, dtype=np.float64)
    return {"mean": float(arr.mean()), "std": float(arr.std(ddof=1)) if len(arr) > 1 else 0.0}


def summarize_cv(run_dir: Path, cfg: RoadsTrainConfig) -> dict[str, Any]:
    """Read every fold's OOF predictions; tune thresholds; write cv.json and predictor.json."""
    patch_output = PATCH_OUTPUT[cfg.model]
    n_folds = cfg.train_folds or cfg.folds
    folds = _read_folds(run_dir, cfg, n_folds, patch_output)
    default_t = 0.5 if patch_output else FOREGROUND_THRESHOLD
    grid = threshold_grid(patch_output)

    def tuned(exclude: int | None) -> float:
        if cfg.tune == "none":
            return default_t
        use = [f for f in folds if f["k"] != exclude] or folds
        return tune_threshold(
            [s for f in use for s in f["stats"]], [lab for f in use for lab in f["labels"]],
            cfg.tune, grid,
        )  # fmt: skip

    per_fold, pooled = [], SegCounts()
    for f in folds:
        t = tuned(f["k"])
        counts = SegCounts()
        for prob, gt, stat, lab in zip(f["probs"], f["gts"], f["stats"], f["labels"], strict=True):
            counts += _image_counts(prob, gt, stat, lab, t, patch_output, cfg)
        pooled += counts
        per_fold.append(
            {"fold": f["k"], "threshold": t, "n_images": len(f["names"]),
             "train_seconds": f["info"]["train_seconds"], **counts.metrics()}
        )  # fmt: skip
    keys = ("patch_accuracy", "patch_f1", "pixel_f1", "pixel_iou")
    all_t = tuned(None)
    reference = SegCounts()
    for f in folds:
        for gt in f["gts"]:
            reference += image_counts(np.zeros_like(gt), gt, gt_threshold=cfg.gt_threshold)
    summary = {
        "model": cfg.model,
        "folds": cfg.folds,
        "trained_folds": n_folds,
        "n_images": sum(len(f["names"]) for f in folds),
        "threshold_note": _threshold_note(n_folds, cfg.tune),
        "per_fold": per_fold,
        "mean_std": {k: _mean_std([p[k] for p in per_fold]) for k in keys},
        "pooled": pooled.metrics(),
        "deployed_threshold": all_t,
        "train_seconds_total": float(sum(p["train_seconds"] for p in per_fold)),
        "refit_train_seconds": _refit_seconds(run_dir),
        "reference_all_background": reference.metrics(),
    }
    write_json(run_dir / "cv.json", summary)
    _write_predictor(run_dir, cfg, n_folds, all_t)
    return summary


def _refit_seconds(run_dir: Path) -> float | None:
    """The refit model's training time, None when the run deploys the fold average."""
    path = run_dir / REFIT_DIR / "fold.json"
    return float(read_json(path)["train_seconds"]) if path.exists() else None


def _image_counts(
    prob: np.ndarray,
    gt: np.ndarray,
    stat: np.ndarray,
    labels: np.ndarray,
    t: float,
    patch_output: bool,
    cfg: RoadsTrainConfig,
) -> SegCounts:
    """One image's patch and pixel confusion counts at patch threshold `t`."""
    patch = confusion(stat > t, labels)
    if patch_output:
        pred = labels_to_mask(stat > t, gt.shape) >= 128
    else:
        pred = pixel_mask(prob, cfg.morphology, cfg.morph_radius)
    return SegCounts(patch, confusion(pred, gt >= 128))


def _read_folds(
    run_dir: Path, cfg: RoadsTrainConfig, n_folds: int, patch_output: bool
) -> list[dict[str, Any]]:
    """Each fold's OOF probabilities with their masks, patch statistics and patch labels."""
    data = load_training(cfg.data_dir, cfg.limit_images)
    index = {name: i for i, name in enumerate(data.names)}
    folds: list[dict[str, Any]] = []
    for k in range(n_folds):
        fold_dir = run_dir / f"fold_{k}"
        with np.load(fold_dir / "oof.npz", allow_pickle=False) as z:
            names, probs = [str(s) for s in z["names"]], z["probs"].astype(np.float32)
        gts = [data.masks[index[n]] for n in names]
        stats = [patch_statistic(p, patch_output, cfg.morphology, cfg.morph_radius) for p in probs]
        labels = [patch_labels(g, cfg.gt_threshold) for g in gts]
        folds.append({"k": k, "names": names, "probs": probs, "gts": gts, "stats": stats,
                      "labels": labels, "info": read_json(fold_dir / "fold.json")})  # fmt: skip
    return folds


def _threshold_note(n_folds: int, tune: str) -> str:
    """How honest the per-fold thresholds are: cv.json says it next to the numbers."""
    if tune == "none":
        return "fixed threshold (--tune none)"
    if n_folds > 1:
        return "each fold's metrics use the threshold tuned on the other folds' OOF predictions"
    return "one trained fold: its threshold is tuned on its own predictions (optimistic)"


def _write_predictor(run_dir: Path, cfg: RoadsTrainConfig, n_folds: int, threshold: float) -> None:
    """predictor.json: everything `cilab roads predict` needs to reproduce the CV's decisions."""
    write_json(
        run_dir / "predictor.json",
        {"model": cfg.model, "folds": list(range(n_folds)), "deploy": cfg.deploy,
         "patch_threshold": threshold,
         "tta": cfg.tta, "tta_zoom": cfg.tta_zoom, "scale": cfg.scale, "morphology": cfg.morphology,
         "morph_radius": cfg.morph_radius, "channels_last": cfg.channels_last,
         "bf16": cfg.bf16},
    )  # fmt: skip
