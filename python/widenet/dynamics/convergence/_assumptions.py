"""The check of Assumption 11.12: :func:`check_assumptions`."""

from __future__ import annotations

import math
from typing import List, Tuple, TypeVar

import numpy as np
import numpy.typing as npt

from widenet import _memory, _solve
from widenet import _validation as check
from widenet._types import Loss, Seed
from widenet.dynamics.convergence._probe import (
    _PAIR_STORE,
    _PATH_POINTS,
    _RANDOM_BASE_POINTS,
    _SECANT_FRACTION,
    _ball_point,
    _clone,
    _gd_path,
    _into_ball,
    _kink_distance,
    _lanczos,
    _network,
    _norm,
    _Probe,
    _radius,
    _unit,
)
from widenet.dynamics.convergence._reports import AssumptionReport
from widenet.network._kinds import AnyNetwork

_Witness = TypeVar("_Witness")

_RELU_NOTE = ("relu: sigma' is discontinuous, so grad_w Phi jumps where a pre-activation crosses 0 and L is "
              "infinite on any ball that reaches such a kink; Assumption 11.18 (a) (sigma' Lipschitz) excludes "
              "relu. The reported L is only the largest secant found.")
_DEEP_KINK_NOTE = ("relu, deep network: the kink distance is that of the first layer's pre-activations, an upper "
                   "bound of the distance to the nearest kink (the deeper layers' kinks are not located).")


