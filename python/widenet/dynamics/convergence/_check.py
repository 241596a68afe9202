"""The check of Theorem 11.13: :func:`check_convergence`."""

from __future__ import annotations

import math
from typing import List, Optional

import numpy as np
import numpy.typing as npt

from widenet import _memory, _solve
from widenet import _validation as check
from widenet._types import Backend, Loss, Seed
from widenet.dynamics.convergence._assumptions import _assumption_blocks, check_assumptions
from widenet.dynamics.convergence._probe import _clone, _network, _norm
from widenet.dynamics.convergence._reports import AssumptionReport, ConvergenceCheck
from widenet.network._kinds import AnyNetwork

# Rounding level of a comparison, per dtype of the computation: about 4500 unit roundoffs
# in float64 and 840 in float32, the base relative tolerances of the tests (rtol_for in
# tests/conftest.py).
_ROUNDING = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-4}


def _convergence_blocks(network: AnyNetwork, m: int, records: int, assumptions: bool) -> List[_memory.Block]:
    """Return what :func:`check_convergence` holds at its peak.

    That is :func:`check_assumptions` when it runs it; the two clones (four parameter
    vectors) with the training run's records, hidden layer and parameter copies; the bounds
    computed on the records (about a dozen arrays of them); a Jacobian for the output scales.
    """
    size = network.num_params
    clones: _memory.Block = ("the clones' parameters", (4, size), network.dtype, 1)
    training: List[_memory.Block] = [clones, ("records", (records, 2), np.float64, 1),
                ("hidden layers", (3, m, network.hidden_units), network.dtype, 1),
                ("parameters copied in and out, state, start and gradient", (6, size), network.dtype, 1)]
    bounds: List[_memory.Block] = [clones, ("records and the bounds on them", (records, 12), np.float64, 1)]
    scales: List[_memory.Block] = [clones, ("Jacobian", (m, size), np.float64, 1),
                                   ("hidden layers", (m, network.hidden_units), np.float64, 2)]
    first = _assumption_blocks(network, m, 100, 8) if assumptions else []
    return _memory.peak(first, training, bounds, scales)


