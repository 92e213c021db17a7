"""`cilab cosmo classify`: real vs not-real on the labeled images, baseline against stronger models.

Repeated stratified k-fold CV of every model; a results table (mean ± std of accuracy, AUROC,
AUPRC over all folds), ROC and PR curves of the first repeat's out-of-fold scores, and the
family-wise permutation importance of the best model on its held-out folds. With `--cnn`, a CNN
trained on each split's training images adds the rows `cnn` and `cnn-embed+<model>` on the same
splits (`cilab.cosmo.cnn_cv`); "best" stays the best feature model, whose importances are
per feature family.

Run directory: config.json, features.json (extraction stats), results.csv, results.md,
oof_scores.csv, importance.csv, roc_pr.png, importance.png, metrics.json.
"""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from cilab.core.config import to_dict
from cilab.core.errors import CilabError
from cilab.core.io import atomic_write, write_json
from cilab.cosmo.config import ClassifyConfig, ModelRunConfig
from cilab.cosmo.cv import FoldResult, family_importance, fit_fold, mean_std
from cilab.cosmo.extract import FeatureTable, default_cache_dir, extract_features
from cilab.cosmo.layout import Split, image_size, load_layout
from cilab.cosmo.models import BASELINE_FAMILIES, CLASSIFIERS, pick


def cache_dir(cfg: ModelRunConfig) -> Path | None:
    """The feature cache folder (`--cache-dir`, else the default), None when caching is off;
    the CNN's max-pooled images are cached there too.
    """
    if not cfg.cache:
        return None
    return Path(cfg.cache_dir) if cfg.cache_dir else default_cache_dir()


def features_for(
    cfg: ModelRunConfig, split: Split, progress: bool
) -> tuple[FeatureTable, dict[str, Any]]:
    """Features of one split's images (all as large as its first), and the extraction
    stats that go to features.json.
    """
    cache = cache_dir(cfg)
    size = image_size(split.paths[0])
    table, stats = extract_features(
        split.paths, split.ids, cfg.family_list(), cfg.workers, cache, size, progress
    )
    info = {
        "split": split.name,
        "images": stats.images,
        "seconds": round(stats.seconds, 2),
        "cpu_seconds": round(stats.cpu_seconds, 2),
        "images_per_s": round(stats.images / max(stats.seconds, 1e-9), 1),
        "features": int(table.X.shape[1]),
        "families": {f: int(table.columns(f).size) for f in table.family_names()},
        "cache": str(cache) if cache else None,
    }
    return table, info


def model_columns(name: str, table: FeatureTable) -> np.ndarray:
    """The columns model `name` is fit on: its families' (the baseline: hist10), else all."""
    fams = BASELINE_FAMILIES.get(name)
    if fams is None:
        return np.arange(table.X.shape[1])
    return np.concatenate([table.columns(f) for f in fams])


