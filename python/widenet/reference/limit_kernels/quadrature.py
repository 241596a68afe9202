"""The graded quadrature: a tensor Gauss-Legendre rule graded toward the activation's features.

It serves every activation and checks the two other methods (package docstring).
"""

from __future__ import annotations

import math
from typing import Iterable, List, Tuple, Union

import numpy as np
import numpy.typing as npt

from widenet.reference.limit_kernels.common import (
    GRADING,
    ORDER,
    Array,
    Pair,
    Panels,
    _correlations,
    _variances,
    graded_points,
    panel_rule,
)
from widenet.reference.limit_kernels.functions import ActivationFunctions, activation_functions, evaluate

# The graded quadrature: the real line is cut at HALF_WIDTH standard deviations (the mass
# beyond, 1.2e-15, times a quadratic growth stays below 1e-13), into panels at most
# PANEL_WIDTH_PER_NODE * order wide: Gauss-Legendre integrates the Gaussian on such panels to
# 2e-15 at 12 nodes, 2e-12 at 10 and 1e-11 at 8, below the error of the graded panels.
HALF_WIDTH = 8.0
PANEL_WIDTH_PER_NODE = 0.25
FEATURES = {
    # activation -> (scale ell, decay rate lambda, power p): sigma changes on |t| ~ ell
    # around 0 and differs from its affine asymptote (sigma' from a constant) by about
    # e^{-lambda |t|^p} beyond. relu (leaky_relu, abs) bends at 0 only; identity and the
    # monomials have no feature; arctan and sin have no asymptote (rate 0).
    "relu": (0.0, 0.0, 1.0),
    "identity": (math.inf, 0.0, 1.0),
    "tanh": (1.0, 2.0, 1.0),
    "erf": (1.0, 1.0, 2.0),
    "sigmoid": (1.0, 1.0, 1.0),
    "softplus": (1.0, 1.0, 1.0),
    "gelu": (1.0, 0.5, 2.0),
    "arctan": (1.0, 0.0, 1.0),
    "sin": (1.0, 0.0, 1.0),
    "leaky_relu": (0.0, 0.0, 1.0),
    "abs": (0.0, 0.0, 1.0),
    "monomial2": (math.inf, 0.0, 1.0),
    "monomial3": (math.inf, 0.0, 1.0),
    "elu": (1.0, 1.0, 1.0),
    "silu": (1.0, 1.0, 1.0),
}
FUNCTION_FEATURES = (1.0, 0.0, 1.0)
"""The features assumed of an activation given as functions: it changes on ``|t| ~ 1`` around 0
(as every built-in does), perhaps with a kink at 0, and has no known asymptote, so that the
panels are graded over every scale from ``1 / sqrt(q)`` out to the plain panels, as for arctan
(cost ``~ log(q)^2`` per pair), and toward the kink's smoothing (:func:`_smoothed_scale`). An
activation with finer features elsewhere (a kink away from 0) is resolved only as far as the
plain panels resolve it."""
KINKED = ("elu",)
"""Built-ins whose derivative bends at 0 besides changing on the scale ``ell`` (elu' is ``e^t`` below
0 and 1 above): the Gaussian smoothing ``G`` turns the bend into a feature of width ``tau``, which
their panels are graded toward, as a function's (:func:`_smoothed_scale`)."""
ASYMPTOTE_GAP = 1e-17
"""How close to its asymptote the activation must be where the graded panels end."""
QUADRATURE_MAX_VARIANCE = {"arctan": 1e8, "sin": 8.0}
"""The graded quadrature refuses larger pre-activation variances for these activations:
arctan's 1/t tail needs panels over every scale (cost ~ log(q)^2 per pair), sin's
oscillations ~ q nodes. The scale mixture and the closed form have no such limit."""


def graded_quadrature_expectations(S11: npt.ArrayLike, S22: npt.ArrayLike, S12: npt.ArrayLike,
                                   activation: Union[str, ActivationFunctions], order: int = ORDER) -> Pair:
    """Return ``E_ss`` and ``E_dd`` by a tensor Gauss-Legendre rule graded toward the activation's features.

    It serves any activation (package docstring). With independent standard normals ``(a, b)``, ``s = sqrt(1 - rho^2)``:
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
    activation : str or ActivationFunctions
        Any of :data:`~widenet.reference.ACTIVATIONS` (arctan and sin only for
        variances up to :data:`QUADRATURE_MAX_VARIANCE`), or an activation's functions,
        whose features are :data:`FUNCTION_FEATURES`.
    order : int
        Gauss-Legendre nodes per panel.

    Returns
    -------
    E_ss, E_dd : ndarray, shape (m1, m2)
    """
    V11, V22, V12 = _variances(S11, S22, S12)
    functions = activation_functions(activation)  # unknown names fail before any work
    limit = QUADRATURE_MAX_VARIANCE.get(functions.name, math.inf) if functions.builtin else math.inf
    if max(V11.max(initial=0.0), V22.max(initial=0.0)) > limit:
        raise ValueError(f"S11, S22: the quadrature of {functions.name} takes variances up to {limit:g} only; got "
                         f"{max(V11.max(), V22.max()):.4g}")
    return quadrature_at(V11, V22, V12, np.ones(V12.shape, dtype=bool), functions, order)


