"""Infinite-width kernels of the shallow network (docs/theory.md, sections 5 and 6).

``limit_kernel`` gives the limits the theorems promise: ``K_LC``, the limit of ``K_n / n``
in LeCun parametrization (Theorem 11.16); ``K_NTK``, the limit of ``K_n`` in NTK
parametrization (Theorem 11.30); and the NNGP covariance of the outputs at
initialization (Proposition 11.28).

The expectations inside come from closed forms (relu, erf, identity, sin, gelu), from
normal scale mixtures of closed forms (tanh, sigmoid, softplus, arctan), from the Hermite
expansion (Mehler's series in the correlation; tanh, sigmoid, softplus, arctan, erf, gelu),
from a graded quadrature (any activation) or from Monte Carlo (any initial law D, with
standard errors). The first four compute in float64, in C++ (which also builds their quadrature rules) with
numpy twins in :mod:`widenet.reference.limit_kernels`, whose docstring derives them. Each is
accurate at every pre-activation variance the float64 range allows: every kernel entry is
within :data:`TOLERANCE` ``sqrt(K(x, x) K(z, z))`` of the kernel of the covariances as
computed (``TOLERANCE = 1e-9``; docs/guarantees.md gives the errors measured). An
activation given as a Python function (:class:`~widenet.CallableActivation`) takes the
expansion, with the quadrature behind it, on the numpy path.
"""

from __future__ import annotations

from typing import Any, Literal, Optional, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

from widenet import _memory
from widenet import _validation as check
from widenet._native import _core
from widenet._types import Backend, Distribution, Kind, Method, Parametrization, Seed
from widenet.kernels import monte_carlo

# the compiled core's lists, named here as well (where the limit kernels' callers look for them)
from widenet.kernels._limit_arguments import CLOSED_FORMS as CLOSED_FORMS
from widenet.kernels._limit_arguments import EXPANSIONS as EXPANSIONS
from widenet.kernels._limit_arguments import KINDS as KINDS
from widenet.kernels._limit_arguments import METHODS as METHODS
from widenet.kernels._limit_arguments import PARAMETRIZATIONS as PARAMETRIZATIONS
from widenet.kernels._limit_arguments import SCALE_MIXTURES as SCALE_MIXTURES
from widenet.kernels._limit_arguments import TOLERANCE as TOLERANCE
from widenet.kernels._limit_arguments import check_function_method, check_method, checked_arguments
from widenet.kernels.activation import ActivationArgument, CallableActivation
from widenet.kernels.base import Kernel
from widenet.kernels.monte_carlo import KernelOrErrors
from widenet.reference import limit_kernels as reference

Float64Array = NDArray[np.float64]


@overload
def limit_kernel(X1: ArrayLike, X2: Optional[ArrayLike] = None, *, activation: ActivationArgument,
                 parametrization: Parametrization = "lecun", kind: Kind = "ntk", weight_var: float = 1.0,
                 bias_var: float = 0.0, output_var: float = 1.0, output_bias_var: float = 0.0, depth: int = 1,
                 bias: bool = True, multipliers: bool = False, method: Method = "auto",
                 order: Optional[int] = None, samples: int = 100_000, distribution: Distribution = "normal",
                 seed: Seed = None, backend: Backend = "cpp", return_std: Literal[False] = False) -> Float64Array: ...


@overload
def limit_kernel(X1: ArrayLike, X2: Optional[ArrayLike] = None, *, activation: ActivationArgument,
                 parametrization: Parametrization = "lecun", kind: Kind = "ntk", weight_var: float = 1.0,
                 bias_var: float = 0.0, output_var: float = 1.0, output_bias_var: float = 0.0, depth: int = 1,
                 bias: bool = True, multipliers: bool = False, method: Method = "auto",
                 order: Optional[int] = None, samples: int = 100_000, distribution: Distribution = "normal",
                 seed: Seed = None, backend: Backend = "cpp",
                 return_std: Literal[True]) -> tuple[Float64Array, Float64Array]: ...


