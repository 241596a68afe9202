"""Theorem 11.3 and Remark 11.4: where gradient descent on least squares goes, and how fast.

Linear case. For an underdetermined ``A`` (``m < d`` rows, Gaussian entries) GD on
``f(w) = |A w - y|^2`` (11.1.5) from a nonzero ``w0`` with ``h = 1 / (2 s_max(A)^2)``
(:func:`widenet.least_squares.max_step`) converges to ``w* + P_ker(A) w0``: the part of
``w0`` orthogonal to the row space survives, so the limit is the minimum-norm solution
``w* = A^+ y`` only when ``w0`` lies in the row space. The error obeys
``w_k - w_lim = (I - 2 h A^T A)^k (w0 - w_lim)`` with ``w0 - w_lim`` in the row space, so it
falls geometrically at the rate ``max_i |1 - 2 h s_i^2|`` over the nonzero singular
values; the rate is measured by a fit of ``log |w_k - w_lim|`` against ``k``.

Kernel case. GD on the feature model ``Phi(x, w) = <phi(x), w>`` (11.2.1) with the explicit
polynomial feature map (Exercise 11.35, ``<phi(x), phi(z)> = (1 + x z)^r``) has more
features than points; by Remark 11.4 it converges to the kernel least-squares estimator
(11.2.9)-(11.2.10) plus ``<phi(x), P_ker w0>``, which vanishes on the training points
(the set (11.2.4)) but not between them. The estimator is
:class:`widenet.KernelLeastSquares` with the polynomial kernel; the GD predictions come
from :func:`widenet.linearize` of a :class:`widenet.FeatureModel` (exact for a model that
is linear in its parameters) and, for the parameters, from
:func:`widenet.least_squares.gradient_descent` on the feature matrix.
"""

from __future__ import annotations

import math

import numpy as np

from ..estimators import KernelLeastSquares
from ..feature_maps import polynomial_features
from ..least_squares import gradient_descent, kernel_projector, max_step, min_norm_solution, row_space_projector
from ..linearization import linearize
from ..models import FeatureModel
from ._base import Claim, Experiment, ExperimentResult, Progress

NAME = "least-squares"
EPS = float(np.finfo(np.float64).eps)

# The kernel case: four points on the line, the polynomial kernel of degree 6 (7 features).
KERNEL_X = (-0.9, -0.3, 0.4, 0.8)
KERNEL_DEGREE = 6
KERNEL_GRID = (-1.1, 1.1)
FIT_WINDOW = (1e-3, 1e-10)  # the fit of the rate uses |w_k - w_lim| / |w_0 - w_lim| in this range
# Relative agreement asked of 1 - rate. The fitted points stay 100 times above the rounding
# floor, so each log is off by at most ~1%, at the bottom of a window of hundreds of steps
# spanning ~17 in log: the slope can move by ~1e-3 of itself, no more.
RATE_TOLERANCE = 1e-3


def feature_map(X):
    """The explicit feature map of the polynomial kernel ``(1 + x z)^6`` (Exercise 11.35)."""
    return polynomial_features(X, KERNEL_DEGREE)


def steps_to(rate: float, reduction: float = 1e-15) -> int:
    """The number of steps after which ``rate^k`` is below ``reduction``."""
    return int(math.ceil(math.log(reduction) / math.log(rate))) if 0.0 < rate < 1.0 else 1


def fit_rate(steps: np.ndarray, distances: np.ndarray, window: tuple = FIT_WINDOW, floor: float = 0.0) -> dict:
    """The per-step factor of a geometric decay: a least-squares line through
    ``(k, log d_k)`` over the steps where ``d_k / d_0`` lies in ``window`` (past the first
    transient) and ``d_k`` is above ``100 floor`` (the rounding floor)."""
    distances = np.abs(distances)
    relative = distances / distances[0]
    selected = (relative <= window[0]) & (relative >= window[1]) & (distances > 100.0 * floor)
    if np.count_nonzero(selected) < 3:  # nothing to fit: the claim that needs it fails
        return {"rate": None, "intercept": None, "first_step": None, "last_step": None,
                "points": int(np.count_nonzero(selected))}
    k, logs = steps[selected].astype(float), np.log(distances[selected])
    slope, intercept = np.polyfit(k, logs, 1)
    return {"rate": float(math.exp(slope)), "intercept": float(intercept), "first_step": int(k[0]),
            "last_step": int(k[-1]), "points": int(k.size)}


