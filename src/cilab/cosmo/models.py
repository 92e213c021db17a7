"""The model families compared by `cilab cosmo classify` and `cilab cosmo regress`.

Registries are plain dicts, name -> builder(seed) -> scikit-learn estimator. "baseline" is the
exercise's: standardized 10-bin histogram, SGD logistic regression with balanced classes and a
grid over alpha 1e-4...1 (its inner 3-fold grid search, scored by accuracy, runs again on every
outer fold); it is given only the `hist10` columns. Every other model sees the full feature set.
"""

from __future__ import annotations

from collections.abc import Callable

from sklearn.base import BaseEstimator
from sklearn.dummy import DummyRegressor
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression, Ridge, SGDClassifier
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, SVR

from cilab.core.errors import CilabError

ALPHAS = [1e-4, 1e-3, 1e-2, 1e-1, 1.0]
Builder = Callable[[int], BaseEstimator]

CLASSIFIERS: dict[str, Builder] = {
    "baseline": lambda seed: make_pipeline(
        StandardScaler(),
        GridSearchCV(
            SGDClassifier(loss="log_loss", class_weight="balanced", random_state=seed),
            {"alpha": ALPHAS},
            cv=3,  # the exercise's GridSearchCV defaults of its time: 3 folds, accuracy
        ),
    ),
    "logreg": lambda seed: make_pipeline(
        StandardScaler(), LogisticRegression(C=1.0, class_weight="balanced", max_iter=5000)
    ),
    "svm": lambda seed: make_pipeline(
        StandardScaler(), SVC(C=3.0, gamma="scale", class_weight="balanced", random_state=seed)
    ),
    "random_forest": lambda seed: RandomForestClassifier(
        n_estimators=300, class_weight="balanced", n_jobs=1, random_state=seed
    ),
    "gradient_boosting": lambda seed: HistGradientBoostingClassifier(
        class_weight="balanced", random_state=seed
    ),
}

REGRESSORS: dict[str, Builder] = {
    "constant": lambda seed: DummyRegressor(strategy="median"),
    "baseline": lambda seed: RandomForestRegressor(  # the usual first step: RF on hist10
        n_estimators=200, min_samples_leaf=2, n_jobs=1, random_state=seed
    ),
    "ridge": lambda seed: make_pipeline(StandardScaler(), Ridge(alpha=1.0)),
    "svm": lambda seed: make_pipeline(StandardScaler(), SVR(C=3.0, epsilon=0.05)),
    "random_forest": lambda seed: RandomForestRegressor(
        n_estimators=200, min_samples_leaf=2, n_jobs=1, random_state=seed
    ),
    "gradient_boosting": lambda seed: HistGradientBoostingRegressor(
        loss="absolute_error", max_iter=400, learning_rate=0.08, random_state=seed
    ),
}
BASELINE_FAMILIES = {"baseline": ("hist10",), "constant": ("hist10",)}


def pick(registry: dict[str, Builder], names: list[str], what: str) -> dict[str, Builder]:
    """The builders of `names`, in that order; CilabError naming the unknown `what`."""
    unknown = [n for n in names if n not in registry]
    if unknown:
        raise CilabError(f"unknown {what} {unknown[0]!r}; valid: {', '.join(registry)}")
    return {n: registry[n] for n in names}
