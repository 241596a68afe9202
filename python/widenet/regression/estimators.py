"""Least-squares estimators with scikit-learn's conventions (docs/theory.md, sections 1 and 2).

- :class:`MinNormLeastSquares`: the minimum-norm linear least-squares fit
  ``w* = A^+ y`` (11.1.3, Proposition 11.2), with the bias of Remark 11.1 as an option;
- :class:`KernelLeastSquares`: the kernel least-squares estimator (11.2.9)-(11.2.10),
  ``alpha`` the minimum-norm minimizer of ``|G alpha - y|``, prediction
  ``sum_j alpha_j K(x, x_j)``; optionally with a ridge term.

Both follow the estimator API of scikit-learn (``__init__`` only stores the
hyper-parameters, ``fit`` validates and returns ``self``, fitted attributes end in ``_``,
``get_params``/``set_params``, ``score`` is R^2) without depending on it: with
scikit-learn installed they can be cloned and cross-validated, and they pass its
``check_estimator`` except ``check_estimators_unfitted``, which accepts only
scikit-learn's own ``NotFittedError``.

float32 data stay float32: an estimator fitted on float32 ``X`` computes its kernels (or
products) in float32, converting the points it predicts to float32, and predicts in the
dtype of the kernel's values: float32, or for the tangent kernel of a network the network's
dtype. One fitted on anything else works in float64. The fits themselves are solved in
float64.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Dict, List, Optional, TypeVar, Union

import numpy as np
import numpy.typing as npt

from widenet import _memory, _solve
from widenet import _validation as check
from widenet._native import _core
from widenet._optional import optional_module_for
from widenet._types import FloatArray, KernelName
from widenet.kernels import Kernel, as_kernel
from widenet.regression.least_squares import augment, min_norm_solution

KERNEL_NAMES = _core.KERNELS
"""Kernel names :class:`KernelLeastSquares` accepts (also ``"poly"``): the compiled core's classic kernels."""

_FLOAT64 = np.dtype(np.float64)

_Self = TypeVar("_Self", bound="_Estimator")


class NotFittedError(ValueError, AttributeError):
    """Raised when an estimator is used before ``fit``.

    A ValueError and an AttributeError, like scikit-learn's ``NotFittedError``.
    """


def _as_real_array(value: object, name: str) -> np.ndarray:
    """Return ``value`` as an array of real numbers.

    Object arrays of numbers are converted, sparse matrices and complex numbers are refused
    (with scikit-learn's wording).
    """
    if hasattr(value, "toarray"):
        raise TypeError(f"{name}: sparse input is not supported, pass a dense array ({name}.toarray())")
    array = check.asarray(value, name)
    if array.dtype.kind == "c":
        raise ValueError(f"{name}: Complex data not supported, got dtype {array.dtype}")
    if array.dtype.kind == "O":
        try:
            array = array.astype(np.float64)
        except (TypeError, ValueError) as error:
            raise type(error)(f"{name}: expected numbers ({error})") from error
        except OverflowError as error:  # a Python int beyond float64
            raise ValueError(f"{name}: expected numbers within the range of float64 ({error})") from error
    return array


def _check_X(X: object, name: str = "X") -> FloatArray:
    """Return ``X`` as a 2-D, finite array with at least one row and one column.

    float32 if given float32, float64 otherwise (messages worded as scikit-learn's, which its
    estimator checks look for).
    """
    array = _as_real_array(X, name)
    if array.ndim == 1:
        raise ValueError(f"{name}: expected a 2-D array, got shape {array.shape}. Reshape your data: "
                         f"{name}.reshape(-1, 1) for one feature, {name}.reshape(1, -1) for one sample")
    points = check.as_points(array, name, min_rows=0)  # the empty cases with scikit-learn's wording
    for axis, word in ((0, "sample"), (1, "feature")):
        if points.shape[axis] == 0:
            raise ValueError(f"{name}: found array with 0 {word}(s) (shape={points.shape}) while a minimum of 1 "
                             "is required.")
    return points


