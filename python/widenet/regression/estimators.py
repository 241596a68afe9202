"""Least-squares estimators with scikit-learn's conventions (docs/theory.md, sections 1 and 2).

- :class:`MinNormLeastSquares`: the minimum-norm linear least-squares fit
  ``w* = A^+ y`` (11.1.3, Proposition 11.2), with the bias of Remark 11.1 as an option;
- :class:`KernelLeastSquares`: the kernel least-squares estimator (11.2.9)-(11.2.10),
  ``alpha`` the minimum-norm minimizer of ``|G alpha - y|``, prediction
  ``sum_j alpha_j K(x, x_j)``; optionally with a ridge term, and with
  ``kernel="precomputed"`` on Gram matrices given in place of the points.

Both follow the estimator API of scikit-learn (``__init__`` only stores the
hyper-parameters, ``fit`` validates and returns ``self``, fitted attributes end in ``_``,
``get_params``/``set_params``, ``score`` is R^2). With scikit-learn installed they are its
``BaseEstimator`` and ``RegressorMixin`` (cloned, cross-validated and searched like its own,
passing its ``check_estimator``), and :class:`NotFittedError` is its ``NotFittedError``;
without it they are plain classes with the same methods. The classes are made on first
access, so that importing this module does not import scikit-learn
(:mod:`widenet.regression._classes` explains how).

float32 data stay float32: an estimator fitted on float32 ``X`` computes its kernels (or
products) in float32, converting the points it predicts to float32, and predicts in the
dtype of the kernel's values: float32, or for the tangent kernel of a network the network's
dtype. One fitted on anything else works in float64. The fits themselves are solved in
float64.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, List, Optional, TypeVar, Union

import numpy as np
import numpy.typing as npt

from widenet import _cholesky, _memory, _solve
from widenet import _validation as check
from widenet._native import _core
from widenet._types import FloatArray, KernelName
from widenet.kernels import Kernel, as_kernel
from widenet.regression._body import EstimatorBody
from widenet.regression._checks import PRECOMPUTED, check_train_gram, check_X, check_y
from widenet.regression._classes import ERROR, REGRESSOR, PlainEstimator, exported, register
from widenet.regression.least_squares import augment, min_norm_solution

KERNEL_NAMES = _core.KERNELS
"""The classic kernels of the compiled core, by the names :class:`KernelLeastSquares` takes.

It also takes ``"poly"`` (for ``"polynomial"``) and ``"precomputed"``.
"""

_KERNEL_VALUES = (*KERNEL_NAMES, "poly", PRECOMPUTED)

_MinNormSelf = TypeVar("_MinNormSelf", bound="_MinNormLeastSquaresBody")
_KernelSelf = TypeVar("_KernelSelf", bound="_KernelLeastSquaresBody")


class _MinNormLeastSquaresBody(EstimatorBody):
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

    Examples
    --------
    >>> import numpy as np, widenet
    >>> X = np.array([[1.0, 1.0]])  # one point, two unknowns: the shortest w with w.x = 2
    >>> widenet.MinNormLeastSquares().fit(X, [2.0]).coef_
    array([1., 1.])
    """

    def __init__(self, fit_intercept: bool = False) -> None:
        self.fit_intercept = fit_intercept

    def fit(self: _MinNormSelf, X: npt.ArrayLike, y: npt.ArrayLike) -> _MinNormSelf:
        """Compute ``(b, w) = A^+ y`` for ``A = X`` or ``(1, X)``; return ``self``.

        ``y`` has shape (m,) or (m, n_targets).
        """
        if not isinstance(self.fit_intercept, (bool, np.bool_)):
            raise TypeError(f"fit_intercept: expected a bool, got {self.fit_intercept!r}")
        points = check_X(X)
        targets = check_y(y, points.shape[0], type(self).__name__)
        _memory.check_normal_equations("MinNormLeastSquares.fit", points.shape[0],
                                       points.shape[1] + self.fit_intercept, copies=int(self.fit_intercept))
        A = augment(points) if self.fit_intercept else points
        solution = min_norm_solution(A, targets)
        bias = solution[0] if self.fit_intercept else np.zeros(targets.shape[1:])
        self.coef_: FloatArray = (solution[1:] if self.fit_intercept else solution).T
        self.intercept_: Union[float, FloatArray] = float(bias) if targets.ndim == 1 else bias
        self._fitted_on(points)
        return self

    def predict(self, X: npt.ArrayLike) -> FloatArray:
        """Return ``X w + b`` in the dtype of the fitted ``X``.

        The shape is (m,), or (m, n_targets) when fitted on 2-D targets.
        """
        points = self._check_predict_X(X)
        return (points @ self.coef_.T + self.intercept_).astype(points.dtype, copy=False)


