"""The claims of Theorems 11.16 and 11.30 and Lemma 11.19."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from widenet.app.experiments._base import Claim, Parametrization
from widenet.app.experiments._rates import fit_record, interval_contains, slope_text
from widenet.app.experiments._statistics import FloatArray
from widenet.app.experiments.kernel_convergence._measure import expected_gram
from widenet.app.experiments.kernel_convergence._setup import (
    _LIMIT,
    _NAME,
    _REFERENCE,
    _SCALED,
    ACTIVATION,
    CONTROL_ERROR,
    INPUT_DIM,
    LEVEL,
    POINTS,
    RATE,
    Design,
)
from widenet.app.experiments.kernel_convergence._tests import (
    _largest,
    mean_z,
    rate_fit,
    rayleigh_z,
    slope_z,
    t_threshold,
)
from widenet.sweeps import student_t_quantile

ERF_LIPSCHITZ = 2.0 / math.sqrt(math.pi)  # sup erf' = erf'(0)
ERF_DERIVATIVE_LIPSCHITZ = 2.0 * math.sqrt(2.0 / (math.pi * math.e))  # sup abs(erf'') at 1/sqrt(2)


def _assumption_11_18(X: FloatArray, lmin: float, lmax: float) -> str:
    """Return Assumption 11.18 for erf at the points ``X``, with the constants (``lmin``, ``lmax`` of ``K_LC``)."""
    R = max(ERF_LIPSCHITZ, ERF_DERIVATIVE_LIPSCHITZ, float(np.max(np.linalg.norm(X, axis=1))))
    return (f"Assumption 11.18: (a) erf(0) = 0, Lip(erf) = {ERF_LIPSCHITZ:.3f}, Lip(erf') = "
            f"{ERF_DERIVATIVE_LIPSCHITZ:.3f}; (b) abs(x_i) = {math.sqrt(X.shape[1]):.3f}; so R = {R:.3f}: yes; "
            f"(c) K_LC(X, X) regular, eigenvalues in [{lmin:.4f}, {lmax:.4f}]: {'yes' if lmin > 0 else 'no'}")


# -- the claims ----------------------------------------------------------------------------
def _growth_hypothesis(parametrization: Parametrization) -> str:
    """Return the growth bounds of erf and the law of the weights, the hypotheses of the kernel's limit."""
    """Return the growth bounds of erf and the law of the weights, the hypotheses of the kernel's limit."""
    law = "D = N(0, 1): Assumption 11.14 (mean 0, variance 1, moments of all orders): yes"
    return (f"abs(erf(x)) <= 1 and abs(erf'(x)) <= {ERF_LIPSCHITZ:.3f}, so R = {ERF_LIPSCHITZ:.3f} bounds both by "
            f"R (1 + abs(x)): yes; {law}; zero biases b_0, c_0 as in "
            f"{'(11.5.3)' if parametrization == 'lecun' else '(11.6.2)'}: yes")


def mean_claim(parametrization: Parametrization, design: Design, grams: dict[int, FloatArray], limit: FloatArray,
               part: FloatArray) -> tuple[Claim, dict[str, Any]]:
    """Return the claim that the mean of the scaled Gram is its exact expectation, and its numbers."""
    widths = (design.narrow, design.wide)
    tests = len(widths) * len(limit) * (len(limit) + 1) // 2
    thresholds = {width: t_threshold(tests, len(grams[width])) for width in widths}
    z = {width: mean_z(grams[width], expected_gram(limit, part, width)) for width in widths}
    control = {width: mean_z(grams[width], expected_gram((1 + CONTROL_ERROR) * limit, part, width))
               for width in widths}
    numbers: dict[str, Any] = {"widths": list(widths), "z": [z[width] for width in widths],
               "largest_abs_z": [_largest(z[width]) for width in widths],
               "threshold": [thresholds[width] for width in widths], "tests": tests,
               "control_z": [control[width] for width in widths]}
    measured = "; ".join(f"n = {width} ({len(grams[width])} networks): max abs(t) = {_largest(z[width]):.2f}"
                         for width in widths)
    measured += (f". With {_LIMIT[parametrization]} off by 1%: max abs(t) = {_largest(control[design.wide]):.1f} at "
                 f"n = {design.wide}, {_largest(control[design.narrow]):.1f} at n = {design.narrow}")
    if parametrization == "lecun":
        numbers["without_finite_width_part_z"] = mean_z(grams[design.narrow], limit)
        measured += (f"; with the 1/n part B/n left out: {_largest(numbers['without_finite_width_part_z']):.1f} at "
                     f"n = {design.narrow}")
        expectation = "E[K_n/n] = K_LC + B/n, B = (1 + x.z) E[erf'(u.x) erf'(u.z)] + 1 (closed forms)"
    else:
        expectation = "E[K_n] = K_NTK at every width (closed form)"
    claim = Claim(
        key=f"kernel-{parametrization}-mean",
        reference=_REFERENCE[parametrization],
        statement=(f"{_NAME[parametrization]}: the mean over networks of {_SCALED[parametrization]} "
                   f"({ACTIVATION}, {POINTS} points, d = {INPUT_DIM}) is its exact expectation, entry by entry, at "
                   f"n = {design.narrow} and n = {design.wide}"),
        predicted=expectation,
        measured=measured,
        holds=all(_largest(z[width]) <= thresholds[width] for width in widths),
        hypothesis=_growth_hypothesis(parametrization),
        hypothesis_holds=True,
        criterion=("every entry's t = (mean - expectation) / standard error (over the networks) has abs(t) <= "
                   + " and ".join(f"{thresholds[width]:.2f} (n = {width})" for width in widths)
                   + f": Bonferroni over {tests} entries at family level {LEVEL:g}"))
    return claim, numbers