@overload
def limit_kernel(X1: ArrayLike, X2: Optional[ArrayLike] = None, *, activation: ActivationArgument,
                 parametrization: Parametrization = "lecun", kind: Kind = "ntk", weight_var: float = 1.0,
                 bias_var: float = 0.0, output_var: float = 1.0, output_bias_var: float = 0.0, depth: int = 1,
                 bias: bool = True, multipliers: bool = False, method: Method = "auto",
                 order: Optional[int] = None, samples: int = 100_000, distribution: Distribution = "normal",
                 seed: Seed = None, backend: Backend = "cpp", return_std: bool = False) -> KernelOrErrors: ...


def limit_kernel(X1: ArrayLike, X2: Optional[ArrayLike] = None, *, activation: ActivationArgument,
                 parametrization: Parametrization = "lecun", kind: Kind = "ntk", weight_var: float = 1.0,
                 bias_var: float = 0.0, output_var: float = 1.0, output_bias_var: float = 0.0, depth: int = 1,
                 bias: bool = True, multipliers: bool = False, method: Method = "auto",
                 order: Optional[int] = None, samples: int = 100_000, distribution: Distribution = "normal",
                 seed: Seed = None, backend: Backend = "cpp", return_std: bool = False) -> KernelOrErrors:
    """Return the infinite-width kernel between the rows of ``X1`` and ``X2`` (``X2=None``: ``X1``).

    With ``Sigma(x, z) = s_w^2 x.z/d + s_b^2``, ``E_ss = E[s(h_x) s(h_z)]`` and
    ``E_dd = E[s'(h_x) s'(h_z)]`` over ``(h_x, h_z) ~ N(0, Sigma)``:

    - ``parametrization="lecun", kind="ntk"``: ``K_LC = E_ss``, the limit of ``K_n / n``;
    - ``parametrization="ntk", kind="ntk"``: ``K_NTK = s_v^2 (x.z/d + 1) E_dd + E_ss + 1``;
    - ``kind="nngp"``: ``s_v^2 E_ss + s_c^2``, the covariance of ``Phi(x)`` at initialization.

    With ``depth`` hidden layers (or without biases, or with multipliers) the kernels follow
    the layer recursions of docs/theory.md, section 8, each layer's expectations computed as
    for one layer; under LeCun's parametrization ``kind="ntk"`` is the limit of ``K_n / n``
    with every hidden width ``n``.

    Accuracy: the deterministic methods compute each expectation within ``1e-9`` of its
    scale, ``sqrt(E[s(h_x)^2] E[s(h_z)^2])`` (resp. with ``s'``), so that every entry is
    within ``1e-9 sqrt(K(x, x) K(z, z))`` of the exact kernel of the covariances as
    computed in float64, at every pre-activation variance from 0 to the float64 limit and
    every correlation. Rounding the covariances themselves matters where the kernel is
    steep in them (near ``|rho| = 1`` at large variances; sin at large variances); values
    beyond the float64 range come out as inf, or 0 below the subnormals. Points whose
    variance overflows are refused.

    Parameters
    ----------
    X1 : array_like, shape (m1, d)
    X2 : array_like, shape (m2, d), optional
    activation : str or callable
        A built-in's name (:data:`widenet.ACTIVATIONS`), or a function ``f`` of a float64
        array, elementwise (a :class:`~widenet.CallableActivation` also carries ``f'``;
        without it ``f'`` is a central difference). A function's kernels are computed on
        the numpy path whatever ``backend`` says: ``auto`` is the expansion, its
        coefficients from ``f`` and ``f'`` on the one-dimensional rule, and the graded
        quadrature for the pairs whose series has not met its bound by degree 64 (all
        pairs but the weakly correlated ones, for an activation with a kink). The accuracy
        is the built-ins' where ``f`` changes on scales of order 1 around 0 as they do
        (docs/theory.md, section 5, gives what a function gets); ``f`` must be finite
        wherever the kernels evaluate it (ValueError naming ``activation`` otherwise).
    parametrization : {"lecun", "ntk"}
    kind : {"ntk", "nngp"}
    weight_var, bias_var, output_var, output_bias_var : float
        ``s_w^2, s_b^2, s_v^2, s_c^2``, as for :class:`~widenet.ShallowNetwork`.
    depth : int
        The number of hidden layers.
    bias : bool
        Whether the layers have biases (without, ``bias_var`` and ``output_bias_var`` are unused).
    multipliers : bool
        NTK parametrization only: the standard deviations multiply in the forward pass
        (neural-tangents' convention), which changes the tangent kernel, not the NNGP.
    method : {"auto", "closed_form", "scale_mixture", "quadrature", "expansion", "monte_carlo"}
        ``auto`` takes the closed form where there is one (relu, erf, identity, sin,
        gelu), else the expansion (tanh, sigmoid, softplus, arctan, and functions). ``expansion``
        (those four, erf and gelu) computes each point's Hermite coefficients once and
        each pair as a polynomial in its correlation, to the degree a bound on the rest
        asks for (1e-10 of the scale); the pairs it cannot bound (near ``|rho| = 1`` at
        large variances) take the closed form or the scale mixture. ``scale_mixture``
        (tanh, sigmoid, softplus, arctan) is a sum of closed-form terms per pair whose
        count is bounded at every variance. ``quadrature`` is a tensor Gauss-Legendre
        rule graded toward the activation's features, for any activation and independent
        of the others, and much slower than they are; it takes variances up to 1e8 for
        arctan and 8 for sin only, and refuses larger ones. docs/guarantees.md gives their
        measured costs.
    order : int, optional
        Gauss-Legendre nodes per panel of the quadrature (and of arctan's scale mixture, also
        where the expansion falls back on it; the expansion's own rule has 16), at most 64.
        The default (12) meets the accuracy above; fewer nodes trade accuracy for speed
        (docs/guarantees.md measures both).
    samples, distribution, seed
        Monte Carlo: hidden units drawn, the law D (normal, uniform, rademacher), the seed.
    backend : {"cpp", "numpy"}
        Deterministic methods only.
    return_std : bool
        Monte Carlo only: also return the standard error of each entry (for the NTK kind, an
        upper bound: the sum of the two expectations' standard errors, scaled).

    Returns
    -------
    ndarray of float64, shape (m1, m2), and its standard errors when ``return_std``.

    Examples
    --------
    The NNGP of a network with the activation ``swish(t) = t sigmoid(t)``, which has no
    built-in, its derivative given:

    >>> import numpy as np, scipy.special, widenet
    >>> def swish(t): return t * scipy.special.expit(t)
    >>> def swish_derivative(t): return scipy.special.expit(t) * (1 + t * scipy.special.expit(-t))
    >>> activation = widenet.CallableActivation(swish, derivative=swish_derivative)
    >>> widenet.limit_kernel(np.eye(2), activation=activation, kind="nngp").shape
    (2, 2)
    """
    points1, points2, checked, parametrization, kind, method, order, variances, (depth, bias, multipliers), largest = \
        checked_arguments(X1, X2, activation, parametrization, kind, method, order,
                           (weight_var, bias_var, output_var, output_bias_var), (depth, bias, multipliers))
    if return_std and method != "monte_carlo":
        raise ValueError("return_std: standard errors exist for method='monte_carlo' only")
    deep = (depth, bias, multipliers) != (1, True, False)
    if isinstance(checked, CallableActivation):
        check.backend(backend)
        return _function_kernel(points1, points2, checked, parametrization, kind, variances, (depth, bias, multipliers),
                                method, order, (samples, distribution, seed, return_std))
    activation = checked
    network = _core.LimitNetwork(activation, parametrization, depth, bias, multipliers)
    if method == "auto":
        method = _core.LIMIT_AUTO_METHODS[activation]
    check_method(method, activation, largest)
    if method == "monte_carlo":
        monte_carlo.check_applies(deep, points1, points2)
        return monte_carlo.estimate(points1, points2, activation, parametrization, kind, variances, samples,
                                    distribution, seed, return_std)
    backend = check.backend(backend)
    nodes = _core.LIMIT_ORDER if order is None else order
    # a deep cross kernel holds a layer's tables while it makes the next layer's variances
    tables = _core.limit_point_floats(activation, method, largest, nodes) * (2 if deep and points2 is not None else 1)
    _memory.check_limit_kernel("limit_kernel", points1.shape[0], points1.shape[0] if points2 is None else
                               points2.shape[0], tables, backend)
    if deep:
        _memory.check_gram("limit_kernel", points1, points2, np.float64, copies=3)  # covariances, tangent kernel
        if backend == "cpp":
            return _core.limit_kernel(points1, points2, network, kind, variances, method, nodes)
        return reference.deep_limit_kernel(points1, points1 if points2 is None else points2, activation,
                                           network.depth, parametrization, kind, *variances, bias=network.bias,
                                           multipliers=network.multipliers, method=method, order=order)
    if backend == "cpp":
        return _core.limit_kernel(points1, points2, activation, parametrization, kind, variances, method, nodes)
    return reference.limit_kernel(points1, points1 if points2 is None else points2, activation, parametrization, kind,
                                  *variances, method=method, order=order)