class _KernelLeastSquaresBody(EstimatorBody):
    """The kernel least-squares estimator (11.2.9)-(11.2.10).

    ``fit`` computes the Gram matrix ``G = (K(x_i, x_j))`` and ``alpha``, the minimum-norm
    minimizer of ``|G alpha - y|`` (11.2.9): ``alpha = G^+ y`` from the eigendecomposition
    of the symmetric ``G``, eigenvalues below ``m eps`` times the largest treated as zero,
    so a singular ``G`` (duplicated points, a polynomial kernel of low degree with more
    points than features) is handled. By Proposition 11.9 any minimizer gives the same
    predictor, the minimum-norm solution in feature space. With ``ridge > 0``,
    ``alpha = (G + ridge I)^{-1} y`` (kernel ridge regression). ``predict`` evaluates
    ``sum_j alpha_j K(x, x_j)`` (11.2.10).

    When ``G + ridge I`` is positive definite and well conditioned, ``alpha`` comes from
    its Cholesky factorization instead, about 27 times fewer flops for the same answer:
    when LAPACK's estimate of its reciprocal condition number is at least 100 times the
    larger of the rank cut-off and 1e-10 (condition numbers up to about 1e8 in float64).
    Otherwise, or when the factorization fails, the eigendecomposition gives the
    minimum-norm answer above (docs/theory.md, section 2).

    With ``kernel="precomputed"`` (as scikit-learn's ``KernelRidge``) ``fit`` takes the Gram
    ``G = K(X_train, X_train)`` itself, of shape (m, m) and symmetric, in place of the
    points, and ``predict`` takes ``K(X_test, X_train)``, of shape (m_test, m).

    Parameters
    ----------
    kernel : str, callable or widenet kernel
        ``"linear"`` ``x.z``, ``"polynomial"`` ``(gamma x.z + coef0)^degree``, ``"rbf"``
        ``exp(-gamma |x - z|^2)``, ``"laplace"`` ``exp(-gamma |x - z|)`` (Example 11.10); a
        function ``K(X1, X2) -> (m1, m2) array``; a :class:`widenet.kernels.Kernel`
        (e.g. the tangent kernel of a network), whose own parameters are used; or
        ``"precomputed"``.
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
        The training points ``x_j`` (a copy, in the dtype of the fitted ``X``); not set with
        ``kernel="precomputed"``.
    kernel_ : widenet.kernels.Kernel
        The kernel object used; not set with ``kernel="precomputed"``.
    rank_ : int
        Numerical rank of ``G`` (of ``G + ridge I`` when ``ridge > 0``).
    n_features_in_ : int
        The number of features of ``X``, or with ``kernel="precomputed"`` the number of
        training points ``m``.

    Examples
    --------
    >>> import numpy as np, widenet
    >>> X = np.random.default_rng(0).standard_normal((30, 2))
    >>> model = widenet.KernelLeastSquares(kernel="rbf", gamma=0.5).fit(X, np.sin(X[:, 0]))
    >>> bool(np.allclose(model.predict(X), np.sin(X[:, 0])))  # it interpolates
    True
    """

    def __init__(self, kernel: Union[KernelName, Callable[..., Any], Kernel] = "rbf", gamma: Optional[float] = None,
                 degree: int = 3, coef0: float = 1.0, ridge: float = 0.0) -> None:
        self.kernel = kernel
        self.gamma = gamma
        self.degree = degree
        self.coef0 = coef0
        self.ridge = ridge

    def fit(self: _KernelSelf, X: npt.ArrayLike, y: npt.ArrayLike) -> _KernelSelf:
        """Solve (11.2.9) for ``alpha`` on the training data; return ``self``.

        ``X`` has shape (m, n_features), or (m, m) with ``kernel="precomputed"``; ``y`` has
        shape (m,) or (m, n_targets).
        """
        ridge = check.non_negative_real(self.ridge, "ridge")
        if isinstance(self.kernel, str):
            check.choice(self.kernel, "kernel", _KERNEL_VALUES)
        on_gram = self._takes_gram()
        data = check_train_gram(X) if on_gram else check_X(X)  # the Gram, or the points
        targets = check_y(y, data.shape[0], type(self).__name__)
        kernel = None if on_gram else as_kernel(self.kernel, self.gamma, self.degree, self.coef0,
                                                n_features=data.shape[1])
        _memory.check_kernel_fit("KernelLeastSquares.fit", data.shape[0], 0 if kernel is None else
                                 kernel.gram_copies("cpp"), gram_dtype=check.float_dtype_of(data))
        G = data if kernel is None else np.asarray(kernel(data))
        tolerance = _solve.rank_tolerance(check.float_dtype_of(G), G.shape[0])
        cholesky = _cholesky.factorize(G, tolerance, ridge)
        if cholesky is not None:  # well posed: the one solution, every eigenvalue kept
            self.dual_coef_: npt.NDArray[np.float64] = cholesky.solve(targets)
            self.rank_ = G.shape[0]
        else:
            _memory.check_kernel_eigh("KernelLeastSquares.fit", G.shape[0])
            spectrum = _solve.symmetric(G, tolerance, ridge)
            spectrum.warn_if_ill_conditioned(f"The Gram matrix of {G.shape[0]} points"
                                             + (" plus ridge I" if ridge else ""), "; a ridge > 0 regularises it.")
            self.dual_coef_ = spectrum.pseudo_inverse_times(targets)
            self.rank_ = spectrum.rank
        self._fitted_on(data, on_gram=on_gram)
        if kernel is None:
            self._forget("X_fit_", "kernel_")
        else:
            self.X_fit_ = data.copy()
            self.kernel_: Kernel = kernel
        return self

    def predict(self, X: npt.ArrayLike) -> FloatArray:
        """Return ``sum_j alpha_j K(x, x_j)`` (11.2.10) for the rows of ``X``.

        ``X`` has shape (m_test, n_features), or with ``kernel="precomputed"`` it is
        ``K(X_test, X_train)``, of shape (m_test, m). The shape is (m_test,), or (m_test,
        n_targets) when fitted on 2-D targets; in the dtype of the kernel's values (that of the
        fitted ``X``, or of a tangent kernel's network), summed in float64.
        """
        points = self._check_predict_X(X)
        cross = points if self._fit_on_gram else np.asarray(self.kernel_(points, self.X_fit_))
        return (cross.astype(np.float64) @ self.dual_coef_).astype(check.float_dtype_of(cross), copy=False)


