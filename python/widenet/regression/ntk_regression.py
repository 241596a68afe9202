"""Regression with the infinite-width kernels: what a very wide network learns on average.

:class:`NTKRegressor` predicts with the kernels of :func:`widenet.limit_kernel`: ``K_NTK``
(Theorem 11.30), ``K_LC`` (Theorem 11.16) or the NNGP covariance (Proposition 11.28).
Without a step count it is kernel least squares (11.2.9)-(11.2.10), the limit of training
for ever; with ``steps`` and ``lr`` it is the mean prediction after that many
gradient-descent steps, in closed form ((11.5.9) and the corrected Remark 11.24;
docs/theory.md, sections 3 and 5). With the NNGP kernel it also gives the Gaussian-process
posterior standard deviation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Literal, Optional, Tuple, TypeVar, Union, cast, overload

import numpy as np
import numpy.typing as npt

from widenet import _memory, _solve
from widenet import _validation as check
from widenet._spectral import flow_filter, gd_filter
from widenet._types import Activation, FloatArray, Kind, Loss, Parametrization
from widenet.kernels.limit import KINDS, METHODS, limit_kernel
from widenet.regression._body import EstimatorBody
from widenet.regression._checks import PRECOMPUTED, check_train_gram, check_X, check_y, warn_if_indefinite
from widenet.regression._classes import REGRESSOR, PlainEstimator, exported, register

_METHODS = tuple(method for method in METHODS if method != "monte_carlo")

RegressorMethod = Literal["auto", "closed_form", "scale_mixture", "quadrature"]
"""How :class:`NTKRegressor` evaluates its kernels (every method but Monte Carlo)."""

_DIAGONAL_BLOCK = 256  # rows per block when only the diagonal K(x, x) is needed

_KERNEL_VALUES = (*KINDS, PRECOMPUTED)

_Self = TypeVar("_Self", bound="_NTKRegressorBody")


class _NTKRegressorBody(EstimatorBody):
    """Kernel regression with an infinite-width kernel of a fully-connected network.

    The prediction is that after ``steps`` gradient-descent steps or in the limit. ``fit``
    computes the training Gram ``K = K(X, X)`` with :func:`widenet.limit_kernel`
    (``kind=kernel``) and its eigendecomposition ``K = Q diag(l) Q^T``; every prediction is
    ``f(x) = K(x, X) alpha`` with ``alpha = Q diag(g(l)) Q^T y`` (``dual_coef_``):

    - ``steps=None``: ``g(l) = 1/l`` (eigenvalues below ``m eps max(l)`` count as zero), so
      ``alpha`` is the minimum-norm solution of ``K alpha = y``, the kernel least-squares
      estimator (11.2.9)-(11.2.10); it interpolates ``y`` when ``K`` is nonsingular. With
      ``ridge > 0``, ``alpha = (K + ridge I)^{-1} y`` (kernel ridge regression).
    - ``steps=k, lr=h``: gradient descent on the chapter's loss ``f = sum (Phi - y)^2``
      (gradient ``2 J^T r``) for the linearized model with kernel ``K`` (11.5.9). By the
      corrected Remark 11.24 (docs/theory.md, section 3) the residual is ``r_k = (I - 2hK)^k r_0`` and
      ``f_k(x) = f_0(x) - 2h K(x, X) sum_{j<k} (I - 2hK)^j r_0``. Starting from the zero
      function (``r_0 = -y``) this is ``g(l) = (1 - (1 - 2hl)^k) / l``, and ``2hk`` where
      ``l = 0``: exact for every ``k`` at the cost of one eigendecomposition.

    What the finite-step prediction means: at initialization a wide network's outputs
    ``Phi_0`` form a centered Gaussian process (Proposition 11.28), and by
    Proposition 11.26 the trained network follows the linearized model up to
    ``O(n^{-1/2})``. The dynamics are linear in ``r_0 = Phi_0(X) - y``, so the trained
    network is ``Phi_0(x) + [prediction fitted to y - Phi_0(X)](x)``; as ``Phi_0`` has mean
    zero, the prediction fitted to ``y`` is the *expectation over initialization* of the
    trained output in the infinite-width limit. For ``0 < lr < 1/l_max`` every factor
    ``|1 - 2hl| < 1`` and it tends to the ``steps=None`` prediction as ``k -> infinity``
    (the initial function's part ``Phi_0(x) - K(x, X) K^+ Phi_0(X)`` survives in each single
    network, as in Remark 11.4). ``lr >= 1/l_max`` makes GD diverge, and ``fit`` raises a
    ValueError rather than return predictions that blow up with ``k``.

    Step-size units: ``K_NTK`` is the limit of the empirical kernel itself, so ``lr`` is the
    network's step ``h``. ``K_LC`` is the limit of ``K_n / n`` (Theorem 11.16), so in LeCun
    parametrization ``lr`` corresponds to ``n h`` for a network of width ``n`` (the chapter's
    ``h ~ 1/n``).

    With ``ridge > 0`` and ``steps``, the loss is ``f + ridge |w - w_0|^2`` (weight decay
    towards the initialization): the same formulas with ``l + ridge`` in place of ``l``
    inside ``g`` (the residual map becomes ``I - 2h(K + ridge I)``), converging to kernel
    ridge regression, and the step bound becomes ``lr < 1/(l_max + ridge)``.

    Gaussian-process view (``kernel="nngp"``, ``steps=None``): ``predict(X,
    return_std=True)`` gives the mean and standard deviation of the posterior of the NNGP
    of Proposition 11.28 given ``f(X) = y``: the mean is the prediction above and the
    variance ``K(x, x) - K(x, X) K^+ K(X, x)``, clipped at 0 (0 at the training points). With
    ``ridge > 0`` the observations are ``y = f(X) + noise`` of variance ``ridge``, and the
    variance is ``K(x, x) - K(x, X) (K + ridge I)^{-1} K(X, x)``, that of the noise-free
    ``f(x)``.

    Parameters
    ----------
    activation : str
        One of :data:`widenet.ACTIVATIONS`.
    parametrization : {"ntk", "lecun"}
        (11.6.1) or (11.5.1).
    kernel : {"ntk", "nngp"}
        The tangent kernel limit (``K_NTK`` / ``K_LC``) or the NNGP covariance.
    weight_var, bias_var, output_var, output_bias_var : float
        ``s_w^2, s_b^2, s_v^2, s_c^2`` of the initialization, as for
        :class:`widenet.ShallowNetwork`.
    steps : int or None
        Number of GD steps ``k >= 0``; None for the limit ``k -> infinity``.
    lr : float or None
        Step size ``h > 0``, required with ``steps`` (ignored without).
    ridge : float
        ``>= 0``: ridge term, weight decay towards ``w_0`` or observation-noise variance.
    method : {"auto", "closed_form", "scale_mixture", "quadrature"}
        How :func:`widenet.limit_kernel` evaluates the expectations. Not
        ``"monte_carlo"``: every call would draw another random kernel, so the Grams of
        ``fit`` and ``predict`` would not belong together.
    order : int, optional
        Gauss-Legendre nodes per panel of ``method="quadrature"`` (None: its default), as
        for :func:`widenet.limit_kernel`.
    time : float or None
        Gradient flow for this time instead of steps: the mean prediction is
        ``K(x, X) K^-1 (I - exp(-2 s K t)) y`` (``s`` as ``loss`` says), the limit of ``k``
        steps of ``lr = t / k`` as ``k`` grows. Not with ``steps``.
    loss : {"sum", "mean", "half_sum"}
        The loss the steps (or the flow) descend, scaled as in
        :meth:`widenet.ShallowNetwork.train`: ``s f`` with ``s`` 1, ``1/m`` or ``1/2``; the
        step bound becomes ``lr < 1/(s (l_max + ridge))``.
    depth, bias, multipliers
        The kernels of a network with ``depth`` hidden layers, with or without biases, and
        (NTK parametrization) with the standard deviations as multipliers, as for
        :func:`widenet.limit_kernel` (docs/theory.md, section 8). With ``depth > 1`` and
        ``parametrization="lecun"``, ``lr`` is in the units of ``K_n / n`` with every hidden
        width ``n``.

    Attributes
    ----------
    dual_coef_ : ndarray, shape (m,) or (m, n_targets)
        ``alpha``, so that ``predict(x) = K(x, X) alpha``.
    X_fit_ : ndarray, shape (m, n_features)
        The training points (a copy).
    eigenvalues_ : ndarray, shape (m,)
        The spectrum ``l`` of the training Gram ``K`` (ascending); ``1/eigenvalues_[-1]``
        bounds ``lr`` (with ``ridge = 0``).
    eigenvectors_ : ndarray, shape (m, m)
        ``Q``.
    rank_ : int
        Numerical rank of ``K`` (of ``K + ridge I`` when ``ridge > 0``).
    n_features_in_ : int
    """

    def __init__(self, activation: Activation = "relu", parametrization: Parametrization = "ntk", kernel: Kind = "ntk",
                 weight_var: float = 1.0, bias_var: float = 0.0, output_var: float = 1.0,
                 output_bias_var: float = 0.0, steps: Optional[int] = None, lr: Optional[float] = None,
                 ridge: float = 0.0, method: RegressorMethod = "auto", order: Optional[int] = None, *,
                 depth: int = 1, bias: bool = True, multipliers: bool = False, time: Optional[float] = None,
                 loss: Loss = "sum") -> None:
        self.activation = activation
        self.parametrization = parametrization
        self.kernel = kernel
        self.weight_var = weight_var
        self.bias_var = bias_var
        self.output_var = output_var
        self.output_bias_var = output_bias_var
        self.steps = steps
        self.lr = lr
        self.ridge = ridge
        self.method = method
        self.order = order
        self.depth = depth
        self.bias = bias
        self.multipliers = multipliers
        self.time = time
        self.loss = loss

    def fit(self: _Self, X: npt.ArrayLike, y: npt.ArrayLike) -> _Self:
        """Compute the Gram ``K(X, X)``, its eigendecomposition and ``alpha``; return ``self``.

        ``y`` has shape (m,) or (m, n_targets).
        """
        kind = check.choice(self.kernel, "kernel", _KERNEL_VALUES)
        method = check.choice(self.method, "method", _METHODS)
        ridge = check.non_negative_real(self.ridge, "ridge")
        steps, lr, time = self._schedule()
        if kind == PRECOMPUTED:
            gram = check_train_gram(X)
            self._kernel_args: Optional[Dict[str, Any]] = None
        else:
            points = check_X(X)
            self._kernel_args = dict(activation=self.activation, parametrization=self.parametrization, kind=kind,
                                     weight_var=self.weight_var, bias_var=self.bias_var, output_var=self.output_var,
                                     output_bias_var=self.output_bias_var, method=method, order=self.order,
                                     depth=self.depth, bias=self.bias, multipliers=self.multipliers)
        m = gram.shape[0] if kind == PRECOMPUTED else points.shape[0]
        scale = check.loss_scale(check.choice(self.loss, "loss", check.LOSS_NAMES), m)
        targets = check_y(y, m, type(self).__name__)
        _memory.check_kernel_fit("NTKRegressor.fit", m, 0 if kind == PRECOMPUTED else 1)
        if kind != PRECOMPUTED:
            gram = self._gram(points)
        spectrum = _solve.symmetric(gram, _solve.rank_tolerance(check.float_dtype_of(gram), m), ridge)
        if kind == PRECOMPUTED:
            warn_if_indefinite(spectrum.unshifted)
        eigenvalues, shifted = spectrum.unshifted, spectrum.values
        if time is not None:
            factors = flow_filter(shifted, scale, time)
        elif steps is None or lr is None:  # both or neither
            spectrum.warn_if_ill_conditioned(
                f"The {kind} Gram matrix of {m} points" + (" plus ridge I" if ridge else ""),
                "; a ridge > 0, or finitely many steps, regularises it.")
            factors = spectrum.reciprocals()
        elif shifted[-1] > 0 and lr * scale * shifted[-1] >= 1.0:
            bound = 1.0 / (scale * shifted[-1])
            raise ValueError(f"lr: gradient descent on loss={self.loss!r} diverges for lr >= 1/(s (l_max + ridge)) = "
                             f"{bound:.6g} (l_max = {eigenvalues[-1]:.6g}, the largest eigenvalue of the training "
                             f"Gram, s = {scale:.6g}); got lr={self.lr!r}")
        else:
            factors = gd_filter(shifted, lr * scale, steps)
        self.dual_coef_: npt.NDArray[np.float64] = spectrum.filtered(factors, targets)
        if kind != PRECOMPUTED:
            self.X_fit_ = points.copy()
        self.eigenvalues_ = eigenvalues
        self.eigenvectors_ = spectrum.right
        self.rank_ = spectrum.rank
        self._fitted_on(gram if kind == PRECOMPUTED else points, on_gram=kind == PRECOMPUTED)
        self._fitted_as = f"kernel={kind!r}, steps={steps!r}, time={time!r}"
        self._posterior_factors: Optional[npt.NDArray[np.float64]] = (
            factors if kind == "nngp" and steps is None and time is None else None)
        return self

    def _schedule(self) -> Tuple[Optional[int], Optional[float], Optional[float]]:
        """Return the checked ``steps``, ``lr`` (None without steps) and ``time``."""
        steps = None if self.steps is None else check.integer(self.steps, "steps", 0)
        if steps is not None and self.lr is None:
            raise ValueError("lr: a step size is required when steps is given (steps=None for the limit)")
        lr = None if steps is None else check.positive_real(self.lr, "lr")
        time = None if self.time is None else check.non_negative_real(self.time, "time")
        if time is not None and steps is not None:
            raise ValueError("time: gradient flow for a time, or gradient descent for steps, not both (got time="
                             f"{self.time!r} and steps={self.steps!r})")
        return steps, lr, time

    def _gram(self, X1: FloatArray, X2: Optional[FloatArray] = None) -> npt.NDArray[np.float64]:
        return limit_kernel(X1, X2, **cast(Dict[str, Any], self._kernel_args))

    @overload
    def predict(self, X: npt.ArrayLike, return_std: Literal[False] = ...) -> FloatArray: ...

    @overload
    def predict(self, X: npt.ArrayLike, return_std: Literal[True]) -> Tuple[FloatArray, FloatArray]: ...

    @overload
    def predict(self, X: npt.ArrayLike, return_std: bool) -> Union[FloatArray, Tuple[FloatArray, FloatArray]]: ...

    def predict(self, X: npt.ArrayLike, return_std: bool = False) -> Union[FloatArray, Tuple[FloatArray, FloatArray]]:
        """Return the prediction ``K(x, X) alpha`` for the rows of ``X``.

        Parameters
        ----------
        X : array_like, shape (m_test, n_features)
        return_std : bool
            Also return the NNGP posterior standard deviation
            ``sqrt(max(0, K(x, x) - K(x, X) K^+ K(X, x)))`` (``K + ridge I`` in place of ``K``
            when ``ridge > 0``); only for a model fitted with ``kernel="nngp"`` and
            ``steps=None``, else ValueError.

        Returns
        -------
        mean : ndarray, shape (m_test,) or (m_test, n_targets) as the fitted ``y``
            In the dtype of the fitted ``X`` (float32 for float32 ``X``, else float64); the
            kernels and the solve are computed in float64.
        std : ndarray, same shape and dtype as ``mean``, only with ``return_std``
        """
        points = self._check_predict_X(X)
        if not isinstance(return_std, (bool, np.bool_)):
            raise TypeError(f"return_std: expected a bool, got {return_std!r}")
        if return_std and self._fit_on_gram:
            raise ValueError("return_std: the uncertainty needs the kernel at the test points, K(x, x), which "
                             "kernel='precomputed' does not give; fit on the points with kernel='ntk' or 'nngp'")
        if return_std and self._posterior_factors is None:
            raise ValueError("return_std: a posterior standard deviation exists only for the NNGP (Proposition "
                             "11.28) conditioned on the data, i.e. for a model fitted with kernel='nngp' and "
                             f"steps=None; this one was fitted with {self._fitted_as}")
        # the cross Gram, and with return_std its product with the eigenvectors
        _memory.check_kernel_prediction("NTKRegressor.predict", points.shape[0], self.eigenvalues_.size,
                                        1 + bool(return_std))
        cross = points.astype(np.float64) if self._fit_on_gram else self._gram(points, self.X_fit_)
        mean = cross @ self.dual_coef_
        if not return_std:
            return mean.astype(points.dtype, copy=False)
        diagonal = np.concatenate([np.diag(self._gram(points[start:start + _DIAGONAL_BLOCK]))
                                   for start in range(0, points.shape[0], _DIAGONAL_BLOCK)])
        factors = cast(npt.NDArray[np.float64], self._posterior_factors)  # not None: checked above
        explained = (cross @ self.eigenvectors_) ** 2 @ factors
        std = np.sqrt(np.maximum(diagonal - explained, 0.0))
        std = np.repeat(std[:, None], mean.shape[1], axis=1) if mean.ndim == 2 else std
        return mean.astype(points.dtype, copy=False), std.astype(points.dtype, copy=False)


register(__name__, "NTKRegressor", _NTKRegressorBody, REGRESSOR)

if TYPE_CHECKING:  # the type checker sees the class as it is without scikit-learn: the same methods
    class NTKRegressor(_NTKRegressorBody, PlainEstimator): ...  # noqa: D101
else:
    def __getattr__(name: str) -> type:
        return exported(__name__, name, ("NTKRegressor",))


def __dir__() -> List[str]:
    return sorted({*globals(), "NTKRegressor"})