def _check_y(y: object, rows: int, estimator: str) -> npt.NDArray[np.float64]:
    """Return the targets, of shape (rows,) or (rows, t), t >= 1, finite float64."""
    if y is None:
        raise ValueError(f"y: {estimator} requires y to be passed, but the target y is None")
    array = _as_real_array(y, "y")
    targets = check.as_array(array, "y", _FLOAT64, 2 if array.ndim == 2 else 1)
    if targets.shape[0] != rows or (targets.ndim == 2 and targets.shape[1] == 0):
        raise ValueError(f"y: expected shape ({rows},) or ({rows}, t) with t >= 1, one row per row of X, "
                         f"got {targets.shape}")
    return targets


class _Estimator:
    """The parts of scikit-learn's ``BaseEstimator`` these estimators need.

    The hyper-parameters are the arguments of ``__init__``, stored under the same names.
    """

    # set by fit (declared here for the type checker; absent before fit)
    n_features_in_: int
    X_fit_: FloatArray
    predict: Callable[[npt.ArrayLike], FloatArray]

    @classmethod
    def _param_names(cls) -> List[str]:
        parameters = inspect.signature(cls.__init__).parameters.values()
        return sorted(p.name for p in parameters
                      if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))

    def get_params(self, deep: bool = True) -> Dict[str, Any]:
        """Return the hyper-parameters as a dict.

        ``deep`` is accepted for scikit-learn; no hyper-parameter is itself an estimator.
        """
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self: _Self, **params: Any) -> _Self:
        """Set hyper-parameters by name and return ``self``; values are checked by ``fit``."""
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"{name}: not a parameter of {type(self).__name__}; expected one of "
                                 f"{', '.join(valid)}")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        parameters = inspect.signature(type(self).__init__).parameters.values()
        changed = [f"{p.name}={getattr(self, p.name)!r}" for p in parameters
                   if p.name != "self" and not _is_default(getattr(self, p.name), p.default)]
        return f"{type(self).__name__}({', '.join(changed)})"

    def __sklearn_tags__(self) -> Any:
        # Only scikit-learn calls this, so scikit-learn is importable whenever it runs.
        with optional_module_for("Tagging the estimators for scikit-learn", "sklearn"):
            from sklearn.utils import RegressorTags, Tags, TargetTags

        return Tags(estimator_type="regressor", target_tags=TargetTags(required=True, multi_output=True),
                    regressor_tags=RegressorTags())

    def _check_fitted(self) -> None:
        if not hasattr(self, "n_features_in_"):
            raise NotFittedError(f"This {type(self).__name__} instance is not fitted yet: call fit(X, y) first")

    def _check_predict_X(self, X: npt.ArrayLike) -> FloatArray:
        """Return the points to predict, in the dtype the estimator was fitted in."""
        self._check_fitted()
        points = _check_X(X)
        if points.dtype != self._fitted_dtype():
            points = check.as_array(points, "X", self._fitted_dtype(), 2)
        if points.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {points.shape[1]} features, but {type(self).__name__} is expecting "
                             f"{self.n_features_in_} features as input")
        return points

    def _fitted_dtype(self) -> np.dtype:
        return self.X_fit_.dtype

    def score(self, X: npt.ArrayLike, y: npt.ArrayLike) -> float:
        """Return the coefficient of determination ``R^2 = 1 - |y - y_hat|^2 / |y - mean(y)|^2`` of ``predict(X)``.

        It is averaged over target columns (1 for a perfect fit, 0 for a constant
        ``mean(y)``; a constant ``y`` scores 1 if predicted exactly, else 0).
        """
        prediction = self.predict(X)
        rows = prediction.shape[0]
        prediction = prediction.reshape(rows, -1)
        targets = _check_y(y, rows, type(self).__name__).reshape(rows, -1)
        if targets.shape != prediction.shape:
            raise ValueError(f"y: expected {prediction.shape[1]} target column(s) like the fitted targets, got "
                             f"shape {targets.shape}")
        residual = np.sum((targets - prediction) ** 2, axis=0)
        total = np.sum((targets - targets.mean(axis=0)) ** 2, axis=0)
        safe = np.where(total > 0, total, 1.0)
        r2 = np.where(total > 0, 1.0 - residual / safe, np.where(residual == 0, 1.0, 0.0))
        return float(np.mean(r2))


