"""The claims after training: the k-step GP's mean and variance, the loss and its rate, the divergence."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from widenet.app.experiments import _statistics as stats
from widenet.app.experiments._base import Claim
from widenet.app.experiments._statistics import FloatArray
from widenet.app.experiments.figure_11_3._setup import (
    AT_DATA,
    DIVERGENCE_STEPS,
    EARLY_POINTS,
    EARLY_STEPS,
    LEVEL,
    RATE_WINDOW,
    SMALLEST_TESTED_SD,
    STEPS,
    WIDTH,
)
from widenet.app.experiments.figure_11_3._text import _fmt, _z_text


def _trained_tests(early: dict[int, FloatArray], early_predictions: dict[int, tuple[FloatArray, ...]],
                   after: FloatArray, figure_predictions: tuple[FloatArray, ...],
                   tested: npt.NDArray[np.bool_]) -> dict[str, list[FloatArray]]:
    """Return the per-point deviates of the trained means and variances from the GP (module docstring).

    At :data:`EARLY_POINTS` after each of :data:`EARLY_STEPS` and on the tested grid points
    after :data:`STEPS` steps, each with its finite-width allowance.
    """
    mean_z: list[FloatArray] = []
    variance_z: list[FloatArray] = []
    samples = [(early[k], early_predictions[k]) for k in EARLY_STEPS]
    samples.append((after[:, tested], tuple(part[..., tested] for part in figure_predictions)))
    for outputs, (mean, variance, mean_fw, variance_fw) in samples:
        count = outputs.shape[0]
        mean_z.append(stats.mean_z(outputs.mean(axis=0), mean, outputs.std(axis=0, ddof=1), count,
                                   allowance=np.abs(mean_fw - mean)))
        variance_z.append(stats.variance_z(outputs.var(axis=0, ddof=1), variance, count - 1,
                                           allowance=np.abs(variance_fw - variance)))
    return dict(mean=mean_z, variance=variance_z)


def _trained_mean_claim(tests: dict[str, list[FloatArray]], early: dict[int, FloatArray],
                        early_predictions: dict[int, tuple[FloatArray, ...]], hypothesis: tuple[str, bool],
                        counts: tuple[int, int]) -> tuple[Claim, dict[str, Any]]:
    """Return the claim that the trained networks' mean is the GP mean after k steps, and its numbers."""
    z = np.concatenate(tests["mean"])
    threshold = stats.two_sided_threshold(z.size, LEVEL)
    largest = [float(np.max(np.abs(part))) for part in tests["mean"]]
    measured_data = {k: early[k][:, AT_DATA].mean(axis=0) for k in EARLY_STEPS}
    claim = Claim(
        key="trained-mean",
        reference="Figure 11.3 (b), Remark 11.24, Proposition 11.26",
        statement=(f"The mean of the trained networks is the mean K(x, X) G_k y of the infinite-width GP after k "
                   f"steps, not kernel interpolation: at x = {list(EARLY_POINTS)} after k = "
                   f"{' and '.join(map(str, EARLY_STEPS))} ({counts[0]} networks), and on the grid after k = {STEPS} "
                   f"({counts[1]} networks; there the k-step GP is kernel interpolation)."),
        predicted="; ".join(f"k = {k}: {_fmt(early_predictions[k][0][AT_DATA])}" for k in EARLY_STEPS) + " at the data",
        measured=("; ".join(f"k = {k}: {_fmt(measured_data[k])}" for k in EARLY_STEPS)
                  + f" at the data; max |z| = {_z_text(largest)} at k = {list(EARLY_STEPS) + [STEPS]}"),
        holds=bool(np.max(np.abs(z)) <= threshold),
        hypothesis=(f"Proposition 11.26 assumes Theorem 11.23's setting: {hypothesis[0]}; (11.5.3): as for "
                    "Proposition 11.28. Shown instead: the linearized model's GP still describes the networks"),
        hypothesis_holds=hypothesis[1],
        criterion=(f"per point and step, |mean - GP mean| minus the finite-width allowance (the change of the GP mean "
                   f"with the exact expected Gram E[K_n] = (n-1) K_LC + K_NTK for n K_LC), over the sample's "
                   f"standard error: |z| <= {threshold:.2f} (Bonferroni over {z.size} tests, level {LEVEL:g})"),
    )
    return claim, {"trained_mean_max_z": largest, "trained_mean_threshold": threshold}