def quadrature_at(V11: Array, V22: Array, V12: Array, pairs: npt.NDArray[np.bool_], functions: ActivationFunctions,
                  order: int = ORDER) -> Pair:
    """Return ``E_ss`` and ``E_dd`` by the graded quadrature at the pairs where ``pairs`` is True (0 elsewhere).

    The covariances are checked arrays as :func:`graded_quadrature_expectations` takes them.
    """
    rho, one_minus_rho2 = _correlations(V11, V22, V12)
    E_ss, E_dd = np.zeros(V12.shape), np.zeros(V12.shape)
    for i, j in zip(*np.nonzero(pairs)):
        E_ss[i, j], E_dd[i, j] = _quadrature_pair(functions, V11[i], V22[j], rho[i, j], one_minus_rho2[i, j], order)
    return E_ss, E_dd


def features(functions: ActivationFunctions) -> Tuple[float, float, float]:
    """Return the features ``(ell, lambda, p)`` of an activation: a built-in's, or :data:`FUNCTION_FEATURES`."""
    return FEATURES[functions.name] if functions.builtin else FUNCTION_FEATURES


def asymptote_radius(activation: Union[str, ActivationFunctions], stretch: float) -> float:
    """Return where the graded panels end.

    That is the ``|t|`` beyond which ``sigma`` stays within
    :data:`ASYMPTOTE_GAP` ``/ stretch`` of its asymptote, ``stretch`` being the factor from
    the integration variable to the pre-activation (the panels beyond are ``stretch`` times
    wider than the feature, so the gap must shrink as much). inf for arctan and sin.
    """
    _, rate, power = features(activation_functions(activation))
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


def _smoothed_scale(functions: ActivationFunctions, scale: float, spread: float) -> float:
    """Return the scale on which ``G``, the activation smoothed by a Gaussian of width ``tau``, changes.

    That is ``max(ell, tau)`` for a built-in other than those of :data:`KINKED`. Those, and a
    function, may also have a kink at 0 (relu's),
    which ``G`` turns into a feature of width ``tau``: its panels are graded from the finer
    of the two (from ``ell`` where ``tau = 0``, ``G`` being the activation itself).
    """
    if functions.builtin and functions.name not in KINKED:
        return max(scale, spread)
    return min(scale, spread) if spread > 0 else scale


def _quadrature_pair(functions: ActivationFunctions, q1: float, q2: float, rho: float, one_minus_rho2: float,
                     order: int) -> Tuple[float, float]:
    scale = features(functions)[0]
    sine, root1, root2 = math.sqrt(one_minus_rho2), math.sqrt(q1), math.sqrt(q2)
    spread, along = root2 * sine, root2 * abs(rho)  # tau, and |dm/da|
    reach = asymptote_radius(functions, max(root1, root2)) if scale > 0 else 0.0
    width = _smoothed_scale(functions, scale, spread)  # G's feature scale, in m
    outer = [(scale / root1, reach / root1) if root1 > 0 else (0.0, 0.0),
             (width / along, (reach + HALF_WIDTH * spread) / along) if along > 0 else (0.0, 0.0)]
    a, outer_weights = _gaussian_rule(0.0, feature_grid(outer, HALF_WIDTH, order), order)
    # the inner windows |b| < HALF_WIDTH, b = centre + t, centre = -rho a / s, span |t| < inner_reach
    inner_reach = HALF_WIDTH + (np.max(np.abs(rho * a / sine)) if spread > 0 else 0.0)
    inner_grid = feature_grid([(scale / spread, reach / spread)] if spread > 0 else [], inner_reach, order)
    nodes: List[Array] = []
    weights: List[Array] = []
    for a_p in a:
        if spread == 0:
            nodes.append(np.array([root2 * rho * a_p]))
            weights.append(np.ones(1))
        else:
            t, inner_weights = _gaussian_rule(-rho * a_p / sine, inner_grid, order)
            nodes.append(spread * t)
            weights.append(inner_weights)
    # every outer node's inner rule in one array: one call of each function per pair
    v, w = np.concatenate(nodes), np.concatenate(weights)
    starts = np.cumsum([0] + [len(part) for part in nodes[:-1]])
    G_s = np.add.reduceat(w * evaluate(functions, False, v), starts)
    G_d = np.add.reduceat(w * evaluate(functions, True, v), starts)
    u = root1 * a
    return (float(outer_weights @ (evaluate(functions, False, u) * G_s)),
            float(outer_weights @ (evaluate(functions, True, u) * G_d)))