def _is_default(value: object, default: object) -> bool:
    return value is default or (type(value) is type(default) and isinstance(value, (str, int, float))
                                and value == default)


class MinNormLeastSquares(_Estimator):
    """Linear least squares by the minimum-norm solution ``w* = A^+ y`` (11.1.3).

    ``A`` is ``X``, or ``(1, X)`` with ``fit_intercept`` (Remark 11.1): then the norm that is
    minimized is ``|(b, w)|``, bias included, as in the chapter; where the minimizer is
    unique (augmented ``X`` of full column rank) this is ordinary least squares.
    By Proposition 11.2, ``w*`` lies in the span of the (augmented) data points, and it
    is the limit of gradient descent from ``w0 = 0`` (Theorem 11.3).

    Parameters
    ----------
    fit_intercept : bool
        Fit a bias ``b`` through the augmentation ``(1, x)``.

    Attributes
    ----------
    coef_ : ndarray, shape (n_features,) or (n_targets, n_features)
        ``w`` (scikit-learn's layout for several targets), in the dtype of the fitted ``X``.
    intercept_ : float or ndarray of shape (n_targets,)
        ``b``; 0 without ``fit_intercept``.
    n_features_in_ : int
    """

    def __init__(self, fit_intercept: bool = False) -> None:
        self.fit_intercept = fit_intercept

    def fit(self, X: npt.ArrayLike, y: npt.ArrayLike) -> MinNormLeastSquares:
        """Compute ``(b, w) = A^+ y`` for ``A = X`` or ``(1, X)``; return ``self``.

        ``y`` has shape (m,) or (m, n_targets).
        """
        if not isinstance(self.fit_intercept, (bool, np.bool_)):
            raise TypeError(f"fit_intercept: expected a bool, got {self.fit_intercept!r}")
        points = _check_X(X)
        targets = _check_y(y, points.shape[0], type(self).__name__)
        _memory.check_least_squares("MinNormLeastSquares.fit", points.shape[0], points.shape[1] + self.fit_intercept,
                                    copies=int(self.fit_intercept))
        A = augment(points) if self.fit_intercept else points
        solution = min_norm_solution(A, targets)
        bias = solution[0] if self.fit_intercept else np.zeros(targets.shape[1:])
        self.coef_: FloatArray = (solution[1:] if self.fit_intercept else solution).T
        self.intercept_: Union[float, FloatArray] = float(bias) if targets.ndim == 1 else bias
        self.n_features_in_ = points.shape[1]
        return self

    def _fitted_dtype(self) -> np.dtype:
        return self.coef_.dtype

    def predict(self, X: npt.ArrayLike) -> FloatArray:
        """Return ``X w + b`` in the dtype of the fitted ``X``.

        The shape is (m,), or (m, n_targets) when fitted on 2-D targets.
        """
        points = self._check_predict_X(X)
        return (points @ self.coef_.T + self.intercept_).astype(points.dtype, copy=False)


