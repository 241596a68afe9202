"""The experiment: the loss curves of wide networks against the rate bound and the linearized rate."""

from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np

from widenet.app.experiments._base import SILENT, ExperimentResult, Perturbation, Progress
from widenet.app.experiments.training._certificate import _convergence_check
from widenet.app.experiments.training._claims import _correction, _theorem_11_13_claims, _theorem_11_23_claims
from widenet.app.experiments.training._condition_c import condition_c_table
from widenet.app.experiments.training._runs import _train
from widenet.app.experiments.training._setup import (
    ACTIVATION,
    CHECK_ANGLES,
    CHECK_ESTIMATES,
    CHECK_NORM,
    CHECK_STEPS,
    CHECK_WIDTH,
    EXPERIMENT_NAME,
    FLOOR,
    INPUT_DIM,
    POINTS,
    QUICK_ESTIMATES,
    QUICK_SEEDS,
    QUICK_WIDTHS,
    ROUNDING,
    SEEDS,
    STEP_FRACTION,
    STEPS,
    TABLE_ESTIMATES,
    WIDTHS,
    training_data,
)
from widenet.kernels import limit_kernel


def run(quick: bool = False, seed: int = 0, progress: Progress = SILENT,
        perturbation: Optional[Perturbation] = None) -> ExperimentResult:
    """Measure the loss curves of wide LeCun networks against Theorem 11.23's bound and the linearized rate.

    Also one run checked against Theorem 11.13 where its hypotheses are certified, and the
    table of Assumption 11.12 (c) on the experiments' data (see the module docstring).

    Parameters
    ----------
    quick : bool
        Widths 64, 256, 1024 with 2 networks each instead of 64 .. 16384 with 3.
    seed : int
        Base seed of the data and of every network.
    progress : Progress
    perturbation : Perturbation, optional
        A negative control: ``"gradient"`` scales the gradient GD follows (GD with the
        gradient times 2 is GD with the step times 2, bit for bit), ``"step"`` the step the
        sharp predictions assume.
    """
    widths = QUICK_WIDTHS if quick else WIDTHS
    seeds = range(QUICK_SEEDS if quick else SEEDS)
    X, y = training_data(seed)
    eigenvalues = np.linalg.eigvalsh(limit_kernel(X, activation=ACTIVATION, parametrization="lecun", kind="ntk"))
    lmin, lmax = float(eigenvalues[0]), float(eigenvalues[-1])
    constant = STEP_FRACTION * 2.0 / (lmin + 4.0 * lmax)
    bound_factor = 1.0 - constant * lmin / 2.0  # 1 - h n lmin_LC / 2, the same at every width
    printed_factor = 1.0 - constant / (2.0 * lmin)  # the chapter's misprint, 1 - h n / (2 lmin_LC)

    cells = [(width, index) for width in widths for index in seeds]
    runs = [_train(X, y, width, index, seed, constant, perturbation)
            for width, index in progress.steps(cells, total=len(cells), description="training")]
    summary = _summary(runs, constant, bound_factor)
    check = _convergence_check(seed, perturbation, QUICK_ESTIMATES if quick else CHECK_ESTIMATES)
    table = condition_c_table(seed, widths, QUICK_ESTIMATES if quick else TABLE_ESTIMATES)
    numbers = _numbers(summary, runs, (lmin, lmax, constant, bound_factor, printed_factor), check, table)
    certificate = check["certificate"]
    steps, losses, run_widths = summary["steps"], summary["losses"], summary["run_widths"]
    data = {
        "steps": steps, "widths": run_widths, "seeds": np.array([run["seed"] for run in runs]), "losses": losses,
        "bound_factor": bound_factor,
        "check_steps": check["steps"], "check_losses": check["losses"], "check_loss_bounds": check["loss_bounds"],
        "check_distances": check["distances"], "check_distance_bound": check["r"],
        "check_certified_radius": certificate["r"],
    }
    claims = (_theorem_11_23_claims(summary, runs, widths, y, (lmin, lmax, constant, bound_factor), table,
                                    numbers["condition_c_width_needed"])
              + _theorem_11_13_claims(check, table))
    corrections = [_correction(constant, lmin, printed_factor, bound_factor, summary["tails"])]
    settings = {"activation": ACTIVATION, "parametrization": "lecun", "loss": "sum", "points": POINTS,
                "input_dim": INPUT_DIM, "steps": STEPS, "step_fraction": STEP_FRACTION, "widths": list(widths),
                "seeds_per_width": len(seeds), "base_seed": seed, "floor": FLOOR, "check_width": CHECK_WIDTH,
                "check_angles": list(CHECK_ANGLES), "check_norm": CHECK_NORM, "check_steps": CHECK_STEPS,
                "check_estimates": dict(QUICK_ESTIMATES if quick else CHECK_ESTIMATES),
                "table_estimates": dict(QUICK_ESTIMATES if quick else TABLE_ESTIMATES),
                "perturbation": None if perturbation is None else [perturbation.quantity, perturbation.factor],
                "quick": quick}
    return ExperimentResult(EXPERIMENT_NAME, settings, numbers, claims, data, corrections)