def _trained_variance_claim(tests: dict[str, list[FloatArray]], early: dict[int, FloatArray],
                            early_predictions: dict[int, tuple[FloatArray, ...]], figure_sd: FloatArray,
                            grid: FloatArray, hypothesis: tuple[str, bool], counts: tuple[int, int],
                            after_sd: FloatArray) -> tuple[Claim, dict[str, Any]]:
    """Return the claim that the trained networks' variance is the GP variance after k steps, and its numbers."""
    z = np.concatenate(tests["variance"])
    threshold = stats.two_sided_threshold(z.size, LEVEL)
    largest = [float(np.max(np.abs(part))) for part in tests["variance"]]
    ends = [0, grid.size - 1]
    predicted = " ".join(f"k = {k}: {_fmt(np.sqrt(np.maximum(early_predictions[k][1][AT_DATA], 0)))};"
                         for k in EARLY_STEPS)
    measured = " ".join(f"k = {k}: {_fmt(early[k][:, AT_DATA].std(axis=0, ddof=1))};" for k in EARLY_STEPS)
    claim = Claim(
        key="trained-variance",
        reference="Figure 11.3 (b), Section 11.5.5",
        statement=("After training the spread is small at the data and larger away, as the GP after k steps says: "
                   f"the variance at x = {list(EARLY_POINTS)} after k = {' and '.join(map(str, EARLY_STEPS))} "
                   f"({counts[0]} networks) and on the grid after k = {STEPS} ({counts[1]} networks) wherever the "
                   f"GP's sd is at least {SMALLEST_TESTED_SD:g} (at the data the loss claim shows interpolation)."),
        predicted=(f"sd at the data {predicted} k = {STEPS}: ~0; at x = {grid[0]:g}, {grid[-1]:g}: "
                   f"{_fmt(figure_sd[ends])}"),
        measured=(f"{measured} k = {STEPS}: {_fmt(after_sd[ends])} at x = {grid[0]:g}, {grid[-1]:g}; "
                  f"max |z| = {_z_text(largest)} at k = {list(EARLY_STEPS) + [STEPS]}"),
        holds=bool(np.max(np.abs(z)) <= threshold),
        hypothesis=(f"as for the trained mean: {hypothesis[0]}; (11.5.3) as for Proposition 11.28"),
        hypothesis_holds=hypothesis[1],
        criterion=(f"per point and step, the sample variance is chi-square with R - 1 dof around the GP variance "
                   f"widened by the finite-width allowance (as for the mean): Wilson-Hilferty |z| <= {threshold:.2f} "
                   f"(Bonferroni over {z.size} tests, level {LEVEL:g})"),
    )
    return claim, {"trained_variance_max_z": largest, "trained_variance_threshold": threshold}


def _linearized_loss_claim(losses: dict[int, FloatArray], predicted: dict[int, float], predicted_fw: dict[int, float],
                           hypothesis: tuple[str, bool]) -> tuple[Claim, dict[str, Any]]:
    """Return the claim that the mean loss follows the linearized model's expected loss, and its numbers."""
    z, texts = [], []
    for k in EARLY_STEPS:
        count = losses[k].size
        standard_error = float(np.std(losses[k], ddof=1) / math.sqrt(count))
        z.append(float(stats.mean_z(np.mean(losses[k]), predicted[k], np.std(losses[k], ddof=1), count,
                                    allowance=abs(predicted_fw[k] - predicted[k]))))
        texts.append(f"k = {k}: {np.mean(losses[k]):.4g} +- {standard_error:.2g}")
    threshold = stats.two_sided_threshold(len(z), LEVEL)
    claim = Claim(
        key="linearized-loss",
        reference="Remark 11.24, Proposition 11.26",
        statement=("The mean loss of the networks follows the expected loss of the linearized model, "
                   "s tr(B^(2k) (C(X, X) + y y^T)) with B = I - 2 h s n K_LC, while it is far above rounding."),
        predicted=", ".join(f"k = {k}: {predicted[k]:.4g} (finite-width allowance "
                            f"{abs(predicted_fw[k] - predicted[k]):.2g})" for k in EARLY_STEPS),
        measured="; ".join(texts) + f" (z = {_z_text(z)})",
        holds=bool(max(abs(value) for value in z) <= threshold),
        hypothesis=f"as for the trained mean: {hypothesis[0]}",
        hypothesis_holds=hypothesis[1],
        criterion=(f"per step, |mean loss - prediction| minus the finite-width allowance (the prediction with E[K_n]) "
                   f"over the sample's standard error: |z| <= {threshold:.2f} (Bonferroni over {len(z)}, level "
                   f"{LEVEL:g})"),
    )
    return claim, {"linearized_loss_z": z, "linearized_loss_predicted": [predicted[k] for k in EARLY_STEPS],
                   "linearized_loss_measured": [float(np.mean(losses[k])) for k in EARLY_STEPS]}


def _loss_rate(grams: FloatArray, lr: float, scale: float, steps: int) -> FloatArray:
    """Return the ``log`` of the linearized loss decay over ``steps`` steps, per Gram.

    The decay is along the slowest eigenvector of each Gram: ``2 steps log|1 - 2 h s lambda_min|``.
    """
    return 2.0 * steps * np.log(np.abs(1.0 - 2.0 * lr * scale * np.linalg.eigvalsh(grams)[:, 0]))


