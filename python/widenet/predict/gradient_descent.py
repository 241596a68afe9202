"""Gradient flow on the mean squared error, in closed form: neural-tangents' ``predict.gradient_descent_mse``.

A model whose outputs move by its tangent Gram ``K`` (a linearized network, or an infinitely
wide one, whose kernel stays fixed) and is trained by gradient flow on
``L = |f(X) - Y|^2 / (2N)``, ``N = Y.size``, with learning rate ``eta`` has (docs/theory.md,
sections 3 and 9)

    f(X, t) = Y + exp(-eta t K / N) (f_0(X) - Y),
    f(X_*, t) = f_0(X_*) - K_* K^-1 (I - exp(-eta t K / N)) (f_0(X) - Y),

with ``K + ridge I`` in place of ``K`` for a regularized flow. Every eigenvector of ``K``
evolves on its own, so one eigendecomposition gives every time; eigenvalues below the rank
tolerance count as zero at every time, so ``t = None`` (infinity) is the pseudo-inverse's
limit (see :mod:`widenet.predict._flow`). When the Gram is well posed, a Cholesky
factorization answers ``t = None`` (the inverse, to rounding), and the eigendecomposition
is made only when a finite time or a step count is first asked for, then kept.
"""

from __future__ import annotations

from typing import Optional, Union

import numpy as np
from numpy.typing import ArrayLike, NDArray

from widenet import _memory
from widenet._types import Loss
from widenet.predict import _inputs
from widenet.predict._flow import FlowSpectrum, limit_factorization

Prediction = Union[NDArray[np.float64], tuple[NDArray[np.float64], NDArray[np.float64]]]


