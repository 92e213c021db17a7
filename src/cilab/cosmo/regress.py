"""`cilab cosmo regress`: scored images -> similarity score; predictions for the query images.

Repeated k-fold CV MAE of every model (the constant median prediction included), the best one
refitted on all scored images to predict every query image: `submission.csv` (`Id,Predicted`,
one row per query image, in query_example.csv's order when present, else sorted by id). On
simulated data (`query_truth.csv` present) every model, refitted on all scored images, is also
scored against the hidden query scores.

Run directory: config.json, features.json, results.csv, results.md, importance.csv,
importance.png, scatter.png, submission.csv, metrics.json.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from cilab.core.config import to_dict
from cilab.core.errors import CilabError
from cilab.core.io import atomic_write, write_json
from cilab.cosmo.classify import (
    ModelRunConfig,
    _names,
    best_model_importances,
    cross_validate,
    families_section,
    family_alone,
    features_for,
    markdown_table,
    model_columns,
    write_importance,
    write_table,
)
from cilab.cosmo.cv import FoldResult, mean_std, single_threaded
from cilab.cosmo.extract import FeatureTable
from cilab.cosmo.layout import load_layout
from cilab.cosmo.models import REGRESSORS, pick


def _mae(y: np.ndarray, pred: np.ndarray) -> float:
    return float(np.mean(np.abs(y - pred)))


def _mae_pm(values: list[float]) -> str:
    m, sd = mean_std(values)
    return f"{m:.3f} ± {sd:.3f}"


def _neg_mae(y: np.ndarray, pred: np.ndarray) -> float:
    return -float(np.mean(np.abs(y - pred)))


@single_threaded
def _fit_full(est: Any, X: np.ndarray, y: np.ndarray, Xq: np.ndarray) -> np.ndarray:
    from sklearn.base import clone

    return clone(est).fit(X, y).predict(Xq)


def write_submission(path: Path, ids: tuple[str, ...], pred: np.ndarray) -> None:
    """submission.csv: `Id,Predicted`, one row per id in the given order."""
    rows = [[i, f"{float(p):.10f}"] for i, p in zip(ids, pred, strict=True)]
    write_table(path, ["Id", "Predicted"], rows)


def run_regress(cfg: ModelRunConfig, progress: bool = False) -> dict[str, Any]:
    """`cilab cosmo regress`: write the run directory `cfg.out`; return its metrics.json."""
    from sklearn.model_selection import RepeatedKFold

    from cilab.cosmo.plots import scatter_figure

    if not cfg.out:
        raise CilabError("--out RUN_DIR is required")
    out = Path(cfg.out)
    models = pick(REGRESSORS, _names(cfg.models, REGRESSORS), "model")
    data = load_layout(cfg.data_dir)
    split = data.require("scored")
    query = data.require("query")
    y = split.targets
    if len(y) < cfg.folds:
        raise CilabError(f"{data.root}: scored.csv needs ≥ {cfg.folds} images")
    t0 = time.perf_counter()
    table, feat_info = features_for(cfg, split, progress)
    qtable, q_info = features_for(cfg, query, progress)
    X, Xq = table.X, qtable.X
    cv = RepeatedKFold(n_splits=cfg.folds, n_repeats=cfg.repeats, random_state=cfg.seed)
    splits = list(cv.split(X))
    results = cross_validate(cfg, models, X, y, splits, table, "regress")
    summary, oof = _score_models(results, models, y, table)
    best = min(models, key=lambda n: summary[n]["cv_mae"][0])
    query_pred = _predict_query(cfg, models, X, y, table, Xq, qtable)
    truth = None
    if data.query_truth is not None:
        truth = np.array([data.query_truth[i] for i in query.ids])
        for n in models:
            summary[n]["query_mae"] = float(np.mean(np.abs(truth - query_pred[n])))
    fams, imps = best_model_importances(cfg, results, best, table, X, y, _neg_mae, "regress")
    alone = family_alone(cfg, models[best], X, y, splits, table, "regress")
    alone_rows = [
        [fam, str(int(table.columns(fam).size)), _mae_pm([_mae(y[r.test], r.scores) for r in rs])]
        for fam, rs in alone.items()
    ]

    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "config.json", to_dict(cfg))
    write_json(out / "features.json", {"scored": feat_info, "query": q_info})
    cv_line = f"{cfg.repeats}× repeated {cfg.folds}-fold CV, {len(y)} scored images"
    _write_tables(out, summary, best, alone_rows, cv_line, cfg.folds, truth is not None)
    order = data.query_order or query.ids
    index = {i: j for j, i in enumerate(query.ids)}
    write_submission(out / "submission.csv", order, query_pred[best][[index[i] for i in order]])
    scatter_figure(y, oof[best], f"{best}: out-of-fold predictions", out / "scatter.png")
    importance = write_importance(
        out, fams, imps, best, "mae_increase", "MAE added when the family is permuted"
    )
    metrics = {
        "task": "regress", "best": best, "results": summary, "importance": importance,
        "family_alone": {r[0]: r[2] for r in alone_rows},
        "features": feat_info, "seconds": round(time.perf_counter() - t0, 1), "cv": cv_line,
    }  # fmt: skip
    write_json(out / "metrics.json", json.loads(json.dumps(metrics)))
    return metrics


def _score_models(
    results: list[FoldResult], models: dict[str, Any], y: np.ndarray, table: FeatureTable
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Per model: the MAE as (mean, std) over all folds of all repeats, its feature count, and
    the first repeat's out-of-fold predictions (the scatter figure)."""
    summary: dict[str, Any] = {}
    oof = {name: np.full(len(y), np.nan) for name in models}
    for name in models:
        mine = [r for r in results if r.model == name]
        summary[name] = {
            "cv_mae": mean_std([np.mean(np.abs(y[r.test] - r.scores)) for r in mine]),
            "features": int(model_columns(name, table).size),
        }
        for r in mine:
            if r.repeat == 0:
                oof[name][r.test] = r.scores
    return summary, oof


