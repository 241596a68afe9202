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

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional, Sequence, Union

import numpy as np
import numpy.typing as npt

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
from widenet.app.experiments._rates import as_fit, fit_record, interval_contains, slope_text
from widenet.app.experiments._statistics import FloatArray
from widenet.kernels import limit_kernel
from widenet.network.shallow import ShallowNetwork
from widenet.reference.limit_kernels import closed_form_expectations, covariances
from widenet.sweeps import SlopeFit, fit_slope, student_t_quantile, sweep

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from widenet.app.experiments._plotting import Directory

ACTIVATION = "erf"
POINTS = 6
INPUT_DIM = 8
RATE = -0.5
# False-alarm level of every claim (Bonferroni over the tests inside a claim).
LEVEL = 1e-3
CONTROL_ERROR = 0.01  # the limits' perturbation of the negative controls


@dataclass(frozen=True)
class Design:
    """The networks of one run: how many at which widths.

    ``grid_networks`` at each width of ``grid`` and ``wide_networks`` at ``wide`` (the rate
    fit), ``narrow_networks`` at ``narrow`` (with the wide ones, the mean tests).
    """

    grid: tuple[int, ...]
    grid_networks: int
    narrow: int
    narrow_networks: int
    wide: int
    wide_networks: int


# Why these numbers (d = 8): at the wide width the standard error of each entry of the mean
# is about 0.04% (full) / 0.06% (quick) of the diagonal of K_LC, so the 1% controls sit 18 to
# 24 standard errors away in quick mode (base seeds 0 .. 5); at width 64 the 1/n part of
# E[K_n/n] is about 40 standard errors.
# The wide networks in the rate fit give it the power to see a 1% error of the limit (the
# error then stops decaying near n = 2^15). The grid starts at 256: below, the LeCun
# fluctuation carries a visible 1/n^2 part (from the U and b blocks), which made the fitted
# exponent 0.004 too shallow with the grid from 64 (t statistic biased by +0.3 over base
# seeds 100 .. 172). From 256 (quick design, base seeds 100 .. 179 LeCun, 100 .. 159 NTK):
# the t statistic of the exponent against -1/2 has mean +0.04 / +0.08 and standard
# deviation 1.05 / 1.08, none beyond 2.7; the exponent -0.4995 +- 0.011 / -0.499 +- 0.018.
FULL = Design(grid=tuple(2 ** k for k in range(8, 15)), grid_networks=16, narrow=64, narrow_networks=256,
              wide=2 ** 16, wide_networks=96)
QUICK = Design(grid=tuple(2 ** k for k in range(8, 14)), grid_networks=16, narrow=64, narrow_networks=256,
               wide=2 ** 15, wide_networks=48)

PARAMETRIZATIONS: tuple[Parametrization, ...] = ("lecun", "ntk")
_NAME = {"lecun": "LeCun", "ntk": "NTK parametrization"}
_LIMIT = {"lecun": "K_LC", "ntk": "K_NTK"}
_REFERENCE = {"lecun": "Theorem 11.16", "ntk": "Theorem 11.30"}
_SCALED = {"lecun": "K_n/n", "ntk": "K_n"}

_POINTS_STREAM = 1116  # random streams of the points and of the networks, apart from other experiments
_NETWORK_STREAM = 1130


# -- the measurement -----------------------------------------------------------------------
def kernel_points(seed: int = 0, points: int = POINTS, input_dim: int = INPUT_DIM) -> FloatArray:
    """Return ``points`` random points with ``abs(x)^2 = input_dim`` (so ``Sigma(x, x) = 1``)."""
    X = np.random.default_rng([_POINTS_STREAM, seed]).standard_normal((points, input_dim))
    return X * math.sqrt(input_dim) / np.linalg.norm(X, axis=1, keepdims=True)


def cell_seed(base: int, width: int, index: int) -> np.random.SeedSequence:
    """Return the seed of one network: independent for every (base seed, width, index)."""
    return np.random.SeedSequence([_NETWORK_STREAM, base, width, index])


