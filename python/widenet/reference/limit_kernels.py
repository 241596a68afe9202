"""Infinite-width kernels of the one-hidden-layer network (docs/theory.md, sections 5 and 6).

The numpy twin of the C++ infinite-width-kernel header. With the pre-activation
``h_x = u.x + b``, ``u_j ~ D(0, s_w^2/d)`` and ``b ~ D(0, s_b^2)``, a Gaussian ``D`` makes
``(h_x, h_z)`` centered Gaussian with covariance

    Sigma(x, z) = s_w^2 x.z / d + s_b^2                       (Theorem 11.16)

and everything below is built from the two expectations

    E_ss(x, z) = E[sigma(h_x) sigma(h_z)],    E_dd(x, z) = E[sigma'(h_x) sigma'(h_z)]

over a pair ``(u, v)`` with variances ``q1 = Sigma(x, x)``, ``q2 = Sigma(z, z)`` and
correlation ``rho = Sigma(x, z) / (sqrt(q1) sqrt(q2))``. The kernels (``s_v^2 = output_var``,
``s_c^2 = output_bias_var``):

- LeCun, ``kind="ntk"``: ``K_LC = E_ss``, the limit of ``K_n / n`` (Theorem 11.16);
- NTK parametrization, ``kind="ntk"``:
  ``K_NTK = s_v^2 (x.z/d + 1) E_dd + E_ss + 1`` (Theorem 11.30);
- ``kind="nngp"``, either parametrization: ``s_v^2 E_ss + s_c^2``, the covariance of the
  Gaussian process the outputs converge to at initialization (Prop. 11.28).

How the expectations are computed
---------------------------------
The pre-activation variances reach from ~0 to the largest float: an activation then changes
over a width ``1/sqrt(q)`` of the standardized variable, which no fixed set of nodes
resolves. Every method below is accurate at every variance:

- closed forms (:func:`closed_form_expectations`): relu (arc-cosine kernels), erf (arcsine
  kernel), identity, sin (``E[sin u sin v] = e^{-(q1+q2)/2} sinh(c)``, written through
  ``Var(u -+ v)``) and gelu (derived in :func:`closed_form_expectations`), each written in
  variables that neither overflow nor cancel;
- scale mixtures (:func:`scale_mixture_expectations`): the logistic density (``sigmoid'``,
  hence ``tanh'``) is a mixture of centred normal densities over the variance ``V``, with
  ``P(V <= v) = 1 + 2 sum_k (-1)^k e^{-k^2 v / 2}``. So sigmoid and tanh are mixtures of
  ``erf(t / sqrt(2V))``, softplus (whose derivative is the sigmoid) a mixture of
  Gaussian-smoothed relus, and their expectations are mixtures of the closed arcsine and
  arc-cosine kernels at ``(q1 + V1, q2 + V2, c)``. Those are smooth in ``log V`` whatever
  the variances, so one Gauss rule of :data:`LOGISTIC_NODES` nodes for the mixing law
  (:func:`logistic_mixing_rule`) serves every pair. The Cauchy density (``arctan' / pi``)
  is the normal mixture with ``1/V ~ chi^2_1``; for arctan the inner mixture integral has
  a closed form (through ``erfcx``), which leaves one integral per pair, taken by a Gauss-
  Legendre rule graded geometrically toward the scale ``1 / sqrt(2 q)`` of the point with
  the smaller variance (:func:`arctan_rule`);
- the graded quadrature (:func:`graded_quadrature_expectations`), for every activation:
  a tensor Gauss-Legendre rule in the standardized variables whose panels are graded
  geometrically (ratio :data:`GRADING`) toward the points where the activation, and the
  Gaussian smoothing of it that the inner integral makes, change; the grading stops where
  the activation has reached its asymptote (:data:`FEATURES`). It is independent of the
  two other methods and checks them. Its cost per pair is bounded for the other
  activations but grows like ``log(q)^2`` for arctan (no asymptote: panels over every
  scale) and like ``q`` for sin (oscillations), whose variances it therefore limits
  (:data:`QUADRATURE_MAX_VARIANCE`).

The accuracy guarantee
----------------------
For the covariances as given (float64), every method computes each expectation within
:data:`TOLERANCE` ``= 1e-9`` of its scale,

    |E_ss - exact| <= 1e-9 sqrt(E[sigma(u)^2] E[sigma(v)^2]),
    |E_dd - exact| <= 1e-9 sqrt(E[sigma'(u)^2] E[sigma'(v)^2]),

(the closed forms to rounding; the scale mixtures to 1e-13; the quadrature to 6e-12 at its
default order: measured over variances from 1e-300 to 1e300 and correlations in [-1, 1],
tests/test_limit_accuracy.py), and hence (Cauchy-Schwarz) every kernel entry within
``1e-9 sqrt(K(x, x) K(z, z))`` plus the rounding of the final sums. The covariances are
themselves rounded to float64: where the kernel is steep in them -- relu's ``E_dd`` and
every saturating activation at a large variance near ``|rho| = 1``, sin at a large
variance, whose kernel depends on ``q1 + q2 - 2c`` -- that rounding, not the method,
limits the accuracy (by ``|dE/drho| 2^-52`` and ``|dE/dc| 2^-52 q``). Values beyond the
float64 range come out as its IEEE limit (inf, or 0 below the subnormals).

Every function computes in float64 and is vectorised over pairs of points: ``X1`` is
(m1, d), ``X2`` is (m2, d) and the results are (m1, m2).
"""

from __future__ import annotations

import functools
import math
from typing import Dict, Iterable, List, Literal, Optional, Sequence, Tuple, TypeVar, Union

import numpy as np
import numpy.typing as npt

from widenet.reference import activations as _act

Array = npt.NDArray[np.float64]
Pair = Tuple[Array, Array]
"""``(E_ss, E_dd)``, or a rule's ``(nodes, weights)``."""
Panels = List[Tuple[float, float]]
Parametrization = Literal["lecun", "ntk"]
Kind = Literal["ntk", "nngp"]
Method = Literal["auto", "closed_form", "scale_mixture", "quadrature"]
Distribution = Literal["normal", "uniform", "rademacher"]
_Choice = TypeVar("_Choice", bound=str)

CLOSED_FORMS = ("relu", "erf", "identity", "sin", "gelu")
SCALE_MIXTURES = ("tanh", "sigmoid", "softplus", "arctan")
PARAMETRIZATIONS = ("lecun", "ntk")
KINDS = ("ntk", "nngp")
METHODS = ("auto", "closed_form", "scale_mixture", "quadrature")
DISTRIBUTIONS = ("normal", "uniform", "rademacher")

TOLERANCE = 1e-9
"""Bound on the error of each expectation, relative to its scale (module docstring)."""

ORDER = 12
"""Gauss-Legendre nodes per panel of the graded rules (arctan, quadrature)."""
MAX_ORDER = 64
"""The largest ``order`` accepted: more nodes per panel gain nothing in float64."""
GRADING = 3.0
"""Ratio of the widths of successive panels graded toward a feature."""
LOGISTIC_NODES = 12
"""Nodes of the Gauss rule for the logistic mixing law (measured error 1e-13)."""

# The graded quadrature: the real line is cut at HALF_WIDTH standard deviations (the mass
# beyond, 1.2e-15, times a quadratic growth stays below 1e-13), into panels at most
# PANEL_WIDTH_PER_NODE * order wide: Gauss-Legendre integrates the Gaussian on such panels to
# 2e-15 at 12 nodes, 2e-12 at 10 and 1e-11 at 8, below the error of the graded panels.
HALF_WIDTH = 8.0
PANEL_WIDTH_PER_NODE = 0.25
FEATURES = {
    # activation -> (scale ell, decay rate lambda, power p): sigma changes on |t| ~ ell
    # around 0 and differs from its affine asymptote (sigma' from a constant) by about
    # e^{-lambda |t|^p} beyond. relu bends at 0 only; identity has no feature; arctan and
    # sin have no asymptote (rate 0).
    "relu": (0.0, 0.0, 1.0),
    "identity": (math.inf, 0.0, 1.0),
    "tanh": (1.0, 2.0, 1.0),
    "erf": (1.0, 1.0, 2.0),
    "sigmoid": (1.0, 1.0, 1.0),
    "softplus": (1.0, 1.0, 1.0),
    "gelu": (1.0, 0.5, 2.0),
    "arctan": (1.0, 0.0, 1.0),
    "sin": (1.0, 0.0, 1.0),
}
ASYMPTOTE_GAP = 1e-17
"""How close to its asymptote the activation must be where the graded panels end."""
QUADRATURE_MAX_VARIANCE = {"arctan": 1e8, "sin": 8.0}
"""The graded quadrature refuses larger pre-activation variances for these activations:
arctan's 1/t tail needs panels over every scale (cost ~ log(q)^2 per pair), sin's
oscillations ~ q nodes. The scale mixture and the closed form have no such limit."""

