"""The claims at initialization: the NNGP covariance, Gaussian outputs and the expected loss."""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import numpy as np

from widenet.app.experiments import _statistics as stats
from widenet.app.experiments._base import Claim
from widenet.app.experiments._statistics import FloatArray
from widenet.app.experiments.figure_11_3._setup import COVARIANCE_POINTS, LEVEL, WIDTH
from widenet.app.experiments.figure_11_3._text import _extension_hypothesis, _fmt


def _initial_covariance_claim(outputs: FloatArray, kernels: dict[str, FloatArray], grid_outputs: FloatArray,
                              grid_variance: FloatArray) -> tuple[Claim, dict[str, Any], FloatArray]:
    """Return the claim that the initial outputs are a centered GP with the NNGP covariance.

    With it its numbers and the outputs at :data:`COVARIANCE_POINTS` whitened with ``C``.
    """
    count = outputs.shape[0]
    whitened = stats.whiten(outputs, 0.0, kernels["nngp_points"])
    lrt, lrt_dof = stats.covariance_statistic(whitened)
    hotelling, hotelling_dof = stats.mean_statistic(whitened)
    p_lrt, p_mean = float(stats.chi_square_sf(lrt, lrt_dof)), float(stats.chi_square_sf(hotelling, hotelling_dof))
    variance = np.mean(grid_outputs ** 2, axis=0)  # the mean is known (0): count degrees of freedom
    z_grid = stats.variance_z(variance, grid_variance, count)
    two_sided = stats.two_sided_threshold(grid_variance.size, LEVEL / 3)
    holds = min(p_lrt, p_mean) >= LEVEL / 3 and float(np.max(np.abs(z_grid))) <= two_sided
    scale = float(np.trace(whitened.T @ whitened) / (count * whitened.shape[1]))
    claim = Claim(
        key="initial-covariance",
        reference="Proposition 11.28, Figure 11.3 (a)",
        statement=(f"At initialization the outputs of {count} networks are a centered GP with the NNGP covariance "
                   f"C = s_v^2 E[s(h_x) s(h_z)] + s_c^2: the full covariance at x = {list(COVARIANCE_POINTS)} "
                   f"(whitened with C there), the mean there, and the variance at each of the {grid_variance.size} "
                   "grid points."),
        predicted=f"covariance C (variance {_fmt(np.diag(kernels['nngp_points']), '.2f')} at those points), mean 0",
        measured=(f"likelihood ratio {lrt:.1f} ({lrt_dof} dof, p = {p_lrt:.3g}); R |mean|^2 = {hotelling:.1f} "
                  f"({hotelling_dof} dof, p = {p_mean:.3g}); whitened scale tr(S)/p = {scale:.4f}; grid variance / C "
                  f"in [{np.min(variance / grid_variance):.3f}, {np.max(variance / grid_variance):.3f}], "
                  f"max |z| = {np.max(np.abs(z_grid)):.2f}"),
        holds=bool(holds),
        hypothesis=(f"{_extension_hypothesis()}; distinct points: yes. At width n = {WIDTH} the covariance is exactly "
                    "C (v and c are Gaussian and independent of U, b), so only sampling error enters."),
        hypothesis_holds=True,
        criterion=(f"level {LEVEL:g} split in three: the likelihood ratio R (tr S - log det S - p) of the whitened "
                   f"outputs is chi-square with {lrt_dof} dof, R |mean|^2 with {hotelling_dof} dof: each upper-tail "
                   f"p >= {LEVEL / 3:.2g} (any covariance or mean other than C, 0 raises them); each grid variance "
                   f"(mean 0 known) is C chi-square({count}) / {count}: Wilson-Hilferty two-sided |z| <= "
                   f"{two_sided:.2f} (Bonferroni)"),
    )
    numbers = {"likelihood_ratio": lrt, "likelihood_ratio_p": p_lrt, "mean_statistic": hotelling,
               "mean_statistic_p": p_mean, "whitened_scale": scale, "grid_variance_ratio":
               [float(np.min(variance / grid_variance)), float(np.max(variance / grid_variance))],
               "grid_variance_max_z": float(np.max(np.abs(z_grid))), "covariance_condition":
               float(np.linalg.cond(kernels["nngp_points"]))}
    return claim, numbers, whitened