def _interpolation_claim(figure: dict[str, Any], lr: float, scale: float, eigenvalues: FloatArray,
                         hypothesis: tuple[str, bool]) -> tuple[Claim, dict[str, Any]]:
    """Return the claim that each network's loss decays at the linear rate of its Gram, and its numbers."""
    start, end = RATE_WINDOW
    losses = figure["losses"]
    measured = np.log(losses[end] / losses[start])
    rates = np.stack([_loss_rate(figure["grams"][k], lr, scale, end - start) for k in RATE_WINDOW])
    # the rounding of log f: |d log f| <= 2 |d r| / |r|, |r| = sqrt(f / s), at both ends
    rounding = sum(2.0 * figure["rounding"] / np.sqrt(losses[k] / scale) for k in RATE_WINDOW)
    half_width = np.ptp(rates, axis=0) / 2.0 + rounding
    outside = np.abs(stats.beyond(measured, rates.mean(axis=0), half_width))
    lowest = np.linalg.eigvalsh(figure["grams"][end])[:, 0] / WIDTH
    final = losses[STEPS]
    claim = Claim(
        key="interpolation",
        reference="Theorem 11.23 (its mechanism, Theorem 11.13), Figure 11.3 (b)",
        statement=(f"Training interpolates the data: each of the {final.size} networks' loss decays at the linear rate "
                   "(1 - 2 h s lmin(K_n))^2 per step of its own tangent Gram (the sharp form of Theorem 11.13's "
                   f"(1 - h lmin)^2k), measured between steps {start} and {end}, down to f(w_{STEPS}) at rounding "
                   "level."),
        predicted=(f"log(f_{end} / f_{start}) = 2 ({end - start}) log|1 - 2 h s lmin(K_n)| per network, "
                   f"lmin(K_n)/n in [{lowest.min():.4f}, {lowest.max():.4f}]"),
        measured=(f"largest deviation beyond the band {np.max(outside):.1e} (half-widths up to "
                  f"{np.max(half_width):.1e}; rates "
                  f"{_fmt([measured.min(), measured.max()], '.2f')}); f(w_{STEPS}) at most {final.max():.1e}, mean "
                  f"{final.mean():.1e}"),
        holds=bool(np.all(outside == 0.0)),
        hypothesis=(f"Theorem 11.23: {hypothesis[0]}; initialization (11.5.3): no, (11.5.11) has variances 3 and "
                    f"biases N(0, 2); Assumption 11.18: yes (Lip s' = 0.65; K_LC regular, spectrum "
                    f"[{eigenvalues[0]:.4f}, {eigenvalues[-1]:.4f}]); n >= n0: not checkable. The theorem's bound "
                    "is not tested; shown instead: interpolation at the linear rate of each network's own Gram"),
        hypothesis_holds=False,
        criterion=(f"per network, the measured log ratio lies in the band spanned by the rates of its Grams at steps "
                   f"{start} and {end} (the kernel's drift), widened by the rounding bound of the residual "
                   "(gamma_(n+2) sum |terms| of the forward pass); two-sided"),
    )
    return claim, {"loss_rate_outside_band_max": float(np.max(outside)),
                   "loss_rate_band_max": float(np.max(half_width)), "final_loss_max": float(final.max()),
                   "final_loss_mean": float(final.mean()),
                   "gram_lambda_min_over_n": [float(lowest.min()), float(lowest.max())],
                   "loss_rate_measured": [float(measured.min()), float(measured.max())]}


def _divergence_claim(growth: FloatArray, stopped: int, top: FloatArray, lr: float) -> tuple[Claim, dict[str, Any]]:
    """Return the claim that the step ``h = 1/n`` diverges on the chapter's sum loss, and its numbers."""
    claim = Claim(
        key="sum-loss-diverges",
        reference="Figure 11.3 (step size)",
        statement=("With the chapter's sum loss (gradient 2 J^T r) linearized GD multiplies the residual's top "
                   f"component by |1 - 2 h lmax(K_n)| per step, above 1 when h > 1/lmax: h = 1/n = {lr:g} is, for "
                   f"every network, and {DIVERGENCE_STEPS} steps grow every network's loss; hence the mean loss."),
        predicted=f"h lmax(K_n) > 1 for all {top.size} networks; every sum loss grows",
        measured=(f"h lmax in [{lr * top.min():.2f}, {lr * top.max():.2f}]; largest loss within {DIVERGENCE_STEPS} "
                  f"steps / initial >= {np.min(growth):.2e}; {stopped} of {growth.size} runs stopped as diverged"),
        holds=bool(np.all(lr * top > 1.0) and np.all(growth > 1.0)),
        criterion=("the linear stability threshold h lmax(K_n) = 1, for each network: above it and growing "
                   "(the chapter's setting), or below it and not growing (a stable step) — any network not growing "
                   "fails the claim"),
    )
    return claim, {"tangent_gram_lambda_max": {"min": float(top.min()), "median": float(np.median(top)),
                                               "max": float(top.max())},
                   "sum_loss_stable_step": float(1.0 / top.max()), "sum_loss_growth_min": float(np.min(growth))}