# arctan's rule (arctan_rule): erfc and the Gaussian weight vanish beyond eta = ARCTAN_REACH
# (erfc(6.5) = 4e-20); E_ss needs t = eta / delta only up to ARCTAN_SS_REACH (its integrand
# decays like 1/t^2 beyond t ~ 1: the rest is < 1e-13 of it) and E_dd only from
# eta = ARCTAN_DD_START (the rest is < eta^2 of it), so at variances above ~1e40 the
# panels between the two are left out.
ARCTAN_REACH = 6.5
ARCTAN_BREAKS = (1.0, 2.5, 4.5)
ARCTAN_SS_REACH = 1e13
ARCTAN_DD_START = 1e-7

# Floats held at once by a block of pairs times nodes, and by a Monte Carlo chunk of
# hidden units (chunk * (m1 + m2)).
_BLOCK_FLOATS = 1 << 20


def _choice(value: _Choice, name: str, options: Sequence[str]) -> _Choice:
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name} must be one of {', '.join(options)}; got {value!r}")
    return value


def _points(X1: npt.ArrayLike, X2: npt.ArrayLike) -> Pair:
    P1 = np.asarray(X1, dtype=np.float64)
    P2 = np.asarray(X2, dtype=np.float64)
    if P1.ndim != 2 or P2.ndim != 2 or P1.shape[1] != P2.shape[1] or P1.shape[1] == 0:
        raise ValueError(f"X1 and X2 must be 2-D with the same number (>= 1) of columns; got shapes {P1.shape} "
                         f"and {P2.shape}")
    return P1, P2


def _variances(S11: npt.ArrayLike, S22: npt.ArrayLike, S12: npt.ArrayLike) -> Tuple[Array, Array, Array]:
    V11 = np.asarray(S11, dtype=np.float64)
    V22 = np.asarray(S22, dtype=np.float64)
    V12 = np.asarray(S12, dtype=np.float64)
    if V11.ndim != 1 or V22.ndim != 1 or V12.shape != (V11.shape[0], V22.shape[0]):
        raise ValueError(f"S11 (m1,), S22 (m2,) and S12 (m1, m2) expected; got shapes {V11.shape}, "
                         f"{V22.shape} and {V12.shape}")
    return V11, V22, V12


def _correlations(S11: Array, S22: Array, S12: Array) -> Pair:
    """Return ``rho = S12 / (sqrt(S11) sqrt(S22))`` clipped to [-1, 1], and ``1 - rho^2``.

    ``rho`` is 0 where ``S11 S22 = 0``: then one pre-activation is 0 almost surely and the
    correlation does not matter. ``1 - rho^2 = (1 - rho)(1 + rho)`` is exact in the factor that cancels. The root is
    :func:`_root_product`, so that a point's correlation with itself is exactly 1 (relu's
    ``E_dd`` is steep there) however large its variance.
    """
    rho = np.divide(S12, _root_product(S11[:, None], S22[None, :]), out=np.zeros_like(S12),
                    where=(S11[:, None] > 0) & (S22[None, :] > 0))
    rho = np.clip(rho, -1.0, 1.0)
    return rho, (1 - rho) * (1 + rho)


def _root_product(a: Array, b: Array) -> Array:
    """Return ``sqrt(a b)``.

    That is ``a`` itself for ``a = b``, else ``sqrt(a) sqrt(b)`` where ``a b`` would overflow
    or fall below the normal range.
    """
    with np.errstate(over="ignore", under="ignore"):
        product = a * b
    normal = np.isfinite(product) & (product >= np.finfo(np.float64).tiny)
    root = np.where(normal, np.sqrt(np.where(normal, product, 1.0)), np.sqrt(a) * np.sqrt(b))
    return np.where(a == b, a, root)


def covariances(X1: npt.ArrayLike, X2: npt.ArrayLike, weight_var: float = 1.0,
                bias_var: float = 0.0) -> Tuple[Array, Array, Array]:
    """Return the covariances of the pre-activations ``h_x = u.x + b`` (Theorem 11.16, Exercise 11.37).

    ``Sigma(x, z) = s_w^2 x.z / d + s_b^2``.

    Parameters
    ----------
    X1 : ndarray, shape (m1, d)
    X2 : ndarray, shape (m2, d)
    weight_var, bias_var : float
        ``s_w^2`` and ``s_b^2``.

    Returns
    -------
    S11 : ndarray, shape (m1,)
        ``Sigma(x, x)`` for the rows of ``X1``.
    S22 : ndarray, shape (m2,)
        ``Sigma(z, z)`` for the rows of ``X2``.
    S12 : ndarray, shape (m1, m2)
        ``Sigma(x, z)``.
    """
    P1, P2 = _points(X1, X2)
    scale = float(weight_var) / P1.shape[1]
    bias_var = float(bias_var)
    S11 = scale * np.sum(P1 * P1, axis=1) + bias_var
    S22 = scale * np.sum(P2 * P2, axis=1) + bias_var
    S12 = scale * (P1 @ P2.T) + bias_var
    return S11, S22, S12


# -- closed forms ------------------------------------------------------------------------------
def arcsine_terms(q1: Array, q2: Array, rho: Array, one_minus_rho2: Array, v1: Union[float, Array],
                  v2: Union[float, Array]) -> Tuple[Array, Array, Array]:
    """Return the arcsine kernel's variables for the variances ``P = q + v`` and covariance ``c = rho sqrt(q1 q2)``.

    The variables are ``x = c / sqrt(P1 P2)``, ``1 - x^2`` and ``sqrt(P1) sqrt(P2)``
    (broadcast). With ``r = q / P`` and ``e = v / P = 1 - r``,
    ``1 - x^2 = (1 - rho^2) r1 r2 + e1 + r1 e2``: a sum of non-negative terms, so no
    cancellation near ``|x| = 1``, and no product of variances to overflow. ``v > 0``.
    """
    P1, P2 = q1 + v1, q2 + v2
    r1, r2 = q1 / P1, q2 / P2
    x = rho * np.sqrt(r1) * np.sqrt(r2)
    return x, one_minus_rho2 * r1 * r2 + v1 / P1 + r1 * (v2 / P2), np.sqrt(P1) * np.sqrt(P2)


