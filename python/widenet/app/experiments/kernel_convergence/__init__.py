"""Theorems 11.16 and 11.30 and Lemma 11.19: the tangent Gram at initialization.

The experiment measures its mean, its fluctuation and its eigenvalues.

For fixed points the empirical tangent Gram (11.3.4) is a sum over the ``n`` hidden units
of i.i.d. terms (proofs of Theorems 11.16 and 11.30), so its expectation is known exactly
at every width:

- LeCun initialization (11.5.3): ``E[K_n/n] = K_LC + B/n`` with
  ``B(x, z) = (1 + x.z) E_dd(x, z) + 1`` and ``E_dd = E[s'(u.x) s'(u.z)]`` (the ``U``, ``b``
  and ``c`` blocks of the gradient, the proof of Theorem 11.16);
- NTK parametrization (11.6.1)-(11.6.2): ``E[K_n] = K_NTK``, exactly.

The experiment tests these expectations themselves: the mean over many networks, entry by
entry, in units of its standard error, at a narrow width where ``B/n`` is large and at a
wide width where the standard error is far below 1% of the kernel. It tests the rate
``n^{-1/2}`` of the fluctuation around them (a two-sided test of the fitted exponent), and
Lemma 11.19's eigenvalue band together with its sharp content (the Rayleigh quotients at the
limit's extreme eigenvectors average to its extreme eigenvalues).

The activation is erf: smooth (Assumption 11.18 (a) holds, unlike for relu), with closed
forms for ``K_LC`` (the arcsine kernel), ``E_dd`` and ``K_NTK``, so the predictions carry
no quadrature error. The points lie on the sphere ``abs(x)^2 = d`` (``Sigma(x, x) = 1``) in
``d = 8``, where ``K_LC`` is well enough conditioned for the proof of Lemma 11.19 to apply
at the widths used.

Negative controls: ``K_LC`` or ``K_NTK`` off by 1%, and the ``1/n`` part of ``E[K_n/n]``
left out.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from widenet.app.experiments._base import (
    SILENT,
    Claim,
    Control,
    Correction,
    Experiment,
    ExperimentResult,
    Parametrization,
    Perturbation,
    Progress,
    factor_of,
)
from widenet.app.experiments._statistics import FloatArray
from widenet.app.experiments.kernel_convergence._claims import (
    ERF_DERIVATIVE_LIPSCHITZ,
    ERF_LIPSCHITZ,
    band_counts,
    lemma_claim,
    mean_claim,
    rate_claim,
)
from widenet.app.experiments.kernel_convergence._figure import plot
from widenet.app.experiments.kernel_convergence._measure import (
    cell_seed,
    erf_expectations,
    expected_gram,
    finite_width_part,
    gram_cell,
    kernel_points,
    measure_grams,
    scaled_gram,
)
from widenet.app.experiments.kernel_convergence._setup import (
    _LIMIT,
    ACTIVATION,
    CONTROL_ERROR,
    EXPERIMENT_NAME,
    FULL,
    INPUT_DIM,
    LEVEL,
    PARAMETRIZATIONS,
    POINTS,
    QUICK,
    RATE,
    Design,
)
from widenet.app.experiments.kernel_convergence._tests import (
    _largest,
    frobenius_errors,
    mean_z,
    rate_fit,
    rayleigh_z,
    slope_z,
    t_threshold,
)
from widenet.kernels import limit_kernel

# The code that calls widenet's limit kernels stays in this module: they are looked up here,
# where a test can patch them in to see the claims fail.


# -- the chapter's misprints ---------------------------------------------------------------
def _corrections(design: Design, grams: dict[Parametrization, dict[int, FloatArray]],
                 limits: dict[Parametrization, FloatArray], part: FloatArray, lemma: dict[str, Any],
                 X: FloatArray) -> list[Correction]:
    """Return the chapter's misprints this experiment shows, with this run's numbers."""
    wide = design.wide
    rows, columns = np.triu_indices(len(X))
    E_dd = erf_expectations(X)[1]
    extra = (1.0 + X @ X.T / X.shape[1]) * E_dd + 1.0  # K_NTK - K_LC
    lecun, ntk = grams["lecun"][wide], grams["ntk"][wide]
    difference = ntk.mean(axis=0) - (lecun.mean(axis=0) - part / wide)
    standard_error = np.sqrt(ntk.var(axis=0, ddof=1) / len(ntk) + lecun.var(axis=0, ddof=1) / len(lecun))
    extra_z = _largest(((difference - extra) / standard_error)[rows, columns])
    undivided = limit_kernel(X, activation=ACTIVATION, parametrization="ntk", weight_var=float(X.shape[1]))
    undivided_z = _largest(mean_z(ntk, undivided))
    divided_z = _largest(mean_z(ntk, limits["ntk"]))
    lmin, lmax = lemma["lmin_LC"], lemma["lmax_LC"]
    largest = np.linalg.eigvalsh(lecun)[:, -1]
    above, below_twice = int(np.sum(largest > lmax)), int(np.sum(largest <= 2 * lmax))
    return [
        Correction(
            reference="Section 11.6.2",
            printed="we obtain additional terms in the NTK compared to Theorem 11.23",
            corrected="compared to Theorem 11.16 (the LeCun kernel K_LC; Theorem 11.23 is about gradient descent)",
            evidence=(f"K_NTK - K_LC = (1 + x.z/d) E[erf' erf'] + 1 (the additional terms), between "
                      f"{extra[rows, columns].min():.3f} and {extra[rows, columns].max():.3f} on these points: the "
                      f"wide networks' mean K_n (NTK) minus mean K_n/n - B/n (LeCun) matches it, max abs(z) = "
                      f"{extra_z:.2f}")),
        Correction(
            reference="Lemma 11.19 (proof)",
            printed="the largest eigenvalue is bounded from above by lmax_LC + lmin_LC/2 <= lmax_LC",
            corrected="lmax_LC + lmin_LC/2 <= 2 lmax_LC (the lemma's upper end; the printed inequality fails "
                      "whenever lmin_LC > 0)",
            evidence=(f"lmax_LC + lmin_LC/2 = {lmax + lmin / 2:.4f} > lmax_LC = {lmax:.4f}; the largest eigenvalue of "
                      f"K_n/n exceeded lmax_LC in {above} of {len(lecun)} networks at n = {wide}; it was at most "
                      f"2 lmax_LC in {below_twice}")),
        Correction(
            reference="Theorem 11.30 (proof)",
            printed="z^(1) = U_0 z + b_0 (twice), x_i^(1) = sum_j U_0;ij x_j ~ u.x",
            corrected="x^(1) = d^-1/2 U_0 x + b_0 and z^(1) = d^-1/2 U_0 z + b_0, as in (11.6.1): only then "
                      "x_i^(1) ~ u.x with u ~ D(0, 1/d)",
            evidence=(f"the wide NTK networks' mean K_n against K_NTK with Sigma = x.z/d: max abs(z) = "
                      f"{divided_z:.2f}; "
                      f"against K_NTK with Sigma = x.z (no d^-1/2): {undivided_z:.0f}")),
    ]


# -- the experiment ------------------------------------------------------------------------
def run(quick: bool = False, seed: int = 0, progress: Progress = SILENT,
        perturbation: Optional[Perturbation] = None) -> ExperimentResult:
    """Test the mean, the fluctuation and the eigenvalues of the scaled tangent Gram.

    Against Theorems 11.16 and 11.30 and Lemma 11.19 (see the module docstring).

    Parameters
    ----------
    quick : bool
        Rate grid ``2^8 .. 2^13`` and 48 networks at ``2^15`` instead of ``2^8 .. 2^14`` and
        96 at ``2^16`` (16 networks per grid width and 256 at width 64 in both).
    seed : int
        Base seed of the points and of every network.
    progress : Progress
    perturbation : Perturbation, optional
        A negative control: ``"K_LC"`` or ``"K_NTK"`` scales that limit, ``"finite-width
        part"`` scales ``B``.
    """
    design = QUICK if quick else FULL
    X = kernel_points(seed)
    limits: dict[Parametrization, FloatArray] = {
        parametrization: factor_of(perturbation, _LIMIT[parametrization]) * limit_kernel(
            X, activation=ACTIVATION, parametrization=parametrization, kind="ntk")
        for parametrization in PARAMETRIZATIONS}
    parts = {"lecun": factor_of(perturbation, "finite-width part") * finite_width_part(X),
             "ntk": np.zeros_like(limits["ntk"])}
    grams = {parametrization: measure_grams(parametrization, design, seed, X, progress)
             for parametrization in PARAMETRIZATIONS}
    numbers: dict[str, Any] = {}
    data: dict[str, Any] = {"points": X}
    claims: list[Claim] = []
    for parametrization in PARAMETRIZATIONS:
        arguments = (parametrization, design, grams[parametrization], limits[parametrization], parts[parametrization])
        mean, mean_numbers = mean_claim(*arguments)
        rate, rate_numbers, rate_data = rate_claim(*arguments)
        claims += [mean, rate]
        numbers[parametrization] = {**rate_numbers, "mean": mean_numbers,
                                    "limit_eigenvalues": np.linalg.eigvalsh(limits[parametrization])}
        data[parametrization] = {**rate_data, "mean_z": mean_numbers["z"]}
    lemma, numbers["lemma_11_19"] = lemma_claim(design, grams["lecun"], limits["lecun"], parts["lecun"], X)
    claims.append(lemma)
    settings = {"activation": ACTIVATION, "points": POINTS, "input_dim": INPUT_DIM, "grid": list(design.grid),
                "grid_networks": design.grid_networks, "narrow": design.narrow,
                "narrow_networks": design.narrow_networks,
                "wide": design.wide, "wide_networks": design.wide_networks, "base_seed": seed, "level": LEVEL,
                "quick": quick, "perturbation": None if perturbation is None else [perturbation.quantity,
                                                                                   perturbation.factor]}
    corrections = _corrections(design, grams, limits, parts["lecun"], numbers["lemma_11_19"], X)
    return ExperimentResult(EXPERIMENT_NAME, settings, numbers, claims, data, corrections)


EXPERIMENT = Experiment(
    name=EXPERIMENT_NAME,
    title="Convergence of the tangent kernel at initialization",
    reference="Theorems 11.16 and 11.30, Lemma 11.19",
    run=run,
    plot=plot,
    controls={
        "K_LC off by 1%": Control(Perturbation("K_LC", 1.0 + CONTROL_ERROR),
                                  ("kernel-lecun-mean", "kernel-lecun-rate", "lemma-11-19"),
                                  "the LeCun limit K_LC scaled by 1.01"),
        "K_NTK off by 1%": Control(Perturbation("K_NTK", 1.0 + CONTROL_ERROR), ("kernel-ntk-mean", "kernel-ntk-rate"),
                                   "the NTK-parametrization limit K_NTK scaled by 1.01"),
        "1/n part left out": Control(Perturbation("finite-width part", 0.0), ("kernel-lecun-mean",),
                                     "E[K_n/n] taken as K_LC, without its exact 1/n part B/n"),
    },
)


__all__ = ["ACTIVATION", "band_counts", "cell_seed", "CONTROL_ERROR", "Design", "ERF_DERIVATIVE_LIPSCHITZ",
           "erf_expectations", "ERF_LIPSCHITZ", "expected_gram", "EXPERIMENT", "EXPERIMENT_NAME",
           "finite_width_part", "frobenius_errors", "FULL", "gram_cell", "INPUT_DIM", "kernel_points", "lemma_claim",
           "LEVEL", "mean_claim", "mean_z", "measure_grams", "PARAMETRIZATIONS", "plot", "POINTS", "QUICK", "RATE",
           "rate_claim", "rate_fit", "rayleigh_z", "run", "scaled_gram", "slope_z", "t_threshold"]