def _gaussian_claim(whitened: FloatArray, width: int) -> tuple[Claim, dict[str, Any]]:
    """Return the claim that the whitened initial outputs are standard normals, and its numbers."""
    count, dimension = whitened.shape
    distance, p_value = stats.kolmogorov_smirnov(whitened)
    squared = np.sum(whitened ** 2, axis=1)
    radial, radial_p = stats.kolmogorov_smirnov(squared, partial(stats.chi_square_cdf, dof=dimension))
    claim = Claim(
        key="initial-gaussian",
        reference="Proposition 11.28",
        statement=(f"The outputs at initialization are Gaussian (the limit n -> infinity; here n = {width}): the "
                   f"whitened outputs of the covariance test are independent standard normals, each of the "
                   f"{whitened.size} coordinates N(0, 1) and each of the {count} squared norms chi-square({dimension}) "
                   "(the norm sees the scale mixture a finite width makes)."),
        predicted=(f"N(0, 1) and chi-square({dimension}); at n = 250 the scale mixture's excess kurtosis, O(1/n), is "
                   "below the reach of these tests (they see n = 10)"),
        measured=(f"Kolmogorov-Smirnov distances {distance:.4f} (p = {p_value:.3g}) and {radial:.4f} "
                  f"(p = {radial_p:.3g}); E|w|^4 = {np.mean(squared ** 2):.2f} "
                  f"(Gaussian: {dimension * (dimension + 2)})"),
        holds=bool(min(p_value, radial_p) >= LEVEL / 2),
        hypothesis=f"{_extension_hypothesis()}; n large: n = {width}",
        hypothesis_holds=True,
        criterion=f"two Kolmogorov-Smirnov tests (two-sided), level {LEVEL:g} split in two: both p >= {LEVEL / 2:g}",
    )
    return claim, {"ks_distance": distance, "ks_p_value": p_value, "ks_radial_distance": radial,
                   "ks_radial_p_value": radial_p, "whitened_fourth_moment": float(np.mean(squared ** 2))}


def _initial_loss_claim(losses: FloatArray, predicted: float, m: int) -> tuple[Claim, dict[str, Any]]:
    """Return the claim that the mean initial loss is its expectation ``predicted``, and its numbers."""
    count = losses.size
    standard_error = float(np.std(losses, ddof=1) / math.sqrt(count))
    z = (float(np.mean(losses)) - predicted) / standard_error
    threshold = stats.two_sided_threshold(1, LEVEL)
    claim = Claim(
        key="initial-loss",
        reference="Lemma 11.22",
        statement=(f"The initial loss is bounded in probability; sharply, its expectation is "
                   f"s sum_i (C(x_i, x_i) + y_i^2) at every width (mean loss s = 1/{m}); {count} networks."),
        predicted=f"E f(w0) = {predicted:.4f}",
        measured=f"mean f(w0) = {np.mean(losses):.4f} +- {standard_error:.4f} (z = {z:.2f})",
        holds=bool(abs(z) <= threshold),
        hypothesis=("Assumption 11.18 (a) |s(0)| = 0, Lip s = 1, Lip s' = 0.65, (b) |x_i|, |y_i| <= 1.5: yes; "
                    f"{_extension_hypothesis()}. The expectation needs only v, c centred and independent of U, b: yes"),
        hypothesis_holds=True,
        criterion=f"|z| <= {threshold:.2f} (level {LEVEL:g}), z from the sample's standard error",
    )
    return claim, {"initial_loss_mean": float(np.mean(losses)), "initial_loss_standard_error": standard_error,
                   "expected_initial_loss": predicted, "initial_loss_z": z}