class _NotFittedErrorBody:
    """Raised when an estimator is used before ``fit``.

    A ValueError and an AttributeError; with scikit-learn installed, its
    ``sklearn.exceptions.NotFittedError``.

    Examples
    --------
    >>> import numpy as np, widenet
    >>> try:
    ...     widenet.KernelLeastSquares().predict(np.eye(2))
    ... except widenet.NotFittedError:
    ...     print("fit it first")
    fit it first
    """


register(__name__, "MinNormLeastSquares", _MinNormLeastSquaresBody, REGRESSOR)
register(__name__, "KernelLeastSquares", _KernelLeastSquaresBody, REGRESSOR)
register(__name__, "NotFittedError", _NotFittedErrorBody, ERROR)
_EXPORTED = ("KernelLeastSquares", "MinNormLeastSquares", "NotFittedError")

if TYPE_CHECKING:  # the type checker sees the classes as they are without scikit-learn: the same methods
    class MinNormLeastSquares(_MinNormLeastSquaresBody, PlainEstimator): ...  # noqa: D101

    class KernelLeastSquares(_KernelLeastSquaresBody, PlainEstimator): ...  # noqa: D101

    class NotFittedError(_NotFittedErrorBody, ValueError, AttributeError): ...  # noqa: D101
else:
    def __getattr__(name: str) -> type:
        return exported(__name__, name, _EXPORTED)


def __dir__() -> List[str]:
    return sorted({*globals(), *_EXPORTED})