def _output_scales(network: AnyNetwork, X: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Return ``|y_i| + |beta c| + |v| |J_v(x_i)|``: bounds of the magnitudes summed in ``Phi(x_i, w) - y_i``.

    By Cauchy-Schwarz on ``sum_j |v_j m a_j(x_i)|``: the readout's Jacobian block ``J_v`` is
    ``m a(x_i)``, the last layer's features times its factor; ``c`` (when the network has
    biases) is the last parameter, times the readout's bias factor ``beta``, and ``v`` the
    ``n_L`` before it.
    """
    network.params = network.parameters_from_vector(w)
    J = network.jacobian(X)
    bias = int(network.bias)
    readout = slice(w.size - bias - network.widths[-1], w.size - bias)
    c = abs(network.scales[-1][1] * w[-1]) if bias else 0.0
    return np.abs(y) + c + _norm(w[readout]) * _norm(J[:, readout], axis=1)


def check_convergence(model: AnyNetwork, X: npt.ArrayLike, y: npt.ArrayLike, steps: int,
                      lr: Optional[float] = None, loss: Loss = "sum", record_every: int = 1,
                      assumptions: Optional[AssumptionReport] = None, seed: Seed = None,
                      backend: Backend = "cpp") -> ConvergenceCheck:
    """Run gradient descent from ``w0`` and compare it with Theorem 11.13.

    Trains a copy of ``model`` (in its dtype, from ``model.initial_params``; the caller's
    network is not modified) with ``w_{k+1} = w_k - h grad(s f)(w_k)`` (11.4.5) and compares
    every recorded step with (11.4.6b) ``s f(w_k) <= (1 - h s lambda_min)^{2k} s f(w0)`` and
    (11.4.6a) ``|w_k - w0| <= r``.

    Parameters
    ----------
    model : ShallowNetwork or Network
    X : array_like, shape (m, d)
    y : array_like, shape (m,) or (m, 1)
    steps : int
        Number of gradient-descent steps (>= 0).
    lr : float, optional
        The step ``h`` on the objective ``s f``. Default: the admissible step (11.4.4) for
        that scaling, ``1 / (s (lambda_min + lambda_max))``.
    loss : {"sum", "mean", "half_sum"}
        The scaling ``s`` of the objective (1, 1/m, 1/2). GD with step ``h`` on ``s f`` is GD
        with step ``h s`` on the chapter's ``f``, and the bounds are evaluated with that step.
    record_every : int, default 1
        Record every this many steps (and the last).
    assumptions : AssumptionReport, optional
        From :func:`check_assumptions` for the same network and data; computed (with
        ``seed``) when not given.
    seed : None, int or numpy.random.Generator
        Passed to :func:`check_assumptions` when ``assumptions`` is None.
    backend : {"cpp", "numpy"}
        Which implementation trains.

    Returns
    -------
    ConvergenceCheck

    Notes
    -----
    The comparisons allow rounding only (:attr:`ConvergenceCheck.rounding`), never a
    tolerance factor. ``r`` uses the report's U estimate, a lower bound of ``U``: the bound
    checked is at least as strict as the theorem's.

    Examples
    --------
    >>> import numpy as np, widenet
    >>> net = widenet.ShallowNetwork(2, 256, "tanh", seed=0)
    >>> check = widenet.check_convergence(net, np.eye(2), [0.5, -0.5], steps=50, seed=0)
    >>> check.loss_bound_held, check.distance_bound_held
    (True, True)
    """
    model = _network(model)
    X = check.as_inputs(X, "X", model.dtype, model.input_dim)
    y = check.as_targets(y, "y", model.dtype, X.shape[0])
    steps = check.integer(steps, "steps", 0)
    scale = check.loss_scale(loss, X.shape[0])
    record_every = check.integer(record_every, "record_every", 1)
    check.backend(backend)
    m = X.shape[0]
    _memory.require("check_convergence", _convergence_blocks(model, m, _memory.recorded_count(steps, record_every),
                                                             assumptions is None),
                    "Pass fewer points, a narrower network or a larger record_every.")
    probe = _clone(model, np.float64)
    X64, y64 = X.astype(np.float64), y.astype(np.float64)
    if assumptions is None:
        assumptions = check_assumptions(model, X, y, loss=loss, seed=seed)
    elif not isinstance(assumptions, AssumptionReport):
        raise TypeError(f"assumptions: expected an AssumptionReport from check_assumptions, "
                        f"got {type(assumptions).__name__}")
    else:
        _check_report(assumptions, probe, X64, y64)
    lr = assumptions.admissible_lr_sum / scale if lr is None else check.positive_real(lr, "lr")

    network = _clone(model, model.dtype)
    # a step beyond the admissible one may diverge: the bounds then fail, which is the report
    result = network.train(X, y, lr, steps, record_every=record_every, loss=loss, backend=backend,
                           on_divergence="return")

    rounding = _ROUNDING[model.dtype]
    h = lr * scale
    lambda_min, lambda_max = assumptions.lambda_min, assumptions.lambda_max
    contraction = abs(1.0 - h * lambda_min)
    k = result.steps.astype(np.float64)
    residual0 = math.sqrt(scale * assumptions.f0)
    w0 = model.initial_params.to_vector().astype(np.float64)
    final = network.params.to_vector().astype(np.float64)
    scales = _output_scales(probe, X64, y64, w0)
    if np.all(np.isfinite(final)):
        scales = np.maximum(scales, _output_scales(probe, X64, y64, final))
    # Slack, all of it rounding: relative on the bound; the first-order effect on
    # contraction^k of the rounding of lambda_min (eigvalsh: about m eps lambda_max, eps of the
    # run's dtype); and the rounding floor of the computed residuals.
    spread = h * m * np.finfo(model.dtype).eps * lambda_max
    floor = rounding * math.sqrt(scale) * float(_norm(scales))
    with np.errstate(over="ignore", invalid="ignore"):  # a step beyond (11.4.4) may give inf bounds
        power = contraction ** k
        power_slack = k * spread * (contraction + spread) ** np.maximum(k - 1.0, 0.0)
        allowed = residual0 * (power * (1.0 + rounding) + power_slack) + floor
        loss_holds = np.sqrt(result.losses) <= allowed
        loss_bounds = scale * assumptions.f0 * contraction ** (2.0 * k)
    r = assumptions.r
    distance_holds = result.distances <= r + rounding * (r + float(_norm(w0)))
    admissible = h <= assumptions.admissible_lr_sum * (1.0 + _ROUNDING[np.dtype(np.float64)])
    return ConvergenceCheck(
        steps=_readonly(result.steps), losses=_readonly(result.losses), loss_bounds=_readonly(loss_bounds),
        loss_bound_holds=_readonly(loss_holds), distances=_readonly(result.distances), distance_bound=r,
        distance_bound_holds=_readonly(distance_holds), loss_bound_held=bool(loss_holds.all()),
        distance_bound_held=bool(distance_holds.all()), lr=lr, chapter_lr=h, lr_admissible=bool(admissible),
        loss=loss, loss_scale=scale, dtype=model.dtype, rounding=rounding,
        assumption_c_held=assumptions.condition_c_held, assumptions=assumptions)


def _readonly(array: np.ndarray) -> np.ndarray:
    array = np.array(array, copy=True)
    array.setflags(write=False)
    return array


def _check_report(report: AssumptionReport, network: AnyNetwork, X: np.ndarray, y: np.ndarray) -> None:
    """Check that the report is about this network's w0 and this data.

    Its f(w0) and eigenvalues are recomputed (as check_assumptions computes them) and must
    agree to rounding.
    """
    if (report.num_points, report.num_params, report.activation, report.parametrization) != (
            X.shape[0], network.num_params, network.activation, network.parametrization):
        raise ValueError("assumptions: the report is for a different network or data "
                         f"(m = {report.num_points}, P = {report.num_params}, {report.activation}, "
                         f"{report.parametrization}; expected m = {X.shape[0]}, P = {network.num_params}, "
                         f"{network.activation}, {network.parametrization})")
    eigenvalues = _solve.eigenvalues(network.ntk(X))
    f0 = network.loss(X, y, "sum")
    tolerance = _ROUNDING[np.dtype(np.float64)]
    if not (math.isclose(report.f0, f0, rel_tol=tolerance, abs_tol=tolerance * float(np.dot(y, y)))
            and math.isclose(report.lambda_max, eigenvalues[-1], rel_tol=tolerance)
            and math.isclose(report.lambda_min, eigenvalues[0], rel_tol=0.0,
                             abs_tol=tolerance * float(eigenvalues[-1]))):
        raise ValueError("assumptions: the report is for a different network or data "
                         f"(f(w0) = {report.f0:.6g}, lambda_min = {report.lambda_min:.6g}; this network and data "
                         f"give {f0:.6g}, {float(eigenvalues[0]):.6g})")
