"""The experiment: Figure 11.3's networks measured against the infinite-width GP."""

from __future__ import annotations

from functools import partial
from typing import Any, Optional

import numpy as np

from widenet.app.experiments._base import SILENT, ExperimentResult, Perturbation, Progress, factor_of
from widenet.app.experiments._statistics import FloatArray
from widenet.app.experiments.figure_11_3._corrections import _corrections
from widenet.app.experiments.figure_11_3._initial import _gaussian_claim, _initial_covariance_claim, _initial_loss_claim
from widenet.app.experiments.figure_11_3._limit import _predictions, limit_kernels
from widenet.app.experiments.figure_11_3._networks import _figure_ensemble, _statistics_ensemble, _sum_loss_growth
from widenet.app.experiments.figure_11_3._setup import (
    AT_DATA,
    CONFIG,
    COVARIANCE_POINTS,
    DATA_X,
    DATA_Y,
    DIVERGENCE_STEPS,
    EARLY_POINTS,
    EARLY_STEPS,
    FIGURE_NETWORKS,
    GRID,
    LEVEL,
    NAME,
    RATE_WINDOW,
    SMALLEST_TESTED_SD,
    STATISTICS_NETWORKS,
    STEPS,
    TRAINED_NETWORKS,
    VARIANCE_GRID_STRIDE,
    WIDTH,
)
from widenet.app.experiments.figure_11_3._text import _step_hypothesis
from widenet.app.experiments.figure_11_3._trained import (
    _divergence_claim,
    _interpolation_claim,
    _linearized_loss_claim,
    _trained_mean_claim,
    _trained_tests,
    _trained_variance_claim,
)
from widenet.regression.ntk_regression import NTKRegressor


def run(quick: bool = False, seed: int = 0, progress: Progress = SILENT,
        perturbation: Optional[Perturbation] = None) -> ExperimentResult:
    """Measure Figure 11.3's networks before and after training, against the infinite-width GP.

    Parameters
    ----------
    quick : bool
        Fewer grid points (100 instead of 200) and networks for the statistics (4000 and 80
        instead of 8000 and 400); the figure's 80 networks, width and steps are the
        chapter's in both modes.
    seed : int
        Seed of the networks' initialization.
    progress : Progress
    perturbation : Perturbation, optional
        A negative control (see ``EXPERIMENT.controls``).

    Returns
    -------
    ExperimentResult
    """
    factor = partial(factor_of, perturbation)
    lr = 1.0 / WIDTH
    points = 100 if quick else 200
    X, y = np.array(DATA_X)[:, None], np.array(DATA_Y)
    scale = 1.0 / X.shape[0]  # the mean loss
    grid = np.linspace(*GRID, points)[:, None]
    rate = lr * WIDTH * scale * factor("gp_step")  # h n s, in units of K_LC, as the predictions take it
    training_lr = lr * factor("gradient")
    counts = (STATISTICS_NETWORKS[quick], TRAINED_NETWORKS[quick])
    statistics_width = max(1, round(WIDTH * factor("width")))

    perturbed_kernels = partial(limit_kernels, nngp_factor=factor("nngp_variance"),
                                test_factor=factor("nngp_test_inputs"))
    kernels = dict(grid=perturbed_kernels(grid, X, diagonal=True, progress=progress),
                   covariance=perturbed_kernels(np.array(COVARIANCE_POINTS)[:, None], X),
                   early=perturbed_kernels(np.array(EARLY_POINTS)[:, None], X, diagonal=True))
    predicted = _predictions(kernels, y, rate, factor("gp_steps"), scale)
    variance_grid = grid[::VARIANCE_GRID_STRIDE]
    first = _statistics_ensemble(counts[0], statistics_width, seed, X, y, variance_grid, training_lr, progress)
    figure = _figure_ensemble(counts[1], seed, X, y, grid, training_lr, progress)
    growth, stopped = _sum_loss_growth(seed, X, y, training_lr)
    top = np.linalg.eigvalsh(figure["initial_grams"][:FIGURE_NETWORKS])[:, -1]
    eigenvalues = np.linalg.eigvalsh(kernels["grid"]["train"])
    step_hypothesis = _step_hypothesis(scale, lr, eigenvalues)
    figure_sd = np.sqrt(np.maximum(predicted["figure"][1], 0.0))
    tested = figure_sd >= SMALLEST_TESTED_SD

    grid_variance = kernels["grid"]["nngp_points"][::VARIANCE_GRID_STRIDE]
    covariance, covariance_numbers, whitened = _initial_covariance_claim(first["covariance"], kernels["covariance"],
                                                                         first["grid"], grid_variance)
    gaussian, gaussian_numbers = _gaussian_claim(whitened, statistics_width)
    initial_loss, initial_numbers = _initial_loss_claim(first["losses"][0], predicted["initial_loss"], X.shape[0])
    tests = _trained_tests(first["early"], predicted["early"], figure["after"], predicted["figure"], tested)
    trained_mean, mean_numbers = _trained_mean_claim(tests, first["early"], predicted["early"], step_hypothesis,
                                                     counts)
    trained_variance, variance_numbers = _trained_variance_claim(
        tests, first["early"], predicted["early"], figure_sd, grid[:, 0], step_hypothesis, counts,
        figure["after"].std(axis=0, ddof=1))
    linearized, linearized_numbers = _linearized_loss_claim(first["losses"], predicted["loss"], predicted["loss_fw"],
                                                            step_hypothesis)
    interpolation, interpolation_numbers = _interpolation_claim(figure, lr * factor("gp_step"), scale, eigenvalues,
                                                                step_hypothesis)
    divergence, divergence_numbers = _divergence_claim(growth, stopped, top, lr)

    corrections = _corrections(eigenvalues, lr, scale, interpolation_numbers["loss_rate_measured"], top, growth,
                               first["early"][EARLY_STEPS[0]][:, AT_DATA].mean(axis=0), kernels["grid"], y,
                               covariance_numbers["likelihood_ratio_p"])
    regressor = NTKRegressor(kernel="ntk", steps=STEPS, lr=rate, **CONFIG).fit(X, y)
    numbers = {
        **covariance_numbers, **gaussian_numbers, **initial_numbers, **mean_numbers, **variance_numbers,
        **linearized_numbers, **interpolation_numbers, **divergence_numbers,
        "grid_points_tested_after": int(tested.sum()),
        "gp_sd_after_max": float(figure_sd.max()),
        "gp_sd_init_max": float(np.sqrt(kernels["grid"]["nngp_points"]).max()),
        "gp_mean_vs_regressor_max_abs": float(np.max(np.abs(predicted["figure"][0] - regressor.predict(grid)))),
        "k_lc_eigenvalues": eigenvalues,
        "kernel_lr": rate,
        "finite_width_kernel_correction": float(np.max(np.abs(predicted["expected_gram"] - kernels["grid"]["train"]))
                                                / np.max(np.abs(kernels["grid"]["train"]))),
        "mean_loss_stable_step": float(X.shape[0] / top.max()),
    }
    settings = _settings(quick, seed, points, counts, statistics_width, lr, perturbation)
    data = _data(grid, X, y, figure, first, predicted, kernels["grid"], figure_sd)
    claims = [covariance, gaussian, initial_loss, trained_mean, trained_variance, linearized, interpolation,
              divergence]
    return ExperimentResult(name=NAME, settings=settings, numbers=numbers, claims=claims, data=data,
                            corrections=corrections)


