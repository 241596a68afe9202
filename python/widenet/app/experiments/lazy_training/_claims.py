"""The claims of Theorem 11.23, Propositions 11.25 and 11.26 and Remark 11.24, and the misprints."""

from __future__ import annotations

from typing import Any

import numpy as np

from widenet.app.experiments._base import Claim, Correction, Parametrization
from widenet.app.experiments._slopes import LEVEL, SlopeTest, power_law_fit
from widenet.app.experiments._statistics import FloatArray
from widenet.app.experiments.lazy_training._setup import (
    CHECKPOINTS,
    CONVERGED,
    NAMES,
    POINTS,
    QUANTITIES,
    STEP_FRACTION,
    TANH_LIPSCHITZ_DERIVATIVE,
    TEST_POINTS,
)
from widenet.dynamics.lazy_training import LazyTrainingData
from widenet.sweeps import SlopeFit


def _convergence(measured: dict[str, FloatArray]) -> tuple[bool, str]:
    """Return whether every run (network and linearization) ended below ``CONVERGED`` relative loss, and the text."""
    largest = float(np.max(measured["relative_loss"]))
    linear = float(np.max(measured["relative_loss_linearized"]))
    held = max(largest, linear) <= CONVERGED
    steps = measured["steps"]
    return held, (f"trained to convergence: largest final f(w_k)/f(w0) {largest:.1e} (linearizations "
                  f"{linear:.1e}) <= {CONVERGED:g} after {int(min(steps))} to {int(max(steps))} steps: "
                  f"{'yes' if held else 'no'}")


def _hypotheses(parametrization: Parametrization, measured: dict[str, FloatArray], limits: dict[str, FloatArray],
                data: LazyTrainingData) -> tuple[str, bool]:
    """Return the hypotheses of Theorem 11.23 (LeCun) or of the NTK parametrization's analogue.

    Each with its measured constant; and whether all hold.
    """
    X, y, _ = data
    converged, convergence = _convergence(measured)
    low, high = (float(value) for value in np.linalg.eigvalsh(limits[parametrization])[[0, -1]])
    name = "K_LC" if parametrization == "lecun" else "K_NTK"
    regular = f"{name}(X, X) regular, eigenvalues in [{low:.4f}, {high:.4f}]: {'yes' if low > 0 else 'no'}"
    activation = (f"tanh(0) = 0, Lip(tanh) = 1, Lip(tanh') = {TANH_LIPSCHITZ_DERIVATIVE:.3f}; abs(x) = 1 for every "
                  f"training and test point, abs(y_i) <= {float(np.max(np.abs(y))):.3f}")
    if parametrization == "ntk":
        text = (f"the chapter states no theorem for the NTK parametrization (Section 11.6.2 refers to the "
                f"literature); here {activation}; {regular}; zero biases (11.6.2), D = N(0, 1); step "
                f"{STEP_FRACTION} / (lambda_min + lambda_max) of every network's Gram at w0 (Theorem 11.13's "
                f"(11.4.4)): yes; {convergence}")
        return text, bool(low > 0 and converged)
    constant = float(measured["lr"][0]) * float(measured["widths"][0])
    limit = 2.0 / (low + 4.0 * high)
    smallest = measured["smallest_eigenvalue"] / low
    largest = measured["largest_eigenvalue"] / high
    inside = int(np.sum((smallest >= 0.5) & (largest <= 2.0)))
    lemma = inside == smallest.size
    text = (f"Assumption 11.18: (a), (b) {activation} (R = 1); (c) {regular}; initialization (11.5.3) with "
            f"D = N(0, 1) (Assumption 11.14): yes; step h n = {constant:.4f} < 2/(lmin_LC + 4 lmax_LC) = "
            f"{limit:.4f}: yes; n >= n_0 (Lemma 11.19's event: the eigenvalues of Theta(w0)/n in [lmin_LC/2, "
            f"2 lmax_LC]): held in {inside} of {smallest.size} networks (lambda_min/lmin_LC >= "
            f"{smallest.min():.2f}, lambda_max/lmax_LC <= {largest.max():.2f}); {convergence}")
    return text, bool(low > 0 and constant < limit and lemma and converged)


