"""Least squares and kernel regression.

The minimum-norm solution, gradient descent on linear least squares, kernel least squares
and regression with the infinite-width kernels.
"""

from widenet.regression.estimators import KernelLeastSquares, MinNormLeastSquares, NotFittedError
from widenet.regression.least_squares import gradient_descent, min_norm_solution
from widenet.regression.ntk_regression import NTKRegressor

__all__ = [
    "KernelLeastSquares",
    "MinNormLeastSquares",
    "NTKRegressor",
    "NotFittedError",
    "gradient_descent",
    "min_norm_solution",
]
