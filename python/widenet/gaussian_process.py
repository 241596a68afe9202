"""widenet's infinite-width kernels as scikit-learn Gaussian-process kernels (docs/theory.md, section 10).

:class:`GPKernel` is a ``sklearn.gaussian_process.kernels.Kernel`` whose values are
:func:`widenet.limit_kernel`'s and whose hyperparameters are the network's variances, so
that ``GaussianProcessRegressor(kernel=GPKernel(...) + WhiteKernel())`` fits them by
marginal likelihood with an analytic gradient. This module imports scikit-learn;
``import widenet`` does not (``widenet.GPKernel`` loads this module on first use).
"""

from __future__ import annotations

from typing import Any, Optional, Union

import numpy as np
from numpy.typing import ArrayLike, NDArray

from widenet import _memory
from widenet import _validation as check
from widenet._optional import optional_module_for
from widenet._types import Activation, Kind, Method, Parametrization
from widenet.kernels.limit import CLOSED_FORMS, LimitKernel
from widenet.reference.limit_kernels import GRADIENT_ACTIVATIONS, VARIANCES, deep_limit_kernel_gradient

with optional_module_for("widenet.GPKernel", "sklearn"):
    from sklearn.gaussian_process.kernels import Hyperparameter
    from sklearn.gaussian_process.kernels import Kernel as _SklearnKernel

Bounds = Union[str, tuple[float, float]]
DEFAULT_BOUNDS = (1e-5, 1e5)
"""The bounds of a fitted variance unless given (scikit-learn's own kernels' default)."""
_BIAS_VARIANCES = ("bias_var", "output_bias_var")
# Relative slack on the bounds: the optimizer's exp(log(bound)) may round just outside them.
_BOUND_SLACK = 1e-9