def closed_form_expectations(S11: npt.ArrayLike, S22: npt.ArrayLike, S12: npt.ArrayLike, activation: str) -> Pair:
    """Return ``E_ss = E[sigma(h_x) sigma(h_z)]`` and ``E_dd = E[sigma'(h_x) sigma'(h_z)]`` in closed form.

    ``(h_x, h_z)`` is centered Gaussian with variances ``q1 = S11, q2 = S22``, covariance
    ``c = S12`` and correlation ``rho``; ``arcsin`` below is ``atan2(x, sqrt(1 - x^2))``
    with ``1 - x^2`` from :func:`arcsine_terms`, accurate up to ``|x| = 1``.

    - relu (Example 11.17, Example 11.31, Exercise 11.36): with
      ``t = arccos(rho)``, ``E_ss = sqrt(q1) sqrt(q2) / (2 pi) (sin t + (pi - t) rho)``,
      ``E_dd = (pi - t) / (2 pi)``; both are 0 where ``q1 q2 = 0`` (then ``h = 0``
      almost surely and ``relu(0) = relu'(0) = 0``).
    - erf (the arcsine kernel, ``P = q + 1/2``): ``E_ss = (2/pi) arcsin(x)`` and, from
      ``E[e^{-h_x^2 - h_z^2}] = det(I + 2 Sigma)^{-1/2}``,
      ``E_dd = (2/pi) / (sqrt(P1) sqrt(P2) sqrt(1 - x^2))``.
    - identity: ``E_ss = c``, ``E_dd = 1``.
    - sin: ``E[sin u sin v] = (E cos(u - v) - E cos(u + v)) / 2`` and ``E[cos u cos v]``
      with ``+``, where ``E cos(w) = e^{-Var(w)/2}`` and ``Var(u -+ v) / 2 = g -+ ...``:
      with ``g = (sqrt q1 - sqrt q2)^2 / 2 + (1 - |rho|) sqrt(q1 q2)`` (the smaller half
      variance, no cancellation), ``E_ss = sign(c) e^{-g} (1 - e^{-2|c|}) / 2`` (by
      ``expm1``) and ``E_dd = e^{-g} (1 + e^{-2|c|}) / 2``.
    - gelu, ``t Phi(t)``: with independent standard normals ``a, b``,
      ``Phi(u) = P(a < u)``, so ``E[u v 1(u > a) 1(v > b)]`` is a Gaussian integral over
      the orthant of ``(u - a, v - b)`` (variances ``P = q + 1``, correlation ``x``); two
      Gaussian integrations by parts give, with ``r = q / P`` and ``e = 1 / P``,
      ``E_ss = sqrt(P1 P2) [x/4 + x arcsin(x)/(2 pi) + B / (2 pi sqrt(1 - x^2))]``,
      ``B = r1 r2 - (1 - e1 - e2) x^2 = r1 r2 (1 - rho^2 + rho^2 (e1 + e2))`` (the second
      form has no cancellation), and by Price's theorem (``dE_ss/dc = E_dd``)
      ``E_dd = 1/4 + arcsin(x)/(2 pi) + x (e1 + e2 + e1 e2 / (1 - x^2)) / (2 pi sqrt(1 - x^2))``.
      Both tend to relu's as ``q`` grows.

    Parameters
    ----------
    S11 : ndarray, shape (m1,)
    S22 : ndarray, shape (m2,)
    S12 : ndarray, shape (m1, m2)
        As returned by :func:`covariances`.
    activation : {"relu", "erf", "identity", "sin", "gelu"}

    Returns
    -------
    E_ss, E_dd : ndarray, shape (m1, m2)

    Raises
    ------
    ValueError
        For an activation without a closed form.
    """
    V11, V22, V12 = _variances(S11, S22, S12)
    if activation not in CLOSED_FORMS:
        raise ValueError(f"activation: closed forms exist for {', '.join(CLOSED_FORMS)} only; got {activation!r} "
                         f"(use the scale mixture or the quadrature)")
    if activation == "identity":
        return V12.copy(), np.ones_like(V12)
    rho, one_minus_rho2 = _correlations(V11, V22, V12)
    q1, q2 = V11[:, None], V22[None, :]
    if activation == "relu":
        return _relu_expectations(q1, q2, rho, one_minus_rho2)
    if activation == "sin":
        return _sin_expectations(q1, q2, rho)
    if activation == "erf":
        x, one_minus_x2, root = arcsine_terms(q1, q2, rho, one_minus_rho2, 0.5, 0.5)
        return (2 / math.pi) * np.arctan2(x, np.sqrt(one_minus_x2)), (2 / math.pi) / (root * np.sqrt(one_minus_x2))
    return _gelu_expectations(q1, q2, rho, one_minus_rho2)


def _relu_expectations(q1: Array, q2: Array, rho: Array, one_minus_rho2: Array) -> Pair:
    root = np.sqrt(q1) * np.sqrt(q2)
    sine = np.sqrt(one_minus_rho2)
    angle = 0.5 * math.pi + np.arctan2(rho, sine)  # pi - arccos(rho), exact at rho = +-1
    E_ss = root / (2 * math.pi) * (sine + angle * rho)
    E_dd = np.where(root > 0, angle / (2 * math.pi), 0.0)
    return E_ss, E_dd


def _sin_expectations(q1: Array, q2: Array, rho: Array) -> Pair:
    r1, r2 = np.sqrt(q1), np.sqrt(q2)
    size = np.abs(rho) * r1 * r2  # |c|
    near = np.exp(-(0.5 * (r1 - r2) ** 2 + (1 - np.abs(rho)) * r1 * r2))
    return np.sign(rho) * near * (-np.expm1(-2 * size)) / 2, near * (1 + np.exp(-2 * size)) / 2


def _gelu_expectations(q1: Array, q2: Array, rho: Array, one_minus_rho2: Array) -> Pair:
    x, one_minus_x2, root = arcsine_terms(q1, q2, rho, one_minus_rho2, 1.0, 1.0)
    e1, e2 = 1 / (q1 + 1), 1 / (q2 + 1)
    bracket = (q1 * e1) * (q2 * e2) * (one_minus_rho2 + rho * rho * (e1 + e2))
    sine = np.sqrt(one_minus_x2)
    angle = np.arctan2(x, sine)
    E_ss = root * (x / 4 + x * angle / (2 * math.pi) + bracket / (2 * math.pi * sine))
    # e1 e2 / (1 - x^2) <= e2: no 0/0 where 1 - x^2 underflows
    E_dd = 0.25 + angle / (2 * math.pi) + x * (e1 + e2 + e2 * (e1 / one_minus_x2)) / (2 * math.pi * sine)
    return E_ss, E_dd


# -- scale mixtures ------------------------------------------------------------------------------
def logistic_mixing_density(v: npt.ArrayLike) -> Array:
    """Return the density of the variance ``V`` that makes ``N(0, V)`` logistic.

    That is, ``e^t / (1 + e^t)^2 = E[phi_V(t)]``. With ``theta(v) = P(V <= v) = 1 + 2 sum_{k>=1} (-1)^k e^{-k^2 v/2}``
    (the Kolmogorov distribution of ``sqrt(V) / 2``), the density is ``theta'(v) =
    sum_k (-1)^{k+1} k^2 e^{-k^2 v/2}`` for ``v >= pi``, and below, where that series
    converges slowly, the derivative of Jacobi's dual form
    ``theta(v) = 2 sqrt(2 pi / v) sum_{n>=0} e^{-a_n / v}``, ``a_n = pi^2 (2n+1)^2 / 2``.
    Both series are cut where their terms fall below 1e-25 of the density.
    """
    values = np.asarray(v, dtype=np.float64)
    density = np.zeros_like(values)
    small = values < math.pi
    vs = values[small]
    for n in range(4):
        a = 0.5 * (math.pi * (2 * n + 1)) ** 2
        density[small] += 2 * math.sqrt(2 * math.pi) * np.exp(-a / vs) * (a * vs ** -2.5 - 0.5 * vs ** -1.5)
    vl = values[~small]
    for k in range(1, 9):
        density[~small] += (-1) ** (k + 1) * k * k * np.exp(-0.5 * k * k * vl)
    return density


@functools.lru_cache(maxsize=None)
def logistic_mixing_rule(nodes: int = LOGISTIC_NODES) -> Pair:
    """Return a Gauss rule for the logistic mixing law: ``E[f(V)] ~= sum_k weights[k] f(variances[k])``.

    Gaussian in ``t = log V`` (exact for polynomials in ``t`` of degree ``2 nodes - 1``),
    built by the Stieltjes procedure from a trapezoid discretization of the law in ``t``
    (step 0.05 on [-6, 8]: the density there decays like ``e^{-e^t/2}`` and
    ``e^{-pi^2 e^{-t}/2}``, and the trapezoid rule errs by less than 1e-30). The
    integrands the kernels need are analytic in ``t`` within ``|Im t| < pi``, so the rule
    converges geometrically: 12 nodes reach 1e-13 relative for every variance and
    correlation (tests/test_limit_accuracy.py). The weights are normalized to sum to 1.

    Returns
    -------
    variances, weights : ndarray, shape (nodes,), read-only
    """
    step = 0.05
    t = np.arange(-6.0, 8.0 + step / 2, step)
    mass = step * logistic_mixing_density(np.exp(t)) * np.exp(t)
    # Stieltjes: the three-term recurrence of the polynomials orthogonal for `mass`.
    alpha, beta = np.zeros(nodes), np.zeros(nodes)
    previous, current = np.zeros_like(t), np.ones_like(t)
    norm = beta[0] = mass.sum()
    for k in range(nodes):
        alpha[k] = np.sum(mass * t * current * current) / norm
        if k + 1 < nodes:
            following = (t - alpha[k]) * current - (beta[k] if k else 0.0) * previous
            following_norm = np.sum(mass * following * following)
            beta[k + 1] = following_norm / norm
            previous, current, norm = current, following, following_norm
    jacobi = np.diag(alpha) + np.diag(np.sqrt(beta[1:]), 1) + np.diag(np.sqrt(beta[1:]), -1)
    log_variances, vectors = np.linalg.eigh(jacobi)
    weights = vectors[0] ** 2
    variances, weights = np.exp(log_variances), weights / weights.sum()
    variances.flags.writeable = weights.flags.writeable = False
    return variances, weights


