"""The infinite ensemble of wide networks trained by gradient flow: neural-tangents' ``gradient_descent_mse_ensemble``.

Over the random initialization, a wide network's outputs start as a centered Gaussian
process with the NNGP kernel ``K`` and move by its tangent kernel ``Theta``, so after gradient
flow for a time ``t`` on ``|f(X) - Y|^2 / (2N)`` they are Gaussian with (Lee et al. 2019;
docs/theory.md, section 9), writing ``F = Theta^-1 (I - exp(-eta t Theta / N))``,

    mean = Theta_* F Y,
    cov  = K_** + Theta_* F K F Theta_*^T - Theta_* F K_*^T - K_* F Theta_*^T

at test points (``_*`` the test-by-train blocks). Training only the readout (``get="nngp"``)
is the same with ``K`` in place of ``Theta``, whose covariance reduces to
``K_** - K_* K^-1 (I - exp(-2 eta t K / N)) K_*^T``: at ``t = infinity`` the Gaussian-process
posterior. At the training points the mean is ``(I - E) Y`` and the covariance
``E K E`` with ``E = exp(-eta t Theta / N)`` (for the NNGP, ``K E^2``; with a ridge ``r``,
``(K + r I) E^2``, as neural-tangents computes it). After ``k`` steps of gradient descent
with the losses of ``train``, ``E = (I - 2 h s Theta)^k`` (docs/theory.md, section 9).
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Union

import numpy as np
from numpy.typing import ArrayLike, NDArray

from widenet import _memory
from widenet import _validation as check
from widenet._types import Kind, Loss
from widenet.kernels.limit import LimitKernel
from widenet.predict import _inputs
from widenet.predict._flow import FlowSpectrum

KINDS: tuple[Kind, ...] = ("ntk", "nngp")
_FLOAT64 = np.dtype(np.float64)
Gaussian = Union[NDArray[np.float64], tuple[NDArray[np.float64], NDArray[np.float64]]]
KernelOf = Callable[[str, NDArray[np.float64], Optional[NDArray[np.float64]]], NDArray[np.float64]]


def _kernel_of(kernel: object) -> KernelOf:
    """Return ``(kind, X1, X2) -> Gram`` for a LimitKernel or a model with ``ntk`` and ``nngp`` methods."""
    if isinstance(kernel, LimitKernel):
        options = {name: value for name, value in kernel.options.items() if name != "kind"}
        return lambda kind, X1, X2: np.asarray(LimitKernel(kind=check.choice(kind, "get", KINDS), **options)(X1, X2),
                                               dtype=np.float64)
    if all(callable(getattr(kernel, name, None)) for name in KINDS):
        return lambda kind, X1, X2: np.asarray(getattr(kernel, kind)(X1, X2), dtype=np.float64)
    raise TypeError(f"kernel: expected a widenet.LimitKernel or a network with ntk() and nngp() (a widenet.Network), "
                    f"got {type(kernel).__name__}")


class EnsemblePrediction:
    """The mean (and covariance) of the infinite ensemble's outputs at any time.

    Made by :func:`gradient_descent_mse_ensemble`. Call it as neural-tangents' ``predict_fn``:
    ``prediction(t=None, X_test=None, *, get="ntk", compute_cov=False)``.

    Parameters
    ----------
    kernel_of, X, y, rate, diag_reg, absolute
        The kernels, the training data and the settings, as :func:`gradient_descent_mse_ensemble`
        passes them; made by it, not by hand.

    Examples
    --------
    >>> import numpy as np, widenet
    >>> from widenet import predict
    >>> X = np.linspace(-1, 1, 6)[:, None]
    >>> trained = predict.gradient_descent_mse_ensemble(widenet.LimitKernel("erf", "ntk"), X, np.sin(3 * X[:, 0]))
    >>> mean, cov = trained(t=10.0, X_test=X[:2], compute_cov=True)
    >>> mean.shape, cov.shape
    ((2,), (2, 2))
    """

    def __init__(self, kernel_of: KernelOf, X: NDArray[np.float64], y: NDArray[np.float64], rate: float,
                 diag_reg: float, absolute: bool) -> None:
        self._kernel_of, self._X, self._y = kernel_of, X, y
        self._rate = rate  # the residual moves by exp(-2 rate K t), or by (I - 2 rate K) per step
        self._diag_reg, self._absolute = diag_reg, absolute
        self._grams: dict[str, NDArray[np.float64]] = {}
        self._flows: dict[str, FlowSpectrum] = {}

    def _gram(self, kind: str) -> NDArray[np.float64]:
        if kind not in self._grams:
            self._grams[kind] = _inputs.train_gram(self._kernel_of(kind, self._X, None), f"the {kind} Gram")
        return self._grams[kind]

    def _flow(self, kind: str) -> FlowSpectrum:
        if kind not in self._flows:
            gram = self._gram(kind)
            self._flows[kind] = FlowSpectrum(gram, _inputs.regularizer(gram, self._diag_reg, self._absolute),
                                             self._rate, f"the {kind} Gram")
        return self._flows[kind]

    def __call__(self, t: Optional[ArrayLike] = None, X_test: Optional[ArrayLike] = None, *,
                 get: Union[None, str, tuple[str, ...]] = "ntk", compute_cov: bool = False,
                 steps: Optional[ArrayLike] = None) -> Any:
        """Return the Gaussian of the outputs at times ``t`` on ``X_test`` (None: the training points).

        ``t`` is None (infinity), a time or an array of times (leading axes); ``steps``, in its
        place, a number of gradient-descent steps or an array of them (the step is the
        ``learning_rate``). ``get`` is ``"ntk"`` (the whole network trained), ``"nngp"`` (the
        readout only; at infinity the Bayesian posterior) or a tuple of them, or None for
        both (a dict by name). The result is the mean, or with ``compute_cov`` the pair
        (mean, covariance), the covariance shared by the output columns.
        """
        kinds = KINDS if get is None else (get,) if isinstance(get, str) else tuple(get)
        if not kinds:
            raise ValueError("get: expected 'ntk', 'nngp' or a tuple of them, got an empty tuple")
        for kind in kinds:
            check.choice(kind, "get", KINDS)
        check.boolean(compute_cov, "compute_cov")
        when = _inputs.schedule(t, steps)
        points = None if X_test is None else check.as_points(X_test, "X_test", dtype=_FLOAT64,
                                                             columns=self._X.shape[1])
        flat = np.array([np.inf]) if when is None else when.values.reshape(-1)
        leading = () if when is None else when.values.shape
        discrete = when is not None and when.discrete
        m_out = self._X.shape[0] if points is None else points.shape[0]
        blocks: list[_memory.Block] = [("test kernels", (m_out, self._X.shape[0]), np.float64, 3)]
        if compute_cov:
            blocks.append(("covariances at every time", (flat.size + 3, m_out, m_out), np.float64, 1))
        _memory.require("gradient_descent_mse_ensemble", blocks, "Ask for fewer times or test points at once.")
        results = {kind: self._gaussians(kind, _inputs.Schedule(flat, discrete), leading, points, bool(compute_cov))
                   for kind in kinds}
        return results[kinds[0]] if isinstance(get, str) else results

    def _gaussians(self, kind: str, when: _inputs.Schedule, leading: tuple[int, ...],
                   points: Optional[NDArray[np.float64]], compute_cov: bool) -> Gaussian:
        flow, y, times = self._flow(kind), self._y, when.values
        if when.discrete:
            flow.check_steps("learning_rate")
        if np.isinf(times).any():
            flow.warn_if_ill_conditioned(f"the {kind} Gram (inverted at t = infinity)")
        means, covs = [], []
        cross = None if points is None else self._kernel_of(kind, points, self._X)
        nngp_cross = None
        if points is not None and compute_cov:
            nngp_cross = cross if kind == "nngp" else self._kernel_of("nngp", points, self._X)
        decays, accumulations = flow.factors(times, discrete=when.discrete)
        for decay, accumulated, t in zip(decays, accumulations, times):
            if cross is None:
                means.append(y - flow.apply(decay, y))
            else:
                means.append(cross @ flow.apply(accumulated, y))
            if compute_cov:
                squared = flow.factors(np.array([t]), 2.0, when.discrete)  # the decay squared
                covs.append(self._covariance(kind, flow, squared, decay, accumulated, points, cross, nngp_cross))
        mean = np.stack(means).reshape(leading + means[0].shape)
        if not compute_cov:
            return mean
        return mean, np.stack(covs).reshape(leading + covs[0].shape)

    def _covariance(self, kind: str, flow: FlowSpectrum, squared: tuple[NDArray[np.float64], NDArray[np.float64]],
                    decay: NDArray[np.float64],
                    accumulated: NDArray[np.float64], points: Optional[NDArray[np.float64]],
                    cross: Optional[NDArray[np.float64]], nngp_cross: Optional[NDArray[np.float64]]
                    ) -> NDArray[np.float64]:
        nngp = self._gram("nngp")
        if points is None or cross is None or nngp_cross is None:  # at the training points
            if kind == "nngp":
                unit = flow.apply(flow.unit_values * squared[0][0], np.eye(len(nngp)))
                cov = flow.scale * unit  # Q diag(l exp(-2 eta t l / N)) Q^T
            else:
                left = flow.apply(decay, np.eye(len(nngp)))  # exp(-eta t Theta / N)
                cov = left @ nngp @ left
        else:
            prior = _inputs.train_gram(self._kernel_of("nngp", points, None), "the nngp Gram of X_test")
            if kind == "nngp":
                cov = prior - nngp_cross @ flow.apply(squared[1][0], nngp_cross.T)
            else:
                moved = flow.apply(accumulated, cross.T)  # F Theta_*^T
                mixed = nngp_cross @ moved
                cov = prior + moved.T @ nngp @ moved - mixed - mixed.T
        cov = 0.5 * (cov + cov.T)
        np.fill_diagonal(cov, np.maximum(np.diag(cov), 0.0))
        return cov


def gradient_descent_mse_ensemble(kernel: object, X_train: ArrayLike, y_train: ArrayLike, learning_rate: float = 1.0,
                                  diag_reg: float = 0.0, diag_reg_absolute_scale: bool = False, *,
                                  loss: Optional[Loss] = None) -> EnsemblePrediction:
    """Return the Gaussian of an infinite ensemble's outputs trained by gradient flow, as a function of time.

    neural-tangents' ``nt.predict.gradient_descent_mse_ensemble`` with the same arguments
    and units (the loss ``|f(X) - Y|^2 / (2N)``, ``N = y_train.size``; the flow's time
    ``learning_rate * t``; ``diag_reg`` relative to the mean of the Gram's diagonal unless
    absolute). ``kernel`` is a :class:`widenet.LimitKernel` (its NNGP and tangent kernels,
    any depth) or a network with ``ntk`` and ``nngp`` methods (:class:`widenet.Network`: its
    empirical kernels, so the prediction is that of its linearization started at the
    network's initial law). For a network of ``k`` outputs these are its kernels traced over
    the outputs, each column of ``y_train`` trained with them, as in the limit, where every
    output has the same kernel and the blocks between outputs vanish.

    With ``loss`` (``"sum"``, ``"mean"`` or ``"half_sum"``) the training is that of
    :meth:`widenet.ShallowNetwork.train` instead: the loss ``s sum (f - y)^2``, ``s`` = 1,
    1/m or 1/2, and ``learning_rate`` its step ``h``; the prediction after ``steps=k`` is then
    that of ``train(..., lr=h, steps=k, loss=loss)`` on the infinitely wide network, the
    residual moving by ``(I - 2 h s Theta)^k`` (a step with which that does not converge is
    refused); a time ``t`` is the limit of ``t`` steps as ``h -> 0`` (the flow's
    time is ``h t``).

    Parameters
    ----------
    kernel : widenet.LimitKernel or network
        A :class:`widenet.LimitKernel` (its ``kind`` is ignored: both kernels are used), or a
        network with ``ntk`` and ``nngp`` methods.
    X_train : array_like, shape (m, d)
    y_train : array_like, shape (m,) or (m, k)
    learning_rate : float, default 1
        neural-tangents' learning rate (the flow's time is ``learning_rate * t``), or with
        ``loss`` the step ``h`` of ``train``.
    diag_reg : float, default 0
        Added to the tangent Gram's diagonal, relative to the mean of that diagonal.
    diag_reg_absolute_scale : bool, default False
        Take ``diag_reg`` as it is, not relative.
    loss : None or {"sum", "mean", "half_sum"}, default None
        None for neural-tangents' units; otherwise the loss of ``train``.

    Returns
    -------
    EnsemblePrediction
        Callable as ``prediction(t=None, X_test=None, *, get="ntk", compute_cov=False,
        steps=None)``.

    Examples
    --------
    >>> import numpy as np, widenet
    >>> from widenet import predict
    >>> X = np.linspace(-1, 1, 6)[:, None]
    >>> kernel = widenet.LimitKernel("erf", "ntk", bias_var=0.5)
    >>> trained = predict.gradient_descent_mse_ensemble(kernel, X, np.sin(3 * X[:, 0]))
    >>> mean, cov = trained(t=None, X_test=X, compute_cov=True)  # trained to convergence
    >>> bool(np.allclose(mean, np.sin(3 * X[:, 0]), atol=1e-9)), bool(np.all(np.diag(cov) < 1e-9))
    (True, True)
    """
    kernel_of = _kernel_of(kernel)
    X = check.as_points(X_train, "X_train", dtype=_FLOAT64).copy()  # kept: later changes to the caller's don't reach it
    y = _inputs.targets(y_train, X.shape[0])
    rate = _inputs.loss_rate(learning_rate, loss, X.shape[0], y.size)
    check.non_negative_real(diag_reg, "diag_reg")
    absolute = check.boolean(diag_reg_absolute_scale, "diag_reg_absolute_scale")
    return EnsemblePrediction(kernel_of, X, y, rate, float(diag_reg), absolute)
