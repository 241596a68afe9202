"""The uncertainty of :class:`widenet.NTKRegressor`: the Gaussian of the infinite ensemble whose mean it predicts.

Over the random initialization, the outputs of infinitely wide networks trained as the
regressor was fitted are Gaussian (docs/theory.md, section 9); the regressor's prediction
is their mean, and :func:`widenet.predict.gradient_descent_mse_ensemble` gives their
covariance. The regressor's units are those of ``train``, which the ensemble takes with
``loss=``: its ``learning_rate`` is the step ``h``, so ``steps=k`` with ``lr=h`` is
``steps=k`` at ``learning_rate=h``, and gradient flow for ``time`` (``exp(-2 s K time)``) is
the time ``t = time`` at ``learning_rate=1``; ``ridge`` is the absolute ``diag_reg``.

The covariance does not depend on the targets, so the ensemble is made on zero targets and
nothing of ``y`` is kept. It is made on first use and kept (its Grams and their
eigendecompositions serve every later call), but not pickled: a copy makes it again.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import numpy as np
import numpy.typing as npt

from widenet import _memory
from widenet._types import FloatArray, Loss, Seed
from widenet.kernels.limit import LimitKernel
from widenet.predict import EnsemblePrediction, gradient_descent_mse_ensemble

_VARIANCE_BLOCK = 256  # test points per covariance block when only the variances are needed


class EnsembleCovariance:
    """The covariance at test points of the ensemble trained as an :class:`widenet.NTKRegressor` was fitted.

    Parameters
    ----------
    kernel_args : dict
        The keyword arguments of :func:`widenet.limit_kernel` the regressor was fitted with
        (``kind`` the trained kernel: ``"ntk"``, the whole network, or ``"nngp"``, the readout).
    X : array (m, d)
        The training points (kept, not copied: the regressor's own copy).
    ridge : float
    loss : {"sum", "mean", "half_sum"}
    steps, lr, time
        The fitted schedule: ``steps`` gradient-descent steps of ``lr``, gradient flow for
        ``time``, or (all None) training for ever.
    """

    def __init__(self, kernel_args: Dict[str, Any], X: FloatArray, ridge: float, loss: Loss, steps: Optional[int],
                 lr: Optional[float], time: Optional[float]) -> None:
        self._kernel_args, self._X, self._ridge, self._loss = kernel_args, X, ridge, loss
        self._steps, self._lr, self._time = steps, lr, time
        self._ensemble: Optional[EnsemblePrediction] = None

    def __getstate__(self) -> Dict[str, Any]:
        return {**self.__dict__, "_ensemble": None}  # its kernel functions do not pickle; made again on use

    def _prediction(self) -> EnsemblePrediction:
        if self._ensemble is None:
            options = {name: value for name, value in self._kernel_args.items() if name != "kind"}
            self._ensemble = gradient_descent_mse_ensemble(
                LimitKernel(**options), self._X, np.zeros(self._X.shape[0]),
                learning_rate=1.0 if self._lr is None else self._lr, diag_reg=self._ridge,
                diag_reg_absolute_scale=True, loss=self._loss)
        return self._ensemble

    def memory_blocks(self, m_test: int, full: bool, columns: int, samples: int = 0) -> List[_memory.Block]:
        """Return the arrays held at the fullest moment of :meth:`covariance` (``full``) or :meth:`variances`.

        Making the ensemble (its first use) holds its Gram, a scaled copy and eigh's arrays.
        Using it holds its Grams and eigenvectors (the tangent kernel's needs the NNGP's too),
        the test kernels with their projections and the covariance's terms (counts measured
        for the two kinds). Then the covariance and its copies per target column (``columns``),
        or for ``samples`` draws (:func:`widenet.predict.sample_gaussian`) the covariance's
        eigendecomposition and the draws.
        """
        m, rows = self._X.shape[0], m_test if full else min(m_test, _VARIANCE_BLOCK)
        ntk = self._kernel_args["kind"] == "ntk"
        # at infinity a well-posed Gram is factorized by Cholesky (the eigendecomposition's
        # fall-back is guarded again before it is made)
        at_limit = self._steps is None and self._time is None
        making: List[_memory.Block] = [] if self._ensemble is not None else [
            ("the ensemble's Gram and its factorization", (m, m), np.float64,
             2 + (2 if at_limit else _memory.EIGH_COPIES))]  # Cholesky: the factor and LAPACK's copy
        using: List[_memory.Block] = [("the ensemble's Grams and eigenvectors", (m, m), np.float64, 3 if ntk else 2),
                                      ("test kernels and their projections", (rows, m), np.float64, 3 if ntk else 2),
                                      ("the covariance's terms", (rows, rows), np.float64, 4 if ntk else 3)]
        if not full:
            return _memory.peak(making, using)
        if samples:
            drawing: List[_memory.Block] = [
                ("the covariance, its copies and its eigendecomposition", (rows, rows), np.float64,
                 3 + _memory.EIGH_COPIES),
                ("normal draws and samples", (samples, rows, columns), np.float64, 4)]
            return _memory.peak(making, using, drawing)
        return _memory.peak(making, using, [("the covariance per target column", (rows, rows), np.float64,
                                             1 + columns)])

    def covariance(self, points: FloatArray) -> npt.NDArray[np.float64]:
        """Return the covariance of the trained outputs at ``points``, (m_test, m_test), float64."""
        when: Dict[str, Any] = {"t": self._time} if self._steps is None else {"steps": self._steps}
        _, cov = self._prediction()(X_test=points, get=self._kernel_args["kind"], compute_cov=True, **when)
        result: npt.NDArray[np.float64] = cov
        return result

    def variances(self, points: FloatArray) -> npt.NDArray[np.float64]:
        """Return the diagonal of :meth:`covariance` (m_test,), a block of points at a time."""
        return np.concatenate([np.diag(self.covariance(points[start:start + _VARIANCE_BLOCK]))
                               for start in range(0, points.shape[0], _VARIANCE_BLOCK)])


def checked_random_state(random_state: object) -> Seed:
    """Return scikit-learn's ``random_state`` as a seed of :func:`widenet.predict.sample_gaussian`.

    None, an int >= 0 or a numpy Generator pass as they are; a legacy ``RandomState`` seeds a
    Generator from its next draws (so it advances, as scikit-learn's use of it would).
    """
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(0, 2**32, size=4, dtype=np.uint64))
    if random_state is None or isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, (bool, np.bool_)) or not isinstance(random_state, (int, np.integer)):
        raise TypeError(f"random_state: expected None, an int, a numpy Generator or RandomState, got {random_state!r}")
    if random_state < 0:
        raise ValueError(f"random_state: expected a non-negative int, got {random_state}")
    return int(random_state)
