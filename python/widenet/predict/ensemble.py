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

import functools
from typing import Any, Callable, Optional, Union

import numpy as np
from numpy.typing import ArrayLike, NDArray

from widenet import _cholesky, _memory
from widenet import _validation as check
from widenet._types import Kind, Loss
from widenet.kernels.limit import LimitKernel, limit_kernel
from widenet.kernels.limit_pair import limit_kernel_pair
from widenet.predict import _inputs
from widenet.predict._flow import FlowSpectrum, limit_factorization

KINDS: tuple[Kind, ...] = ("ntk", "nngp")
_FLOAT64 = np.dtype(np.float64)
Gaussian = Union[NDArray[np.float64], tuple[NDArray[np.float64], NDArray[np.float64]]]
Grams = dict[str, NDArray[np.float64]]
KernelsOf = Callable[[tuple[Kind, ...], NDArray[np.float64], Optional[NDArray[np.float64]]], Grams]
# The options of a LimitKernel that its pair of kernels takes (Monte Carlo's are not).
_PAIR_OPTIONS = frozenset(("activation", "parametrization", "weight_var", "bias_var", "output_var", "output_bias_var",
                           "depth", "bias", "multipliers", "method", "order"))


def _kernels_of(kernel: object) -> KernelsOf:
    """Return ``(kinds, X1, X2) -> {kind: Gram}`` for a LimitKernel or a model with ``ntk`` and ``nngp`` methods.

    A LimitKernel gives both kinds from one pass over the pairs (:func:`widenet.limit_kernel_pair`).
    """
    if isinstance(kernel, LimitKernel):
        options = {name: value for name, value in kernel.options.items() if name != "kind"}
        paired = set(options) <= _PAIR_OPTIONS

        def limit_grams(kinds: tuple[Kind, ...], X1: NDArray[np.float64], X2: Optional[NDArray[np.float64]]) -> Grams:
            if paired and len(kinds) == 2:
                nngp, ntk = limit_kernel_pair(X1, X2, **options)
                return {"nngp": nngp, "ntk": ntk}
            return {kind: np.asarray(limit_kernel(X1, X2, kind=kind, **options), dtype=np.float64) for kind in kinds}
        return limit_grams
    if all(callable(getattr(kernel, name, None)) for name in KINDS):
        return lambda kinds, X1, X2: {kind: np.asarray(getattr(kernel, kind)(X1, X2), dtype=np.float64)
                                      for kind in kinds}
    raise TypeError(f"kernel: expected a widenet.LimitKernel or a network with ntk() and nngp() (a widenet.Network), "
                    f"got {type(kernel).__name__}")


def _symmetrized(cov: NDArray[np.float64]) -> NDArray[np.float64]:
    """Return the covariance symmetric, its diagonal clipped at 0 (rounding can leave it slightly negative)."""
    cov = 0.5 * (cov + cov.T)
    np.fill_diagonal(cov, np.maximum(np.diag(cov), 0.0))
    return cov


