"""Numerical checks of Assumption 11.12 and Theorem 11.13 (docs/theory.md, section 4).

:func:`check_assumptions` measures, for a network (shallow or deep) at its initial
parameters ``w0``, the constants of Assumption 11.12: the extreme eigenvalues of the
tangent Gram (11.4.1), ``f(w0)``, the gradient bound ``U`` and the Lipschitz constant
``L`` of the gradient on the ball ``B_r(w0)`` (11.4.2), the radius ``r`` and
condition (c) (11.4.3), and the admissible step (11.4.4). :func:`check_convergence` runs
gradient descent at that step and compares the run with the bounds (11.4.6a) and
(11.4.6b) of Theorem 11.13.

``U`` and ``L`` are suprema over a ball in ``R^P``; they are *estimated* from points of
the ball, so the estimates are LOWER bounds of the true constants. Every estimate is
attained at points the report keeps (:class:`NormWitness`, :class:`SecantWitness`), so it
can be recomputed independently.

Loss scaling. The chapter's objective is the sum loss ``f = sum_i (Phi(x_i, w) - y_i)^2``
(11.0.1b), and Assumption 11.12 and Theorem 11.13 are stated for it. With ``loss="mean"``
or ``"half_sum"`` the objective is ``s f`` (``s = 1/m`` or ``1/2``), and a step ``h`` on
``s f`` is the step ``h s`` on ``f``. So the eigenvalues, ``f(w0)``, ``U``, ``L`` and ``r``
are always the chapter's (sum-loss) quantities, the admissible step for the scaled loss
is ``1 / (s (lambda_min + lambda_max))``, and the loss bound (11.4.6b) of a run with step
``h`` on ``s f`` reads ``s f(w_k) <= (1 - h s lambda_min)^{2k} s f(w0)``.
"""

from widenet.dynamics.convergence._assumptions import check_assumptions
from widenet.dynamics.convergence._check import check_convergence
from widenet.dynamics.convergence._reports import AssumptionReport, ConvergenceCheck, NormWitness, SecantWitness

__all__ = ["AssumptionReport", "ConvergenceCheck", "NormWitness", "SecantWitness", "check_assumptions",
           "check_convergence"]

# The public names keep the module they are documented, pickled and cached under (a sweep's
# cache key holds its function's module).
for _name in __all__:
    globals()[_name].__module__ = __name__
del _name
