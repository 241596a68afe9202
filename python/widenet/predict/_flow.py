"""A training Gram's eigendecomposition and the factors of gradient flow on it, at any time.

Shared by the predictions: ``exp(-2 rate l t)`` moves the residual's component on each
eigenvector, ``(1 - exp(-2 rate l t)) / l`` accumulates it (both from :mod:`widenet._spectral`).
Eigenvalues at or below the rank tolerance (``m eps`` times the largest) count as zero at
every time: their directions never move, so ``t -> infinity`` joins the pseudo-inverse
continuously, and directions a kernel cannot reach (``K_* q = 0``) stay out of the answer.
A Gram with an eigenvalue clearly below zero is no kernel's and is refused by name.

At ``t = infinity`` alone, a well-posed Gram needs no eigendecomposition:
:func:`limit_factorization` gives the Cholesky factorization whose inverse is then the
answer.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
from numpy.typing import NDArray

from widenet import _cholesky, _solve
from widenet._conditioning import warn_if_ill_conditioned
from widenet._interrupt import is_long_factorization, run_interruptible
from widenet._spectral import flow_decay, flow_filter, gd_decay, gd_filter

# An eigenvalue below -INDEFINITE times the largest is not rounding: the matrix is no Gram.
_INDEFINITE = 1e-8


def limit_factorization(gram: NDArray[np.float64], ridge: float) -> Optional[_cholesky.Cholesky]:
    """Return the Cholesky factorization of ``gram + ridge I`` when :class:`FlowSpectrum` would invert it whole.

    That is when it is well conditioned (:func:`widenet._cholesky.factorize`) and, with
    ``ridge > 0``, ``gram`` has no eigenvalue below ``-m eps l_max`` (which the spectrum
    would refuse, or clip to zero beyond rounding): certified by the factorization of
    ``gram + m eps max(diag) I``, as ``l_max >= max(diag)``. Otherwise None.
    """
    tolerance = _solve.rank_tolerance(np.float64, gram.shape[0])
    if ridge > 0 and not _cholesky.is_positive_definite(gram, tolerance * max(float(np.max(np.diag(gram))), 0.0)):
        return None
    return _cholesky.factorize(gram, tolerance, ridge)


class FlowSpectrum:
    """``gram + ridge I = Q diag(l) Q^T`` and the factors of gradient flow with ``exp(-2 rate l t)``.

    The eigenvalues are kept at unit size (``l = scale * unit_values``), so that a Gram whose
    largest eigenvalue is beyond the float range still gives its finite answers.
    """

    def __init__(self, gram: NDArray[np.float64], ridge: float, rate: float, name: str) -> None:
        self.scale = float(np.max(np.abs(gram))) or 1.0
        # at unit size: no overflow near the float limit
        values, self.vectors = run_interruptible(np.linalg.eigh, gram / self.scale,
                                                 long_call=is_long_factorization(*gram.shape))
        if values[0] < -_INDEFINITE * max(values[-1], 0.0):
            raise ValueError(f"{name}: expected a positive semi-definite Gram; its smallest eigenvalue is "
                             f"{values[0] * self.scale:.3g} against a largest {values[-1] * self.scale:.3g}")
        self.unit_values = np.maximum(values, 0.0) + ridge / self.scale
        self.keep = self.unit_values > _solve.rank_tolerance(np.float64, len(values)) * float(np.max(self.unit_values))
        self.rate = rate
        self.pseudo_inverse = np.divide(1.0, self.unit_values, out=np.zeros_like(self.unit_values),
                                        where=self.keep) / self.scale

    def warn_if_ill_conditioned(self, what: str) -> None:
        """Warn when the eigenvalues kept span more than the conditioning limit (the inverse loses accuracy)."""
        warn_if_ill_conditioned(self.unit_values[self.keep], int(np.count_nonzero(~self.keep)), what,
                                "; a diag_reg > 0, or a finite time, regularises it.", stacklevel=5)

    def check_steps(self, name: str) -> None:
        """Refuse a step ``rate`` with which gradient descent does not converge: ``|1 - 2 rate l_max| >= 1``."""
        largest = float(self.unit_values[-1]) * self.scale
        if self.rate * largest >= 1.0:
            raise ValueError(f"{name}: gradient descent with this step does not converge; the step times the "
                             f"loss's factor must stay below 1/l_max = {1.0 / largest:.6g} (l_max = {largest:.6g}, "
                             f"the largest eigenvalue of the training Gram plus its ridge), got {self.rate:.6g}")

    def factors(self, times: NDArray[np.float64], speed: float = 1.0,
                discrete: bool = False) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Return the decay and the accumulation per time (rows) and eigenvalue; inf allowed.

        For gradient flow ``exp(-2 r l t)`` and ``(1 - exp(-2 r l t)) / l``; with ``discrete``,
        after ``t`` steps of gradient descent, ``(1 - 2 r l)^t`` and ``(1 - (1 - 2 r l)^t) / l``.
        ``speed`` multiplies the times: 2 gives the squared decay.
        """
        rate = self.rate * self.scale  # l = scale * unit value
        scaled = speed * times
        with np.errstate(invalid="ignore", over="ignore"):  # inf * 0 at t = inf: replaced below
            if discrete:
                decay = gd_decay(self.unit_values, rate, np.where(np.isinf(scaled), 0.0, scaled))
                accumulated = gd_filter(self.unit_values, rate, np.where(np.isinf(scaled), 0.0, scaled)) / self.scale
            else:
                decay = flow_decay(self.unit_values, rate, scaled)
                accumulated = flow_filter(self.unit_values, rate, scaled) / self.scale
        at_infinity = np.isinf(times)[:, None]
        decay = np.where(self.keep, np.where(at_infinity, 0.0, decay), 1.0)
        accumulated = np.where(self.keep, np.where(at_infinity, self.pseudo_inverse, accumulated), 0.0)
        return decay, accumulated

    def apply(self, diagonal: NDArray[np.float64], right: NDArray[np.float64]) -> NDArray[np.float64]:
        """Return ``Q diag(diagonal) Q^T right`` for ``right`` of shape (m,) or (m, k)."""
        projected = self.vectors.T @ right
        scaled = diagonal[:, None] * projected if projected.ndim == 2 else diagonal * projected
        result: NDArray[np.float64] = self.vectors @ scaled
        return result
