"""Infinite-width kernels of the shallow network (SPEC.md sections 5 and 6).

``limit_kernel`` gives the limits the theorems promise: ``K_LC``, the limit of ``K_n / n``
in LeCun parametrization (Theorem 11.16); ``K_NTK``, the limit of ``K_n`` in NTK
parametrization (Theorem 11.30); and the NNGP covariance of the outputs at
initialization (Proposition 11.28). The expectations inside come from closed forms (relu,
erf, identity), from a tensor Gauss rule (any activation; composite Gauss-Legendre, whose
accuracy does not collapse when the pre-activation variance grows), or from Monte Carlo
(any initial law D, with standard errors). Closed form and quadrature run in C++ with
numpy twins in :mod:`widenet.reference.limit_kernels`.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from . import _memory
from . import _validation as check
from ._native import _core
from .parameters import DISTRIBUTIONS, PARAMETRIZATIONS
from .reference import limit_kernels as reference
from .reference.activations import ACTIVATIONS

KINDS = ("ntk", "nngp")
METHODS = ("auto", "closed_form", "quadrature", "monte_carlo")
CLOSED_FORMS = ("relu", "erf", "identity")


def _points(X1, X2):
    """Validated float64 ``(X1, X2)``; ``X2`` None for the symmetric kernel."""
    symmetric = X2 is None or X2 is X1
    X1 = check.as_array(X1, "X1", np.dtype(np.float64), 2)
    if X1.shape[0] == 0 or X1.shape[1] == 0:
        raise ValueError(f"X1: expected a non-empty (m, d) array, got shape {X1.shape}")
    if symmetric:
        return X1, None
    X2 = check.as_array(X2, "X2", np.dtype(np.float64), 2)
    if X2.shape[0] == 0 or X2.shape[1] != X1.shape[1]:
        raise ValueError(f"X2: expected at least one row and {X1.shape[1]} columns like X1, got shape {X2.shape}")
    return X1, X2


def limit_kernel(X1, X2=None, *, activation: str, parametrization: str = "lecun", kind: str = "ntk",
                 weight_var: float = 1.0, bias_var: float = 0.0, output_var: float = 1.0,
                 output_bias_var: float = 0.0, method: str = "auto", order: int = 64, samples: int = 100_000,
                 distribution: str = "normal", seed=None, backend: str = "cpp",
                 return_std: bool = False):
    """The infinite-width kernel between the rows of ``X1`` and ``X2`` (``X2=None``: ``X1``).

    With ``Sigma(x, z) = s_w^2 x.z/d + s_b^2``, ``E_ss = E[s(h_x) s(h_z)]`` and
    ``E_dd = E[s'(h_x) s'(h_z)]`` over ``(h_x, h_z) ~ N(0, Sigma)``:

    - ``parametrization="lecun", kind="ntk"``: ``K_LC = E_ss``, the limit of ``K_n / n``;
    - ``parametrization="ntk", kind="ntk"``: ``K_NTK = s_v^2 (x.z/d + 1) E_dd + E_ss + 1``;
    - ``kind="nngp"``: ``s_v^2 E_ss + s_c^2``, the covariance of ``Phi(x)`` at initialization.

    Parameters
    ----------
    X1 : array_like, shape (m1, d)
    X2 : array_like, shape (m2, d), optional
    activation : str
    parametrization : {"lecun", "ntk"}
    kind : {"ntk", "nngp"}
    weight_var, bias_var, output_var, output_bias_var : float
        ``s_w^2, s_b^2, s_v^2, s_c^2``, as for :class:`~widenet.ShallowNetwork`.
    method : {"auto", "closed_form", "quadrature", "monte_carlo"}
        ``auto`` takes the closed form where there is one (relu, erf, identity), else the
        quadrature.
    order : int
        Nodes per dimension of the quadrature (even: one Gauss-Legendre panel of
        ``order / 2`` nodes on each half-line, over 8 standard deviations).
    samples, distribution, seed
        Monte Carlo: hidden units drawn, the law D (normal, uniform, rademacher), the seed.
    backend : {"cpp", "numpy"}
        Closed form and quadrature only.
    return_std : bool
        Monte Carlo only: also return the standard error of each entry (for the NTK kind, an
        upper bound: the sum of the two expectations' standard errors, scaled).

    Returns
    -------
    ndarray of float64, shape (m1, m2), and its standard errors when ``return_std``.
    """
    X1, X2 = _points(X1, X2)
    activation = check.choice(activation, "activation", ACTIVATIONS)
    parametrization = check.choice(parametrization, "parametrization", PARAMETRIZATIONS)
    kind = check.choice(kind, "kind", KINDS)
    method = check.choice(method, "method", METHODS)
    _memory.check_gram("limit_kernel", X1, X2, np.float64, copies=8 if method == "monte_carlo" else 3)
    variances = [check.non_negative_real(value, name) for value, name in (
        (weight_var, "weight_var"), (bias_var, "bias_var"), (output_var, "output_var"),
        (output_bias_var, "output_bias_var"))]
    for points, name in ((X1, "X1"), (X2, "X2")):
        _check_variance_fits(points, name, variances[0], variances[1])
    if method == "auto":
        method = "closed_form" if activation in CLOSED_FORMS else "quadrature"
    if method == "closed_form" and activation not in CLOSED_FORMS:
        raise ValueError(f"method: no closed form for activation {activation!r} (there is one for "
                         f"{', '.join(CLOSED_FORMS)}); use 'quadrature' or 'monte_carlo'")
    if return_std and method != "monte_carlo":
        raise ValueError("return_std: standard errors exist for method='monte_carlo' only")
    if method == "monte_carlo":
        return _monte_carlo(X1, X2, activation, parametrization, kind, variances, samples, distribution, seed,
                            return_std)
    backend = check.backend(backend)
    rule = (None, None, None, None)
    if method == "quadrature":
        order = check.integer(order, "order", 2)
        if order % 2:
            raise ValueError(f"order: expected an even number of nodes (one panel per half-line), got {order}")
        rule = (*reference.gaussian_rule(order), *reference.legendre_rule(order))
    if backend == "cpp":
        return _core.limit_kernel(X1, X2, activation, parametrization, kind, *variances, *rule)
    return reference.limit_kernel(X1, X1 if X2 is None else X2, activation, parametrization, kind, *variances,
                                  method=method, order=order)


def _check_variance_fits(X, name: str, weight_var: float, bias_var: float) -> None:
    """Refuses points whose pre-activation variance ``s_w^2 |x|^2 / d + s_b^2`` overflows
    float64: every method would turn it into NaN (inf * 0 in the expectations)."""
    if X is None:
        return
    with np.errstate(over="ignore"):
        variance = weight_var * np.einsum("ij,ij->i", X, X) / X.shape[1] + bias_var
    overflowed = ~np.isfinite(variance)
    if overflowed.any():
        row = int(np.argmax(overflowed))
        raise ValueError(f"{name}: the pre-activation variance s_w^2 |x|^2 / d + s_b^2 overflows float64 at row "
                         f"{row} (max |x_j| = {np.max(np.abs(X[row])):.4g}); expected inputs of moderate magnitude")


def _monte_carlo(X1, X2, activation, parametrization, kind, variances, samples, distribution, seed, return_std):
    samples = check.integer(samples, "samples", 2)
    distribution = check.choice(distribution, "distribution", DISTRIBUTIONS)
    weight_var, bias_var, output_var, output_bias_var = variances
    X2 = X1 if X2 is None else X2
    e_ss, e_dd, se_ss, se_dd = reference.monte_carlo_expectations(
        X1, X2, activation, weight_var, bias_var, samples=samples, distribution=distribution,
        seed=check.generator(seed))
    kernel = reference.combine(e_ss, e_dd, X1, X2, parametrization, kind, output_var, output_bias_var)
    if not return_std:
        return kernel
    if kind == "nngp":
        return kernel, output_var * se_ss
    if parametrization == "lecun":
        return kernel, se_ss
    # K_NTK mixes both expectations; the sum of their errors bounds its error.
    factor = output_var * np.abs(X1 @ X2.T / X1.shape[1] + 1.0)
    return kernel, factor * se_dd + se_ss