def _control_power(test: SlopeTest) -> str:
    """Return how many standard errors of ``test`` an ``n^0.1`` error would move the fitted exponent."""
    return f"an n^0.1 error would move it by 0.1 = {0.1 / test.stderr:.0f} standard errors"


def _criterion(test: SlopeTest, what: str) -> str:
    """Return the criterion of a claim tested by ``test`` (the fit is ``what``)."""
    return (f"two-sided: {test.criterion()} ({what}; t quantile at level {LEVEL:g} with {test.points - 2} degrees of "
            f"freedom, allowance for the next order in 1/n as measured in the module's comments)")


def _claims(parametrization: Parametrization, tests: dict[str, tuple[SlopeFit, SlopeTest]],
            measured: dict[str, FloatArray], limits: dict[str, FloatArray], data: LazyTrainingData) -> list[Claim]:
    """Return the three claims of one parametrization: the distance, the output gap and the kernel change."""
    hypothesis, holds = _hypotheses(parametrization, measured, limits, data)
    distance, gap, kernel = (tests[quantity][1] for quantity in QUANTITIES)
    name = NAMES[parametrization]
    largest = measured["widths"] == measured["widths"].max()
    gap_fits = {side: power_law_fit(measured["widths"], measured[f"gap_{side}"], side) for side in ("train", "test")}
    gap_text = (f"slope {gap.text()} (training points alone {gap_fits['train'].slope:.2f}, test points "
                f"{gap_fits['test'].slope:.2f})")
    if parametrization == "lecun":
        ratio = np.sqrt(measured["widths"] * measured["distance"] ** 2 / measured["corrected_factor"])[largest]
        first = [
            Claim(key="theorem-11-23", reference="Theorem 11.23",
                  statement=("LeCun: sup_k abs(w_k - w0) <= C n^-1/2; sharp: it is sqrt(r0.(n K_LC + B)^-1 r0) "
                             "(1 + O(n^-1/2)), the distance of the linearization's limit. Fitted: the exponent of "
                             "sup_k abs(w_k - w0) / sqrt(r0.K_LC^-1 r0), weighted by n (its scatter falls like "
                             "n^-1/2)"),
                  predicted=f"chapter: slope <= -0.5; sharp: slope {distance.predicted:.4f} (-1/2 and the known B/n "
                            f"term)",
                  measured=(f"slope {distance.text()}; at n = {int(measured['widths'].max())} sup_k abs(w_k - w0) / "
                            f"sqrt(r0.(n K_LC + B)^-1 r0) = {ratio.mean():.4f} +- {ratio.std(ddof=1):.4f} (mean +- "
                            f"sd over networks); {_control_power(distance)}"),
                  holds=distance.holds, hypothesis=hypothesis, hypothesis_holds=holds,
                  criterion=_criterion(distance, "weighted least squares, every network one point"))]
    else:
        first = [
            Claim(key="distance-ntk", reference="Section 11.6 (Theorem 11.23 analogue)",
                  statement=("NTK parametrization: abs(w_k - w0) = O(1) against abs(w0) ~ (n (d + 1))^1/2: "
                             "sup_k abs(w_k - w0) / abs(w0) ~ n^-1/2. Fitted: the exponent of that ratio divided by "
                             "sqrt(r0.K_NTK^-1 r0) (the linearization's limit), weighted by n"),
                  predicted="slope -0.5",
                  measured=f"slope {distance.text()}; {_control_power(distance)}",
                  holds=distance.holds, hypothesis=hypothesis, hypothesis_holds=holds,
                  criterion=_criterion(distance, "weighted least squares, every network one point"))]
    sharp = {"lecun": ("-2: under LeCun the hidden layer moves n times less than under the NTK parametrization, "
                       "where the nonlinear effects are O(1/n)"),
             "ntk": "-1: sums over the units of mean-zero fluctuations (the known 1/n corrections)"}[parametrization]
    references = {"lecun": ("Proposition 11.26", "Proposition 11.25"),
                  "ntk": ("Section 11.6 (Proposition 11.26 analogue)", "Section 11.6 (Proposition 11.25 analogue)")}
    scaled = "(1/n) abs(Theta(w_k) - Theta(w0))_2" if parametrization == "lecun" else "abs(Theta(w_k) - Theta(w0))_2"
    return first + [
        Claim(key="proposition-11-26" if parametrization == "lecun" else "gap-ntk",
              reference=references[parametrization][0],
              statement=(f"{name}: sup_k abs(Phi(x, w_k) - Phi_lin(x, p_k)) <= C n^-1/2 for abs(x) <= 1, the sup over "
                         f"every step of runs trained to convergence and over the {POINTS} training and "
                         f"{TEST_POINTS} test points (all of norm 1); sharp exponent {sharp}"),
              predicted=f"chapter: slope <= -0.5; sharp: slope {gap.predicted:.1f}",
              measured=gap_text, holds=gap.holds, hypothesis=hypothesis, hypothesis_holds=holds,
              criterion=_criterion(gap, "least squares, every network one point")),
        Claim(key="proposition-11-25" if parametrization == "lecun" else "kernel-ntk",
              reference=references[parametrization][1],
              statement=(f"{name}: {scaled} <= C n^-1/2 for all k: the sup over the {CHECKPOINTS} checkpoints of "
                         f"each run (log-spaced, the last step among them); sharp exponent {sharp}"),
              predicted=f"chapter: slope <= -0.5; sharp: slope {kernel.predicted:.1f}",
              measured=f"slope {kernel.text()}", holds=kernel.holds, hypothesis=hypothesis, hypothesis_holds=holds,
              criterion=_criterion(kernel, "least squares, every network one point")),
    ]