def write_table(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    """Write a CSV (header, then rows) atomically: a crash never leaves half a table."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    data = buf.getvalue().encode()
    atomic_write(path, lambda f: f.write(data))


def families_section(
    out: Path, best: str, folds: int, headers: tuple[list[str], list[str]], rows: list[list[str]]
) -> str:
    """Write families.csv (csv header `headers[0]`) and return the markdown paragraph on the best
    model fit to one feature family at a time (table header `headers[1]`); "" when it was not."""
    if not rows:
        return ""
    write_table(out / "families.csv", headers[0], rows)
    intro = f"\n{best} on one feature family at a time ({folds}-fold CV, first repeat):\n\n"
    return intro + markdown_table(headers[1], rows)


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A markdown table of string cells, as in results.md."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def run_classify(cfg: ClassifyConfig, progress: bool = False) -> dict[str, Any]:
    """`cilab cosmo classify`: write the run directory `cfg.out`; return its metrics.json."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import RepeatedStratifiedKFold

    from cilab.cosmo.plots import roc_pr_figure

    if not cfg.out:
        raise CilabError("--out RUN_DIR is required")
    out = Path(cfg.out)
    models = pick(CLASSIFIERS, _names(cfg.models, CLASSIFIERS), "model")
    data = load_layout(cfg.data_dir)
    split = data.require("labeled")
    y = split.targets.astype(int)
    if np.bincount(y, minlength=2).min() < cfg.folds:
        raise CilabError(f"{data.root}: labeled.csv needs ≥ {cfg.folds} images of each class")
    t0 = time.perf_counter()
    table, feat_info = features_for(cfg, split, progress)
    X = table.X
    cv = RepeatedStratifiedKFold(n_splits=cfg.folds, n_repeats=cfg.repeats, random_state=cfg.seed)
    splits = list(cv.split(X, y))
    results = cross_validate(cfg, models, X, y, splits, table, "classify")
    n_features = {name: int(model_columns(name, table).size) for name in models}
    cnn_info = None
    if cfg.cnn:
        from cilab.cosmo.cnn_cv import cnn_rows

        cnn_results, cnn_features, cnn_info = cnn_rows(cfg, split, y, splits, out, cache_dir(cfg))
        results += cnn_results
        n_features.update(cnn_features)
    names = list(n_features)  # the table's rows: the feature models, then the CNN's
    summary, oof = _score_models(results, names, y, n_features)
    best = max(models, key=lambda n: summary[n]["auroc"][0])
    # family-wise importance of the best model, on its first repeat's held-out folds
    fams, imps = best_model_importances(cfg, results, best, table, X, y, roc_auc_score, "classify")
    alone_rows = _family_rows(family_alone(cfg, models[best], X, y, splits, table, "classify"),
                              table, y)  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "config.json", to_dict(cfg))
    write_json(out / "features.json", feat_info)
    cv_line = f"{cfg.repeats}× repeated stratified {cfg.folds}-fold CV, {len(y)} images"
    _write_tables(out, summary, names, best, alone_rows, cv_line, cfg.folds)
    oof_rows = [
        [ident, int(y[j]), *(f"{oof[n][j]:.6g}" for n in names)]
        for j, ident in enumerate(split.ids)
    ]
    write_table(out / "oof_scores.csv", ["Id", "Actual", *names], oof_rows)
    curves = {n: (y, oof[n]) for n in names}
    aucs = {n: (summary[n]["auroc"][0], summary[n]["auprc"][0]) for n in names}
    roc_pr_figure(curves, aucs, out / "roc_pr.png", prevalence=float(y.mean()))
    importance = write_importance(
        out, fams, imps, best, "auroc_drop", "AUROC lost when the family is permuted"
    )
    metrics = {
        "task": "classify", "best": best, "results": summary, "importance": importance,
        "family_alone": {r[0]: {"auroc": r[2], "auprc": r[3]} for r in alone_rows},
        "features": feat_info, "seconds": round(time.perf_counter() - t0, 1), "cv": cv_line,
    }  # fmt: skip
    if cnn_info is not None:
        metrics["cnn"] = cnn_info
    write_json(out / "metrics.json", json.loads(json.dumps(metrics)))
    return metrics


METRICS = ("accuracy", "auroc", "auprc")


