"""Lazy training: how little a wide network moves, and how closely it follows its linearization.

Measurements for one (width, seed) cell and their width sweeps:

- Theorem 11.23: ``|w_k - w0| <= C n^{-1/2}`` for all ``k`` (LeCun parametrization, step
  ``h ~ 1/n``).
- Proposition 11.25: the tangent Gram moves by ``O(n^{-1/2})`` relative to its size.
- Proposition 11.26: ``sup_k |Phi(x, w_k) - Phi_lin(x, p_k)| <= C n^{-1/2}`` for ``|x| <= 1``.
- Section 11.6: under LeCun training moves mainly the output weights ``v``; under the NTK
  parametrization (11.6.1) every block moves comparably.

What the measurements show (:func:`lazy_training_sweep` with its defaults: tanh, 8
unit-norm points in d = 4, 300 steps of GD on the mean loss, widths 2^6 to 2^14, 6 seeds;
fitted exponent with its 95% interval):

=====================  =========================  =========================
quantity               LeCun, ``h = 0.5/n``       NTK parametrization, ``h = 0.25``
=====================  =========================  =========================
``distance``           -0.55 [-0.58, -0.52]       -0.01 [-0.03, 0.01]
``relative_distance``  -1.05 [-1.08, -1.02]       -0.51 [-0.53, -0.50]
``gap_train``          -1.72 [-1.80, -1.64]       -0.88 [-0.97, -0.79]
``gap_test``           -1.74 [-1.80, -1.67]       -0.84 [-0.91, -0.77]
``kernel_change``      -1.91 [-1.95, -1.87]       -0.92 [-0.98, -0.87]
=====================  =========================  =========================

So ``|w_k - w0|`` under LeCun and ``|w_k - w0| / |w0|`` under the NTK parametrization
scale like ``n^{-1/2}``, as Theorem 11.23 says (the LeCun exponent over this range of
widths is off by a few hundredths, in a direction that depends on the data: -0.46 for
inputs in d = 16 instead of 4, measured with arctan up to 2^13; pre-asymptotic
corrections, which the interval, as it assumes a pure power law, does not cover). The
output gap and the kernel change fall *faster* than the
``n^{-1/2}`` of Propositions 11.25 and 11.26: about ``n^{-1.7}`` to ``n^{-1.9}`` under
LeCun and ``n^{-0.9}`` under the NTK parametrization. The propositions are upper bounds;
the terms they bound are sums over the hidden units of mean-zero fluctuations, which
partly cancel (the ``1/n`` corrections to the tangent kernel known from the literature).

These defaults do not train to convergence: on the default data ``K_LC`` has condition
number about 1600, and after 300 steps the final mean loss is still up to 0.08 (LeCun,
widths 2^6 .. 2^14).
The experiment "lazy-training" of ``widenet reproduce`` runs in a well-conditioned setting
(4 points in d = 12, the sum loss, Theorem 11.23's step) until the loss is below ``1e-6`` of
its start; there the exponents are -2 (gap, kernel change) under LeCun and -1 under the NTK
parametrization.
"""

from widenet.dynamics.lazy_training._cell import lazy_training_cell, lazy_training_sweep
from widenet.dynamics.lazy_training._data import (  # noqa: F401 (re-exported for the experiments and the tests)
    BLOCKS,
    DEFAULT_LR_CONSTANT,
    DEFAULT_SEEDS,
    DEFAULT_WIDTHS,
    QUICK_SEEDS,
    QUICK_WIDTHS,
    LazyTrainingData,
    lazy_training_data,
)
from widenet.dynamics.lazy_training._movement import BlockMovement, compare_parametrizations, parameter_movement

__all__ = [
    "BlockMovement",
    "LazyTrainingData",
    "compare_parametrizations",
    "lazy_training_cell",
    "lazy_training_data",
    "lazy_training_sweep",
    "parameter_movement",
]


# The public names keep the module they are documented, pickled and cached under (a sweep's
# cache key holds its function's module).
for _name in __all__:
    globals()[_name].__module__ = __name__
del _name