def rate_claim(parametrization: Parametrization, design: Design, grams: dict[int, FloatArray], limit: FloatArray,
               part: FloatArray) -> tuple[Claim, dict[str, Any], dict[str, Any]]:
    """Return the claim that the fluctuation around the exact expectation decays like ``n^-1/2``.

    With it its numbers, and the errors the figure draws.
    """
    fit, widths, errors = rate_fit(grams, design, limit, part)
    threshold = student_t_quantile(1 - LEVEL / 2, fit.points - 2)
    control, _, control_errors = rate_fit(grams, design, (1 + CONTROL_ERROR) * limit, part)
    numbers = {"fit": fit_record(fit), "z": slope_z(fit), "interval_contains_rate": interval_contains(fit, RATE),
               "control_fit": fit_record(control), "control_z": slope_z(control),
               "sqrt_n_times_mean_error": [float(np.mean(errors[widths == width]) * math.sqrt(width))
                                           for width in (*design.grid, design.wide)]}
    reference = "E[K_n/n]" if parametrization == "lecun" else "K_NTK"
    claim = Claim(
        key=f"kernel-{parametrization}-rate",
        reference=_REFERENCE[parametrization],
        statement=(f"{_NAME[parametrization]}: the fluctuation abs({_SCALED[parametrization]} - {reference})_F of "
                   f"one network{'' if parametrization == 'lecun' else ' (K_NTK = E[K_n])'} decays like n^-1/2 (a mean "
                   f"of n i.i.d. terms; central limit theorem)"),
        predicted=f"slope {RATE}",
        measured=(f"slope {slope_text(fit)} (t = {slope_z(fit):+.2f}) over {fit.points} networks, widths "
                  f"{design.grid[0]}..{design.wide}. With {_LIMIT[parametrization]} off by 1%: slope "
                  f"{control.slope:.3f} (t = {slope_z(control):+.1f})"),
        holds=interval_contains(fit, RATE),
        hypothesis=_growth_hypothesis(parametrization),
        hypothesis_holds=True,
        criterion=(f"the fitted exponent's {1 - LEVEL:.1%} t interval (least squares of log error on log n, every "
                   f"network one point) contains -1/2: abs(t) <= {threshold:.2f} (level {LEVEL:g})"))
    data = {"widths": widths, "error": errors, "control_error": control_errors}
    return claim, numbers, data


def band_counts(grams: FloatArray, limit: FloatArray) -> dict[str, Any]:
    """Count the networks ``grams`` (``K_n/n``) with their eigenvalues in Lemma 11.19's band.

    The band is ``[lmin_LC/2, 2 lmax_LC]`` (the band of ``K_n`` divided by ``n``); also
    counted: the networks that satisfy the proof's sufficient condition
    ``abs(K_n/n - K_LC)_2 <= lmin_LC/2``.
    """
    lmin, lmax = np.linalg.eigvalsh(limit)[[0, -1]]
    spectra = np.linalg.eigvalsh(grams)
    deviation = np.linalg.norm(grams - limit, ord=2, axis=(1, 2))
    return {"inside_band": int(np.sum((spectra[:, 0] >= lmin / 2) & (spectra[:, -1] <= 2 * lmax))),
            "proof_condition_held": int(np.sum(deviation <= lmin / 2)),
            "smallest_over_lmin": [float(spectra[:, 0].min() / lmin), float(spectra[:, 0].max() / lmin)],
            "largest_over_lmax": [float(spectra[:, -1].min() / lmax), float(spectra[:, -1].max() / lmax)]}


