"""The chapter's misprints this experiment shows."""

from __future__ import annotations

import numpy as np

from widenet.app.experiments._base import Correction
from widenet.app.experiments._statistics import FloatArray
from widenet.app.experiments.figure_11_3._setup import DIVERGENCE_STEPS, EARLY_STEPS, RATE_WINDOW, WIDTH
from widenet.app.experiments.figure_11_3._text import _fmt


def _corrections(eigenvalues: FloatArray, lr: float, scale: float, measured_rates: list[float], top: FloatArray,
                 growth: FloatArray, early_mean_at_data: FloatArray, kernels_data: dict[str, FloatArray],
                 y: FloatArray, p_lrt: float) -> list[Correction]:
    """Return the chapter's misprints this experiment shows, with this run's numbers."""
    low = eigenvalues[0]
    step = lr * scale  # the mean loss with step h is the sum loss with step h s
    printed = 1.0 - step * WIDTH / (2.0 * low)
    corrected = 1.0 - step * WIDTH * low / 2.0
    per_step = np.exp(np.array(measured_rates) / (2.0 * (RATE_WINDOW[1] - RATE_WINDOW[0])))
    k = EARLY_STEPS[0]
    train = kernels_data["train"]
    B = np.eye(train.shape[0]) - 2.0 * lr * WIDTH * scale * train
    A = 2.0 * lr * WIDTH * scale * train
    B_k = np.linalg.matrix_power(B, k)
    remark_printed = k * B_k @ A @ y  # the mean of f_0 is 0
    remark_corrected = (np.eye(train.shape[0]) - B_k) @ y
    return [
        Correction(
            reference="Theorem 11.23",
            printed="f(w_k) <= C (1 - h n / (2 lmin_LC))^(2k)",
            corrected=("f(w_k) <= C (1 - h n lmin_LC / 2)^(2k): Theorem 11.13's (1 - h lmin)^(2k) with Lemma "
                       "11.19's lmin = n lmin_LC / 2"),
            evidence=(f"here (the sum loss with step h s = {step:.4g}, lmin_LC = {low:.4f}) the printed factor is "
                      f"{printed:.2f}, not a contraction; the corrected one is {corrected:.5f} per step, and the "
                      f"networks' measured per-step contraction of the residual is in {_fmt(per_step, '.4f')}, "
                      "below it"),
        ),
        Correction(
            reference="Proposition 11.28",
            printed="Consider depth-n networks Phi_n as in (11.5.1)",
            corrected="Consider width-n networks Phi_n as in (11.5.1) (one hidden layer of n units, n -> infinity)",
            evidence=(f"the networks of depth one and width n = {WIDTH} match the NNGP covariance (likelihood-ratio "
                      f"p = {p_lrt:.2g}); (11.5.1) has no depth parameter"),
        ),
        Correction(
            reference="Figure 11.3 (Section 11.5.5)",
            printed="k = 1000 steps of gradient descent and constant step size h = 1/n (on the loss (11.0.1b))",
            corrected=("h = 1/n diverges on the sum loss (11.0.1b); it is stable on the mean loss f/m, i.e. the sum "
                       "loss with step h/m, which widenet uses"),
            evidence=(f"h lmax(K_n) in [{top.min() / WIDTH:.2f}, {top.max() / WIDTH:.2f}] > 1 for all {top.size} "
                      f"networks; their sum losses grow by at least {np.min(growth):.1e} within {DIVERGENCE_STEPS} "
                      f"steps; with the mean loss every network interpolates"),
        ),
        Correction(
            reference="Remark 11.24",
            printed="Phi_lin(X, p_k) = B^k Phi_lin(X, p_0) + sum_(i=0)^(k-1) B^k A y",
            corrected="Phi_lin(X, p_k) = B^k Phi_lin(X, p_0) + sum_(i=0)^(k-1) B^i A y",
            evidence=(f"after k = {k} steps the networks' mean at the data is {_fmt(early_mean_at_data)}; the "
                      f"corrected sum gives {_fmt(remark_corrected)}, the printed one {_fmt(remark_printed)}"),
        ),
    ]