# (variance scale of the erf pieces, E_ss = a + b A [+ c C], E_dd = d + e B [+ f A]) by activation:
#   sigmoid(t) = 1/2 + E[erf(t / sqrt(2V))] / 2,     sigmoid' = E[phi_V]
#   tanh(t)    = E[erf(t / sqrt(2V/4))],             tanh'    = 2 E[phi_{V/4}]
#   softplus   = E[E_z relu(t + sqrt(V) z)],          softplus' = sigmoid
# with, summed over pairs of nodes (weights w1 w2): A = arcsin(x), B = 1/(sqrt(P1 P2) sqrt(1 - x^2))
# and C = sqrt(P1 P2) (sqrt(1 - x^2) + (pi/2 + arcsin x) x) (the arc-cosine kernel of the
# smoothed relus times 2 pi), P = q + scale V.
_LOGISTIC_MIXTURES: Dict[str, Tuple[float, Tuple[float, float, float], Tuple[float, float, float]]] = {
    "sigmoid": (1.0, (0.25, 1 / (2 * math.pi), 0.0), (0.0, 1 / (2 * math.pi), 0.0)),
    "tanh": (0.25, (0.0, 2 / math.pi, 0.0), (0.0, 2 / math.pi, 0.0)),
    "softplus": (1.0, (0.0, 0.0, 1 / (2 * math.pi)), (0.25, 0.0, 1 / (2 * math.pi))),
}