def lemma_claim(design: Design, grams: dict[int, FloatArray], limit: FloatArray, part: FloatArray,
                X: FloatArray) -> tuple[Claim, dict[str, Any]]:
    """Return the claim of Lemma 11.19 and its numbers.

    At every width: the band and the proof's sufficient condition; at the wide width, the
    sharp Rayleigh-quotient test.
    """
    lmin, lmax = (float(value) for value in np.linalg.eigvalsh(limit)[[0, -1]])
    widths = sorted(grams)
    counts = {width: band_counts(grams[width], limit) for width in widths}
    networks = {width: len(grams[width]) for width in widths}
    wide, wide_networks = counts[design.wide], networks[design.wide]
    z = rayleigh_z(grams[design.wide], expected_gram(limit, part, design.wide))
    control = rayleigh_z(grams[design.wide], expected_gram((1 + CONTROL_ERROR) * limit, part, design.wide))
    threshold = t_threshold(2, wide_networks)
    condition_from = [width for width in widths
                      if all(counts[w]["proof_condition_held"] == networks[w] for w in widths if w >= width)]
    numbers: dict[str, Any] = {"lmin_LC": lmin, "lmax_LC": lmax, "widths": widths,
                               "networks": [networks[w] for w in widths],
               **{key: [counts[w][key] for w in widths] for key in counts[widths[0]]},
               "proof_condition_from": condition_from[0] if condition_from else None,
               "rayleigh_z": list(z), "control_rayleigh_z": list(control), "threshold": threshold}
    inside_everywhere = sum(numbers["inside_band"])
    claim = Claim(
        key="lemma-11-19",
        reference="Lemma 11.19",
        statement=("LeCun: for n >= n_0 the eigenvalues of K_n(X, X) lie in [n lmin_LC/2, 2 n lmax_LC]; sharp "
                   "content: those of K_n/n tend to lmin_LC and lmax_LC (the Rayleigh quotients of K_n/n at the "
                   "extreme eigenvectors of E[K_n/n] average to its extreme eigenvalues)"),
        predicted=(f"band [{lmin / 2:.4f} n, {2 * lmax:.3f} n]; the Rayleigh quotients' means are the extreme "
                   f"eigenvalues of K_LC + B/n"),
        measured=(f"band held in {wide['inside_band']} of {wide_networks} networks at n = {design.wide} (in "
                  f"{inside_everywhere} of {sum(networks.values())} at all widths {widths[0]}..{widths[-1]}); there "
                  f"lambda_min(K_n/n)/lmin_LC in [{wide['smallest_over_lmin'][0]:.3f}, "
                  f"{wide['smallest_over_lmin'][1]:.3f}], lambda_max(K_n/n)/lmax_LC in "
                  f"[{wide['largest_over_lmax'][0]:.4f}, {wide['largest_over_lmax'][1]:.4f}]; Rayleigh t = "
                  f"{z[0]:+.2f} (smallest), {z[1]:+.2f} (largest). With K_LC off by 1%: t = {control[0]:+.1f}, "
                  f"{control[1]:+.1f}"),
        holds=bool(wide["inside_band"] == wide_networks and max(abs(z[0]), abs(z[1])) <= threshold),
        hypothesis=(f"{_assumption_11_18(X, lmin, lmax)}; n >= n_0 (the chapter gives no n_0): the proof's sufficient "
                    f"condition abs(K_n/n - K_LC)_2 <= lmin_LC/2 held in {wide['proof_condition_held']} of "
                    f"{wide_networks} networks at n = {design.wide}"
                    + (f" and in every network from n = {condition_from[0]} on" if condition_from else "")),
        hypothesis_holds=bool(lmin > 0 and wide["proof_condition_held"] == wide_networks),
        criterion=(f"every network at n = {design.wide} inside the band (the lemma's bound), and both Rayleigh t "
                   f"statistics (standard errors over the networks) within +-{threshold:.2f} (Bonferroni over 2 at "
                   f"level {LEVEL:g})"))
    return claim, numbers