def _assumption_blocks(network: AnyNetwork, m: int, path_steps: int, lanczos_steps: int) -> List[_memory.Block]:
    """Return what :func:`check_assumptions` holds at its peak, in float64 parameter vectors ``P``.

    The clone, ``w0``, the gradient-descent path, the stored Jacobians of the pair secants,
    the Jacobian at ``w0`` and the ascent points throughout; then either a Jacobian with its
    hidden layer and the two temporaries of the secants against the stored ones, or the base
    points and the Lanczos basis with its stack and a temporary.
    """
    size, path = network.num_params, min(path_steps, _PATH_POINTS)
    stored = max(1, _PAIR_STORE // ((m + 1) * size))
    vectors = lambda count: ("parameter vectors", (count, size), np.float64, 1)  # noqa: E731
    common = 3 + path + (m + 1) * stored + 2 * m
    spectrum = [vectors(3), ("tangent Gram and eigvalsh's copy and workspace", (m, m), np.float64, 3)]
    rows = [vectors(common + m + 2 * stored * m), ("hidden layers", (m, network.hidden_units), np.float64, 2)]
    lanczos = [vectors(common + _RANDOM_BASE_POINTS + 1 + path + m + 3 * lanczos_steps + 1)]
    return _memory.peak(spectrum, rows, lanczos)


def check_assumptions(model: AnyNetwork, X: npt.ArrayLike, y: npt.ArrayLike, loss: Loss = "sum",
                      samples: int = 32, path_steps: int = 100, lanczos_steps: int = 8, refinements: int = 2,
                      seed: Seed = None) -> AssumptionReport:
    """Measure the constants of Assumption 11.12 for ``model`` at its initial parameters.

    Works on a float64 copy of ``model`` at ``w0 = model.initial_params`` (the caller's
    network is not modified; a float32 network's parameters are exact in float64).

    Parameters
    ----------
    model : ShallowNetwork or Network
    X : array_like, shape (m, d)
        The training inputs ``x_i``.
    y : array_like, shape (m,) or (m, 1)
        The targets ``y_i``.
    loss : {"sum", "mean", "half_sum"}
        The loss scaling ``s`` the admissible step is also given for. All other quantities
        are the chapter's, for the sum loss (see the module docstring).
    samples : int, default 32
        Random points of the ball per round (uniform directions, radii ``r k / samples``,
        ``k = 1 .. samples``, so the last is on the surface).
    path_steps : int, default 100
        Steps of gradient descent on the sum loss from ``w0`` at ``1/(lambda_min + lambda_max)``;
        up to 8 log-spaced points of that path (projected onto the ball when outside) are
        measured too.
    lanczos_steps : int, default 8
        Lanczos steps (Hessian products by secants) per base point and training point
        for ``L``.
    refinements : int, default 2
        Rounds of ``r`` from ``U``, resampling, ``U`` again (``r`` grows with ``U``).
    seed : None, int or numpy.random.Generator

    Returns
    -------
    AssumptionReport

    Notes
    -----
    (a) ``lambda_min``, ``lambda_max`` are the extreme eigenvalues of the tangent Gram
    (11.4.1), the network's ``ntk`` at ``w0``. ``f(w0)`` is (11.0.1b).

    (b) ``U`` and ``L`` of (11.4.2) are suprema over ``B_r(w0)``, and ``r`` (11.4.3) depends
    on ``U``. Starting from ``U`` at ``w0``, each round measures ``|grad_w Phi(x_i, w)|`` (the
    rows of the network's ``jacobian``) at random points of the ball, at the
    gradient-descent path and at one projected gradient-ascent step of
    ``|grad_w Phi(x_i, .)|^2`` per ``i`` (its gradient ``2 H_i g_i`` taken as a difference of
    gradients), and enlarges ``r`` with the largest norm. The final ``r`` uses the final
    ``U``, so every point measured lies in ``B_r(w0)`` and both estimates are LOWER bounds of
    the constants on that ball. ``L`` is the largest secant ratio
    ``|grad Phi(x_i, w) - grad Phi(x_i, w')| / |w - w'|`` found over (1) every pair of the
    points above (as many as a fixed memory budget allows) and (2) Lanczos iterations on the
    Hessian ``H_i`` of ``Phi(x_i, .)`` from ``w0``, the ascent points, the path and a few random
    points, whose products ``H_i(w) u ~ (grad Phi(x_i, w + eps u) - grad Phi(x_i, w - eps u)) / (2 eps)``
    (``eps = r / 100``) are each a secant over two points of the ball, ending with the secant
    along the Ritz vector of the largest ``|Ritz value|``, close to the top singular vector of
    ``H_i(w)``. (Power iteration, which the same secants would allow, converges slowly here:
    the Hessian of a wide network has one small block per hidden unit, a dense top of the
    spectrum.) Secants whose gradient change is below ``1e-8`` of the gradients' norms
    (rounding, not curvature) are not used.

    (c) is evaluated on the estimates: ``L_lower <= lambda_min^2 / (12 m^{3/2} U_lower^2
    sqrt(f(w0)))``. A violation there is a definite violation of (c); satisfaction only
    means that none was found.

    For relu the true ``L`` is infinite when the ball reaches a kink of ``sigma'``; the
    report computes the distance to the nearest kink and says so (Assumption 11.18 (a)).

    Examples
    --------
    >>> import numpy as np, widenet
    >>> net = widenet.ShallowNetwork(2, 256, "tanh", seed=0)
    >>> report = widenet.check_assumptions(net, np.eye(2), [0.5, -0.5], samples=4, seed=0)
    >>> report.r > 0, report.admissible_lr > 0
    (True, True)
    """
    model = _network(model)
    # the data as the network sees it (in its dtype), then exactly in float64
    X = check.as_inputs(X, "X", model.dtype, model.input_dim)
    y = check.as_targets(y, "y", model.dtype, X.shape[0]).astype(np.float64)
    X = X.astype(np.float64)
    scale = check.loss_scale(loss, X.shape[0])
    samples = check.integer(samples, "samples", 1)
    path_steps = check.integer(path_steps, "path_steps", 0)
    lanczos_steps = check.integer(lanczos_steps, "lanczos_steps", 1)
    refinements = check.integer(refinements, "refinements", 0)
    rng = check.generator(seed)
    m = X.shape[0]
    _memory.require("check_assumptions", _assumption_blocks(model, m, path_steps, lanczos_steps),
                    "Pass fewer points or a narrower network.")
    network = _clone(model, np.float64)

    # (a) and f(w0): the chapter's quantities at w0
    eigenvalues = _solve.eigenvalues(network.ntk(X))
    lambda_min, lambda_max = float(eigenvalues[0]), float(eigenvalues[-1])
    regular = lambda_min > _solve.rank_tolerance(np.float64, m) * lambda_max
    f0 = network.loss(X, y, "sum")
    admissible_sum = 1.0 / (lambda_min + lambda_max)

    w0 = network.initial_params.to_vector()
    path = _gd_path(network, X, y, admissible_sum, path_steps)
    probe = _Probe(network, X, w0)
    J0 = probe.rows(w0)
    if not regular:
        # r is infinite: the measurements are taken on the ball the gradient-descent path explores
        radius = max([float(_norm(w - w0)) for w in path], default=0.0)
    else:
        radius = _radius(m, probe.U.value, f0, lambda_min, regular)

    # (b), U: rounds of r from U, then U on the ball of that radius
    radius, ascent_points = _refine(probe, path, J0, radius, refinements, samples, rng, f0, lambda_min, regular)
    # (b), L: Lanczos on the Hessians, by secants, on the final ball
    if radius > 0:
        _measure_lipschitz(probe, path + ascent_points, radius, lanczos_steps, rng)

    r = radius if regular else math.inf
    notes = []
    kink_distance, lipschitz_infinite = None, False
    if network.activation == "relu":
        notes.append(_RELU_NOTE)
        if network.depth > 1:
            notes.append(_DEEP_KINK_NOTE)
        kink_distance = _kink_distance(network, X)
        lipschitz_infinite = kink_distance < r
    if not regular:
        notes.append("the tangent Gram is singular (Assumption 11.12 (a) fails): r is infinite and U, L were "
                     "measured on the ball reached by the gradient-descent path.")
    U_lower = probe.U.value
    L_lower = 0.0 if probe.L is None else probe.L.value
    if regular and f0 > 0:
        c_bound = lambda_min ** 2 / (12.0 * m ** 1.5 * U_lower ** 2 * math.sqrt(f0))
    else:
        c_bound = math.inf if regular else 0.0
    condition_c = bool(regular and not lipschitz_infinite and L_lower <= c_bound)
    return AssumptionReport(
        activation=network.activation, parametrization=network.parametrization,
        width=min(network.widths), widths=tuple(network.widths),
        input_dim=network.input_dim, num_points=m, num_params=network.num_params, loss=loss, loss_scale=scale,
        lambda_min=lambda_min, lambda_max=lambda_max, condition_a_held=bool(regular), f0=f0,
        U_lower=U_lower, U_witness=_frozen(probe.U), U_w0=float(np.max(_norm(J0, axis=1))), r=r, L_lower=L_lower,
        L_witness=None if probe.L is None else _frozen(probe.L), lipschitz_infinite=bool(lipschitz_infinite),
        kink_distance=kink_distance, condition_c_bound=c_bound, condition_c_held=condition_c,
        admissible_lr_sum=admissible_sum, admissible_lr=admissible_sum / scale,
        evaluated_points=probe.evaluated, samples=samples, path_steps=path_steps, lanczos_steps=lanczos_steps,
        refinements=refinements, notes=tuple(notes))


def _refine(probe: _Probe, path: List[np.ndarray], J0: np.ndarray, radius: float, refinements: int, samples: int,
            rng: np.random.Generator, f0: float, lambda_min: float, regular: bool,
            ) -> Tuple[float, List[np.ndarray]]:
    """Run rounds of ``r`` from ``U``, then ``U`` on the ball of that radius; return ``r`` and the ascent points."""
    w0, m = probe.w0, J0.shape[0]
    ascent_points: List[np.ndarray] = []
    for _ in range(refinements + 1):
        if radius == 0:
            break
        for w in path:
            probe.rows(_into_ball(w0, w, radius))
        for k in range(samples):
            probe.rows(_ball_point(w0, rng.standard_normal(w0.size), radius * (k + 1) / samples))
        ascent_points = []
        eps = _SECANT_FRACTION * radius
        for i in range(m):
            direction = probe.hessian_direction(w0, i, _unit(J0[i]), eps)
            if np.any(direction):
                ascent_points.append(_ball_point(w0, direction, radius))
                probe.rows(ascent_points[-1])
        if regular:
            radius = max(radius, _radius(m, probe.U.value, f0, lambda_min, regular))
    return radius, ascent_points


def _measure_lipschitz(probe: _Probe, points: List[np.ndarray], radius: float, lanczos_steps: int,
                       rng: np.random.Generator) -> None:
    """Run Lanczos on the Hessians, by secants, from ``w0``, ``points`` and random points of the ball of ``radius``."""
    w0, m = probe.w0, probe.X.shape[0]
    eps = _SECANT_FRACTION * radius
    inner = (1.0 - _SECANT_FRACTION) * radius
    bases = [w0] + [_into_ball(w0, w, inner) for w in points]
    bases += [_ball_point(w0, rng.standard_normal(w0.size), inner * rng.uniform())
              for _ in range(_RANDOM_BASE_POINTS)]
    for base in bases:
        for i in range(m):
            _lanczos(probe, base, i, _unit(rng.standard_normal(w0.size)), eps, lanczos_steps)


def _frozen(witness: _Witness) -> _Witness:
    """Return the witness with read-only arrays."""
    for value in vars(witness).values():
        if isinstance(value, np.ndarray):
            value.setflags(write=False)
    return witness