class GradientFlowPrediction:
    """The outputs of gradient flow from a training Gram, at any time (made by :func:`gradient_descent_mse`).

    Call it as neural-tangents' ``predict_fn``: ``prediction(t=None, fx_train_0=0.0,
    fx_test_0=None, k_test_train=None)``.

    Parameters
    ----------
    gram, y, rate, ridge
        The training Gram, the targets and the settings, as :func:`gradient_descent_mse`
        passes them; made by it, not by hand.

    Examples
    --------
    >>> import numpy as np
    >>> from widenet import predict
    >>> flow = predict.gradient_descent_mse(np.array([[2.0, 0.0], [0.0, 1.0]]), np.array([1.0, -1.0]))
    >>> flow(t=None, fx_train_0=0.0)  # at convergence the outputs are the targets
    array([ 1., -1.])
    """

    def __init__(self, gram: NDArray[np.float64], y: NDArray[np.float64], rate: float, ridge: float) -> None:
        self._y, self._gram, self._rate, self._ridge = y, gram, rate, ridge
        self._limit = limit_factorization(gram, ridge)
        self._spectrum: Optional[FlowSpectrum] = None
        if self._limit is None:  # made now when the limit needs it too (an indefinite Gram is refused here)
            self._spectrum = self._flow

    @property
    def _flow(self) -> FlowSpectrum:
        """The eigendecomposition: the residual moves by exp(-2 rate l t), or by (1 - 2 rate l) per step."""
        if self._spectrum is None:
            self._spectrum = FlowSpectrum(self._gram, self._ridge, self._rate, "k_train_train")
        return self._spectrum

    def _factors(self, when: Optional[_inputs.Schedule]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Return the decay and the accumulation per time or step count (rows) and eigenvalue."""
        flat = np.array([np.inf]) if when is None else when.values.reshape(-1)
        discrete = when is not None and when.discrete
        if discrete:
            self._flow.check_steps("learning_rate")
        if np.isinf(flat).any():
            self._flow.warn_if_ill_conditioned("k_train_train (inverted at t = infinity)")
        return self._flow.factors(flat, discrete=discrete)

    def __call__(self, t: Optional[ArrayLike] = None, fx_train_0: Optional[ArrayLike] = 0.0,
                 fx_test_0: Optional[ArrayLike] = None, k_test_train: Optional[ArrayLike] = None, *,
                 steps: Optional[ArrayLike] = None) -> Prediction:
        """Return the outputs at times ``t`` on the training points, the test points, or both.

        Parameters
        ----------
        t : None, float or array of floats
            Times ``>= 0`` in units of the learning rate (``eta t`` is the flow's time);
            None is infinity. An array of times adds its shape as leading axes.
        fx_train_0 : None, float or array of the shape of ``y_train``
            The outputs at the training points at ``t = 0`` (0: the mean of an infinite
            ensemble). None: no training-point outputs are returned.
        fx_test_0 : None, float or array (m_test,) or (m_test, k), as ``y_train`` has columns
            The outputs at the test points at ``t = 0``; None: none are returned.
        k_test_train : array (m_test, m)
            The kernel between the test and the training points; required with
            ``fx_test_0``.
        steps : None, int or array of ints
            In place of ``t``: the outputs after this many steps of gradient descent with the
            step ``learning_rate`` (leading axes as for ``t``).

        Returns
        -------
        The training outputs, the test outputs, or both as a tuple (training first), as
        neural-tangents returns them. ``fx_train_0=None`` needs ``fx_test_0``; the flow's
        test outputs need the training outputs' start, so ``fx_train_0=None`` means 0 there.
        """
        if fx_train_0 is None and fx_test_0 is None:
            raise ValueError("fx_train_0: expected outputs at the training points, the test points or both; "
                             "got None for both")
        when = _inputs.schedule(t, steps)
        y = self._y
        start = _inputs.outputs(0.0 if fx_train_0 is None else fx_train_0, y.shape, "fx_train_0")
        cross = test_start = None
        if fx_test_0 is not None:
            if k_test_train is None:
                raise ValueError("k_test_train: required with fx_test_0 (the kernel between test and training points)")
            cross = _inputs.cross_gram(k_test_train, y.shape[0])
            test_start = _inputs.outputs(fx_test_0, (cross.shape[0], *y.shape[1:]), "fx_test_0")
        leading = () if when is None else when.values.shape
        count = 1 if when is None else when.values.size
        rows = y.shape[0] + (0 if cross is None else cross.shape[0])
        _memory.require("gradient_descent_mse", [("outputs at every time", (count, rows, y.size // y.shape[0]),
                                                  np.float64, 3)], "Ask for fewer times at once.")
        if when is None and self._limit is not None:  # t = infinity, every eigenvalue kept: the inverse
            if cross is None or test_start is None:
                return y.copy()
            result_test = test_start - cross @ self._limit.solve(start - y)
            return result_test if fx_train_0 is None else (y.copy(), result_test)
        decay, accumulated = self._factors(when)
        vectors = self._flow.vectors
        components = vectors.T @ (start - y)  # (m,) or (m, k)
        expand = (slice(None), slice(None)) + (None,) * (y.ndim - 1)
        train = y + np.einsum("ij,tj...->ti...", vectors, decay[expand] * components)
        result_train = train.reshape(leading + y.shape)
        if cross is None or test_start is None:
            return result_train
        moved = np.einsum("ij,tj...->ti...", cross @ vectors, accumulated[expand] * components)
        result_test = (test_start - moved).reshape(leading + test_start.shape)
        return result_test if fx_train_0 is None else (result_train, result_test)


def gradient_descent_mse(k_train_train: ArrayLike, y_train: ArrayLike, learning_rate: float = 1.0,
                         diag_reg: float = 0.0, diag_reg_absolute_scale: bool = False, *,
                         loss: Optional[Loss] = None) -> GradientFlowPrediction:
    """Return the outputs of gradient flow on the mean squared error, as a function of time.

    neural-tangents' ``nt.predict.gradient_descent_mse`` with the same arguments and units:
    the loss is ``|f(X) - Y|^2 / (2N)`` with ``N = y_train.size``, the flow's time is
    ``learning_rate * t``, and ``diag_reg`` adds ``diag_reg`` times the mean of the Gram's
    diagonal to it (``diag_reg`` itself with ``diag_reg_absolute_scale``). In widenet's units,
    gradient descent on ``loss="sum"`` with step ``h`` for ``k`` steps approaches the flow
    at ``t = 2 N h k / learning_rate`` as ``h -> 0``.

    With ``loss`` (``"sum"``, ``"mean"`` or ``"half_sum"``) the loss is that of
    :meth:`widenet.ShallowNetwork.train`, ``s sum (f - y)^2`` with ``s`` = 1, 1/m or 1/2, and
    ``learning_rate`` is its step ``h``: ``steps=k`` gives the outputs after ``k`` steps
    (residual times ``(I - 2 h s K)^k``), and a time ``t`` is the limit of ``t`` steps as
    ``h -> 0`` (the flow's time is ``h t``).

    Parameters
    ----------
    k_train_train : array (m, m)
        The tangent Gram of the training points (symmetric, positive semi-definite).
    y_train : array (m,) or (m, k)
    learning_rate : float
    diag_reg : float
    diag_reg_absolute_scale : bool
    loss : None or {"sum", "mean", "half_sum"}
        None: neural-tangents' ``|f(X) - Y|^2 / (2N)``.

    Returns
    -------
    GradientFlowPrediction
        Callable as ``prediction(t=None, fx_train_0=0.0, fx_test_0=None,
        k_test_train=None, *, steps=None)``. The Gram is factorized here, once: by
        Cholesky when it is well posed (then eigendecomposed on the first finite time or
        step count), or eigendecomposed.

    Examples
    --------
    >>> import numpy as np
    >>> from widenet import predict
    >>> K = np.array([[2.0, 0.5], [0.5, 1.0]])
    >>> flow = predict.gradient_descent_mse(K, np.array([1.0, -1.0]))
    >>> early, late = flow(t=0.1, fx_train_0=0.0), flow(t=1e4, fx_train_0=0.0)
    >>> bool(np.allclose(late, [1.0, -1.0])), bool(np.all(np.abs(early) < 1))
    (True, True)
    """
    gram = _inputs.train_gram(k_train_train)
    y = _inputs.targets(y_train, gram.shape[0])
    rate = _inputs.loss_rate(learning_rate, loss, gram.shape[0], y.size)
    ridge = _inputs.regularizer(gram, diag_reg, diag_reg_absolute_scale)
    _memory.require("gradient_descent_mse", [("Gram, eigenvectors and workspace", gram.shape, np.float64, 3)],
                    "Pass fewer training points.")
    return GradientFlowPrediction(gram, y, rate, ridge)
