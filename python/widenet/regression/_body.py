"""What the bodies of the estimators share: the record of the fit, the checks before a prediction, the tags.

The bodies are the estimators without scikit-learn's bases; :mod:`widenet.regression._classes`
makes the public classes from them.
"""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from widenet import _validation as check
from widenet._types import FloatArray
from widenet.regression._checks import PRECOMPUTED, check_X, wrong_columns
from widenet.regression._classes import public_class

_Self = TypeVar("_Self", bound="EstimatorBody")


class EstimatorBody:
    """The part of every estimator that is widenet's (see :mod:`widenet.regression._classes`)."""

    # set by fit (declared here for the type checker; absent before fit)
    n_features_in_: int
    _fit_dtype: np.dtype
    _fit_on_gram: bool

    def _takes_gram(self) -> bool:
        """Whether the hyper-parameters say that X is a Gram matrix (``kernel="precomputed"``)."""
        kernel = getattr(self, "kernel", None)
        return isinstance(kernel, str) and kernel == PRECOMPUTED

    def __sklearn_tags__(self) -> Any:
        # Only scikit-learn calls this, on its own bases: scikit-learn is importable whenever it runs.
        tags = super().__sklearn_tags__()  # type: ignore[misc]  # scikit-learn's BaseEstimator
        tags.target_tags.multi_output = True
        tags.input_tags.pairwise = self._takes_gram()
        return tags

    def _fitted_on(self, X: FloatArray, on_gram: bool = False) -> None:
        """Record what ``predict`` checks its ``X`` against: the columns, the dtype, and whether X is a Gram."""
        self.n_features_in_ = X.shape[1]
        self._fit_dtype = X.dtype
        self._fit_on_gram = on_gram

    def _forget(self, *names: str) -> None:
        """Drop fitted attributes that a fit of another kind left (a fit on a Gram keeps no points)."""
        for name in names:
            self.__dict__.pop(name, None)

    def _check_fitted(self) -> None:
        if not hasattr(self, "n_features_in_"):
            raise public_class("NotFittedError")(f"This {type(self).__name__} instance is not fitted yet: call "
                                                 "fit(X, y) first")

    def _check_predict_X(self, X: npt.ArrayLike) -> FloatArray:
        """Return the points (or the Gram ``K(X_test, X_train)``) to predict, in the dtype of the fit."""
        self._check_fitted()
        points = check_X(X)
        if points.dtype != self._fit_dtype:
            points = check.as_array(points, "X", self._fit_dtype, 2)
        if points.shape[1] != self.n_features_in_:
            raise wrong_columns(points.shape[1], self.n_features_in_, type(self).__name__, self._fit_on_gram)
        return points