class GPKernel(_SklearnKernel):
    """The NNGP or tangent kernel of a wide network, as a scikit-learn Gaussian-process kernel.

    ``GPKernel(...)(X, Y)`` equals ``widenet.limit_kernel(X, Y, ...)`` with the same
    arguments (Proposition 11.28 for ``kind="nngp"``, the covariance of the network's
    outputs at initialization; Theorems 11.16 and 11.30 for ``kind="ntk"``; any ``depth``,
    docs/theory.md, section 8). The four variances are hyperparameters; ``theta`` holds the
    logarithms of the free ones (in the order ``bias_var, output_bias_var, output_var,
    weight_var``, scikit-learn's alphabetical one) and ``eval_gradient=True`` returns the
    kernel's derivatives in them, computed analytically through the layer recursion
    (docs/theory.md, section 10), for relu, erf, identity, sin and gelu in closed form and
    for tanh, sigmoid and softplus through their scale mixtures (slower). arctan and
    ``method="quadrature"`` give the kernel but refuse the gradient (an optimizer without
    gradients can still fit them). With ``method="auto"`` tanh, sigmoid and softplus take
    their scale mixtures for the values too (``limit_kernel``'s default, the expansion,
    agrees within 1e-10 of the scale), so that the values and the gradient come from one
    computation. The gradient
    is exact up to rounding, which near correlation +-1 at large variances limits it as it
    limits the kernel's values; the scale mixtures' partials come from the rule of their
    values.

    A variance is fitted unless its bounds are ``"fixed"``. A variance of 0 is always
    fixed (its logarithm does not exist: start a fitted variance at a positive value), and
    so are the bias variances without ``bias``. Where two variances only enter as a product
    (relu without biases: ``weight_var`` and ``output_var``), fix one of them.

    Parameters
    ----------
    activation : str
        One of :data:`widenet.ACTIVATIONS`.
    parametrization : {"lecun", "ntk"}
    kind : {"nngp", "ntk"}
        The output covariance at initialization (the Gaussian-process prior of the network)
        or the limit tangent kernel.
    depth : int
        The number of hidden layers, at least 1.
    weight_var, bias_var, output_var, output_bias_var : float
        ``s_w^2, s_b^2, s_v^2, s_c^2``, as for :func:`widenet.limit_kernel`.
    bias, multipliers, method, order
        As for :func:`widenet.limit_kernel` (``method`` one of "auto", "closed_form",
        "scale_mixture", "quadrature").
    weight_var_bounds, bias_var_bounds, output_var_bounds, output_bias_var_bounds : pair of float or "fixed"
        The range ``(low, high)``, ``0 < low <= high``, over which the variance is fitted,
        or ``"fixed"``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.gaussian_process import GaussianProcessRegressor
    >>> from sklearn.gaussian_process.kernels import WhiteKernel
    >>> from widenet import GPKernel
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((50, 3))
    >>> y = np.sin(X[:, 0]) + 0.1 * rng.standard_normal(50)
    >>> kernel = GPKernel("relu", depth=2, bias_var=0.1, weight_var_bounds="fixed") + WhiteKernel()
    >>> regressor = GaussianProcessRegressor(kernel=kernel).fit(X, y)  # fits bias_var, output_var, noise
    >>> K, gradient = GPKernel("erf", bias_var=0.5)(X, eval_gradient=True)
    >>> gradient.shape  # d K / d log(bias_var), d K / d log(output_var), d K / d log(weight_var)
    (50, 50, 3)
    """

    def __init__(self, activation: Activation = "relu", parametrization: Parametrization = "lecun",
                 kind: Kind = "nngp", depth: int = 1, weight_var: float = 1.0, bias_var: float = 0.0,
                 output_var: float = 1.0, output_bias_var: float = 0.0, *, bias: bool = True,
                 multipliers: bool = False, method: Method = "auto", order: Optional[int] = None,
                 weight_var_bounds: Bounds = DEFAULT_BOUNDS, bias_var_bounds: Bounds = DEFAULT_BOUNDS,
                 output_var_bounds: Bounds = DEFAULT_BOUNDS, output_bias_var_bounds: Bounds = DEFAULT_BOUNDS) -> None:
        self.activation = activation
        self.parametrization = parametrization
        self.kind = kind
        self.depth = depth
        self.weight_var = weight_var
        self.bias_var = bias_var
        self.output_var = output_var
        self.output_bias_var = output_bias_var
        self.bias = bias
        self.multipliers = multipliers
        self.method = method
        self.order = order
        self.weight_var_bounds = weight_var_bounds
        self.bias_var_bounds = bias_var_bounds
        self.output_var_bounds = output_var_bounds
        self.output_bias_var_bounds = output_bias_var_bounds
        self._limit_kernel()  # the arguments are checked now, each error naming its argument
        for name in VARIANCES:
            self._check_in_bounds(self._hyperparameter(name))

    # scikit-learn finds the hyperparameters as the attributes named hyperparameter_*
    @property
    def hyperparameter_weight_var(self) -> Hyperparameter:
        """The hyperparameter ``weight_var``."""
        return self._hyperparameter("weight_var")

    @property
    def hyperparameter_bias_var(self) -> Hyperparameter:
        """The hyperparameter ``bias_var`` (fixed without ``bias``)."""
        return self._hyperparameter("bias_var")

    @property
    def hyperparameter_output_var(self) -> Hyperparameter:
        """The hyperparameter ``output_var``."""
        return self._hyperparameter("output_var")

    @property
    def hyperparameter_output_bias_var(self) -> Hyperparameter:
        """The hyperparameter ``output_bias_var`` (fixed without ``bias``)."""
        return self._hyperparameter("output_bias_var")

    def _hyperparameter(self, name: str) -> Hyperparameter:
        """Return the hyperparameter of the variance ``name``, its bounds checked."""
        bounds = getattr(self, f"{name}_bounds")
        if isinstance(bounds, str):
            if bounds != "fixed":
                raise ValueError(f"{name}_bounds: expected 'fixed' or a pair (low, high), got {bounds!r}")
            return Hyperparameter(name, "numeric", "fixed")
        if not isinstance(bounds, (tuple, list, np.ndarray)) or len(bounds) != 2:
            raise TypeError(f"{name}_bounds: expected 'fixed' or a pair (low, high), got {bounds!r}")
        low, high = (check.positive_real(end, f"{name}_bounds") for end in bounds)
        if low > high:
            raise ValueError(f"{name}_bounds: expected low <= high, got {bounds!r}")
        # scikit-learn's sums and products read fixedness from the bounds, so "fixed" it is
        fixed = getattr(self, name) == 0 or (name in _BIAS_VARIANCES and not self.bias)
        return Hyperparameter(name, "numeric", "fixed" if fixed else (low, high))

    def _check_in_bounds(self, hyperparameter: Hyperparameter) -> None:
        if hyperparameter.fixed:
            return
        low, high = hyperparameter.bounds[0]
        value = getattr(self, hyperparameter.name)
        if not low * (1 - _BOUND_SLACK) <= value <= high * (1 + _BOUND_SLACK):
            raise ValueError(f"{hyperparameter.name}: {value!r} lies outside its bounds ({low:g}, {high:g}); widen "
                             f"{hyperparameter.name}_bounds or set them to 'fixed'")

    def _options(self) -> dict[str, Any]:
        """Return the keyword arguments of :func:`widenet.limit_kernel` this kernel stands for.

        ``method="auto"`` takes, for the activations with a gradient, the method the gradient
        differentiates (the closed form or the scale mixture, not the expansion), so that the
        values and the gradient come from one computation.
        """
        method = self.method
        if method == "auto" and self.activation in GRADIENT_ACTIVATIONS:
            method = "closed_form" if self.activation in CLOSED_FORMS else "scale_mixture"
        return dict(activation=self.activation, parametrization=self.parametrization, kind=self.kind,
                    depth=self.depth, weight_var=self.weight_var, bias_var=self.bias_var, output_var=self.output_var,
                    output_bias_var=self.output_bias_var, bias=self.bias, multipliers=self.multipliers,
                    method=method, order=self.order)

    def _limit_kernel(self) -> LimitKernel:
        options = self._options()
        return LimitKernel(options.pop("activation"), options.pop("parametrization"), options.pop("kind"), **options)

    def __call__(self, X: ArrayLike, Y: Optional[ArrayLike] = None,
                 eval_gradient: bool = False) -> Union[NDArray[np.float64], tuple[NDArray[np.float64],
                                                                                   NDArray[np.float64]]]:
        """Return the kernel ``K(X, Y)`` and, with ``eval_gradient``, its gradient in the log-variances.

        Parameters
        ----------
        X : array_like, shape (m, d)
        Y : array_like, shape (m2, d), optional
            None: ``K(X, X)``.
        eval_gradient : bool
            Also return ``dK / d theta`` (``Y`` must be None), shape ``(m, m, n)`` with ``n``
            the number of free hyperparameters.

        Returns
        -------
        K : ndarray, shape (m, m2)
        gradient : ndarray, shape (m, m, n)
            With ``eval_gradient`` only.
        """
        points = check.as_points(X, "X", dtype=np.dtype(np.float64), min_columns=1)
        others = None if Y is None else check.as_points(Y, "Y", dtype=np.dtype(np.float64),
                                                        columns=points.shape[1], columns_of=" like X")
        if check.boolean(eval_gradient, "eval_gradient") and others is not None:
            raise ValueError("eval_gradient: the gradient is of K(X, X); pass Y=None")
        K = self._limit_kernel()(points, others)
        if not eval_gradient:
            return K
        return K, self._gradient(points)

    def _gradient(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """Return ``dK(X, X) / d theta``, shape (m, m, number of free hyperparameters)."""
        free = [hyperparameter.name for hyperparameter in self.hyperparameters if not hyperparameter.fixed]
        if not free:
            return np.empty((X.shape[0], X.shape[0], 0))
        if self.activation not in GRADIENT_ACTIVATIONS or self.method == "quadrature":
            raise ValueError(f"eval_gradient: the analytic gradient exists for the activations "
                             f"{', '.join(GRADIENT_ACTIVATIONS)} with method 'auto', 'closed_form' or "
                             f"'scale_mixture'; got activation={self.activation!r}, method={self.method!r} (fix "
                             f"every variance, or fit with an optimizer that needs no gradient)")
        # the kernel twice (compiled values, the recursion's own) and each free variance's derivative
        _memory.check_gram("GPKernel", X, None, np.float64, copies=len(free) + 2)
        options = self._options()
        _, gradient = deep_limit_kernel_gradient(X, options.pop("activation"), options.pop("depth"), free=free,
                                                 **options)
        return gradient

    def diag(self, X: ArrayLike) -> NDArray[np.float64]:
        """Return ``K(x_i, x_i)`` for the rows of ``X``, without the m x m matrix."""
        return np.asarray(self._limit_kernel().diag(X), dtype=np.float64)

    def is_stationary(self) -> bool:
        """Return False: the kernel depends on the points, not only on their difference."""
        return False

    def __repr__(self) -> str:
        variances = ", ".join(f"{name}={getattr(self, name):.3g}" + (" (fixed)" if self._hyperparameter(name).fixed
                                                                      and getattr(self, name) != 0 else "")
                              for name in VARIANCES)
        defaults = dict(depth=1, bias=True, multipliers=False, method="auto", order=None)
        options = "".join(f", {name}={getattr(self, name)!r}" for name, default in defaults.items()
                          if getattr(self, name) != default)
        return f"GPKernel({self.activation!r}, {self.parametrization!r}, {self.kind!r}{options}, {variances})"