def _linear_case(m: int, d: int, rng: np.random.Generator, progress: Progress) -> tuple:
    A = rng.standard_normal((m, d)) / math.sqrt(d)
    y = rng.standard_normal(m)
    w0 = rng.standard_normal(d)
    lr = max_step(A)
    _, singular, right = np.linalg.svd(A, full_matrices=False)
    rate = float(np.max(np.abs(1.0 - 2.0 * lr * singular**2)))
    steps = steps_to(rate)
    runs = {}
    for name, start in progress.steps((("w0", w0), ("row_space_w0", row_space_projector(A) @ w0)), 2,
                                      "least-squares GD"):
        runs[name] = gradient_descent(A, y, start, lr, steps)
    w_star = min_norm_solution(A, y)
    survivor = kernel_projector(A) @ w0
    generic, in_row_space = runs["w0"], runs["row_space_w0"]
    # Rounding: each step adds an error of a few eps |w| per coordinate.
    floor = 64.0 * EPS * math.sqrt(d) * float(max(np.linalg.norm(w0), np.linalg.norm(generic.limit)))
    # The error along the slowest right singular vector (the smallest nonzero s_i) decays
    # by exactly max_i |1 - 2 h s_i^2| per step; the whole distance approaches that rate
    # from below, once the faster modes have died out (log d_k is convex in k).
    slowest = (generic.iterates - generic.limit) @ right[np.argmax(np.abs(1.0 - 2.0 * lr * singular**2))]
    fit_slowest = fit_rate(generic.steps, slowest, floor=floor)
    fit = fit_rate(generic.steps, generic.distances, floor=floor)
    bound = rate ** generic.steps.astype(float) * generic.distances[0] + floor
    numbers = {
        "m": m, "d": d, "lr": lr, "max_step": generic.max_step, "steps": steps,
        "singular_values": singular,
        "predicted_rate": rate, "library_rate": generic.rate,
        "fitted_rate_slowest_direction": fit_slowest["rate"], "fit_slowest_direction": fit_slowest,
        "rate_relative_error": (None if fit_slowest["rate"] is None
                                else abs(fit_slowest["rate"] - rate) / (1.0 - rate)),
        "fitted_rate_distance": fit["rate"], "fit_distance": fit,
        "slowest_component_initial": float(abs(slowest[0])),
        "initial_distance": float(generic.distances[0]), "final_distance": float(generic.distances[-1]),
        "rounding_floor": floor,
        "bound_violations": int(np.count_nonzero(generic.distances > bound)),
        "distance_to_min_norm": float(np.linalg.norm(generic.w - w_star)),
        "kernel_part_norm": float(np.linalg.norm(survivor)),
        "norm_limit": float(np.linalg.norm(generic.w)), "norm_min_norm": float(np.linalg.norm(w_star)),
        "row_space_start_distance_to_min_norm": float(np.linalg.norm(in_row_space.w - w_star)),
    }
    data = {"steps": generic.steps, "distances": generic.distances, "slowest_component": np.abs(slowest),
            "distances_row_space_start": in_row_space.distances}
    return numbers, data