class EnsemblePrediction:
    """The mean (and covariance) of the infinite ensemble's outputs at any time.

    Made by :func:`gradient_descent_mse_ensemble`. Call it as neural-tangents' ``predict_fn``:
    ``prediction(t=None, X_test=None, *, get="ntk", compute_cov=False)``.

    Parameters
    ----------
    kernels_of, X, y, rate, diag_reg, absolute
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

    def __init__(self, kernels_of: KernelsOf, X: NDArray[np.float64], y: NDArray[np.float64], rate: float,
                 diag_reg: float, absolute: bool) -> None:
        self._kernels_of, self._X, self._y = kernels_of, X, y
        self._rate = rate  # the residual moves by exp(-2 rate K t), or by (I - 2 rate K) per step
        self._diag_reg, self._absolute = diag_reg, absolute
        self._grams: Grams = {}
        self._flows: dict[str, FlowSpectrum] = {}
        self._limits: dict[str, Optional[_cholesky.Cholesky]] = {}

    def _fetch_grams(self, kinds: tuple[Kind, ...]) -> None:
        """Compute the training Grams of ``kinds`` not yet kept, together (one pass for both kinds)."""
        missing = tuple(kind for kind in kinds if kind not in self._grams)
        if missing:
            for kind, gram in self._kernels_of(missing, self._X, None).items():
                self._grams[kind] = _inputs.train_gram(gram, f"the {kind} Gram")

    def _gram(self, kind: str) -> NDArray[np.float64]:
        self._fetch_grams(tuple(known for known in KINDS if known == kind))
        return self._grams[kind]

    def _ridge(self, kind: str) -> float:
        return _inputs.regularizer(self._gram(kind), self._diag_reg, self._absolute)

    def _flow(self, kind: str) -> FlowSpectrum:
        """Return the eigendecomposition, made once: every finite time and step count reuses it."""
        if kind not in self._flows:
            self._require_factorization(1 + _memory.EIGH_COPIES)  # a scaled copy and eigh's arrays
            self._flows[kind] = FlowSpectrum(self._gram(kind), self._ridge(kind), self._rate, f"the {kind} Gram")
        return self._flows[kind]

    def _limit(self, kind: str) -> Optional[_cholesky.Cholesky]:
        """Return the Cholesky factorization for t = infinity when well posed and no eigendecomposition is kept."""
        if kind in self._flows:
            return None
        if kind not in self._limits:
            self._require_factorization(2)  # the factor and LAPACK's copy
            self._limits[kind] = limit_factorization(self._gram(kind), self._ridge(kind))
        return self._limits[kind]

    def _require_factorization(self, copies: int) -> None:
        m = self._X.shape[0]
        _memory.require("gradient_descent_mse_ensemble", [("the training Gram's factorization and workspace",
                                                           (m, m), np.float64, copies)], "Pass fewer training points.")

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

        At infinity alone (``t`` None or inf) a well-posed training Gram is factorized by
        Cholesky; finite times and step counts eigendecompose it once, and reuse that.
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
        # the NTK's covariance needs the NNGP's Grams too: every kind needed comes from one pass
        needed = tuple(kind for kind in KINDS if kind in kinds or (kind == "nngp" and compute_cov))
        self._fetch_grams(needed)
        crosses: Grams = {} if points is None else self._kernels_of(needed, points, self._X)
        prior = None
        if points is not None and compute_cov:
            prior = _inputs.train_gram(self._kernels_of(("nngp",), points, None)["nngp"], "the nngp Gram of X_test")
        results = {kind: self._gaussians(kind, _inputs.Schedule(flat, discrete), leading, crosses, prior,
                                         bool(compute_cov)) for kind in kinds}
        return results[kinds[0]] if isinstance(get, str) else results

    def _gaussians(self, kind: str, when: _inputs.Schedule, leading: tuple[int, ...], crosses: Grams,
                   prior: Optional[NDArray[np.float64]], compute_cov: bool) -> Gaussian:
        times = when.values
        limit = None if when.discrete or not np.isinf(times).all() else self._limit(kind)
        if limit is not None:  # at infinity, well posed: the inverse by Cholesky, the same at every t = inf
            mean, cov = self._at_infinity(kind, limit, crosses, prior, compute_cov)
            means, covs = [mean] * times.size, [cov] * times.size
        else:
            means, covs = self._by_spectrum(kind, when, crosses, prior, compute_cov)
        mean = np.stack(means).reshape(leading + means[0].shape)
        if not compute_cov:
            return mean
        return mean, np.stack(covs).reshape(leading + covs[0].shape)

    def _at_infinity(self, kind: str, limit: _cholesky.Cholesky, crosses: Grams, prior: Optional[NDArray[np.float64]],
                     compute_cov: bool) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Return the mean and covariance (empty unless ``compute_cov``) at ``t = infinity`` from the Cholesky factor.

        At the training points every direction has converged: the mean is ``Y`` and the
        covariance 0. At test points ``F`` is the inverse of the regularized Gram.
        """
        y = self._y
        if not crosses:
            m = y.shape[0]
            return y.copy(), np.zeros((m, m) if compute_cov else (0, 0))
        mean = crosses[kind] @ limit.solve(y)
        if prior is None:
            return mean, np.zeros((0, 0))
        return mean, self._test_covariance(kind, prior, crosses, limit.solve)

    def _by_spectrum(self, kind: str, when: _inputs.Schedule, crosses: Grams, prior: Optional[NDArray[np.float64]],
                     compute_cov: bool) -> tuple[list[NDArray[np.float64]], list[NDArray[np.float64]]]:
        """Return the means and covariances at every time from the eigendecomposition."""
        flow, y, times = self._flow(kind), self._y, when.values
        if when.discrete:
            flow.check_steps("learning_rate")
        if np.isinf(times).any():
            flow.warn_if_ill_conditioned(f"the {kind} Gram (inverted at t = infinity)")
        means, covs = [], []
        decays, accumulations = flow.factors(times, discrete=when.discrete)
        for decay, accumulated, t in zip(decays, accumulations, times):
            means.append(y - flow.apply(decay, y) if not crosses else crosses[kind] @ flow.apply(accumulated, y))
            if not compute_cov:
                continue
            squared = flow.factors(np.array([t]), 2.0, when.discrete)  # the decay squared
            if prior is None:  # at the training points
                covs.append(self._train_covariance(kind, flow, squared[0][0], decay))
            else:
                filtered = squared[1][0] if kind == "nngp" else accumulated
                covs.append(self._test_covariance(kind, prior, crosses, functools.partial(flow.apply, filtered)))
        return means, covs

    def _train_covariance(self, kind: str, flow: FlowSpectrum, squared_decay: NDArray[np.float64],
                          decay: NDArray[np.float64]) -> NDArray[np.float64]:
        m = self._y.shape[0]
        if kind == "nngp":
            return _symmetrized(flow.scale * flow.apply(flow.unit_values * squared_decay, np.eye(m)))  # Q l e^-2.. Q^T
        left = flow.apply(decay, np.eye(m))  # exp(-eta t Theta / N)
        return _symmetrized(left @ self._gram("nngp") @ left)

    def _test_covariance(self, kind: str, prior: NDArray[np.float64], crosses: Grams,
                         apply: Callable[[NDArray[np.float64]], NDArray[np.float64]]) -> NDArray[np.float64]:
        """Return the covariance at the test points; ``apply(R)`` is ``F R``, with ``F`` of the module's docstring.

        For ``get="nngp"`` ``F`` is that of the squared decay (``K^-1 (I - exp(-2 eta t K / N))``).
        """
        nngp_cross = crosses["nngp"]
        if kind == "nngp":
            return _symmetrized(prior - nngp_cross @ apply(nngp_cross.T))
        moved = apply(crosses[kind].T)  # F Theta_*^T
        mixed = nngp_cross @ moved
        return _symmetrized(prior + moved.T @ self._gram("nngp") @ moved - mixed - mixed.T)


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
    kernels_of = _kernels_of(kernel)
    X = check.as_points(X_train, "X_train", dtype=_FLOAT64).copy()  # kept: later changes to the caller's don't reach it
    y = _inputs.targets(y_train, X.shape[0])
    rate = _inputs.loss_rate(learning_rate, loss, X.shape[0], y.size)
    check.non_negative_real(diag_reg, "diag_reg")
    absolute = check.boolean(diag_reg_absolute_scale, "diag_reg_absolute_scale")
    return EnsemblePrediction(kernels_of, X, y, rate, float(diag_reg), absolute)
