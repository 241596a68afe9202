"""Theorem 11.13 checked on a problem where its hypotheses are certified."""

from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np

from widenet.app.experiments._base import Perturbation, factor_of
from widenet.app.experiments._statistics import FloatArray
from widenet.app.experiments.training._runs import _gram, _run_rate
from widenet.app.experiments.training._setup import (
    _CHECK_STREAM,
    ACTIVATION,
    CHECK_POINTS,
    CHECK_STEP_FRACTION,
    CHECK_STEPS,
    CHECK_TARGETS,
    CHECK_WIDTH,
    ROUNDING,
    TANH_CURVATURE,
    TANH_SLOPE,
    Estimates,
)
from widenet.dynamics.convergence import check_assumptions, check_convergence
from widenet.network.shallow import ShallowNetwork


def certified_constants(network: ShallowNetwork, X: FloatArray, y: FloatArray) -> dict[str, Any]:
    """Return upper bounds of ``U`` and ``L`` of Assumption 11.12 (b) on ``B_r(w0)``, and whether (c) holds.

    For a tanh network in LeCun parametrization; with them (c) is proved, where
    :func:`widenet.check_assumptions` finds only lower bounds.

    With ``x~ = (x, 1)``, ``z = U x + b`` and ``|w - w0| <= r``, (11.5.2) gives
    ``|grad Phi(x, w)|^2 = |sigma(z)|^2 + sum_j v_j^2 sigma'(z_j)^2 |x~|^2 + 1``, where
    ``|sigma(z)| <= |sigma(z0)| + sup|sigma'| r |x~|`` and ``|v| <= |v0| + r``: that is ``U(r)``.
    The Hessian of ``Phi(x, .)`` is block-diagonal over the hidden units, the block of unit
    ``j`` on ``(u_j, b_j, v_j)`` being ``[[v_j sigma''(z_j) x~ x~^T, sigma'(z_j) x~], [sigma'(z_j) x~^T, 0]]``
    with norm ``(a + sqrt(a^2 + 4 b^2)) / 2``, ``a = |v_j sigma''| |x~|^2``, ``b = |sigma'| |x~|``;
    with ``|v_j| <= max |v0_j| + r`` that bounds the Lipschitz constant ``L(r)`` of the gradient
    on the (convex) ball. ``r = 2 sqrt(m) U sqrt(f(w0)) / lambda_min`` and ``U`` are made
    consistent by iterating ``U <- U(r(U))`` upwards to a fixed point (checked).
    """
    if network.activation != ACTIVATION or network.parametrization != "lecun":
        raise ValueError(f"network: expected a {ACTIVATION} network in LeCun parametrization, got "
                         f"{network.activation}, {network.parametrization}")
    U0, b0, v0, _ = network.initial_params.arrays()
    m = X.shape[0]
    sigma_norms = np.linalg.norm(np.tanh(X @ U0.T + b0), axis=1)
    extended = np.sqrt(1.0 + np.sum(X * X, axis=1))  # |x~_i|
    v_norm, v_largest = float(np.linalg.norm(v0)), float(np.max(np.abs(v0)))
    eigenvalues = np.linalg.eigvalsh(network.ntk(X))
    lambda_min = float(eigenvalues[0]) * (1.0 - ROUNDING)  # eigvalsh's rounding, on the safe side
    f0 = network.loss(X, y) * (1.0 + ROUNDING)

    def gradient_bound(radius: float) -> float:
        return float(np.max(np.sqrt((sigma_norms + TANH_SLOPE * radius * extended) ** 2
                                    + (TANH_SLOPE * (v_norm + radius) * extended) ** 2 + 1.0)))

    def radius_of(bound: float) -> float:
        return 2.0 * math.sqrt(m) * bound * math.sqrt(f0) / lambda_min

    U, consistent = gradient_bound(0.0), False
    ceiling = 1e6 * U  # U(r(U)) grows at most linearly in U: past this it outgrows every U
    for _ in range(200):
        wider = gradient_bound(radius_of(U))
        if wider <= U:
            consistent = True
            break
        if wider > ceiling:
            break
        U = wider
    if not consistent:  # U(r(U)) outgrows U: no radius is consistent, nothing is certified
        return {"U": math.inf, "L": math.inf, "r": math.inf, "bound": 0.0, "ratio": math.inf,
                "lambda_min": float(eigenvalues[0]), "lambda_max": float(eigenvalues[-1]), "f0": network.loss(X, y),
                "consistent": False, "held": False}
    U *= 1.0 + 1e-9  # strictly above the fixed point
    consistent = gradient_bound(radius_of(U)) <= U
    r = radius_of(U)
    a = (v_largest + r) * TANH_CURVATURE * extended ** 2
    b = TANH_SLOPE * extended
    L = float(np.max((a + np.sqrt(a * a + 4.0 * b * b)) / 2.0))
    bound = lambda_min ** 2 / (12.0 * m ** 1.5 * U ** 2 * math.sqrt(f0))
    return {"U": U, "L": L, "r": r, "bound": bound, "ratio": L / bound, "lambda_min": float(eigenvalues[0]),
            "lambda_max": float(eigenvalues[-1]), "f0": network.loss(X, y), "consistent": bool(consistent),
            "held": bool(consistent and L <= bound)}


def check_network(seed: int) -> ShallowNetwork:
    """Return the network of the Theorem 11.13 run for the base seed ``seed``."""
    return ShallowNetwork(3, CHECK_WIDTH, ACTIVATION, "lecun", seed=np.random.SeedSequence([_CHECK_STREAM, seed]))


def _convergence_check(seed: int, perturbation: Optional[Perturbation], estimates: Estimates) -> dict[str, Any]:
    """Check Theorem 11.13 on the well-posed problem.

    Returns the certificate of (c), check_assumptions' estimates, check_convergence's run at
    an admissible step, and the sharp rate.
    """
    X, y = CHECK_POINTS, CHECK_TARGETS
    network = check_network(seed)
    certificate = certified_constants(network, X, y)
    report = check_assumptions(network, X, y, seed=np.random.SeedSequence([_CHECK_STREAM, seed, 1]), **estimates)
    lr = CHECK_STEP_FRACTION * report.admissible_lr_sum
    check = check_convergence(network, X, y, steps=CHECK_STEPS, lr=lr * factor_of(perturbation, "gradient"),
                              assumptions=report)
    # the same run once more, on a network of our own, for its outputs and the Gram at its last step
    trained = check_network(seed)
    run = trained.train(X, y, check.lr, CHECK_STEPS, X_test=X, loss="sum", on_divergence="return")
    theta = np.array([report.lambda_min, report.lambda_max])
    rate = _run_rate(run, y, lr * factor_of(perturbation, "step"), theta, _gram(trained, X))
    return {
        "lambda_min": report.lambda_min, "lambda_max": report.lambda_max, "f0": report.f0,
        "U_lower": report.U_lower, "L_lower": report.L_lower, "r": report.r,
        "condition_c_bound": report.condition_c_bound, "condition_c_held": bool(report.condition_c_held),
        "certificate": certificate,
        "lr": check.lr, "lr_admissible": bool(check.lr_admissible),
        "loss_bound_held": bool(check.loss_bound_held), "distance_bound_held": bool(check.distance_bound_held),
        "largest_distance": float(np.max(check.distances)), "final_loss": float(check.losses[-1]),
        "bound_factor": 1.0 - lr * report.lambda_min, "reading": check.reading(), **rate,
        "steps": check.steps, "losses": check.losses, "loss_bounds": check.loss_bounds,
        "distances": check.distances,
    }