def _remark_claim(remark: dict[str, Any]) -> Claim:
    """Return the claim that Remark 11.24's corrected closed form is the iterated linearized gradient descent."""
    return Claim(
        key="remark-11-24", reference="Remark 11.24 (corrected)",
        statement=(f"the linearized model's outputs on the training points after k steps are B^k Phi_lin(X, p0) + "
                   f"sum_{{j<k}} B^j A y (A = 2 h Theta(w0), B = I - A): widenet's linearized gradient descent, "
                   f"iterated step by step, equals this closed form at every step k = 0..{remark['steps']} (LeCun, "
                   f"n = {remark['width']}, first network)"),
        predicted="equal to rounding",
        measured=(f"largest difference {remark['corrected_error']:.1e} (with the printed B^k in the sum: "
                  f"{remark['printed_error']:.2g})"),
        holds=bool(remark["corrected_error"] <= remark["tolerance"]),
        hypothesis=(f"A regular and B^k -> 0: spectral radius of B = {remark['spectral_radius']:.4f} < 1 (the step of "
                    f"Theorem 11.23): {'yes' if remark['spectral_radius'] < 1 else 'no'}"),
        hypothesis_holds=bool(remark["spectral_radius"] < 1),
        criterion=(f"largest difference over steps and points <= {remark['tolerance']:.1e} = 16 (k + 1) m eps max(1, "
                   f"abs(Phi(X, w0)), abs(y)) (rounding of k steps of m-term products, float64)"))


def _corrections(remark: dict[str, Any]) -> list[Correction]:
    """Return the chapter's misprint in Remark 11.24, with this run's numbers."""
    return [Correction(
        reference="Remark 11.24",
        printed="Phi_lin(X, p_k) = B^k Phi_lin(X, p_0) + sum_{i=0}^{k-1} B^k A y, and sum_{j=0}^inf B^k = A^-1",
        corrected="sum_{j=0}^{k-1} B^j A y, and sum_{j=0}^inf B^j = A^-1 (the Neumann series); widenet's closed "
                  "form (LinearizedModel.train) is the corrected one",
        evidence=(f"against the linearized gradient descent iterated step by step (LeCun, n = {remark['width']}, "
                  f"{remark['steps']} steps): the corrected form differs by at most {remark['corrected_error']:.1e}, "
                  f"the printed one by {remark['printed_error']:.2g}; sum_{{j<{remark['neumann_terms']}}} B^j equals "
                  f"A^-1 to a relative {remark['neumann_error']:.1e}"))]