def _predict_query(
    cfg: ModelRunConfig, models: dict[str, Any], X: np.ndarray, y: np.ndarray,
    table: FeatureTable, Xq: np.ndarray, qtable: FeatureTable,
) -> dict[str, np.ndarray]:  # fmt: skip
    """Every model refitted on all scored images, predicting the query images (in parallel)."""
    from joblib import Parallel, delayed

    full = Parallel(n_jobs=cfg.workers)(
        delayed(_fit_full)(
            build(cfg.seed), X[:, model_columns(n, table)], y, Xq[:, model_columns(n, qtable)]
        )
        for n, build in models.items()
    )
    return dict(zip(models, full, strict=True))


def _write_tables(
    out: Path, summary: dict[str, Any], best: str, alone_rows: list[list[str]], cv_line: str,
    folds: int, with_truth: bool,
) -> None:  # fmt: skip
    """results.csv and results.md (with the query MAE where the truth is known) and, when the
    best model was also fit per family, families.csv."""
    header = ["model", "features", "cv_mae_mean", "cv_mae_std"] + (
        ["query_mae"] if with_truth else []
    )
    rows = [
        [n, s["features"], f"{s['cv_mae'][0]:.4f}", f"{s['cv_mae'][1]:.4f}"]
        + ([f"{s['query_mae']:.4f}"] if with_truth else [])
        for n, s in summary.items()
    ]
    write_table(out / "results.csv", header, rows)
    md_header = ["model", "features", "CV MAE"] + (["query MAE"] if with_truth else [])
    md_rows = [
        [n, str(s["features"]), f"{s['cv_mae'][0]:.3f} ± {s['cv_mae'][1]:.3f}"]
        + ([f"{s['query_mae']:.3f}"] if with_truth else [])
        for n, s in summary.items()
    ]
    text = f"{cv_line}; best: {best}\n\n" + markdown_table(md_header, md_rows)
    text += families_section(
        out, best, folds, (["family", "features", "cv_mae"], ["family", "features", "CV MAE"]),
        alone_rows,
    )  # fmt: skip
    atomic_write(out / "results.md", lambda f: f.write(text.encode()))