def scale_mixture_expectations(S11: npt.ArrayLike, S22: npt.ArrayLike, S12: npt.ArrayLike, activation: str) -> Pair:
    """Return ``E_ss`` and ``E_dd`` from the normal scale mixtures (module docstring).

    - sigmoid, tanh, softplus: ``sum_{k,l} w_k w_l`` of the closed arcsine and arc-cosine
      kernels at the variances ``q1 + s V_k``, ``q2 + s V_l`` (:data:`_LOGISTIC_MIXTURES`)
      over the rule :func:`logistic_mixing_rule`;
    - arctan: the integrals of :func:`arctan_rule`.

    Parameters
    ----------
    S11, S22, S12
        As returned by :func:`covariances`.
    activation : {"tanh", "sigmoid", "softplus", "arctan"}

    Returns
    -------
    E_ss, E_dd : ndarray, shape (m1, m2)
    """
    V11, V22, V12 = _variances(S11, S22, S12)
    if activation not in SCALE_MIXTURES:
        raise ValueError(f"activation: scale mixtures are used for {', '.join(SCALE_MIXTURES)} only; got "
                         f"{activation!r}")
    rho, one_minus_rho2 = _correlations(V11, V22, V12)
    if activation == "arctan":
        return _arctan_expectations(V11, V22, rho, one_minus_rho2)
    scale, (a, b, c), (d, e, f) = _LOGISTIC_MIXTURES[activation]
    variances, weights = logistic_mixing_rule()
    sums = np.zeros((3,) + V12.shape)
    rows = max(1, _BLOCK_FLOATS // max(1, V12.shape[1] * weights.size ** 2))
    for start in range(0, V12.shape[0], rows):
        block = slice(start, start + rows)
        sums[:, block] = _mixture_sums(V11[block], V22, rho[block], one_minus_rho2[block], scale * variances,
                                       weights)
    A, B, C = sums
    return a + b * A + c * C, d + e * B + f * A


def _mixture_sums(q1: Array, q2: Array, rho: Array, one_minus_rho2: Array, variances: Array,
                  weights: Array) -> Tuple[Array, Array, Array]:
    """Return ``sum_{k,l} w_k w_l (A, B, C)`` (see :data:`_LOGISTIC_MIXTURES`) for a block of pairs."""
    V = variances
    x, one_minus_x2, root = arcsine_terms(q1[:, None, None, None], q2[None, :, None, None],
                                          rho[:, :, None, None], one_minus_rho2[:, :, None, None],
                                          V[:, None], V[None, :])
    sine = np.sqrt(one_minus_x2)
    angle = np.arctan2(x, sine)
    W = weights[:, None] * weights[None, :]
    A = np.sum(W * angle, axis=(2, 3))
    B = np.sum(W / (root * sine), axis=(2, 3))
    C = np.sum(W * root * (sine + (0.5 * math.pi + angle) * x), axis=(2, 3))
    return A, B, C


def erfcx(z: npt.ArrayLike) -> Array:
    """Return ``e^{z^2} erfc(z)`` for ``z >= 0`` (an array), accurate to a few ulps.

    ``z^2`` is split exactly into ``hi + lo`` (Dekker), so that ``e^{z^2} = e^{hi} (1 + lo)``; for
    ``z >= 26``, where ``erfc`` nears underflow, the asymptotic series
    ``(1 - 1/(2z^2) + 3/(2z^2)^2 - ...) / (z sqrt(pi))`` to ten terms (the next is < 1e-22).
    """
    values = np.asarray(z, dtype=np.float64)
    out = np.empty_like(values)
    near = values < 26.0
    zn = values[near]
    split = zn * 134217729.0  # 2^27 + 1: Veltkamp's split into 26-bit halves
    high = split - (split - zn)
    low = zn - high
    square = zn * zn
    square_low = ((high * high - square) + 2 * high * low) + low * low
    out[near] = np.exp(square) * (1 + square_low) * _erfc(zn)
    zf = values[~near]
    inverse = (0.5 / zf) / zf  # 1 / (2 z^2) without overflow
    series, term = np.ones_like(zf), np.ones_like(zf)
    for k in range(1, 11):
        term = -term * (2 * k - 1) * inverse
        series += term
    out[~near] = series / (zf * math.sqrt(math.pi))
    return out


_math_erfc = np.frompyfunc(math.erfc, 1, 1)


def _erfc(z: Array) -> Array:
    return np.asarray(_math_erfc(z), dtype=np.float64)


def graded_points(start: float, stop: float, ratio: float = GRADING, width: float = math.inf) -> List[float]:
    """Return ``start, start r, start r^2, ...`` up to the first point ``>= stop``.

    The graded panels then cover ``[start, stop]``; the points stop early at the first whose
    next step would be wider than ``width`` (empty unless ``0 < start < inf``).
    """
    points: List[float] = []
    if not 0 < start < math.inf:
        return points
    point = start
    while True:
        points.append(point)
        if point >= stop or point * (ratio - 1) >= width:
            return points
        point *= ratio


def panel_rule(panels: npt.ArrayLike, order: int = ORDER) -> Pair:
    """Return Gauss-Legendre nodes and weights of ``order`` nodes on each panel ``(low, high)``."""
    ends = np.asarray(panels, dtype=np.float64).reshape(-1, 2)
    x, w = gauss_legendre(order)
    middle, half = ends.mean(axis=1), 0.5 * (ends[:, 1] - ends[:, 0])
    return (middle[:, None] + half[:, None] * x).ravel(), (half[:, None] * w).ravel()


@functools.lru_cache(maxsize=None)
def gauss_legendre(order: int) -> Pair:
    """Return the Gauss-Legendre rule of ``order`` nodes on [-1, 1] (nodes, weights; read-only)."""
    x, w = np.polynomial.legendre.leggauss(order)
    x.flags.writeable = w.flags.writeable = False
    return x, w


def arctan_rule(variance: float, order: int = ORDER) -> Pair:
    """Return the rule of arctan's integrals for the point of smaller variance ``q = variance > 0``.

    With the half-normal scales ``lambda`` of arctan's mixture
    ``arctan(t) = sqrt(pi) int_0^inf erf(lambda t) e^{-lambda^2} dlambda``,
    ``delta_i = 1 / sqrt(2 q_i)``, ``t`` the variable below and ``eta = delta_1 t``:

        E_ss = (pi/2) rho int_0^inf erfc(eta) erfcx(delta_2 g) / ((1 + t^2) h) dt,
        E_dd = 2 sqrt(pi) delta_2 int_0^inf eta e^{-eta^2} erfcx(delta_2 g) / h deta,

    ``h = sqrt(1 + (1 - rho^2) t^2)``, ``g = sqrt(1 + t^2) / h``. (E_ss: the inner mixture
    integral of ``d arcsin(k a_2)/dk`` over ``lambda_2`` is ``erfcx(delta_2 / sqrt(1 - k^2)) /
    sqrt(1 - k^2)``, and ``P(rho a_1 > k)`` an ``erfc``; substituted ``k = rho t / sqrt(1 + t^2)
    ...``. E_dd: ``arctan'(u) = 2 int lambda e^{-lambda^2 (1 + u^2)}``, the Gaussian
    expectation is ``det(I + 2 Lambda Sigma)^{-1/2}``, the ``lambda_2`` integral an ``erfcx``.)
    The integrands are analytic but for branch points at ``t = +-i`` and
    ``+-i / sqrt(1 - rho^2)``, so panels graded by :data:`GRADING` from ``t = 1`` out to
    ``eta = 1`` and then at ``eta = 1, 2.5, 4.5, 6.5`` converge geometrically (12 nodes:
    4e-12 relative). Panels that neither integral needs are left out (:data:`ARCTAN_SS_REACH`).

    Returns
    -------
    t, weights : ndarray
        Nodes and Gauss-Legendre weights in ``t``.
    """
    delta = 1 / math.sqrt(2 * variance)
    graded = [point for point in graded_points(1.0, 1.0 / delta) if point * delta < 1.0]
    breaks = sorted({0.0, *graded, *(eta / delta for eta in ARCTAN_BREAKS), ARCTAN_REACH / delta})
    panels = [(low, high) for low, high in zip(breaks[:-1], breaks[1:])
              if low < ARCTAN_SS_REACH or high * delta > ARCTAN_DD_START]
    return panel_rule(panels, order)


def _arctan_expectations(S11: Array, S22: Array, rho: Array, one_minus_rho2: Array) -> Pair:
    """Return arctan's ``E_ss, E_dd``.

    Each pair integrates on the rule of its point of smaller variance (the row point on ties).
    """
    E_ss, E_dd = np.zeros(rho.shape), np.zeros(rho.shape)
    row_first = S11[:, None] <= S22[None, :]
    for i in range(rho.shape[0]):
        cols = np.flatnonzero(row_first[i])
        E_ss[i, cols], E_dd[i, cols] = _arctan_pairs(S11[i], S22[cols], rho[i, cols], one_minus_rho2[i, cols])
    for j in range(rho.shape[1]):
        rows = np.flatnonzero(~row_first[:, j])
        E_ss[rows, j], E_dd[rows, j] = _arctan_pairs(S22[j], S11[rows], rho[rows, j], one_minus_rho2[rows, j])
    return E_ss, E_dd


def _arctan_pairs(q1: float, q2: Array, rho: Array, one_minus_rho2: Array) -> Pair:
    """Return arctan's ``E_ss, E_dd`` of one point of variance ``q1`` with points of variances ``q2 >= q1``.

    The ``q2`` are a vector; the rule is :func:`arctan_rule`. Beyond ``t = 1`` the terms are written in
    ``1/t``, which neither overflows nor loses the small ``1 - rho^2``.
    """
    delta2 = 1 / np.sqrt(2 * q2)
    if q1 == 0:  # u = 0: arctan(u) = 0, arctan'(u) = 1
        return np.zeros_like(q2), np.where(q2 > 0, math.sqrt(math.pi) * delta2 * erfcx(delta2), 1.0)
    t, weights = arctan_rule(q1)
    delta1 = 1 / math.sqrt(2 * q1)
    eta, inverse, near = delta1 * t, 1 / t, t <= 1
    with np.errstate(over="ignore"):
        ss_weights = weights * _erfc(eta) * np.where(near, 1 / (1 + t * t), inverse ** 2 / (1 + inverse ** 2))
        tt = (t * t)[:, None]
    dd_weights = (weights * delta1) * eta * np.exp(-eta * eta)
    s2 = one_minus_rho2[None, :]
    with np.errstate(over="ignore", invalid="ignore"):
        inverse_h = np.where(near[:, None], 1 / np.sqrt(1 + s2 * tt),
                             inverse[:, None] / np.sqrt(s2 + inverse[:, None] ** 2))
        g = np.where(near[:, None], np.sqrt(1 + tt) * inverse_h,
                     np.sqrt(1 + inverse[:, None] ** 2) / np.sqrt(s2 + inverse[:, None] ** 2))
    X = erfcx(delta2[None, :] * g) * inverse_h
    return 0.5 * math.pi * rho * (ss_weights @ X), 2 * math.sqrt(math.pi) * delta2 * (dd_weights @ X)


# -- the graded quadrature -----------------------------------------------------------------------
def graded_quadrature_expectations(S11: npt.ArrayLike, S22: npt.ArrayLike, S12: npt.ArrayLike, activation: str,
                                   order: int = ORDER) -> Pair:
    """Return ``E_ss`` and ``E_dd`` by a tensor Gauss-Legendre rule graded toward the activation's features.

    It serves any activation (module docstring). With independent standard normals ``(a, b)``, ``s = sqrt(1 - rho^2)``:
    ``h_x = sqrt(q1) a`` and ``h_z = sqrt(q2) rho a + tau b``, ``tau = sqrt(q2) s``, and

        E[f(h_x) g(h_z)] = int phi(a) f(sqrt(q1) a) G(a) da,  G(a) = int phi(b) g(h_z) db.

    Both integrals run over ``[-HALF_WIDTH, HALF_WIDTH]`` on the panels of a grid
    (:func:`feature_grid`) graded geometrically (ratio :data:`GRADING`) toward the
    activation's features, from the feature's scale ``ell`` out to where the activation is
    within :data:`ASYMPTOTE_GAP` of its asymptote (``W``, :func:`asymptote_radius`), and
    continued by panels ``order`` :data:`PANEL_WIDTH_PER_NODE` wide for the Gaussian:

    - outer, toward ``a = 0``: ``f(sqrt(q1) a)`` changes on ``|a|`` from ``ell / sqrt(q1)``
      to ``W / sqrt(q1)``, and ``G``, the activation smoothed by a Gaussian of width
      ``tau`` at ``m = sqrt(q2) rho a``, on ``|m|`` from ``max(ell, tau)`` to
      ``W + HALF_WIDTH tau``;
    - inner, toward the point ``b* = -rho a / s`` where ``h_z = 0``: ``g`` changes on
      ``|b - b*|`` from ``ell / tau`` to ``W / tau``. Near ``b*`` the nodes are placed by
      their offset ``t = b - b*`` on one grid per pair (``h_z = tau t`` exact, and ``g``
      evaluated once for all outer nodes in C++); the windows that reach no graded panel
      take plain panels placed in ``b`` (:func:`_gaussian_rule`).

    Kinks (relu at 0) sit on panel ends. ``rho = +-1`` makes ``G(a) = g(sqrt(q2) rho a)``.
    Every panel has ``order`` nodes; measured (tests/test_limit_accuracy.py and over
    variances 1e-6 .. 1e12, 1e-300 .. 1e300 for the saturating activations), the default 12
    errs by at most 6e-12 of the scale, 10 by 5e-10, 8 by 3e-8, 6 by 2e-6.

    Parameters
    ----------
    S11, S22, S12
        As returned by :func:`covariances`.
    activation : str
        Any of :data:`~widenet.reference.ACTIVATIONS`; arctan and sin only for
        variances up to :data:`QUADRATURE_MAX_VARIANCE`.
    order : int
        Gauss-Legendre nodes per panel.

    Returns
    -------
    E_ss, E_dd : ndarray, shape (m1, m2)
    """
    V11, V22, V12 = _variances(S11, S22, S12)
    _act.activation(activation, np.zeros(1))  # unknown names fail before any work
    limit = QUADRATURE_MAX_VARIANCE.get(activation, math.inf)
    if max(V11.max(initial=0.0), V22.max(initial=0.0)) > limit:
        raise ValueError(f"S11, S22: the quadrature of {activation} takes variances up to {limit:g} only; got "
                         f"{max(V11.max(), V22.max()):.4g}")
    rho, one_minus_rho2 = _correlations(V11, V22, V12)
    E_ss, E_dd = np.empty(V12.shape), np.empty(V12.shape)
    for i, j in np.ndindex(V12.shape):
        E_ss[i, j], E_dd[i, j] = _quadrature_pair(activation, V11[i], V22[j], rho[i, j], one_minus_rho2[i, j], order)
    return E_ss, E_dd


def asymptote_radius(activation: str, stretch: float) -> float:
    """Return where the graded panels end.

    That is the ``|t|`` beyond which ``sigma`` stays within
    :data:`ASYMPTOTE_GAP` ``/ stretch`` of its asymptote, ``stretch`` being the factor from
    the integration variable to the pre-activation (the panels beyond are ``stretch`` times
    wider than the feature, so the gap must shrink as much). inf for arctan and sin.
    """
    _, rate, power = FEATURES[activation]
    if rate == 0:
        return math.inf
    return ((math.log(1 / ASYMPTOTE_GAP) + math.log(max(1.0, stretch))) / rate) ** (1 / power)


def feature_grid(ranges: Iterable[Tuple[float, float]], reach: float, order: int = ORDER,
                 ratio: float = GRADING) -> Tuple[Array, float]:
    """Return the grid of the quadrature around a feature at 0, on the offsets ``|t| < reach``.

    The grid is ``(points, width)``. Its panel ends are ``+-points`` (``points[0] = 0``, then the graded
    points of each merged range ``(start, stop)`` of the feature below ``reach``), each gap
    between them cut evenly into panels at most ``width = order`` :data:`PANEL_WIDTH_PER_NODE`
    wide (on which the Gauss-Legendre rule integrates the Gaussian), and beyond
    ``+-points[-1]`` panels of ``width`` at fixed places. :func:`window_panels` lists them.
    """
    width = PANEL_WIDTH_PER_NODE * order
    points = [0.0]
    for start, stop in _merged(ranges, ratio):
        points += [point for point in graded_points(start, stop, ratio, width) if points[-1] < point < reach]
    return np.array(points), width


def window_panels(points: Array, width: float, low: float, high: float) -> Panels:
    """Return the panels ``(low end, high end)`` of a grid of :func:`feature_grid` that meet ``(low, high)``.

    They come in increasing order.
    """
    panels: Panels = []
    segments = [(-points[i + 1], -points[i]) for i in reversed(range(len(points) - 1))]
    segments += [(points[i], points[i + 1]) for i in range(len(points) - 1)]
    tails = [(-math.inf, -points[-1]), (points[-1], math.inf)]
    for a, b in [tails[0]] + segments + [tails[1]]:
        if a == -math.inf:  # panels -last - (j + 1) width .. -last - j width, j >= 0
            js: Iterable[int] = reversed(range(max(0, math.floor((b - high) / width)),
                                               max(0, math.ceil((b - low) / width))))
            panels += [(b - (j + 1) * width, b - j * width) for j in js]
        elif b == math.inf:
            js = range(max(0, math.floor((low - a) / width)), max(0, math.ceil((high - a) / width)))
            panels += [(a + j * width, a + (j + 1) * width) for j in js]
        else:
            pieces = math.ceil((b - a) / width)
            step = (b - a) / pieces
            js = range(max(0, math.floor((low - a) / step)), min(pieces, max(0, math.ceil((high - a) / step))))
            panels += [(a + j * step, b if j + 1 == pieces else a + (j + 1) * step) for j in js]
    return [(a, b) for a, b in panels if b > low and a < high]


def _merged(ranges: Iterable[Tuple[float, float]], ratio: float) -> List[List[float]]:
    """Return the ranges ``(start, stop)`` with ``0 < start < inf``, sorted.

    Those that overlap (within a factor ``ratio``) are merged.
    """
    merged: List[List[float]] = []
    for start, stop in sorted((a, b) for a, b in ranges if 0 < a < math.inf):
        if merged and start <= merged[-1][1] * ratio:
            merged[-1][1] = max(merged[-1][1], stop)
        else:
            merged.append([start, stop])
    return merged


def fine_reach(points: Array, width: float) -> float:
    """Return the far end of the grid's graded panels narrower than ``width`` (0 if none).

    Beyond it, the grid is no finer than plain panels of ``width``.
    """
    fine = [points[i] for i in range(1, len(points)) if points[i] - points[i - 1] < width]
    return fine[-1] if fine else 0.0


def plain_panels(width: float) -> Panels:
    """Return ``[-HALF_WIDTH, HALF_WIDTH]`` cut evenly into panels at most ``width`` wide."""
    pieces = math.ceil(2 * HALF_WIDTH / width)
    ends = [-HALF_WIDTH + k * (2 * HALF_WIDTH / pieces) for k in range(pieces)] + [HALF_WIDTH]
    return list(zip(ends[:-1], ends[1:]))


def _gaussian_rule(centre: float, grid: Tuple[Array, float], order: int) -> Pair:
    """Return nodes ``t`` (offsets from ``centre``) and weights for ``E[F(b)]``, ``b ~ N(0, 1)``.

    The rule is ``sum w F(centre + t)`` over ``|b| < HALF_WIDTH``: the panels of ``grid`` there where they
    include its fine panels; elsewhere the plain panels, placed in ``b`` (exact however far
    the centre, where ``centre + t`` would lose ``2^-53 |centre|``).
    """
    points, width = grid
    low, high = -HALF_WIDTH - centre, HALF_WIDTH - centre
    fine = fine_reach(points, width)
    if low <= fine and high >= -fine:
        t, weights = panel_rule(window_panels(points, width, low, high), order)
        b = centre + t
    else:
        b, weights = panel_rule(plain_panels(width), order)
        t = b - centre
    return t, weights * np.exp(-0.5 * b * b) / math.sqrt(2 * math.pi)


def _quadrature_pair(activation: str, q1: float, q2: float, rho: float, one_minus_rho2: float,
                     order: int) -> Tuple[float, float]:
    scale = FEATURES[activation][0]
    sine, root1, root2 = math.sqrt(one_minus_rho2), math.sqrt(q1), math.sqrt(q2)
    spread, along = root2 * sine, root2 * abs(rho)  # tau, and |dm/da|
    reach = asymptote_radius(activation, max(root1, root2)) if scale > 0 else 0.0
    width = max(scale, spread)  # G's feature scale, in m
    outer = [(scale / root1, reach / root1) if root1 > 0 else (0.0, 0.0),
             (width / along, (reach + HALF_WIDTH * spread) / along) if along > 0 else (0.0, 0.0)]
    a, outer_weights = _gaussian_rule(0.0, feature_grid(outer, HALF_WIDTH, order), order)
    # the inner windows |b| < HALF_WIDTH, b = centre + t, centre = -rho a / s, span |t| < inner_reach
    inner_reach = HALF_WIDTH + (np.max(np.abs(rho * a / sine)) if spread > 0 else 0.0)
    inner_grid = feature_grid([(scale / spread, reach / spread)] if spread > 0 else [], inner_reach, order)
    G_s, G_d = np.empty_like(a), np.empty_like(a)
    for p, a_p in enumerate(a):
        if spread == 0:
            v, inner_weights = np.array([root2 * rho * a_p]), np.ones(1)
        else:
            t, inner_weights = _gaussian_rule(-rho * a_p / sine, inner_grid, order)
            v = spread * t
        G_s[p] = inner_weights @ _act.activation(activation, v)
        G_d[p] = inner_weights @ _act.activation_derivative(activation, v)
    u = root1 * a
    return (float(outer_weights @ (_act.activation(activation, u) * G_s)),
            float(outer_weights @ (_act.activation_derivative(activation, u) * G_d)))


def expectations(S11: npt.ArrayLike, S22: npt.ArrayLike, S12: npt.ArrayLike, activation: str,
                 method: Method = "auto", order: Optional[int] = None) -> Pair:
    """Return ``E_ss, E_dd`` by ``method``.

    "auto" takes the closed form where there is one
    (:data:`CLOSED_FORMS`), else the scale mixture; "quadrature" the graded quadrature with
    ``order`` nodes per panel (default :data:`ORDER`).
    """
    _choice(method, "method", METHODS)
    if method == "auto":
        method = "closed_form" if activation in CLOSED_FORMS else "scale_mixture"
    if method == "closed_form":
        return closed_form_expectations(S11, S22, S12, activation)
    if method == "scale_mixture":
        return scale_mixture_expectations(S11, S22, S12, activation)
    return graded_quadrature_expectations(S11, S22, S12, activation, ORDER if order is None else order)


# -- the fixed tensor rule (kept for its callers; limit_kernel no longer uses it) ------------------
# Its nodes sit at fixed places of the standardized variable: an activation that changes
# over a width 1/sqrt(S) around 0 (every saturating one at a large variance S) falls
# between them, and the rule errs by up to 100% (tanh at S = 1e6). Accurate for variances
# of order 1 only; the graded methods above replace it.
def gaussian_rule(order: int = 64, half_width: float = 8.0, panels: Optional[int] = None) -> Pair:
    """Return nodes and weights for ``E[f(a)]``, ``a ~ N(0, 1)``: composite Gauss-Legendre.

    ``[-half_width, half_width]`` is cut into ``panels`` equal panels (an even number, so
    that 0 is a panel boundary: kinks of ReLU-like activations at 0 fall between panels),
    each carrying ``order / panels`` Gauss-Legendre nodes; the weights are multiplied by
    the standard normal density. Like Gauss-Hermite, its accuracy collapses when the
    integrand ``f(sqrt(S) a)`` changes over a width much smaller than the panels, as it
    does for a large variance ``S`` (see the comment above).

    The defaults were chosen by measurement (erf against its closed form, arctan against
    order 1024): one Gauss-Legendre panel per half-line beats more, smaller panels of the
    same total order (polynomial degree wins over locality for these smooth integrands),
    and a range of 8 standard deviations beats 10 at order 64 because fewer nodes sit in
    the negligible tails. The mass dropped outside, ``2 P(a > 8) = 1.2e-15``, is at the
    rounding of ``sum(weights) = 1``; for an integrand growing like ``a^2`` it costs a
    relative ``8e-14``.

    Parameters
    ----------
    order : int, default 64
        Total number of nodes ``Q``.
    half_width : float, default 8.0
        Truncation of the real line, in standard deviations.
    panels : int, optional
        Number of equal panels: even, at least 2, dividing ``order``. Default: 2 (one
        Gauss-Legendre panel of ``order / 2`` nodes on each half-line), so ``order`` must
        then be even.

    Returns
    -------
    nodes, weights : ndarray, shape (order,)
        Increasing nodes, symmetric about 0; ``E[f(a)] ~= sum_p weights[p] f(nodes[p])``.
    """
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 2:
        raise ValueError(f"order must be an integer >= 2; got {order!r}")
    if panels is None:
        panels = 2
    if isinstance(panels, bool) or not isinstance(panels, (int, np.integer)) or panels < 2 or panels % 2:
        raise ValueError(f"panels must be an even integer >= 2; got {panels!r}")
    order, panels = int(order), int(panels)
    if order % panels:
        raise ValueError(f"order must be a multiple of panels (the same number of nodes in each panel); "
                         f"got order={order}, panels={panels}")
    half_width = float(half_width)
    if not (half_width > 0 and math.isfinite(half_width)):
        raise ValueError(f"half_width must be a positive finite number; got {half_width!r}")
    x, w = np.polynomial.legendre.leggauss(order // panels)
    edges = half_width * (np.arange(panels + 1) - panels // 2) / (panels // 2)  # exact 0 in the middle
    centres = 0.5 * (edges[:-1] + edges[1:])
    halves = 0.5 * (edges[1:] - edges[:-1])
    nodes = (centres[:, None] + halves[:, None] * x[None, :]).ravel()
    weights = (halves[:, None] * w[None, :]).ravel() * np.exp(-0.5 * nodes * nodes) / math.sqrt(2 * math.pi)
    return nodes, weights


def quadrature_expectations(S11: npt.ArrayLike, S22: npt.ArrayLike, S12: npt.ArrayLike, activation: str,
                            nodes: npt.ArrayLike, weights: npt.ArrayLike, legendre: Optional[Pair] = None,
                            half_width: float = 8.0) -> Pair:
    """Return ``E_ss`` and ``E_dd`` by a two-dimensional tensor rule of fixed nodes.

    The rule is accurate for variances of order 1 only (see :func:`gaussian_rule`; the
    graded quadrature is :func:`graded_quadrature_expectations`). With independent standard
    normals ``(a, b)`` and ``rho`` as in :func:`closed_form_expectations` (0 where
    ``S11 S22 = 0``):
    ``h_x = sqrt(S11) a``, ``h_z = sqrt(S22) (rho a + sqrt(1 - rho^2) b)`` and, in this
    order of terms,

        E[f(h_x) g(h_z)] ~= sum_p w_p f(h_x(a_p)) (sum_q w_q g(h_z(a_p, b_q)))

    with ``(f, g) = (sigma, sigma)`` for ``E_ss`` and ``(sigma', sigma')`` for ``E_dd``;
    as in the C++ kernel, ``h_z = along a_p + across b_q`` with ``along = sqrt(S22) rho``
    and ``across = sqrt(S22) sqrt(1 - rho^2)``, and the outer term is
    ``(w_p f) * inner``. The ``f`` values depend on the point ``x`` only and are computed
    once per point; the sum runs over ``p`` in a loop, vectorised over pairs and blocks of
    ``q``, so memory stays ``O(m1 m2 + m1 Q)`` beyond a fixed block. The rule is not
    exactly symmetric in ``(x, z)``: swapping the points changes the result by about its
    error.

    Parameters
    ----------
    S11, S22, S12
        As returned by :func:`covariances`.
    activation : str
        Any of :data:`~widenet.reference.ACTIVATIONS`.
    nodes, weights : ndarray, shape (Q,)
        A rule for ``E[f(a)]``, ``a ~ N(0, 1)``, e.g. from :func:`gaussian_rule`.
    legendre : (ndarray, ndarray), optional
        The Gauss-Legendre rule on ``[-1, 1]`` behind ``nodes`` (:func:`legendre_rule`).
        For relu, whose ``relu(h_z)`` bends at ``b = -along a_p / across``, the inner sum
        is then taken over two Gauss-Legendre panels, ``[-half_width, kink]`` and
        ``[kink, half_width]``, where the integrand is smooth (as the C++ kernel does).
    half_width : float
        The truncation of ``nodes`` (8, as in :func:`gaussian_rule`).

    Returns
    -------
    E_ss, E_dd : ndarray, shape (m1, m2)
    """
    V11, V22, V12 = _variances(S11, S22, S12)
    a = np.asarray(nodes, dtype=np.float64)
    w_a = np.asarray(weights, dtype=np.float64)
    if a.ndim != 1 or a.shape != w_a.shape:
        raise ValueError(f"nodes and weights must be 1-D of one length; got shapes {a.shape} and "
                         f"{w_a.shape}")
    _act.activation(activation, np.zeros(1))  # unknown names fail before any work
    rho, _ = _correlations(V11, V22, V12)
    m1, m2 = V12.shape
    Q = a.shape[0]
    hx = np.sqrt(V11)[:, None] * a[None, :]  # (m1, Q)
    F_s = _act.activation(activation, hx)
    F_d = _act.activation_derivative(activation, hx)
    root = np.sqrt(V22)[None, :]
    along = root * rho  # (m1, m2): coefficient of a
    across = root * np.sqrt(1 - rho * rho)  # (m1, m2): coefficient of b
    block = max(1, min(Q, _BLOCK_FLOATS // max(1, m1 * m2)))
    E_ss = np.zeros((m1, m2))
    E_dd = np.zeros((m1, m2))
    split = legendre is not None and activation == "relu"
    for p in range(Q):
        shift = along * a[p]
        inner_s = np.zeros((m1, m2))
        inner_d = np.zeros((m1, m2))
        if split and legendre is not None:
            inner_s, inner_d, done = _split_relu_inner(shift, across, legendre, half_width)
        else:
            done = np.zeros((m1, m2), dtype=bool)
        for q0 in range(0, Q, block):
            hz = shift[:, :, None] + across[:, :, None] * a[None, None, q0:q0 + block]
            w = w_a[q0:q0 + block]
            inner_s += np.where(done, 0.0, _act.activation(activation, hz) @ w)
            inner_d += np.where(done, 0.0, _act.activation_derivative(activation, hz) @ w)
        E_ss += (w_a[p] * F_s[:, p])[:, None] * inner_s
        E_dd += (w_a[p] * F_d[:, p])[:, None] * inner_d
    return E_ss, E_dd


def legendre_rule(order: int = 64) -> Pair:
    """Return the Gauss-Legendre rule on ``[-1, 1]`` with ``order / 2`` nodes.

    It is the rule each half-line panel of :func:`gaussian_rule` (default panels) is built from.
    """
    return np.polynomial.legendre.leggauss(int(order) // 2)


def _split_relu_inner(shift: Array, across: Array, legendre: Pair,
                      half_width: float) -> Tuple[Array, Array, npt.NDArray[np.bool_]]:
    """Return ``E_b[relu(shift + across b)]`` and ``E_b[relu'(...)]`` with the range cut at the kink.

    The kink is ``b = -shift / across``; the expectations are taken for the pairs whose kink
    lies inside the range (``done``).
    """
    t, w = legendre
    inside = across > 0
    kink = np.where(inside, -shift / np.where(inside, across, 1.0), 0.0)
    done = inside & (np.abs(kink) < half_width)
    inner_s = np.zeros(shift.shape)
    inner_d = np.zeros(shift.shape)
    for low, high in ((-half_width, kink), (kink, half_width)):
        middle, half = np.asarray(0.5 * (low + high)), np.asarray(0.5 * (high - low))  # arrays: kink is one
        b = middle[..., None] + half[..., None] * t if np.ndim(middle) else middle + half * t
        b = np.broadcast_to(b, shift.shape + t.shape)
        weight = (np.broadcast_to(half, shift.shape)[..., None] * w) * np.exp(-0.5 * b * b) * (
            0.5 * (2 / math.sqrt(math.pi)) * math.sqrt(0.5))
        h = shift[..., None] + across[..., None] * b
        inner_s += np.where(done, np.sum(np.where(h > 0, weight * h, 0.0), axis=-1), 0.0)
        inner_d += np.where(done, np.sum(np.where(h > 0, weight, 0.0), axis=-1), 0.0)
    return inner_s, inner_d, done


def _standard_draws(rng: np.random.Generator, distribution: str, size: Union[int, Tuple[int, ...]]) -> Array:
    """Draw zero-mean, unit-variance values from ``D`` (Assumption 11.14, Example 11.15)."""
    if distribution == "normal":
        return rng.standard_normal(size)
    if distribution == "uniform":
        return rng.uniform(-math.sqrt(3.0), math.sqrt(3.0), size)
    return 2.0 * rng.integers(0, 2, size).astype(np.float64) - 1.0


def _generator(seed: Union[None, int, np.random.Generator]) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def monte_carlo_expectations(X1: npt.ArrayLike, X2: npt.ArrayLike, activation: str, weight_var: float = 1.0,
                             bias_var: float = 0.0, samples: int = 10000, distribution: Distribution = "normal",
                             seed: Union[None, int, np.random.Generator] = None) -> Tuple[Array, Array, Array, Array]:
    """Return ``E_ss`` and ``E_dd`` by Monte Carlo over hidden units, for any law ``D`` (docs/theory.md, section 5).

    Draws ``samples`` independent hidden units ``u_j = sqrt(s_w^2/d) D``,
    ``b = sqrt(s_b^2) D`` (11.5.3) and averages ``sigma(u.x + b) sigma(u.z + b)`` and
    ``sigma'(u.x + b) sigma'(u.z + b)``. For a non-Gaussian ``D`` this is the limit
    expectation under that law, which differs from the Gaussian one when ``d`` is small.
    Units are processed in chunks (``chunk * (m1 + m2)`` floats at once); each chunk draws
    its ``u`` (chunk, d) and then its ``b`` (chunk,).

    Parameters
    ----------
    X1 : ndarray, shape (m1, d)
    X2 : ndarray, shape (m2, d)
    activation : str
        Any of :data:`~widenet.reference.ACTIVATIONS`.
    weight_var, bias_var : float
        ``s_w^2`` and ``s_b^2``.
    samples : int, default 10000
        Number of hidden units, at least 2.
    distribution : {"normal", "uniform", "rademacher"}
        ``D``: standard normal, uniform on ``[-sqrt 3, sqrt 3]`` or ``+-1``.
    seed : None, int or numpy.random.Generator

    Returns
    -------
    E_ss, E_dd : ndarray, shape (m1, m2)
        The sample means.
    se_ss, se_dd : ndarray, shape (m1, m2)
        Their standard errors, sample standard deviation over ``sqrt(samples)``.
    """
    P1, P2 = _points(X1, X2)
    _choice(distribution, "distribution", DISTRIBUTIONS)
    _act.activation(activation, np.zeros(1))
    if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or samples < 2:
        raise ValueError(f"samples must be an integer >= 2; got {samples!r}")
    samples = int(samples)
    rng = _generator(seed)
    (m1, d), m2 = P1.shape, P2.shape[0]
    w_scale = math.sqrt(float(weight_var) / d)
    b_scale = math.sqrt(float(bias_var))
    chunk = max(1, min(samples, _BLOCK_FLOATS // (m1 + m2)))
    # sigma(h) grows at most like |h|: the values are summed in units of each point's
    # spread of h (at least 1), so that their squares cannot overflow at large inputs.
    units = [np.maximum(1.0, w_scale * np.linalg.norm(X, axis=1) + b_scale) for X in (P1, P2)]
    sums = [np.zeros((m1, m2)) for _ in range(4)]  # sum ss, sum ss^2, sum dd, sum dd^2
    for start in range(0, samples, chunk):
        k = min(chunk, samples - start)
        U = w_scale * _standard_draws(rng, distribution, (k, d))
        b = b_scale * _standard_draws(rng, distribution, k)
        H1 = P1 @ U.T + b  # (m1, k)
        H2 = P2 @ U.T + b  # (m2, k)
        for offset, fn in ((0, _act.activation), (2, _act.activation_derivative)):
            A1, A2 = fn(activation, H1), fn(activation, H2)
            if offset == 0:
                A1, A2 = A1 / units[0][:, None], A2 / units[1][:, None]
            sums[offset] += A1 @ A2.T
            sums[offset + 1] += (A1 * A1) @ (A2 * A2).T
    out = []
    scales: Tuple[Union[Array, float], ...] = (np.outer(*units), 1.0)
    for (total, squares), unit in zip((sums[0:2], sums[2:4]), scales):
        mean = total / samples
        variance = np.maximum(squares - samples * mean * mean, 0.0) / (samples - 1)
        out.append((mean * unit, np.sqrt(variance / samples) * unit))
    (E_ss, se_ss), (E_dd, se_dd) = out
    return E_ss, E_dd, se_ss, se_dd


def combine(E_ss: npt.ArrayLike, E_dd: npt.ArrayLike, X1: npt.ArrayLike, X2: npt.ArrayLike,
            parametrization: Parametrization, kind: Kind, output_var: float = 1.0,
            output_bias_var: float = 0.0) -> Array:
    """Return the limit kernel from the two expectations (Theorems 11.16, 11.30; Prop. 11.28).

    - ``kind="ntk"``, ``parametrization="lecun"``: ``K_LC = E_ss`` (limit of ``K_n / n``);
    - ``kind="ntk"``, ``parametrization="ntk"``: ``s_v^2 (x.z/d + 1) E_dd + E_ss + 1``;
    - ``kind="nngp"``: ``s_v^2 E_ss + s_c^2``.

    Parameters
    ----------
    E_ss, E_dd : ndarray, shape (m1, m2)
    X1 : ndarray, shape (m1, d)
    X2 : ndarray, shape (m2, d)
    parametrization : {"lecun", "ntk"}
    kind : {"ntk", "nngp"}
    output_var, output_bias_var : float
        ``s_v^2`` and ``s_c^2``.

    Returns
    -------
    ndarray, shape (m1, m2)
    """
    _choice(parametrization, "parametrization", PARAMETRIZATIONS)
    _choice(kind, "kind", KINDS)
    ss = np.asarray(E_ss, dtype=np.float64)
    dd = np.asarray(E_dd, dtype=np.float64)
    if kind == "nngp":
        return float(output_var) * ss + float(output_bias_var)
    if parametrization == "lecun":
        return ss.copy()
    P1, P2 = _points(X1, X2)
    # (x.z/d + 1) E_dd first: finite where the kernel is (E_dd <= 1.3); s_v^2 = 0 gives 0.
    tangent = ((P1 @ P2.T) / P1.shape[1] + 1) * dd
    return (float(output_var) * tangent if output_var != 0 else np.zeros_like(tangent)) + ss + 1


def limit_kernel(X1: npt.ArrayLike, X2: npt.ArrayLike, activation: str, parametrization: Parametrization = "lecun",
                 kind: Kind = "ntk", weight_var: float = 1.0, bias_var: float = 0.0, output_var: float = 1.0,
                 output_bias_var: float = 0.0, method: Method = "auto", order: Optional[int] = None) -> Array:
    """Return the infinite-width kernel Gram ``K(X1, X2)`` (Theorems 11.16, 11.30; Prop. 11.28).

    Parameters
    ----------
    X1 : ndarray, shape (m1, d)
    X2 : ndarray, shape (m2, d)
    activation : str
        Any of :data:`~widenet.reference.ACTIVATIONS`.
    parametrization : {"lecun", "ntk"}
    kind : {"ntk", "nngp"}
        The tangent-kernel limit or the output covariance at initialization.
    weight_var, bias_var, output_var, output_bias_var : float
        ``s_w^2, s_b^2, s_v^2, s_c^2``.
    method : {"auto", "closed_form", "scale_mixture", "quadrature"}
        As for :func:`expectations`.
    order : int, optional
        Gauss-Legendre nodes per panel of the graded quadrature (default :data:`ORDER`).

    Returns
    -------
    ndarray, shape (m1, m2)
        With ``X2 is X1`` the lower triangle (``x`` = row point) is mirrored to the upper
        one, as the C++ kernel does: the numerical methods are symmetric in ``(x, z)`` only
        up to their error.
    """
    _choice(parametrization, "parametrization", PARAMETRIZATIONS)
    _choice(kind, "kind", KINDS)
    S11, S22, S12 = covariances(X1, X2, weight_var, bias_var)
    if X2 is X1:
        # A point's variance as its own covariance: its correlation with itself is then
        # exactly 1, where arccos is steep (as in the C++ kernel).
        S11 = S22 = np.diag(S12).copy()
    E_ss, E_dd = expectations(S11, S22, S12, activation, method, order)
    kernel = combine(E_ss, E_dd, X1, X2, parametrization, kind, output_var, output_bias_var)
    if X2 is X1:
        lower = np.tril(kernel)
        kernel = lower + np.tril(kernel, -1).T
    return kernel