def _function_kernel(X1: Float64Array, X2: Optional[Float64Array], activation: CallableActivation,
                     parametrization: Parametrization, kind: Kind, variances: tuple[float, float, float, float],
                     layers: tuple[int, bool, bool], method: Method, order: Optional[int],
                     sampling: tuple[object, object, object, bool]) -> KernelOrErrors:
    """Return the kernel of an activation given as a function, on the numpy path (docs/theory.md, section 5).

    ``auto`` is the expansion with the graded quadrature behind it; the closed forms and
    scale mixtures are the built-ins' own. ``layers`` is ``(depth, bias, multipliers)``,
    ``sampling`` Monte Carlo's ``(samples, distribution, seed, return_std)``.
    """
    check_function_method(method)
    functions = activation.functions()
    depth, bias, multipliers = layers
    deep = layers != (1, True, False)
    if method == "monte_carlo":
        monte_carlo.check_applies(deep, X1, X2)
        return monte_carlo.estimate(X1, X2, functions, parametrization, kind, variances, *sampling)
    nodes = reference.ORDER if order is None else order
    _memory.check_limit_kernel("limit_kernel", X1.shape[0], X1.shape[0] if X2 is None else X2.shape[0], 0, "numpy")
    numpy_method = "expansion" if method == "auto" else method
    if deep:
        _memory.check_gram("limit_kernel", X1, X2, np.float64, copies=3)  # covariances, tangent kernel
        return reference.deep_limit_kernel(X1, X1 if X2 is None else X2, functions, depth, parametrization, kind,
                                           *variances, bias=bias, multipliers=multipliers, method=numpy_method,
                                           order=nodes)
    return reference.limit_kernel(X1, X1 if X2 is None else X2, functions, parametrization, kind, *variances,
                                  method=numpy_method, order=nodes)


