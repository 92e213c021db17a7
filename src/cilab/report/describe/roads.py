"""The report's view of a road-segmentation run: cross-validation (finished or not) and
predictions.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from cilab.report import anchors as A
from cilab.report import commands
from cilab.report.discover import Found
from cilab.report.runfiles import (
    RECENT_S,
    age_s,
    curves_fig,
    device_facts,
    dict_json,
    records_of,
    rel_name,
    stamped,
)
from cilab.report.view import Fig, MetricRow, RunView, Table, duration, fmt, fmt_pm, num

ROAD_KEYS = (
    ("patch_accuracy", "patch accuracy", A.ROADS_ACCURACY, A.ROADS_ACCURACY_REFS),
    ("patch_f1", "road-patch F1", A.ROADS_F1, A.ROADS_F1_REFS),
    ("pixel_f1", "pixel F1", None, ()),
    ("pixel_iou", "pixel IoU", None, ()),
)


def _fold_dirs(run: Path) -> list[Path]:
    folds = [p for p in run.glob("fold_*") if p.is_dir() and re.fullmatch(r"fold_\d+", p.name)]
    return sorted(folds, key=lambda p: int(p.name.split("_")[1]))


def describe_roads_cv(found: Found, root: Path) -> RunView:
    """A roads CV run: cv.json's mean ± std, or the folds' latest validation values meanwhile."""
    run = found.path
    config = dict_json(run / "config.json")
    cv = dict_json(run / "cv.json")
    folds = _fold_dirs(run)
    n_folds = config.get("train_folds") or config.get("folds") or len(folds)
    finished = [f for f in folds if (f / "fold.json").is_file()]
    model = str(config.get("model", cv.get("model", "?")))
    title = f"{model}, {config.get('folds', cv.get('folds', '?'))}-fold cross-validation"
    if cv:
        state, text = "done", f"cross-validated over {cv.get('trained_folds', len(finished))} folds"
    else:
        logs = [f / "metrics.jsonl" for f in folds] + [run / "config.json"]
        ages = [a for a in (age_s(p) for p in logs) if a is not None]
        state = "running" if ages and min(ages) < RECENT_S else "stopped"
        text = f"{'training' if state == 'running' else 'stopped'}: {len(finished)} of {n_folds} "
        text += "folds finished"
    view = RunView(found, rel_name(run, root), title, state, text, config=config)
    if cv:
        for key, label, target, refs in ROAD_KEYS:
            v, shown = fmt_pm(cv.get("mean_std", {}).get(key))
            view.metrics.append(
                MetricRow(label, v, shown, target, refs, note="mean ± std over folds")
            )
        bg = cv.get("reference_all_background", {})
        if "patch_accuracy" in bg:
            v = num(bg["patch_accuracy"])
            view.metrics.append(MetricRow.of("all-background patch accuracy (reference)", v))
        per_fold = [p for p in cv.get("per_fold", []) if isinstance(p, dict)]
        if per_fold:
            view.tables.append(
                Table(
                    "per fold",
                    ["fold", "threshold", "images", *(lab for _, lab, _, _ in ROAD_KEYS), "train"],
                    [
                        [
                            str(p.get("fold")),
                            fmt(p.get("threshold")),
                            str(p.get("n_images")),
                            *(fmt(p.get(k)) for k, _, _, _ in ROAD_KEYS),
                            duration(num(p.get("train_seconds"))),
                        ]
                        for p in per_fold
                    ],
                    note=str(cv.get("threshold_note", "")),
                )
            )
    else:
        view.metrics += _provisional_roads(folds)
        if view.metrics:
            view.notes.append(
                "Cross-validation not finished: the numbers are the folds' latest validation "
                "values at the default threshold; cv.json (tuned thresholds, mean ± std) comes "
                "when every fold is done."
            )
    view.tables.append(_fold_progress(folds, config.get("epochs")))
    for f in folds:
        recs = records_of(f / "metrics.jsonl")
        if recs:
            view.curves += curves_fig(f, recs, f"{f.name}: training curves")
    view.commands.append(commands.roads_train(config) if config else "")
    if cv:
        view.facts.append(
            ("training time (all folds)", duration(num(cv.get("train_seconds_total"))))
        )
        view.facts.append(("deployed patch threshold", fmt(cv.get("deployed_threshold"))))
        view.facts.append(("images", str(cv.get("n_images", "?"))))
    view.facts += device_facts(config)
    view.facts += stamped("config written", run / "config.json")
    view.facts += stamped("cv.json written", run / "cv.json")
    return view


def _provisional_roads(folds: list[Path]) -> list[MetricRow]:
    values: dict[str, list[float]] = {"val_patch_accuracy": [], "val_patch_f1": []}
    epochs = []
    for f in folds:
        recs = [r for r in records_of(f / "metrics.jsonl") if "val_patch_accuracy" in r]
        if recs:
            epochs.append(f"{f.name} epoch {recs[-1].get('epoch')}")
            for k in values:
                if num(recs[-1].get(k)) is not None:
                    values[k].append(float(recs[-1][k]))
    rows = []
    for vals, (_, label, target, refs) in zip(values.values(), ROAD_KEYS, strict=False):
        if vals:
            v = sum(vals) / len(vals)
            rows.append(
                MetricRow.of(
                    f"validation {label}",
                    v,
                    target,
                    refs,
                    pending=True,
                    note="; ".join(epochs),
                )
            )
    return rows


def _fold_progress(folds: list[Path], total: Any) -> Table:
    rows = []
    for f in folds:
        recs = records_of(f / "metrics.jsonl")
        info = dict_json(f / "fold.json")
        epochs = [r["epoch"] for r in recs if isinstance(r.get("epoch"), int | float)]
        done = int(max(epochs)) if epochs else 0
        val = [r for r in recs if "val_patch_accuracy" in r]
        secs = num(info.get("train_seconds"))
        if secs is None:
            secs = sum(float(r.get("time_s", 0.0)) for r in recs)
        state = "finished" if info else ("training" if recs else "started")
        rows.append(
            [
                f.name,
                state,
                ("–" if not recs else f"{done} of {total}" if total else str(done)),
                fmt(val[-1]["val_patch_accuracy"]) if val else "–",
                fmt(val[-1].get("val_patch_f1")) if val else "–",
                duration(secs),
            ]
        )
    return Table(
        "folds", ["fold", "state", "epochs", "val patch acc.", "val patch F1", "train"], rows
    )


def describe_roads_predict(found: Found, root: Path) -> RunView:
    """A prediction folder: pooled metrics once `roads eval` ran, overlays, TTA used."""
    run = found.path
    info = dict_json(run / "predict.json")
    metrics = dict_json(run / "metrics.json")
    title = f"predictions of {info.get('model', '?')} for {info.get('n_images', '?')} images"
    view = RunView(
        found, rel_name(run, root), title, "done", "predicted" + (", evaluated" if metrics else "")
    )
    overall = metrics.get("overall", {}) if isinstance(metrics.get("overall"), dict) else {}
    for key, label, _, refs in ROAD_KEYS:
        if key in overall:
            v = num(overall[key])
            view.metrics.append(
                MetricRow.of(label, v, None, refs, note="all images' patches pooled")
            )
    if metrics and not overall:
        view.notes.append("metrics.json has no overall metrics")
    montage = run / "overlay" / "montage.png"
    if montage.is_file():
        view.figures.append(
            Fig("overlays: predicted road red, ground truth outlined yellow", montage, wide=True)
        )
    else:
        overlays = sorted((run / "overlay").glob("*.png")) if (run / "overlay").is_dir() else []
        view.figures += [Fig(f"overlay {p.stem}", p, thumb=600) for p in overlays[:4]]
    view.config, view.config_name = info, "predict.json"
    view.commands.append(commands.roads_predict(str(run), info))
    if metrics:
        view.commands.append(commands.roads_eval(str(run), metrics))
    if "seconds" in info:
        view.facts.append(("prediction time", duration(num(info["seconds"]))))
    for key, label in (
        ("tta", "test-time augmentation"),
        ("tta_zoom", "multi-scale TTA zoom"),
        ("patch_threshold", "patch threshold"),
        ("models", "models"),
    ):
        if key in info:
            view.facts.append(
                (label, fmt(info[key]) if num(info[key]) is not None else str(info[key]))
            )
    view.facts += stamped("predicted", run / "predict.json")
    return view
