"""The predictions' cases (docs/theory.md, section 9): the infinite ensemble's Gaussian, widenet against neural-tangents.

``predict_ensemble``: the mean and covariance at test points of the infinite ensemble of
neural-tangents' network (``stax.serial(Dense(n, W_std, b_std), act, ..., Dense(1, ...))``,
NTK parametrization: widenet's ``parametrization="ntk", multipliers=True``) trained by gradient
flow for a time ``t`` (None: to convergence), ``get="ntk"``, or its readout only
(``get="nngp"``), with ``diag_reg`` relative to the mean diagonal: widenet's
``widenet.predict.gradient_descent_mse_ensemble(LimitKernel, ...)`` against
neural-tangents' ``nt.predict.gradient_descent_mse_ensemble(kernel_fn, ...)`` with the same
arguments. A call computes every Gram it needs and the eigendecomposition (the kernel's
jit-compilation is untimed). The answer is the mean and the covariance, flattened.
``widenet_eigh`` refuses every Cholesky factorization (the eigendecomposition answers
``t = None`` too, as before it was factorized); ``widenet_two_passes`` computes the NNGP and
the tangent kernel by a call each, as before they came from one pass.

Small cases check the conventions (every activation and depth, both kinds, finite and
infinite time); the large ones time the whole prediction.
"""

from __future__ import annotations

import functools
import math
from types import SimpleNamespace

import numpy as np

import fit_cases
import nt_peer
import nt_runner
import widenet
from cases import F64, SEED, inputs
from harness import Case, implements

# Variances other than 1, so that the multipliers matter (as in nt_equality).
VARIANCES = dict(weight_var=1.7, bias_var=0.3, output_var=0.6, output_bias_var=0.2)
LEARNING_RATE, DIAG_REG = 1.0, 1e-4

# The largest difference relative to the largest entry: erf's kernels agree to rounding,
# relu's differ by neural-tangents' arccos on the diagonal (about 1e-9, see deep_peers.py),
# which the solve at convergence amplifies by up to the inverse of its ridge, 1e-4.
TOLERANCE = {"erf": 1e-12, "relu": 1e-7}


def predict_ensemble(activation: str, depth: int, get: str, t, m: int, m_test: int, d: int) -> Case:
    """``t``: the time (the flow's is ``LEARNING_RATE t``), or None for convergence."""
    def setup():
        X, X_test = inputs(m, d, F64, SEED + 31), inputs(m_test, d, F64, SEED + 32)
        y = np.sin(X @ np.linspace(-1.0, 1.0, d))
        kernel = widenet.LimitKernel(activation, "ntk", depth=depth, multipliers=True, **VARIANCES)
        return SimpleNamespace(X=X, y=y, X_test=X_test, t=t, get=get, kernel=kernel, activation=activation,
                               depth=depth)

    when = "converged" if t is None else f"t={t:g}"
    return Case("predict_ensemble", f"{activation},depth{depth},{get},{when},m{m}", F64,
                f"m={m} m_test={m_test} d={d}", setup, reference="widenet", tolerance=TOLERANCE[activation])


def _widenet_call(p, kernel):
    def call():
        prediction = widenet.predict.gradient_descent_mse_ensemble(kernel, p.X, p.y, learning_rate=LEARNING_RATE,
                                                                   diag_reg=DIAG_REG)
        mean, cov = prediction(p.t, p.X_test, get=p.get, compute_cov=True)
        return np.concatenate([mean.ravel(), cov.ravel()])
    return call


@implements("predict_ensemble", "widenet")
def _(p):
    return _widenet_call(p, p.kernel)


@implements("predict_ensemble", "widenet_eigh")
def _(p):
    """Every Cholesky factorization refused: the eigendecomposition at t = infinity too, as before."""
    call = _widenet_call(p, p.kernel)

    def eigendecomposition_only():
        with fit_cases.eigendecomposition_only():
            return call()
    return eigendecomposition_only


class _TwoPasses:
    """A LimitKernel's kernels one kind per call (a model with ``ntk`` and ``nngp`` methods), as before the pair."""

    def __init__(self, kernel):
        options = {name: value for name, value in kernel.options.items() if name != "kind"}
        self.kernels = {kind: widenet.LimitKernel(kind=kind, **options) for kind in ("ntk", "nngp")}

    def ntk(self, X1, X2=None):
        return self.kernels["ntk"](X1, X2)

    def nngp(self, X1, X2=None):
        return self.kernels["nngp"](X1, X2)


@implements("predict_ensemble", "widenet_two_passes")
def _(p):
    return _widenet_call(p, _TwoPasses(p.kernel))


def _problem(p) -> nt_peer.Problem:
    problem = nt_peer.limit_problem(p.X, p.activation, p.depth, tuple(VARIANCES.values()), True)
    problem.prediction = dict(y=p.y, X_test=p.X_test, t=math.nan if p.t is None else p.t, lr=LEARNING_RATE,
                              diag_reg=DIAG_REG, get=p.get)
    return problem


@implements("predict_ensemble", "nt")
def _(p):
    return nt_peer.run_row(p, functools.partial(_problem, p), nt_runner.PREDICT)


def build(quick: bool) -> list:
    m, m_test = (256, 64) if quick else (2048, 512)
    timed = [predict_ensemble(activation, 3, "ntk", t, m, m_test, 64) for activation in ("relu", "erf")
             for t in (100.0, None)]
    conventions = [predict_ensemble(activation, depth, get, t, 48, 12, 8) for activation in ("relu", "erf")
                   for depth in (1, 2, 3) for get, t in (("ntk", 3.0), ("ntk", None), ("nngp", 3.0), ("nngp", None))]
    return timed + conventions