_DIAGONAL_BLOCK = 256  # rows per block when only the diagonal K(x, x) is needed


class LimitKernel(Kernel):
    """The infinite-width kernel ``K(x, z) = limit_kernel(x, z, **options)`` of a network, in float64.

    See Theorems 11.16 and 11.30 and Proposition 11.28; ``depth`` (with ``bias`` and
    ``multipliers``) gives the kernels of deep networks (docs/theory.md, section 8).

    Parameters
    ----------
    activation : str or callable
        As for :func:`widenet.limit_kernel`. A function keeps the kernel picklable only if
        it pickles itself (not a lambda: :class:`~widenet.CallableActivation`).
    parametrization : {"lecun", "ntk"}
    kind : {"ntk", "nngp"}
    **options
        The other keyword arguments of :func:`widenet.limit_kernel` (variances, ``depth``,
        ``bias``, ``multipliers``, ``method``, ``order``); Monte Carlo is refused (its entries would not form one
        consistent matrix across tiles).

    Examples
    --------
    >>> import numpy as np, widenet
    >>> kernel = widenet.LimitKernel("relu", "ntk", depth=2)
    >>> kernel(np.eye(3)).shape, kernel(np.eye(3), np.ones((1, 3))).shape
    ((3, 3), (3, 1))
    """

    def __init__(self, activation: ActivationArgument, parametrization: Parametrization = "lecun", kind: Kind = "ntk",
                 **options: Any) -> None:
        if options.get("method") == "monte_carlo":
            raise ValueError("method: a LimitKernel needs a deterministic method (auto, closed_form, scale_mixture, "
                             "quadrature, expansion), got 'monte_carlo'")
        if "backend" in options or "return_std" in options:
            raise TypeError("options: backend and return_std are not options of a LimitKernel")
        self.options: dict[str, Any] = dict(activation=activation, parametrization=parametrization, kind=kind,
                                            **options)
        limit_kernel(np.zeros((1, 1)), **self.options)  # checks the options now, not inside a tile

    @classmethod
    def of(cls, network: Any, kind: Kind = "ntk", **options: Any) -> LimitKernel:
        """Return the limit kernel of a network's configuration.

        The configuration is its activation, parametrization and initial variances (and for
        a :class:`widenet.Network` its depth, biases and multipliers); ``options`` are added
        to it, and override it where they name the same setting. The kernels assume normal
        initial weights: a network drawn from another ``distribution`` raises ValueError
        (its own ``limit_kernel`` reaches that law only by Monte Carlo, which a
        LimitKernel refuses).
        """
        distribution = getattr(network, "distribution", "normal")
        if distribution != "normal":
            raise ValueError(f"distribution: a LimitKernel is the kernel of normal initial weights; this network "
                             f"draws {distribution!r} ones (network.limit_kernel(..., method='monte_carlo') "
                             f"estimates its kernel)")
        names = ("weight_var", "bias_var", "output_var", "output_bias_var", "depth", "bias", "multipliers")
        configuration = {name: getattr(network, name) for name in names if hasattr(network, name)}
        return cls(network.activation, network.parametrization, kind, **{**configuration, **options})

    def __call__(self, X1: ArrayLike, X2: Optional[ArrayLike] = None, backend: Backend = "cpp") -> Float64Array:
        """Return the kernel ``K(X1, X2)``; ``X2=None`` (or ``X2 is X1``) is symmetric."""
        return limit_kernel(X1, X2, backend=backend, **self.options)

    def gram(self, X1: ArrayLike, X2: Optional[ArrayLike], backend: Backend) -> Float64Array:
        """Return the kernel ``K(X1, X2)`` (``X2`` None: of ``X1`` with itself)."""
        return limit_kernel(X1, X2, backend=backend, **self.options)

    def diagonal(self, X: ArrayLike, backend: Backend) -> Float64Array:
        """Return the diagonal ``K(x_i, x_i)``, a block of points at a time."""
        points = np.asarray(X, dtype=np.float64)
        return np.concatenate([np.diagonal(limit_kernel(points[start:start + _DIAGONAL_BLOCK], backend=backend,
                                                        **self.options))
                               for start in range(0, points.shape[0], _DIAGONAL_BLOCK)])

    def __repr__(self) -> str:
        return "LimitKernel(" + ", ".join(f"{key}={value!r}" for key, value in self.options.items()) + ")"