def _kernel_case(points: int, rng: np.random.Generator) -> tuple:
    X = np.array(KERNEL_X)[:, None]
    y = np.cos(2.0 * X[:, 0]) + 0.3 * X[:, 0]
    F = feature_map(X)
    w0 = rng.standard_normal(F.shape[1])
    lr = max_step(F)
    singular = np.linalg.svd(F, compute_uv=False)
    rate = float(np.max(np.abs(1.0 - 2.0 * lr * singular**2)))
    steps = steps_to(rate)
    grid = np.linspace(*KERNEL_GRID, points)[:, None]
    phi_grid = feature_map(grid)

    linearized = linearize(FeatureModel(feature_map, w0))
    record_every = max(1, steps // 200)
    training = linearized.train(X, y, lr=lr, steps=steps, X_test=grid, record_every=record_every)
    parameters = gradient_descent(F, y, w0, lr, steps, record_every=steps)
    estimator = KernelLeastSquares(kernel="polynomial", degree=KERNEL_DEGREE, gamma=1.0, coef0=1.0).fit(X, y)
    kls = estimator.predict(grid)
    initial_part = phi_grid @ (kernel_projector(F) @ w0)  # <phi(x), P_ker w0>
    limit = kls + initial_part
    gaps = np.max(np.abs(training.test_outputs - limit), axis=1)
    from_zero = linearize(FeatureModel(feature_map, np.zeros_like(w0))).train(X, y, lr=lr, steps=steps, X_test=grid,
                                                                              record_every=steps)
    scale = float(np.max(np.abs(limit)))
    # A least-squares solve loses about cond(F) eps relative accuracy.
    floor = 64.0 * EPS * float(singular[0] / singular[-1]) * scale
    numbers = {
        "points": X.shape[0], "features": F.shape[1], "degree": KERNEL_DEGREE, "lr": lr, "steps": steps,
        "predicted_rate": rate, "fitted_rate": fit_rate(training.steps, gaps, floor=floor)["rate"],
        "final_gap_to_remark_11_4": float(gaps[-1]), "initial_gap": float(gaps[0]), "rounding_floor": floor,
        "gap_from_zero_to_kernel_estimator": float(np.max(np.abs(from_zero.test_outputs[-1] - kls))),
        "initial_part_max_on_grid": float(np.max(np.abs(initial_part))),
        "initial_part_max_on_training_points": float(np.max(np.abs(F @ (kernel_projector(F) @ w0)))),
        "parameters_gap_to_predicted_limit": float(np.max(np.abs(parameters.w - parameters.limit))),
        "gd_predictions_vs_parameter_gd": float(np.max(np.abs(phi_grid @ parameters.w - training.test_outputs[-1]))),
        "training_residual": float(np.max(np.abs(training.train_outputs[-1] - y))),
    }
    data = {"kernel_X": X[:, 0], "kernel_y": y, "kernel_grid": grid[:, 0], "kernel_estimator": kls,
            "gd_limit_prediction": training.test_outputs[-1], "gd_from_zero_prediction": from_zero.test_outputs[-1],
            "initial_part": initial_part, "kernel_steps": training.steps, "kernel_gaps": gaps}
    return numbers, data


def _format(value, spec: str) -> str:
    return "n/a (too few steps to fit)" if value is None else format(value, spec)


def run(quick: bool = False, seed: int = 0, progress: Progress = Progress(False)) -> ExperimentResult:
    """GD on an underdetermined least-squares problem and on a feature model.

    Parameters
    ----------
    quick : bool
        ``A`` of shape 20 x 50 and 100 grid points (instead of 40 x 120 and 400).
    seed : int
        Seed of ``A``, ``y`` and the initial points ``w0``.
    progress : Progress

    Returns
    -------
    ExperimentResult
    """
    m, d, points = (20, 50, 100) if quick else (40, 120, 400)
    rng = np.random.default_rng(seed)
    linear, linear_data = _linear_case(m, d, rng, progress)
    kernel, kernel_data = _kernel_case(points, rng)

    final_bound = linear["predicted_rate"] ** linear["steps"] * linear["initial_distance"] + linear["rounding_floor"]
    kernel_bound = kernel["predicted_rate"] ** kernel["steps"] * kernel["initial_gap"] + kernel["rounding_floor"]
    claims = [
        Claim(
            reference="Theorem 11.3",
            statement=(f"GD on |Aw - y|^2 with A of shape {m} x {d} (Gaussian), w0 != 0 and h = 1/(2 s_max^2), "
                       f"run for {linear['steps']} steps, converges to w* + P_ker(A) w0."),
            predicted=f"|w_k - (w* + P_ker w0)| <= rate^k |w_0 - w_lim| + rounding = {final_bound:.1e}",
            measured=(f"|w_k - (w* + P_ker w0)| = {linear['final_distance']:.1e} "
                      f"(from {linear['initial_distance']:.2f})"),
            holds=bool(linear["final_distance"] <= final_bound),
        ),
        Claim(
            reference="Theorem 11.3 (rate)",
            statement=("The distance to the limit falls geometrically: never above rate^k d_0 with rate = "
                       "max_i |1 - 2 h s_i^2| over the nonzero singular values, and along the slowest singular "
                       "direction at exactly that rate (fit of log |error component| over the steps where it is "
                       f"{FIT_WINDOW[0]:g} to {FIT_WINDOW[1]:g} of its start; 1 - rate to {RATE_TOLERANCE:g} "
                       "relative). "
                       "The whole distance approaches the rate from below as the faster modes die out."),
            predicted=f"rate {linear['predicted_rate']:.6f}; no step above rate^k d_0",
            measured=(f"fitted rate {_format(linear['fitted_rate_slowest_direction'], '.6f')} (1 - rate off by "
                      f"{_format(linear['rate_relative_error'], '.1e')}); the whole distance, fitted over its own "
                      f"window, {_format(linear['fitted_rate_distance'], '.6f')}; {linear['bound_violations']} "
                      "steps above the bound"),
            holds=bool(linear["rate_relative_error"] is not None and linear["rate_relative_error"] <= RATE_TOLERANCE
                       and linear["bound_violations"] == 0),
        ),
        Claim(
            reference="Theorem 11.3, Proposition 11.2",
            statement=("The limit is not the minimum-norm solution w* = A^+ y: the part P_ker(A) w0 of the start "
                       "survives, |w_lim - w*| = |P_ker w0|. Started in the row space (P_row w0), GD reaches w*."),
            predicted=f"|w_lim - w*| = |P_ker w0| = {linear['kernel_part_norm']:.4f}; from P_row w0: |w_lim - w*| = 0",
            measured=(f"|w_k - w*| = {linear['distance_to_min_norm']:.4f} (|w_k| = {linear['norm_limit']:.3f} > "
                      f"|w*| = {linear['norm_min_norm']:.3f}); from P_row w0: "
                      f"{linear['row_space_start_distance_to_min_norm']:.1e}"),
            holds=bool(abs(linear["distance_to_min_norm"] - linear["kernel_part_norm"]) <= final_bound
                       and linear["row_space_start_distance_to_min_norm"] <= final_bound
                       and linear["kernel_part_norm"] > final_bound),
        ),
        Claim(
            reference="Remark 11.4, (11.2.3)-(11.2.4)",
            statement=(f"GD on the feature model <phi(x), w> with the polynomial features of degree {KERNEL_DEGREE} "
                       f"({kernel['features']} features, {kernel['points']} points) converges to the kernel "
                       "least-squares estimator plus <phi(x), P_ker w0>; from w0 = 0 to the estimator itself."),
            predicted=f"max over the grid |Phi(x, w_k) - (KLS(x) + <phi(x), P w0>)| <= {kernel_bound:.1e}",
            measured=(f"{kernel['final_gap_to_remark_11_4']:.1e} (the w0 term reaches "
                      f"{kernel['initial_part_max_on_grid']:.2f} between the points, "
                      f"{kernel['initial_part_max_on_training_points']:.1e} at them); from w0 = 0: "
                      f"{kernel['gap_from_zero_to_kernel_estimator']:.1e}"),
            holds=bool(kernel["final_gap_to_remark_11_4"] <= kernel_bound
                       and kernel["gap_from_zero_to_kernel_estimator"] <= kernel_bound),
        ),
    ]
    settings = {"linear_shape": [m, d], "seed": seed, "quick": quick, "step": "max_step = 1/(2 s_max^2)",
                "fit_window": list(FIT_WINDOW), "rate_tolerance": RATE_TOLERANCE, "kernel_X": list(KERNEL_X),
                "kernel_targets": "cos(2x) + 0.3x", "kernel": f"(1 + x z)^{KERNEL_DEGREE}",
                "kernel_grid": [*KERNEL_GRID, points]}
    return ExperimentResult(name=NAME, settings=settings, numbers={"linear": linear, "kernel": kernel},
                            claims=claims, data={**linear_data, **kernel_data})


def plot(result: ExperimentResult, directory) -> list:
    """Three panels: ``|w_k - w_lim|`` against ``k`` (log scale) with the predicted rate
    line for the linear case; the same in function space for the kernel case; the kernel
    case's predictions (Remark 11.4)."""
    from ._plotting import figure, save

    data, numbers = result.data, result.numbers
    linear, kernel = numbers["linear"], numbers["kernel"]
    fig, axes = figure(columns=3, width=4.6, height=4.2)
    ax = axes[0][0]
    steps = np.asarray(data["steps"], dtype=float)
    ax.semilogy(steps, data["distances"], color="tab:blue", linewidth=2, label="|w_k - w_lim|, start w0")
    ax.semilogy(steps, data["slowest_component"], color="tab:purple", linewidth=1.2,
                label="its slowest-direction component")
    ax.semilogy(steps, data["distances_row_space_start"], "--", color="tab:cyan", linewidth=1.2,
                label="|w_k - w*|, start P_row w0")
    ax.semilogy(steps, linear["predicted_rate"] ** steps * linear["initial_distance"], ":", color="black",
                linewidth=1.5, label=f"rate^k d_0, rate = {linear['predicted_rate']:.4f}")
    ax.set_ylim(1e-17, None)
    ax.set_xlabel("GD step k")
    ax.set_ylabel("distance to the predicted limit")
    ax.set_title(f"Theorem 11.3: A is {linear['m']} x {linear['d']}, h = 1/(2 s_max^2)", fontsize=10)
    ax.legend(fontsize=8, loc="upper right")

    ax = axes[0][1]
    kernel_steps = np.asarray(data["kernel_steps"], dtype=float)
    gaps = np.asarray(data["kernel_gaps"])
    ax.semilogy(kernel_steps, gaps, color="tab:orange", linewidth=2, label="max_x |Phi(x, w_k) - limit(x)|")
    ax.semilogy(kernel_steps, kernel["predicted_rate"] ** kernel_steps * gaps[0], ":", color="black",
                linewidth=1.5, label=f"rate^k, rate = {kernel['predicted_rate']:.4f}")
    ax.set_ylim(1e-17, None)
    ax.set_xlabel("GD step k")
    ax.set_ylabel("distance to KLS + <phi(x), P_ker w0>")
    ax.set_title("feature model: GD in function space", fontsize=10)
    ax.legend(fontsize=8, loc="upper right")

    ax = axes[0][2]
    grid = np.asarray(data["kernel_grid"])
    ax.plot(grid, data["kernel_estimator"], color="black", linewidth=2, label="kernel least squares (KLS)")
    ax.plot(grid, data["gd_limit_prediction"], "--", color="tab:orange", linewidth=2, label="GD from w0, limit")
    ax.plot(grid, np.asarray(data["kernel_estimator"]) + np.asarray(data["initial_part"]), ":", color="tab:blue",
            linewidth=2, label="KLS + <phi(x), P_ker w0>")
    ax.plot(grid, data["gd_from_zero_prediction"], "-.", color="tab:green", linewidth=1.2, label="GD from 0, limit")
    ax.plot(data["kernel_X"], data["kernel_y"], "o", color="red", markersize=7, zorder=5, label="data")
    ax.set_xlabel("x")
    ax.set_ylabel("prediction")
    ax.set_title(f"Remark 11.4: polynomial features, degree {kernel['degree']}", fontsize=10)
    ax.legend(fontsize=8, loc="lower center")
    return [save(fig, directory, "least_squares")]


EXPERIMENT = Experiment(
    name=NAME,
    title="Gradient descent on least squares: the limit w* + P_ker w0 and its geometric rate",
    reference="Theorem 11.3, Remark 11.4",
    run=run,
    plot=plot,
)