def scaled_gram(X: FloatArray, width: int, parametrization: Parametrization,
                seed: np.random.SeedSequence) -> FloatArray:
    """Return ``K_n(X, X) / n`` (LeCun, Theorem 11.16) or ``K_n(X, X)`` (NTK, Theorem 11.30)."""
    network = ShallowNetwork(X.shape[1], width, ACTIVATION, parametrization, seed=seed)
    gram = network.ntk(X)
    return gram / width if parametrization == "lecun" else gram


def _entry(i: Union[int, np.integer[Any]], j: Union[int, np.integer[Any]]) -> str:
    """Return the record name of the Gram entry ``(i, j)``."""
    return f"g{i}_{j}"


def gram_cell(width: int, seed: int, *, parametrization: Parametrization, base: int, X: FloatArray) -> dict[str, float]:
    """Return one network's scaled Gram, its upper triangle as ``{"g{i}_{j}": value}``."""
    gram = scaled_gram(X, width, parametrization, cell_seed(base, width, seed))
    rows, columns = np.triu_indices(len(X))
    return {_entry(i, j): float(gram[i, j]) for i, j in zip(rows, columns)}


def _grams(table: npt.NDArray[np.void], points: int) -> FloatArray:
    """Return the symmetric Grams ``(cells, points, points)`` of a sweep's table."""
    grams = np.empty((len(table), points, points))
    for i, j in zip(*np.triu_indices(points)):
        grams[:, i, j] = grams[:, j, i] = table[_entry(i, j)]
    return grams


def measure_grams(parametrization: Parametrization, design: Design, base: int, X: FloatArray,
                  progress: Progress) -> dict[int, FloatArray]:
    """Return ``{width: Grams (networks, m, m)}`` of every network of ``design``."""
    groups = (((design.narrow,), design.narrow_networks), (design.grid, design.grid_networks),
              ((design.wide,), design.wide_networks))
    grams: dict[int, FloatArray] = {}
    for widths, networks in groups:
        table = sweep(gram_cell, widths, range(networks), progress=progress.enabled, parametrization=parametrization,
                      base=base, X=X).table()
        grams.update({width: _grams(table[table["width"] == width], len(X)) for width in widths})
    return grams


