"""Cross-validation and family-wise permutation importance, shared by classify and regress.

Every (model, fold) fit is an independent job for `joblib.Parallel`; a fold's fitted model is
returned with its out-of-fold predictions so importances need no refit. Permutation importance
is family-wise: all columns of one feature family are shuffled together (with one row
permutation), so correlated columns within a family cannot stand in for each other.

Each fit runs with one BLAS/OpenMP thread (`single_threaded`): parallelism comes from running
folds in `--workers` processes, which scales better than threads for these small models and
avoids OpenMP spin-waiting when the cores are shared (HistGradientBoosting on 1000 rows took
12.7 s with one thread and 40.5 s with two on the busy 2-core development machine).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, clone

Metric = Callable[[np.ndarray, np.ndarray], float]


def single_threaded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run `fn` with native thread pools (BLAS, OpenMP) limited to one thread."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1):
            return fn(*args, **kwargs)

    return wrapper


def predict_scores(est: BaseEstimator, X: np.ndarray, task: str) -> np.ndarray:
    """Continuous scores for the metrics: values (regress), else P(class 1), else the
    decision function (SVC without `probability=True` has no `predict_proba`).
    """
    if task == "regress":
        return est.predict(X)
    if hasattr(est, "predict_proba"):
        return est.predict_proba(X)[:, 1]
    return est.decision_function(X)


@dataclass
class FoldResult:
    """One model's output on one held-out fold (`fit_fold`, `cnn_cv`); classify/regress score it."""

    model: str
    repeat: int
    fold: int
    test: np.ndarray  # row indices
    scores: np.ndarray  # out-of-fold predictions (probability/decision or value)
    predictions: np.ndarray  # hard labels (classify) or values (regress)
    estimator: BaseEstimator | None


@single_threaded
def fit_fold(
    model: str,
    est: BaseEstimator,
    X: np.ndarray,
    y: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    cols: np.ndarray,
    repeat: int,
    fold: int,
    task: str,
    keep: bool,
) -> FoldResult:
    """Fit a clone of `est` on the training rows' `cols`; score and predict the test rows.

    `keep`: return the fitted estimator too (the importances need it); otherwise it is
    dropped so the worker does not send it back.
    """
    est = clone(est).fit(X[np.ix_(train, cols)], y[train])
    Xt = X[np.ix_(test, cols)]
    scores = predict_scores(est, Xt, task)
    preds = est.predict(Xt) if task == "classify" else scores
    return FoldResult(model, repeat, fold, test, scores, preds, est if keep else None)


@single_threaded
def family_importance(
    est: BaseEstimator,
    X: np.ndarray,
    y: np.ndarray,
    families: Sequence[str],
    col_family: np.ndarray,
    metric: Metric,
    task: str,
    n_repeats: int,
    seed: int,
) -> np.ndarray:
    """[n_families, n_repeats]: metric(original) - metric(family permuted); higher = mattered.

    `metric` must be "higher is better" (pass -MAE for regression).
    """
    rng = np.random.default_rng(seed)
    base = metric(y, predict_scores(est, X, task))
    out = np.zeros((len(families), n_repeats))
    for i, fam in enumerate(families):
        cols = np.flatnonzero(col_family == fam)
        for r in range(n_repeats):
            Xp = X.copy()
            Xp[:, cols] = X[rng.permutation(X.shape[0])][:, cols]
            out[i, r] = base - metric(y, predict_scores(est, Xp, task))
    return out


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1) of the values; std 0 for a single value."""
    a = np.asarray(list(values), dtype=np.float64)
    return float(a.mean()), float(a.std(ddof=1)) if a.size > 1 else 0.0