def _settings(quick: bool, seed: int, points: int, counts: tuple[int, int], statistics_width: int, lr: float,
              perturbation: Optional[Perturbation]) -> dict[str, Any]:
    """Return the run's settings for its record."""
    return {"networks": FIGURE_NETWORKS, "statistics_networks": counts[0], "trained_networks": counts[1],
            "width": WIDTH, "statistics_width": statistics_width, "steps": STEPS,
            "early_steps": list(EARLY_STEPS), "rate_window": list(RATE_WINDOW), "lr": lr, "loss": "mean",
            "input_dim": 1, **CONFIG, "X": list(DATA_X), "y": list(DATA_Y), "grid": [*GRID, points],
            "covariance_points": list(COVARIANCE_POINTS), "early_points": list(EARLY_POINTS), "seed": seed,
            "quick": quick, "level": LEVEL, "divergence_steps": DIVERGENCE_STEPS,
            "perturbation": None if perturbation is None else f"{perturbation.quantity} x {perturbation.factor:g}"}


def _data(grid: FloatArray, X: FloatArray, y: FloatArray, figure: dict[str, Any], first: dict[str, Any],
          predicted: dict[str, Any], grid_kernels: dict[str, FloatArray], figure_sd: FloatArray) -> dict[str, Any]:
    """Return the curves the figure draws: the networks, the data and the GP before and after training."""
    return {"grid": grid[:, 0], "X": X[:, 0], "y": y, "outputs_before": figure["before"][:FIGURE_NETWORKS],
            "outputs_after": figure["after"][:FIGURE_NETWORKS], "gp_mean_after": predicted["figure"][0],
            "gp_sd_after": figure_sd, "gp_sd_before": np.sqrt(grid_kernels["nngp_points"]),
            # the statistics networks after the first steps at the early points: mean and sd per step
            "early_mean": np.array([first["early"][k].mean(axis=0) for k in EARLY_STEPS]),
            "early_sd": np.array([first["early"][k].std(axis=0, ddof=1) for k in EARLY_STEPS]),
            "gp_mean_early": np.array([predicted["early"][k][0] for k in EARLY_STEPS]),
            "gp_sd_early": np.sqrt(np.maximum([predicted["early"][k][1] for k in EARLY_STEPS], 0.0))}
