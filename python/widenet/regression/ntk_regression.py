"""Regression with the infinite-width kernels: what a very wide network learns on average.

:class:`NTKRegressor` predicts with the kernels of :func:`widenet.limit_kernel`: ``K_NTK``
(Theorem 11.30), ``K_LC`` (Theorem 11.16) or the NNGP covariance (Proposition 11.28).
Without a step count it is kernel least squares (11.2.9)-(11.2.10), the limit of training
for ever; with ``steps`` and ``lr`` it is the mean prediction after that many
gradient-descent steps, in closed form ((11.5.9) and the corrected Remark 11.24;
docs/theory.md, sections 3 and 5). It also gives the covariance of the infinitely wide
networks so trained (the Gaussian-process posterior for the NNGP at the limit), and draws
from it, as scikit-learn's ``GaussianProcessRegressor`` does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Literal, Optional, Tuple, TypeVar, Union, cast, overload

import numpy as np
import numpy.typing as npt

from widenet import _cholesky, _memory, _solve
from widenet import _validation as check
from widenet._spectral import flow_filter, gd_filter
from widenet._types import FloatArray, Kind, Loss, Parametrization, Seed
from widenet.kernels.activation import ActivationArgument
from widenet.kernels.limit import KINDS, METHODS, limit_kernel
from widenet.predict import sample_gaussian
from widenet.regression._body import EstimatorBody
from widenet.regression._checks import PRECOMPUTED, check_train_gram, check_X, check_y, warn_if_indefinite
from widenet.regression._classes import REGRESSOR, PlainEstimator, exported, register
from widenet.regression._lazy_spectrum import LazySpectrum
from widenet.regression._uncertainty import EnsembleCovariance, checked_random_state

_METHODS = tuple(method for method in METHODS if method != "monte_carlo")

RegressorMethod = Literal["auto", "closed_form", "scale_mixture", "quadrature"]
"""How :class:`NTKRegressor` evaluates its kernels (every method but Monte Carlo)."""

_KERNEL_VALUES = (*KINDS, PRECOMPUTED)

Prediction = Union[FloatArray, Tuple[FloatArray, FloatArray]]
"""The mean, or the mean with its standard deviation or covariance."""

_Self = TypeVar("_Self", bound="_NTKRegressorBody")


class _NTKRegressorBody(LazySpectrum, EstimatorBody):
    """Kernel regression with an infinite-width kernel of a fully-connected network.

    The prediction is that after ``steps`` gradient-descent steps or in the limit. ``fit``
    computes the training Gram ``K = K(X, X)`` with :func:`widenet.limit_kernel`
    (``kind=kernel``) and its eigendecomposition ``K = Q diag(l) Q^T``; every prediction is
    ``f(x) = K(x, X) alpha`` with ``alpha = Q diag(g(l)) Q^T y`` (``dual_coef_``):

    - ``steps=None``: ``g(l) = 1/l`` (eigenvalues below ``m eps max(l)`` count as zero), so
      ``alpha`` is the minimum-norm solution of ``K alpha = y``, the kernel least-squares
      estimator (11.2.9)-(11.2.10); it interpolates ``y`` when ``K`` is nonsingular. With
      ``ridge > 0``, ``alpha = (K + ridge I)^{-1} y`` (kernel ridge regression). A well-posed
      ``K + ridge I`` is solved by Cholesky instead (docs/theory.md, section 2), but for a
      precomputed Gram with ``ridge > 0``, whose eigenvalues are checked for a kernel's.
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

    Uncertainty: the prediction is the mean of the outputs of infinitely wide networks,
    random at initialization and trained as fitted; over the initialization these outputs
    are Gaussian (docs/theory.md, section 9), and ``predict(X, return_std=True)`` or
    ``return_cov=True`` gives their standard deviation or covariance, ``sample_y`` draws
    from them (:func:`widenet.predict.gradient_descent_mse_ensemble` in the units above).
    With ``kernel="ntk"`` the whole network is trained (its covariance involves both the
    NNGP and the tangent kernel); with ``kernel="nngp"`` only the readout, and at the limit
    (``steps=None``, ``time=None``) this is the posterior of the NNGP of Proposition 11.28
    given ``f(X) = y``, variance ``K(x, x) - K(x, X) K^+ K(X, x)``. With ``ridge > 0`` the
    covariance is, as in neural-tangents, for ``kernel="ntk"`` that of the networks trained
    with the weight decay above, and for ``kernel="nngp"`` that of a readout trained on
    outputs observed with independent noise of variance ``ridge``: at the limit the posterior
    given ``y = f(X) + noise``, variance ``K(x, x) - K(x, X) (K + ridge I)^{-1} K(X, x)``,
    that of the noise-free ``f(x)``.

    Parameters
    ----------
    activation : str or callable
        One of :data:`widenet.ACTIVATIONS`, or a function of a float64 array (a
        :class:`widenet.CallableActivation` with its derivative), as for
        :func:`widenet.limit_kernel`. scikit-learn's ``clone`` keeps the function itself;
        the regressor pickles if the function does (not a lambda).
    parametrization : {"ntk", "lecun"}
        (11.6.1) or (11.5.1).
    kernel : {"ntk", "nngp", "precomputed"}
        The tangent kernel limit (``K_NTK`` / ``K_LC``) or the NNGP covariance; or
        ``"precomputed"``: ``fit(K, y)`` takes the training Gram ``K`` (m, m) of any kernel
        in place of the points, and ``predict`` takes ``K(X_test, X_train)`` (m_test, m), as
        scikit-learn's ``KernelRidge(kernel="precomputed")``. The steps, time, ridge and
        loss apply to it alike; the network's settings are not used, and the uncertainty,
        which needs the kernel at the test points, is refused.
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
        The training points (a copy); not set with ``kernel="precomputed"``.
    eigenvalues_ : ndarray, shape (m,)
        The spectrum ``l`` of the training Gram ``K`` (ascending); ``1/eigenvalues_[-1]``
        bounds ``lr`` (with ``ridge = 0``). Made on first use after a fit by Cholesky.
    eigenvectors_ : ndarray, shape (m, m)
        ``Q``; made with ``eigenvalues_``.
    rank_ : int
        Numerical rank of ``K`` (of ``K + ridge I`` when ``ridge > 0``).
    n_features_in_ : int
        The number of features, or with ``kernel="precomputed"`` the number of training
        points ``m``.

    Examples
    --------
    >>> import numpy as np, widenet
    >>> X = np.random.default_rng(0).standard_normal((20, 3))
    >>> model = widenet.NTKRegressor(activation="relu", bias_var=0.1).fit(X, np.sin(X[:, 0]))
    >>> mean, std = model.predict(X[:4] + 0.1, return_std=True)
    """

    def __init__(self, activation: ActivationArgument = "relu", parametrization: Parametrization = "ntk",
                 kernel: Union[Kind, Literal["precomputed"]] = "ntk",
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
        """Compute the Gram ``K(X, X)``, its factorization and ``alpha`` (``y``: (m,) or (m, t)); return ``self``."""
        kind = check.choice(self.kernel, "kernel", _KERNEL_VALUES)
        method = check.choice(self.method, "method", _METHODS)
        ridge = check.non_negative_real(self.ridge, "ridge")
        steps, lr, time = self._schedule()
        data = check_train_gram(X) if kind == PRECOMPUTED else check_X(X)  # the Gram, or the points
        m = data.shape[0]
        scale = check.loss_scale(check.choice(self.loss, "loss", check.LOSS_NAMES), m)
        targets = check_y(y, m, type(self).__name__)
        # Cholesky at the limit, but a ridge would hide a precomputed Gram's negative eigenvalue from it
        at_limit = steps is None and time is None and not (kind == PRECOMPUTED and ridge)
        _memory.check_kernel_fit("NTKRegressor.fit", m, 0 if kind == PRECOMPUTED else 1, cholesky=at_limit,
                                 gram_dtype=data.dtype if kind == PRECOMPUTED else np.float64)  # limit: float64
        kernel_args: Optional[Dict[str, Any]] = None if kind == PRECOMPUTED else dict(
            activation=self.activation, parametrization=self.parametrization, kind=kind, weight_var=self.weight_var,
            bias_var=self.bias_var, output_var=self.output_var, output_bias_var=self.output_bias_var, method=method,
            order=self.order, depth=self.depth, bias=self.bias, multipliers=self.multipliers)
        gram = data if kernel_args is None else limit_kernel(data, **kernel_args)
        tolerance = _solve.rank_tolerance(check.float_dtype_of(gram), m)
        cholesky = _cholesky.factorize(gram, tolerance, ridge) if at_limit else None
        spectrum: Optional[_solve.Spectrum] = None
        if cholesky is not None:  # every eigenvalue kept; none below zero
            dual_coef, rank = cholesky.solve(targets), m
            # for eigenvalues_ on demand; a precomputed Gram is the caller's, so copied
            unfactored: Optional[FloatArray] = np.array(gram) if kernel_args is None else gram
        else:
            if at_limit:  # the factorization was refused: guard its eigendecomposition
                _memory.check_kernel_eigh("NTKRegressor.fit", m)
            spectrum = _solve.symmetric(gram, tolerance, ridge)
            if kind == PRECOMPUTED:
                warn_if_indefinite(spectrum.unshifted)
            dual_coef = spectrum.filtered(
                self._filter(spectrum, f"The {kind} Gram matrix of {m} points" + (" plus ridge I" if ridge else ""),
                             scale, steps, lr, time), targets)
            rank, unfactored = spectrum.rank, None
        # the object changes only now: an interrupted fit leaves the earlier one
        self._forget("eigenvalues_", "eigenvectors_")
        if spectrum is not None:
            self.eigenvalues_, self.eigenvectors_ = spectrum.unshifted, spectrum.right
        self.dual_coef_, self.rank_, self._unfactored_gram = dual_coef, rank, unfactored
        self._fitted_on(data, on_gram=kernel_args is None)
        self._kernel_args = kernel_args
        self._uncertainty: Optional[EnsembleCovariance] = None
        self._forget("X_fit_")
        if kernel_args is not None:
            self.X_fit_ = data.copy()
            self._uncertainty = EnsembleCovariance(kernel_args, self.X_fit_, ridge, self.loss, steps, lr, time)
        return self

    def _filter(self, spectrum: _solve.Spectrum, gram: str, scale: float, steps: Optional[int], lr: Optional[float],
                time: Optional[float]) -> npt.NDArray[np.float64]:
        """Return ``g(l)`` on the spectrum of ``K + ridge I`` (named ``gram``): flow, steps, or the pseudo-inverse."""
        shifted = spectrum.values
        if time is not None:
            return flow_filter(shifted, scale, time)
        if steps is None or lr is None:  # both or neither
            spectrum.warn_if_ill_conditioned(gram, "; a ridge > 0, or finitely many steps, regularises it.",
                                             stacklevel=5)
            return spectrum.reciprocals()
        if shifted[-1] > 0 and lr * scale * shifted[-1] >= 1.0:
            bound = 1.0 / (scale * shifted[-1])
            raise ValueError(f"lr: gradient descent on loss={self.loss!r} diverges for lr >= 1/(s (l_max + ridge)) = "
                             f"{bound:.6g} (l_max = {spectrum.unshifted[-1]:.6g}, the largest eigenvalue of the "
                             f"training Gram, s = {scale:.6g}); got lr={self.lr!r}")
        return gd_filter(shifted, lr * scale, steps)

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
    def predict(self, X: npt.ArrayLike, return_std: Literal[False] = ..., return_cov: Literal[False] = ...
                ) -> FloatArray: ...

    @overload
    def predict(self, X: npt.ArrayLike, return_std: bool = ..., return_cov: bool = ...) -> Prediction: ...

    def predict(self, X: npt.ArrayLike, return_std: bool = False, return_cov: bool = False) -> Prediction:
        """Return the prediction ``K(x, X) alpha`` for the rows of ``X``, with its uncertainty if asked.

        Parameters
        ----------
        X : array_like, shape (m_test, n_features)
            Or ``K(X_test, X_train)``, shape (m_test, m), with ``kernel="precomputed"``.
        return_std : bool
            Also return the standard deviation of the trained infinite ensemble's outputs (see
            the class's notes), at each point.
        return_cov : bool
            Also return their covariance between the points. At most one of ``return_std``
            and ``return_cov`` (scikit-learn's ``GaussianProcessRegressor`` convention).

        Returns
        -------
        mean : ndarray, shape (m_test,) or (m_test, n_targets) as the fitted ``y``
            In the dtype of the fitted ``X`` (float32 for float32 ``X``, else float64); the
            kernels and the solve are computed in float64.
        std : ndarray, same shape and dtype as ``mean``, only with ``return_std``
            Every target column has the same (the outputs share the kernel).
        cov : ndarray, shape (m_test, m_test) or (m_test, m_test, n_targets), only with ``return_cov``
            The last axis for fits on 2-D ``y`` (its columns share one covariance), as
            scikit-learn's ``GaussianProcessRegressor`` returns it; in the dtype of ``mean``.
        """
        points = self._check_predict_X(X)
        self._refuse_uncertainty(check.boolean(return_std, "return_std"), check.boolean(return_cov, "return_cov"))
        self._check_memory(points.shape[0], return_std, return_cov)
        mean = self._mean(points)
        if not (return_std or return_cov):
            return mean.astype(points.dtype, copy=False)
        uncertainty = cast(EnsembleCovariance, self._uncertainty)  # not None: checked above
        columns = mean.shape[1:]  # () for 1-D y, else (n_targets,): one more axis, repeated
        if return_std:
            std = np.sqrt(uncertainty.variances(points.astype(np.float64)))
            spread = np.repeat(std[:, None], columns[0], axis=1) if columns else std
        else:
            cov = uncertainty.covariance(points.astype(np.float64))
            spread = np.repeat(cov[:, :, None], columns[0], axis=2) if columns else cov
        return mean.astype(points.dtype, copy=False), spread.astype(points.dtype, copy=False)

    def sample_y(self, X: npt.ArrayLike, n_samples: int = 1, random_state: Seed = 0) -> FloatArray:
        """Return draws of the trained infinite ensemble's outputs at the rows of ``X``.

        The Gaussian of ``predict(X, return_cov=True)``, drawn with
        :func:`widenet.predict.sample_gaussian` (stable for singular covariances, which it
        announces with a :class:`widenet.ConditioningWarning`), each target column
        independently; as scikit-learn's ``GaussianProcessRegressor.sample_y``.

        Parameters
        ----------
        X : array_like, shape (m_test, n_features)
        n_samples : int
            At least 1.
        random_state : int, numpy Generator or RandomState, or None
            The seed (None: fresh entropy); the same int gives the same draws.

        Returns
        -------
        ndarray, shape (m_test, n_samples), or (m_test, n_targets, n_samples) for 2-D ``y``
            In the dtype of the fitted ``X``.
        """
        points = self._check_predict_X(X)
        self._refuse_uncertainty(True, False, "sample_y")
        count = check.integer(n_samples, "n_samples", 1)
        seed = checked_random_state(random_state)
        self._check_memory(points.shape[0], False, True, count)
        mean = self._mean(points)
        cov = cast(EnsembleCovariance, self._uncertainty).covariance(points.astype(np.float64))
        draws = sample_gaussian(mean, cov, count, seed)  # (n_samples, m_test) or (n_samples, m_test, n_targets)
        return np.moveaxis(draws, 0, -1).astype(points.dtype, copy=False)

    def _check_memory(self, m_test: int, return_std: bool, return_cov: bool, samples: int = 0) -> None:
        """Guard the mean's cross Gram, then, when asked, the covariance's arrays (the larger of the two)."""
        cross: List[_memory.Block] = [("cross Gram", (m_test, self.dual_coef_.shape[0]), np.float64, 1)]
        spread: List[_memory.Block] = []
        if self._uncertainty is not None and (return_std or return_cov):
            columns = 1 if self.dual_coef_.ndim == 1 else self.dual_coef_.shape[1]
            spread = self._uncertainty.memory_blocks(m_test, return_cov, columns, samples)
        _memory.require("NTKRegressor.predict", _memory.peak(cross, spread),
                        "Predict in batches of rows (with return_cov, the covariance is m_test x m_test).")

    def _mean(self, points: FloatArray) -> npt.NDArray[np.float64]:
        cross = points.astype(np.float64) if self._fit_on_gram else self._gram(points, self.X_fit_)
        mean: npt.NDArray[np.float64] = cross @ self.dual_coef_
        return mean

    def _refuse_uncertainty(self, return_std: bool, return_cov: bool, name: str = "") -> None:
        """Refuse both at once, and any uncertainty of a fit on a precomputed Gram."""
        if return_std and return_cov:
            raise ValueError("return_std, return_cov: at most one of them can be True (the covariance holds the "
                             "standard deviations on its diagonal)")
        asked = name or ("return_std" if return_std else "return_cov")
        if (return_std or return_cov) and self._uncertainty is None:
            raise ValueError(f"{asked}: the uncertainty needs the kernel at the test points, K(x, x), which "
                             "kernel='precomputed' does not give; fit on the points with kernel='ntk' or 'nngp'")


register(__name__, "NTKRegressor", _NTKRegressorBody, REGRESSOR)

if TYPE_CHECKING:  # the type checker sees the class as it is without scikit-learn: the same methods
    class NTKRegressor(_NTKRegressorBody, PlainEstimator): ...  # noqa: D101
else:
    def __getattr__(name: str) -> type:
        return exported(__name__, name, ("NTKRegressor",))


def __dir__() -> List[str]:
    return sorted({*globals(), "NTKRegressor"})