def _score_models(
    results: list[FoldResult], names: list[str], y: np.ndarray, n_features: dict[str, int]
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Per model: accuracy, AUROC and AUPRC as (mean, std) over all folds of all repeats, and
    the first repeat's out-of-fold scores (one score per image: the ROC curves, oof_scores.csv)."""
    from sklearn.metrics import accuracy_score, average_precision_score, roc_auc_score

    summary: dict[str, Any] = {}
    oof = {name: np.full(len(y), np.nan) for name in names}
    for name in names:
        mine = [r for r in results if r.model == name]
        for r in mine:
            if r.repeat == 0:
                oof[name][r.test] = r.scores
        summary[name] = {
            "accuracy": mean_std(accuracy_score(y[r.test], r.predictions) for r in mine),
            "auroc": mean_std(roc_auc_score(y[r.test], r.scores) for r in mine),
            "auprc": mean_std(average_precision_score(y[r.test], r.scores) for r in mine),
            "features": n_features[name],
        }
    return summary, oof


def _family_rows(
    alone: dict[str, list[FoldResult]], table: FeatureTable, y: np.ndarray
) -> list[list[str]]:
    """The best model on one feature family at a time: family, columns, AUROC, AUPRC."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    return [
        [fam, str(int(table.columns(fam).size)),
         *(_pm(mean_std(m(y[r.test], r.scores) for r in rs))
           for m in (roc_auc_score, average_precision_score))]
        for fam, rs in alone.items()
    ]  # fmt: skip


def _write_tables(
    out: Path, summary: dict[str, Any], names: list[str], best: str,
    alone_rows: list[list[str]], cv_line: str, folds: int,
) -> None:  # fmt: skip
    """results.csv, results.md and (when the best model was also fit per family)
    families.csv."""
    header = ["model", "features", "accuracy_mean", "accuracy_std", "auroc_mean", "auroc_std",
              "auprc_mean", "auprc_std"]  # fmt: skip
    rows = [[n, summary[n]["features"], *(f"{m:.4f}" for m in _flat(summary[n]))] for n in names]
    write_table(out / "results.csv", header, rows)
    md_rows = [[n, str(summary[n]["features"]), *(_pm(summary[n][m]) for m in METRICS)]
               for n in names]  # fmt: skip
    md = markdown_table(["model", "features", "accuracy", "AUROC", "AUPRC"], md_rows)
    md += families_section(
        out, best, folds,
        (["family", "features", "auroc", "auprc"], ["family", "features", "AUROC", "AUPRC"]),
        alone_rows,
    )  # fmt: skip
    atomic_write(out / "results.md", lambda f: f.write(f"{cv_line}\n\n{md}".encode()))


def cross_validate(
    cfg: ModelRunConfig,
    models: dict[str, Any],
    X: np.ndarray,
    y: np.ndarray,
    splits: list[tuple[np.ndarray, np.ndarray]],
    table: FeatureTable,
    task: str,
) -> list[FoldResult]:
    """Fit every model on every split in `--workers` processes; the first repeat's fits are kept."""
    from joblib import Parallel, delayed

    jobs = [
        delayed(fit_fold)(
            name,
            build(cfg.seed),
            X,
            y,
            tr,
            te,
            model_columns(name, table),
            k // cfg.folds,
            k % cfg.folds,
            task,
            keep=k < cfg.folds,
        )
        for name, build in models.items()
        for k, (tr, te) in enumerate(splits)
    ]
    return Parallel(n_jobs=cfg.workers)(jobs)


def best_model_importances(
    cfg: ModelRunConfig,
    results: list[FoldResult],
    best: str,
    table: FeatureTable,
    X: np.ndarray,
    y: np.ndarray,
    metric: Any,
    task: str,
) -> tuple[list[str], list[np.ndarray]]:
    """Family-wise permutation importances of model `best` on each of its held-out folds."""
    from joblib import Parallel, delayed

    fams = table.family_names() if best not in BASELINE_FAMILIES else ["hist10"]
    cols = model_columns(best, table)
    col_fam = np.asarray(table.families)[cols]
    jobs = [
        delayed(family_importance)(
            r.estimator,
            X[np.ix_(r.test, cols)],
            y[r.test],
            fams,
            col_fam,
            metric,
            task,
            cfg.importance_repeats,
            cfg.seed + r.fold,
        )
        for r in results
        if r.model == best and r.estimator is not None and cfg.importance_repeats > 0
    ]
    return fams, Parallel(n_jobs=cfg.workers)(jobs)


def write_importance(
    out: Path, fams: list[str], imps: list[np.ndarray], best: str, column: str, xlabel: str
) -> dict[str, tuple[float, float]]:
    """Mean ± std of the per-fold importances; importance.csv and importance.png in `out`."""
    if not imps:
        return {}
    from cilab.cosmo.plots import importance_figure

    allimp = np.concatenate(imps, axis=1)  # [families, folds*repeats]
    m = allimp.mean(axis=1)
    s = allimp.std(axis=1, ddof=1) if allimp.shape[1] > 1 else np.zeros(len(fams))
    importance = {f: (float(a), float(b)) for f, a, b in zip(fams, m, s, strict=True)}
    write_table(
        out / "importance.csv",
        ["family", f"{column}_mean", f"{column}_std"],
        [[f, f"{a:.5f}", f"{b:.5f}"] for f, (a, b) in importance.items()],
    )
    importance_figure(fams, m, s, xlabel, f"family importance: {best}", out / "importance.png")
    return importance


def family_alone(
    cfg: ModelRunConfig,
    build: Any,
    X: np.ndarray,
    y: np.ndarray,
    splits: list[tuple[np.ndarray, np.ndarray]],
    table: FeatureTable,
    task: str,
) -> dict[str, list[FoldResult]]:
    """The best model refitted on each family's columns alone, on the first repeat's folds."""
    from joblib import Parallel, delayed

    if not cfg.family_ablation:
        return {}
    fams = table.family_names()
    jobs = [
        delayed(fit_fold)(fam, build(cfg.seed), X, y, tr, te, table.columns(fam), 0, k, task, False)
        for fam in fams
        for k, (tr, te) in enumerate(splits[: cfg.folds])
    ]
    results = Parallel(n_jobs=cfg.workers)(jobs)
    return {fam: [r for r in results if r.model == fam] for fam in fams}


def _names(spec: str, registry: dict[str, Any]) -> list[str]:
    names = [m.strip() for m in spec.split(",") if m.strip()]
    return names or list(registry)


def _flat(s: dict[str, Any]) -> list[float]:
    return [
        s["accuracy"][0],
        s["accuracy"][1],
        s["auroc"][0],
        s["auroc"][1],
        s["auprc"][0],
        s["auprc"][1],
    ]


def _pm(ms: tuple[float, float]) -> str:
    return f"{ms[0]:.3f} ± {ms[1]:.3f}"
