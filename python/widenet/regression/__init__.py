"""Least squares and kernel regression.

The minimum-norm solution, gradient descent on linear least squares, kernel least squares
and regression with the infinite-width kernels. The estimator classes and ``NotFittedError``
are made on first access, on scikit-learn's bases when it is installed
(:mod:`widenet.regression._classes`), so importing this package does not import scikit-learn.
"""

from typing import TYPE_CHECKING, List

from widenet.regression import estimators, ntk_regression  # noqa: F401  (they register the classes)
from widenet.regression._classes import exported
from widenet.regression.least_squares import gradient_descent, min_norm_solution

__all__ = [
    "KernelLeastSquares",
    "MinNormLeastSquares",
    "NTKRegressor",
    "NotFittedError",
    "gradient_descent",
    "min_norm_solution",
]
_CLASSES = ("KernelLeastSquares", "MinNormLeastSquares", "NTKRegressor", "NotFittedError")

if TYPE_CHECKING:
    from widenet.regression.estimators import KernelLeastSquares, MinNormLeastSquares, NotFittedError
    from widenet.regression.ntk_regression import NTKRegressor
else:
    def __getattr__(name: str) -> type:
        globals()[name] = exported(__name__, name, _CLASSES)  # later reads skip this function
        return globals()[name]


def __dir__() -> List[str]:
    return sorted({*globals(), *__all__})
