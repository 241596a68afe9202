"""The well-posed fits and solves, by Cholesky, against scikit-learn and the eigendecomposition they replaced.

``kernel_fit``: ``KernelLeastSquares(kernel="rbf", ridge=1e-3).fit`` on m points (4000 and
10,000) of dimension d, against scikit-learn's ``KernelRidge(kernel="rbf", alpha=1e-3)``
with the same ``gamma``;
``ntk_fit``: ``NTKRegressor(activation="relu", ridge=1e-3).fit``, against ``KernelRidge(
kernel="precomputed", alpha=1e-3)`` fitted on ``widenet.limit_kernel``'s Gram (computed in
the timed call: what a user choosing it pays). The answer is ``dual_coef_``. ``eigh`` rows
force the eigendecomposition the fits ran before (every factorization refused); they run at
m = 4000 only (at 10,000 a call takes minutes).

``min_norm``: ``widenet.min_norm_solution`` of a full-rank wide matrix against
``numpy.linalg.lstsq``; ``gp_mean``: the posterior mean of ``widenet.predict.gp_inference``
with a ridge (no covariance), against the eigendecomposition path.
"""

from __future__ import annotations

import contextlib
from types import SimpleNamespace

import numpy as np

import widenet
from cases import F64, SEED, inputs
from harness import Case, Skip, Target, implements
from widenet import _cholesky

RIDGE = 1e-3
# dual coefficients of a ridge-1e-3 system: both solves are accurate to about kappa eps, kappa < 1e7
TOLERANCE = 1e-6
EIGH_LARGEST = 4000  # the most points the eigendecomposition rows are timed at


@contextlib.contextmanager
def eigendecomposition_only():
    """Refuse every Cholesky factorization: the fits take the eigendecomposition, as before."""
    factorize = _cholesky.factorize
    _cholesky.factorize = lambda *args, **kwargs: None
    try:
        yield
    finally:
        _cholesky.factorize = factorize


def _points(m: int, d: int, seed: int) -> SimpleNamespace:
    X = inputs(m, d, F64, seed)
    return SimpleNamespace(X=X, y=np.sin(X @ np.linspace(-1.0, 1.0, d)), d=d)


def _fit_case(name: str, variant: str, m: int, d: int, seed: int) -> Case:
    return Case(name, f"{variant},m{m}", F64, f"m={m} d={d} ridge={RIDGE:g}", lambda: _points(m, d, seed),
                reference="widenet", tolerance=TOLERANCE,
                targets=(Target("widenet", "sklearn", 1.5, "widenet/sklearn <= 1.5"),))


def _register_fits(name: str, make, sklearn_fit) -> None:
    """The rows of a fit: ``make(p)`` the widenet estimator, as it is and by eigendecomposition only,
    and ``sklearn_fit(p)`` scikit-learn's (a call returning the dual coefficients)."""
    implements(name, "widenet")(lambda p: lambda: make(p).fit(p.X, p.y).dual_coef_)

    @implements(name, "widenet_eigh")
    def _(p):
        if len(p.X) > EIGH_LARGEST:
            raise Skip(f"the eigendecomposition of {len(p.X)} points takes minutes; timed at {EIGH_LARGEST}")

        def call():
            with eigendecomposition_only():
                return make(p).fit(p.X, p.y).dual_coef_
        return call

    implements(name, "sklearn", requires=("sklearn",))(sklearn_fit)


def kernel_fit(m: int, d: int) -> Case:
    return _fit_case("kernel_fit", "rbf", m, d, SEED + 41)


def _sklearn_rbf(p):
    from sklearn.kernel_ridge import KernelRidge

    model = KernelRidge(kernel="rbf", gamma=1.0 / p.d, alpha=RIDGE)
    return lambda: model.fit(p.X, p.y).dual_coef_


_register_fits("kernel_fit", lambda p: widenet.KernelLeastSquares("rbf", gamma=1.0 / p.d, ridge=RIDGE), _sklearn_rbf)


def ntk_fit(m: int, d: int) -> Case:
    return _fit_case("ntk_fit", "relu", m, d, SEED + 42)


def _sklearn_ntk(p):
    from sklearn.kernel_ridge import KernelRidge

    model = KernelRidge(kernel="precomputed", alpha=RIDGE)
    return lambda: model.fit(widenet.limit_kernel(p.X, activation="relu", parametrization="ntk"), p.y).dual_coef_


_register_fits("ntk_fit", lambda p: widenet.NTKRegressor(activation="relu", ridge=RIDGE), _sklearn_ntk)


def min_norm(m: int, d: int) -> Case:
    def setup():
        A = inputs(m, d, F64, SEED + 43)
        return SimpleNamespace(A=A, y=np.cos(A[:, 0]))

    return Case("min_norm", "wide", F64, f"m={m} d={d}", setup, reference="numpy", tolerance=1e-8)


@implements("min_norm", "numpy")
def _(p):
    return lambda: np.linalg.lstsq(p.A, p.y, rcond=None)[0]


@implements("min_norm", "widenet")
def _(p):
    return lambda: widenet.min_norm_solution(p.A, p.y)


@implements("min_norm", "widenet_svd")
def _(p):
    def call():
        with eigendecomposition_only():
            return widenet.min_norm_solution(p.A, p.y)
    return call


def gp_mean(m: int, d: int) -> Case:
    def setup():
        p = _points(m, d, SEED + 44)
        kernel = widenet.RBFKernel(1.0 / d)
        return SimpleNamespace(K=kernel(p.X), cross=kernel(p.X[: m // 8] + 0.1, p.X), y=p.y)

    return Case("gp_mean", "rbf", F64, f"m={m} d={d} ridge={RIDGE:g}", setup, reference="widenet_eigh",
                tolerance=TOLERANCE)


def _gp_mean(p):
    return widenet.predict.gp_inference(p.K, p.y, diag_reg=RIDGE, diag_reg_absolute_scale=True)(p.cross)


@implements("gp_mean", "widenet")
def _(p):
    return lambda: _gp_mean(p)


@implements("gp_mean", "widenet_eigh")
def _(p):
    def call():
        with eigendecomposition_only():
            return _gp_mean(p)
    return call


def build(quick: bool) -> list:
    m = 1000 if quick else 4000
    fits = [fit(size, 32) for size in ((m,) if quick else (m, 10_000)) for fit in (kernel_fit, ntk_fit)]
    return fits + [min_norm(m // 2, m), gp_mean(m, 32)]