def _summary(runs: list[dict[str, Any]], constant: float, bound_factor: float) -> dict[str, Any]:
    """Return the runs' losses against the bound, their rates and the Gram's drift, summarised."""
    steps = np.arange(STEPS + 1)
    losses = np.array([run["losses"] for run in runs])
    initial = np.array([run["f0"] for run in runs])
    with np.errstate(invalid="ignore", over="ignore"):
        ratio = losses / (initial[:, None] * bound_factor ** (2.0 * steps[None, :]))
    below = ratio[:, 1:] <= 1.0 + ROUNDING  # k >= 1 (k = 0 is f(w0) against itself)
    runs_held = int(np.sum(np.all(below, axis=1)))
    column = {key: np.array([run[key] for run in runs]) for key in (
        "tail_factor", "fit_error", "window_drift", "tolerance", "linear_factor", "linear_factor_end",
        "linear_tail_factor", "drift", "rate_deviation", "width", "theta_min", "theta_max", "theta_min_end")}
    rate_held = bool(all(run["rate_held"] for run in runs))
    tails, run_widths = column["tail_factor"], column["width"]
    # whatever C, f(w_k) <= C bound_factor^(2k) for all k bounds the tail factor by bound_factor
    tails_below = tails <= bound_factor + column["fit_error"]
    bound_held = bool(np.all(below) and np.all(tails_below))
    with np.errstate(invalid="ignore", divide="ignore"):
        conservatism = np.log(tails) / math.log(bound_factor)  # how many times faster than the bound
        drift_relative = np.abs(column["theta_min_end"] - column["theta_min"]) / column["theta_min"]
        resolved = np.isfinite(drift_relative) & (drift_relative > 0)
        drift_exponent = (float(np.polyfit(np.log(run_widths[resolved]), np.log(drift_relative[resolved]), 1)[0])
                          if np.unique(run_widths[resolved]).size > 1 else math.nan)
    step_ratio = float(np.max(constant / run_widths * column["theta_max"]))  # h lambda_max(Theta)
    return dict(steps=steps, losses=losses, initial=initial, ratio=ratio, runs_held=runs_held, column=column,
                rate_held=rate_held, tails=tails, run_widths=run_widths, tails_below=tails_below,
                bound_held=bound_held, conservatism=conservatism, drift_relative=drift_relative,
                drift_exponent=drift_exponent, step_ratio=step_ratio)


def _numbers(summary: dict[str, Any], runs: list[dict[str, Any]], constants: tuple[float, ...],
             check: dict[str, Any], table: list[dict[str, Any]]) -> dict[str, Any]:
    """Return the numbers of the record.

    ``constants`` are ``lmin_LC, lmax_LC``, the step constant and the bound's and the printed
    factors.
    """
    lmin, lmax, constant, bound_factor, printed_factor = constants
    tails, column, ratio, losses = summary["tails"], summary["column"], summary["ratio"], summary["losses"]
    initial, run_widths, drift_relative = summary["initial"], summary["run_widths"], summary["drift_relative"]
    drift_exponent, conservatism, step_ratio = summary["drift_exponent"], summary["conservatism"], summary["step_ratio"]
    certificate = check["certificate"]
    largest = [row for row in table if row["setting"] == "Theorem 11.23 runs"][-1]
    return {
        "lmin_LC": lmin, "lmax_LC": lmax, "step_constant": constant,
        "step_limit_constant": 2.0 / (lmin + 4.0 * lmax),
        "bound_factor": bound_factor, "printed_bound_factor": printed_factor,
        "tail_factor": tails, "largest_tail_factor": float(np.nanmax(tails)),
        "fit_error": column["fit_error"], "linearized_factor": column["linear_factor"],
        "linearized_factor_end": column["linear_factor_end"], "linearized_tail_factor": column["linear_tail_factor"],
        "prediction_drift": column["drift"],
        "window_drift": column["window_drift"], "rate_tolerance": column["tolerance"],
        "rate_deviation_over_tolerance": column["rate_deviation"],
        "relative_lambda_min_drift": drift_relative, "drift_width_exponent": drift_exponent,
        "bound_conservatism": conservatism,
        "largest_loss_to_bound_ratio": float(np.nanmax(ratio[:, 1:])),
        "final_loss": losses[:, -1], "initial_loss": initial,
        "largest_distance": np.array([float(np.nanmax(run["distances"])) for run in runs]),
        "theta_min_over_n_lmin": column["theta_min"] / (run_widths * lmin),
        "theta_max_over_n_lmax": column["theta_max"] / (run_widths * lmax),
        "lemma_11_19_held": bool(np.all(column["theta_min"] >= run_widths * lmin / 2)
                                 and np.all(column["theta_max"] <= 2 * run_widths * lmax)),
        "largest_h_lambda_max": step_ratio,
        "condition_c": table,
        "condition_c_width_needed": float(largest["width"] * largest["ratio"]),
        "check_width_needed": float(CHECK_WIDTH * certificate["ratio"]),
        "convergence_check": {key: value for key, value in check.items()
                              if key not in ("steps", "losses", "loss_bounds", "distances")},
    }