class KernelLeastSquares(_Estimator):
    """The kernel least-squares estimator (11.2.9)-(11.2.10).

    ``fit`` computes the Gram matrix ``G = (K(x_i, x_j))`` and ``alpha``, the minimum-norm
    minimizer of ``|G alpha - y|`` (11.2.9): ``alpha = G^+ y`` from the eigendecomposition
    of the symmetric ``G``, eigenvalues below ``m eps`` times the largest treated as zero,
    so a singular ``G`` (duplicated points, a polynomial kernel of low degree with more
    points than features) is handled. By Proposition 11.9 any minimizer gives the same
    predictor, the minimum-norm solution in feature space. With ``ridge > 0``,
    ``alpha = (G + ridge I)^{-1} y`` (kernel ridge regression). ``predict`` evaluates
    ``sum_j alpha_j K(x, x_j)`` (11.2.10).

    Parameters
    ----------
    kernel : str, callable or widenet kernel
        ``"linear"`` ``x.z``, ``"polynomial"`` ``(gamma x.z + coef0)^degree``, ``"rbf"``
        ``exp(-gamma |x - z|^2)``, ``"laplace"`` ``exp(-gamma |x - z|)`` (Example 11.10); a
        function ``K(X1, X2) -> (m1, m2) array``; or a :class:`widenet.kernels.Kernel`
        (e.g. the tangent kernel of a network), whose own parameters are used.
    gamma : float, optional
        Default ``1 / n_features`` for rbf and laplace, ``1`` for polynomial.
    degree : int
        Polynomial degree ``r``.
    coef0 : float
        Polynomial offset ``c``.
    ridge : float
        Ridge term ``>= 0``; 0 is the chapter's estimator.

    The rank cutoff ``m eps`` uses the ``eps`` of the Gram's dtype: a float32 Gram (of
    float32 data, or of a float32 network's tangent kernel) holds its eigenvalues only to
    about ``m eps_float32`` of the largest, and the rest is rounding, not signal.

    Attributes
    ----------
    dual_coef_ : ndarray, shape (m,) or (m, n_targets)
        ``alpha`` (float64: solved in float64).
    X_fit_ : ndarray, shape (m, n_features)
        The training points ``x_j`` (a copy, in the dtype of the fitted ``X``).
    kernel_ : widenet.kernels.Kernel
        The kernel object used.
    rank_ : int
        Numerical rank of ``G`` (of ``G + ridge I`` when ``ridge > 0``).
    n_features_in_ : int
    """

    def __init__(self, kernel: Union[KernelName, Callable[..., Any], Kernel] = "rbf", gamma: Optional[float] = None,
                 degree: int = 3, coef0: float = 1.0, ridge: float = 0.0) -> None:
        self.kernel = kernel
        self.gamma = gamma
        self.degree = degree
        self.coef0 = coef0
        self.ridge = ridge

    def fit(self, X: npt.ArrayLike, y: npt.ArrayLike) -> KernelLeastSquares:
        """Solve (11.2.9) for ``alpha`` on the training data; return ``self``.

        ``y`` has shape (m,) or (m, n_targets).
        """
        ridge = check.non_negative_real(self.ridge, "ridge")
        points = _check_X(X)
        targets = _check_y(y, points.shape[0], type(self).__name__)
        kernel = as_kernel(self.kernel, self.gamma, self.degree, self.coef0, n_features=points.shape[1])
        _memory.check_kernel_fit("KernelLeastSquares.fit", points.shape[0], kernel.gram_copies("cpp"))
        G = np.asarray(kernel(points))
        spectrum = _solve.symmetric(G, _solve.rank_tolerance(check.float_dtype_of(G), points.shape[0]), ridge)
        spectrum.warn_if_ill_conditioned(f"The Gram matrix of {points.shape[0]} points"
                                         + (" plus ridge I" if ridge else ""), "; a ridge > 0 regularises it.")
        self.dual_coef_: npt.NDArray[np.float64] = spectrum.pseudo_inverse_times(targets)
        self.X_fit_ = points.copy()
        self.kernel_ = kernel
        self.rank_ = spectrum.rank
        self.n_features_in_ = points.shape[1]
        return self

    def predict(self, X: npt.ArrayLike) -> FloatArray:
        """Return ``sum_j alpha_j K(x, x_j)`` (11.2.10) for the rows of ``X``.

        The shape is (m,), or (m, n_targets) when fitted on 2-D targets; in the dtype of the
        kernel's values (that of the fitted ``X``, or of a tangent kernel's network), summed
        in float64.
        """
        points = self._check_predict_X(X)
        cross = np.asarray(self.kernel_(points, self.X_fit_))
        return (cross.astype(np.float64) @ self.dual_coef_).astype(check.float_dtype_of(cross), copy=False)