# -- the predictions -----------------------------------------------------------------------
def erf_expectations(X: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Return ``E_ss = K_LC`` and ``E_dd`` of erf at the rows of ``X`` (closed forms)."""
    S11, S22, S12 = covariances(X, X)
    return closed_form_expectations(S11, S22, S12, ACTIVATION)


def finite_width_part(X: FloatArray) -> FloatArray:
    """Return ``B`` of ``E[K_n/n] = K_LC + B/n`` (LeCun, zero biases): ``(1 + x.z) E_dd + 1``.

    It is the mean of the ``U``, ``b`` and ``c`` blocks of ``K_n`` (proof of Theorem 11.16).
    """
    return (1.0 + X @ X.T) * erf_expectations(X)[1] + 1.0


def expected_gram(limit: FloatArray, part: FloatArray, width: int) -> FloatArray:
    """Return the exact ``E[K_n/n]`` (LeCun: ``part`` = B) or ``E[K_n]`` (NTK: ``part`` = 0)."""
    return limit + part / width


# -- the tests -----------------------------------------------------------------------------
def mean_z(grams: FloatArray, expected: FloatArray) -> FloatArray:
    """Return ``(mean - expected) / standard error`` of every entry of the upper triangle.

    The standard error is from the sample of networks.
    """
    rows, columns = np.triu_indices(grams.shape[1])
    entries = grams[:, rows, columns]
    standard_error = entries.std(axis=0, ddof=1) / math.sqrt(len(entries))
    return (entries.mean(axis=0) - expected[rows, columns]) / standard_error


def _largest(values: npt.ArrayLike) -> float:
    """Return the largest absolute value of ``values``."""
    return float(np.max(np.abs(values)))


def t_threshold(tests: int, networks: int) -> float:
    """Return the two-sided Bonferroni threshold of ``tests`` t statistics over ``networks`` at level :data:`LEVEL`."""
    return student_t_quantile(1.0 - LEVEL / (2 * tests), networks - 1)


def rayleigh_z(grams: FloatArray, expected: FloatArray) -> tuple[float, ...]:
    """Test the Rayleigh quotients ``a.G a`` at the extreme eigenvectors ``a`` of ``expected``.

    Returns their mean minus the eigenvalue in standard errors, for the smallest and the largest.
    """
    values, vectors = np.linalg.eigh(expected)
    extremes = vectors[:, [0, -1]]
    quotients = np.einsum("ia,nij,ja->na", extremes, grams, extremes)
    standard_error = quotients.std(axis=0, ddof=1) / math.sqrt(len(quotients))
    return tuple(float(value) for value in (quotients.mean(axis=0) - values[[0, -1]]) / standard_error)


def frobenius_errors(grams: dict[int, FloatArray], widths: Sequence[int], limit: FloatArray,
                     part: FloatArray) -> tuple[npt.NDArray[np.int_], FloatArray]:
    """Return ``(widths, abs(G - E[G])_F)`` of every network at each of ``widths``."""
    sizes = np.concatenate([np.full(len(grams[width]), width) for width in widths])
    errors = np.concatenate([np.linalg.norm(grams[width] - expected_gram(limit, part, width), axis=(1, 2))
                             for width in widths])
    return sizes, errors


def rate_fit(grams: dict[int, FloatArray], design: Design, limit: FloatArray,
             part: FloatArray) -> tuple[SlopeFit, npt.NDArray[np.int_], FloatArray]:
    """Fit the exponent of ``abs(G - E[G])_F ~ n^slope`` over the grid and the wide networks.

    Returns the fit with its ``1 - LEVEL`` interval, the networks' widths and their errors.
    """
    widths, errors = frobenius_errors(grams, (*design.grid, design.wide), limit, part)
    return fit_slope(widths, errors, "error", confidence=1.0 - LEVEL), widths, errors


def slope_z(fit: SlopeFit) -> float:
    """Return the fitted exponent's distance from -1/2 in standard errors."""
    return (fit.slope - RATE) / fit.stderr


# -- Assumption 11.18 for erf --------------------------------------------------------------
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
    limits = {parametrization: factor_of(perturbation, _LIMIT[parametrization]) * limit_kernel(
        X, activation=ACTIVATION, parametrization=parametrization, kind="ntk") for parametrization in PARAMETRIZATIONS}
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


# -- the figure ----------------------------------------------------------------------------
def _rate_panel(ax: Axes, data: dict[str, Any], fit: SlopeFit, parametrization: Parametrization) -> None:
    """Draw the errors against the width (log-log), the fit and the n^-1/2 prediction on ``ax``.

    The prediction is drawn apart from the fit (a factor 3 below the data, so it never hides
    under the fitted line), and in grey the errors against the limit off by 1%, which stop
    decaying.
    """
    widths = np.asarray(data["widths"], dtype=float)
    ax.loglog(widths, np.asarray(data["control_error"], dtype=float), "x", color="0.6", markersize=4,
              label=f"against 1.01 {_LIMIT[parametrization]} (a control)")
    ax.loglog(widths, np.asarray(data["error"], dtype=float), "o", color="C0", alpha=0.45, markersize=4)
    grid = np.geomspace(widths.min(), widths.max(), 50)
    low, high = fit.interval
    ax.loglog(grid, np.exp(fit.intercept) * grid ** fit.slope, "-", color="C0",
              label=f"fit: slope {fit.slope:.3f} [{low:.3f}, {high:.3f}]")
    centre = np.mean(np.log(widths))
    level = np.exp(fit.intercept + (fit.slope - RATE) * centre)  # n^-1/2 through the fit at the centre
    ax.loglog(grid, level * grid ** RATE / 3.0, "--", color="k", linewidth=1.2,
              label="n^-1/2 (the prediction, drawn 3x lower)")
    ax.set_xlabel("width n")
    ax.set_ylabel("abs(G - E[G])_F")
    ax.set_title(f"{_NAME[parametrization]}: fluctuation of {_SCALED[parametrization]}", fontsize=10)
    ax.legend(fontsize=7)


def _mean_panel(ax: Axes, result: ExperimentResult) -> None:
    """Draw the t statistics of the mean tests, entry by entry, with their thresholds, on ``ax``.

    In grey those of the controls (the limit off by 1%; for LeCun at the narrow width, the
    1/n part left out).
    """
    labels = []
    for offset, parametrization in enumerate(PARAMETRIZATIONS):
        mean = result.numbers[parametrization]["mean"]
        for shift, width in enumerate(mean["widths"]):
            position = 2 * offset + shift
            for key, marker, color in (("z", "o", f"C{offset}"), ("control_z", "x", "0.5")):
                values = np.asarray(mean[key][shift], dtype=float)
                ax.plot(position + np.linspace(-0.25, 0.25, values.size), values, marker, color=color, markersize=4)
            threshold = mean["threshold"][shift]
            ax.plot([position - 0.35, position + 0.35], [threshold] * 2, "--", color="0.3", linewidth=1)
            ax.plot([position - 0.35, position + 0.35], [-threshold] * 2, "--", color="0.3", linewidth=1)
            labels.append(f"{_SCALED[parametrization]}\nn = {width}")
        if "without_finite_width_part_z" in mean:
            values = np.asarray(mean["without_finite_width_part_z"], dtype=float)
            ax.plot(2 * offset + np.linspace(-0.25, 0.25, values.size), values, "^", color="0.7", markersize=4)
    ax.set_yscale("symlog", linthresh=5.0)
    ticks = [-30, -10, -5, -2, 0, 2, 5, 10, 30]
    ax.set_yticks(ticks, [str(tick) for tick in ticks])
    ax.set_xticks(range(len(labels)), labels, fontsize=8)
    ax.set_ylabel("t = (mean - exact expectation) / s.e.")
    ax.set_title(f"Mean over networks, entry by entry (dashed: thresholds, level {LEVEL:g});\n"
                 f"grey: limit off by 1% (x), LeCun's 1/n part left out (triangles)", fontsize=9)


def _spectrum_panel(ax: Axes, result: ExperimentResult) -> None:
    """Draw Lemma 11.19 on ``ax``: the fraction of networks inside the band at each width.

    And the fraction of those where the proof's sufficient condition holds.
    """
    lemma = result.numbers["lemma_11_19"]
    networks = np.asarray(lemma["networks"], dtype=float)
    for key, style, label in (("inside_band", "o-", "eigenvalues of K_n in [n lmin/2, 2 n lmax]"),
                              ("proof_condition_held", "s--", "proof's condition abs(K_n/n - K_LC)_2 <= lmin/2")):
        ax.semilogx(lemma["widths"], np.asarray(lemma[key]) / networks, style, label=label)
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel("width n")
    ax.set_ylabel("fraction of networks")
    ax.set_title("Lemma 11.19 (LeCun)", fontsize=10)
    ax.legend(fontsize=7)


def plot(result: ExperimentResult, directory: Directory) -> list[str]:
    """Draw one figure into ``directory``: the fluctuation against the width for each parametrization.

    With the n^-1/2 prediction and the 1%-off control, the mean tests' t statistics, and
    Lemma 11.19's band at each width.
    """
    from widenet.app.experiments._plotting import figure, save

    fig, axes = figure(columns=2, rows=2)
    for ax, parametrization in zip(axes[0], PARAMETRIZATIONS):
        _rate_panel(ax, result.data[parametrization], as_fit(result.numbers[parametrization]["fit"]),
                    parametrization)
    _mean_panel(axes[1][0], result)
    _spectrum_panel(axes[1][1], result)
    fig.suptitle(f"Theorems 11.16, 11.30 and Lemma 11.19: the tangent Gram at initialization, "
                 f"{result.settings['activation']}")
    return [save(fig, directory, "kernel-convergence")]


EXPERIMENT_NAME = "kernel-convergence"
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
