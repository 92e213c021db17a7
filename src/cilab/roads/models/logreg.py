"""Logistic regression on patch features: the course baseline and an extended version.

One scikit-learn Pipeline from images to patch probabilities:
`PatchFeatures -> StandardScaler -> LogisticRegression`. The course baseline
(`feature_set="basic"`) is logistic regression with C = 1e5 and balanced class weights on the
RGB mean and variance of each patch. Models are saved as plain arrays (`.npz`) plus JSON, never
pickled, so loading a run directory cannot execute code.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from cilab.core.errors import DataError
from cilab.core.io import atomic_write, write_json
from cilab.roads.features import FeatureSet, PatchFeatures
from cilab.roads.patches import PATCH


@dataclass(frozen=True)
class LogRegConfig:
    """Features and classifier settings of a logreg model; saved as JSON beside its .npz."""

    feature_set: FeatureSet = "basic"
    C: float = 1e5  # the course's (almost unregularized) value
    class_weight: str | None = "balanced"  # the course's; None for calibrated probabilities
    max_iter: int = 2000
    patch: int = PATCH


def build_logreg(cfg: LogRegConfig, seed: int = 0) -> Pipeline:
    """The unfitted `PatchFeatures -> StandardScaler -> LogisticRegression` pipeline.

    `load_logreg` rebuilds saved models on this skeleton; `seed` is the classifier's
    `random_state`.
    """
    return Pipeline(
        [
            ("features", PatchFeatures(cfg.feature_set, cfg.patch)),
            ("scale", StandardScaler()),
            (
                "clf",
                LogisticRegression(
                    C=cfg.C, class_weight=cfg.class_weight, max_iter=cfg.max_iter, random_state=seed
                ),
            ),
        ]
    )


def predict_patch_proba(pipe: Pipeline, images: np.ndarray) -> np.ndarray:
    """Road probability per patch: uint8 images [N, H, W, 3] -> [N, h, w] float32."""
    n, h, w = images.shape[:3]
    p = pipe.named_steps["features"].patch
    proba = pipe.predict_proba(images)[:, 1]
    return proba.reshape(n, -(-h // p), -(-w // p)).astype(np.float32)


_ARRAYS = {
    "scale": ("mean_", "scale_", "var_"),
    "clf": ("coef_", "intercept_", "classes_"),
}


def save_logreg(pipe: Pipeline, cfg: LogRegConfig, path: str | Path) -> None:
    """`path` (.npz) holds the fitted arrays; `path` with .json the config."""
    path = Path(path)
    arrays = {
        f"{step}.{attr}": np.asarray(getattr(pipe.named_steps[step], attr))
        for step, attrs in _ARRAYS.items()
        for attr in attrs
    }

    def write(f) -> None:  # type: ignore[no-untyped-def]
        np.savez(f, **arrays)

    atomic_write(path, write)
    write_json(path.with_suffix(".json"), asdict(cfg))


def load_logreg(path: str | Path) -> tuple[Pipeline, LogRegConfig]:
    """The pipeline and config `save_logreg` wrote, rebuilt without unpickling.

    Raises `DataError` when the files are missing, unreadable or lack an array.
    """
    path = Path(path)
    try:
        cfg = LogRegConfig(**json.loads(path.with_suffix(".json").read_text()))
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, TypeError, KeyError) as e:
        raise DataError(path, f"not a readable logreg model ({e})") from None
    pipe = build_logreg(cfg)
    for step, attrs in _ARRAYS.items():
        est = pipe.named_steps[step]
        for attr in attrs:
            key = f"{step}.{attr}"
            if key not in arrays:
                raise DataError(path, f"not a logreg model (no {key})")
            setattr(est, attr, arrays[key])
        est.n_features_in_ = arrays["scale.mean_"].shape[0]
    return pipe, cfg
