"""The shared shape of every feature family: a scikit-learn transformer over flattened images.

Each row of `X` is one image, flattened; `image_shape=(h, w)` says how to unflatten it, and
`None` means square when the row length is a square number, else one row of pixels. A family
implements `features_of(img) -> [k]` for one [h, w] image; `transform` stacks it over rows, and
the streaming extractor (`cilab.cosmo.extract`) calls `features_of` directly on decoded images,
so both paths compute the same numbers. Parameters live only in `__init__`; `fit` learns
nothing but the input width (the families are stateless, like scikit-learn's FunctionTransformer).
"""

from __future__ import annotations

import math
import weakref

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data


class ImageFeatures(TransformerMixin, BaseEstimator):
    """Base of every family: subclasses give `feature_names` and `features_of(img)`."""

    image_shape: tuple[int, int] | None
    prefix = "f"

    def _shape(self, n: int) -> tuple[int, int]:
        if self.image_shape is not None:
            h, w = (int(v) for v in self.image_shape)
            if h * w != n:
                raise ValueError(f"image_shape {self.image_shape} does not hold {n} pixels")
            return h, w
        side = math.isqrt(n)
        return (side, side) if side * side == n else (1, n)

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> ImageFeatures:
        X = validate_data(self, X, reset=True)
        self.image_shape_ = self._shape(X.shape[1])
        self.n_features_out_ = self.n_features(self.image_shape_)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        h, w = self.image_shape_
        out = np.empty((X.shape[0], self.n_features_out_), dtype=np.float64)
        for i, row in enumerate(X):
            out[i] = self.features_of(row.reshape(h, w))  # [h*w] -> [h, w] image
        return out

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        check_is_fitted(self)
        return np.asarray(self.feature_names(self.image_shape_), dtype=object)

    # --- what a family implements
    def n_features(self, shape: tuple[int, int]) -> int:
        return len(self.feature_names(shape))

    def feature_names(self, shape: tuple[int, int]) -> list[str]:
        raise NotImplementedError

    def features_of(self, img: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = True
        return tags


_last: list = [None, None]  # [weak reference to a read-only image, its counts]


def grey_counts(img: np.ndarray) -> np.ndarray | None:
    """The 256-level histogram of a uint8 image (None for other dtypes).

    Several families need it for the same image, so the counts of the last read-only image are
    kept (a read-only array cannot change under us). Zeros are counted with `count_nonzero` and
    only the other pixels are binned: a cosmology field is 99.7 % zeros.
    """
    if img.dtype != np.uint8:
        return None
    ref = _last[0]
    if ref is not None and ref() is img:
        return _last[1]
    flat = img.ravel()
    nonzero = flat[flat != 0]
    counts = np.bincount(nonzero, minlength=256)
    counts[0] = flat.size - nonzero.size
    if not img.flags.writeable:
        _last[0], _last[1] = weakref.ref(img), counts
    return counts
