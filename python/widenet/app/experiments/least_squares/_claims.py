"""The claims of Theorem 11.3 and Remark 11.4, and the chapter's misprints this experiment shows."""

from __future__ import annotations

from typing import Any, Optional

from widenet.app.experiments._base import Claim, Correction
from widenet.app.experiments.least_squares._setup import STEP_FRACTION


def _format(value: Optional[float], spec: str) -> str:
    """Return ``value`` formatted with ``spec``, or "n/a (nothing measurable)" for None."""
    return "n/a (nothing measurable)" if value is None else format(value, spec)


def _shape(row: dict[str, Any]) -> str:
    """Return the shape of a row's matrix as text, ``"m x d"``."""
    return f"{row['shape'][0]} x {row['shape'][1]}"


def _factor_text(row: dict[str, Any]) -> str:
    """Return a row's measured per-step factor and its tolerance as text."""
    return (f"{_format(row['measured_factor'], '.6f')} over steps 0-{row['factor_step']} (log off by "
            f"{_format(row['factor_deviation_over_tolerance'], '.2g')} of its tolerance "
            f"{_format(row['factor_log_tolerance'], '.1e')})")


ROUNDING_WORDS = ("rounding: the bound on each GD step's error (gamma_n of its sums) carried through the steps, plus "
                  "the first-order error of the computed w* and P_ker w0 (3 kappa, kappa^2 |r_min| / s_max and 2 "
                  "kappa times the SVD's backward error gamma_(m d))")
FACTOR_CRITERION = ("|log(measured factor) - log(predicted)| <= [-log(1 - B_k/|c_k|) - log(1 - B_0/|c_0|)] / k + "
                    "4 h s_max^2 gamma_(m d) / predicted, where c_k is the error's component along the singular "
                    "vector of the largest factor and B_k its rounding bound (the steps' error carried to k, the "
                    "limit's error, the singular vector's error gamma_(m d) s_max / gap times the distance); k is the "
                    "step with the smallest tolerance")


def _claims(under: dict[str, Any], over: dict[str, Any], outside: list[dict[str, Any]], kernel: dict[str, Any],
            min_loss_factor: float) -> list[Claim]:
    """Return the claims of Theorem 11.3 (both shapes, the steps outside its interval) and of Remark 11.4."""
    inside = _inside(under, over)
    return [*_limit_claims(under, over, inside), *_minimizer_claims(under, over, inside, min_loss_factor),
            _step_range_claim(under, outside), _kernel_claim(kernel)]


def _inside(under: dict[str, Any], over: dict[str, Any]) -> str:
    """Return Theorem 11.3's hypotheses for the runs inside its step interval."""
    return (f"h in (0, 1/(2 s_max^2)): yes, h = {STEP_FRACTION:g}/(2 s_max^2) (2 h s_max^2 = "
            f"{under['step_times_2_s_max_squared']:.3f} and {over['step_times_2_s_max_squared']:.3f}); A any real "
            f"matrix: yes, {_shape(under)} and {_shape(over)} Gaussian (condition numbers "
            f"{under['condition_number']:.2f} and {over['condition_number']:.2f})")


def _limit_claims(under: dict[str, Any], over: dict[str, Any], inside: str) -> list[Claim]:
    """Return the claims of Theorem 11.3's limit and its rate, for both shapes."""
    both = (under, over)
    return [
        Claim(
            reference="Theorem 11.3",
            key="limit",
            statement=(f"GD on |Aw - y|^2 from w0 != 0 converges to w* + P_ker(A) w0, for A of shapes {_shape(under)} "
                       f"and {_shape(over)} (run for {under['steps']} and {over['steps']} steps, until rate^k < "
                       "1e-15)."),
            predicted="|w_K - (w* + P_ker w0)| = 0 up to rate^K d_0 and rounding",
            measured="; ".join(f"{_shape(r)}: {r['distance_to_predicted_limit']:.1e} (from "
                               f"{r['initial_distance']:.2f}; tolerance {r['distance_tolerance']:.1e})"
                               for r in both),
            holds=all(r["distance_to_predicted_limit"] <= r["distance_tolerance"] for r in both),
            hypothesis=inside,
            hypothesis_holds=True,
            criterion=f"|w_K - w_lim| <= rate^K d_0 + {ROUNDING_WORDS}",
        ),
        Claim(
            reference="Theorem 11.3 (rate; Exercise 11.32)",
            key="rate",
            statement=("The distance to the limit contracts by rate = max_i |1 - 2 h s_i^2| over the nonzero singular "
                       "values per step: the error's component along the singular vector attaining the maximum is "
                       "multiplied by exactly that factor at every step, and the whole distance is never above "
                       "rate^k d_0."),
            predicted=f"per-step factor {under['predicted_rate']:.6f} ({_shape(under)}), "
                      f"{over['predicted_rate']:.6f} ({_shape(over)}); no step above rate^k d_0",
            measured=("; ".join(f"{_shape(r)}: {_factor_text(r)}" for r in both)
                      + f"; steps above rate^k d_0 + rounding: {under['envelope_violations']}, "
                        f"{over['envelope_violations']}"),
            holds=all(r["factor_held"] and r["envelope_violations"] == 0 for r in both),
            hypothesis=inside,
            hypothesis_holds=True,
            criterion=f"{FACTOR_CRITERION}; and d_k <= rate^k d_0 + rounding at every step",
        ),
    ]


def _minimizer_claims(under: dict[str, Any], over: dict[str, Any], inside: str,
                      min_loss_factor: float) -> list[Claim]:
    """Return the claims that the limit is not the minimum-norm solution and that the loss tends to min f."""
    both = (under, over)
    predicted_losses = [min_loss_factor * row["min_loss"] for row in both]
    return [
        Claim(
            reference="Theorem 11.3, Proposition 11.2",
            key="min-norm",
            statement=("The limit is not the minimum-norm solution w* = A^+ y: the part P_ker(A) w0 of the start "
                       "survives, |w_lim - w*| = |P_ker w0|. Started in the row space (P_row w0), GD reaches w*, the "
                       f"unique minimizer there (A of shape {_shape(under)})."),
            predicted=(f"|w_K - w*| = |P_ker w0| = {under['predicted_distance_to_min_norm']:.4f}; from P_row w0: "
                       "|w_K - w*| = 0"),
            measured=(f"|w_K - w*| = {under['distance_to_min_norm']:.4f} (|w_K| = {under['norm_limit']:.3f} > "
                      f"|w*| = {under['norm_min_norm']:.3f}); from P_row w0: "
                      f"{under['row_space_start_distance_to_min_norm']:.1e} (tolerance "
                      f"{under['row_space_start_tolerance']:.1e})"),
            holds=bool(abs(under["distance_to_min_norm"] - under["predicted_distance_to_min_norm"])
                       <= under["distance_tolerance"]
                       and under["row_space_start_distance_to_min_norm"] <= under["row_space_start_tolerance"]
                       and under["kernel_part_norm"] > under["distance_tolerance"]),
            hypothesis=inside,
            hypothesis_holds=True,
            criterion=(f"||w_K - w*| - |P_ker w0|| <= the limit's tolerance {under['distance_tolerance']:.1e} "
                       "(triangle inequality), |P_ker w0| above it (the two limits are told apart); from P_row w0, "
                       "|w_K - w*| <= its own run's tolerance"),
        ),
        Claim(
            reference="Theorem 11.3 (proof sketch)",
            key="min-loss",
            statement=("The loss tends to min f = |(I - A A^+) y|^2: 0 for the underdetermined A (full row rank), "
                       "positive for the overdetermined one (the proof sketch's f(w_k) -> 0 holds only when y is in "
                       "the range of A)."),
            predicted="; ".join(f"{_shape(r)}: f(w_K) = min f = {f:.4g}" for r, f in zip(both, predicted_losses)),
            measured="; ".join(f"{_shape(r)}: f(w_K) = {r['final_loss']:.4g} (tolerance {r['loss_tolerance']:.1e})"
                               for r in both),
            holds=all(abs(r["final_loss"] - f) <= r["loss_tolerance"] for r, f in zip(both, predicted_losses)),
            hypothesis=inside,
            hypothesis_holds=True,
            criterion=("|f(w_K) - min f| <= (|r_K| + |r_min| + D) D, D = s_max times the limit's tolerance plus the "
                       "rounding of both residuals (gamma_(d+1) and the projector's 2 kappa gamma_(m d))"),
        ),
    ]


def _step_range_claim(under: dict[str, Any], outside: list[dict[str, Any]]) -> Claim:
    """Return the claim on the steps outside Theorem 11.3's interval: converging up to 1/s_max^2, diverging beyond."""
    outside_converging = [row for row in outside if row["converges"]]
    outside_diverging = [row for row in outside if not row["converges"]]
    return Claim(
        reference="Theorem 11.3 (outside its step interval)",
        key="step-range",
        statement=("The interval (0, 1/(2 s_max^2)) is sufficient, not sharp: at its endpoint and up to "
                   "h < 1/s_max^2 GD still converges, the error along the singular vector of the largest factor "
                   "multiplied by max_i |1 - 2 h s_i^2| < 1 per step; beyond 1/s_max^2 it diverges, that "
                   f"component multiplied by |1 - 2 h s_max^2| > 1 per step (A of shape {_shape(under)})."),
        predicted="; ".join(f"h = {r['multiple_of_endpoint']:g}/(2 s_max^2): factor {r['predicted_rate']:.6f}"
                            for r in outside),
        measured="; ".join(f"h = {r['multiple_of_endpoint']:g}/(2 s_max^2): {_factor_text(r)}" for r in outside),
        holds=bool(all(r["factor_held"] for r in outside) and outside_converging and outside_diverging),
        hypothesis=("h in (0, 1/(2 s_max^2)): no, h = " + ", ".join(f"{r['multiple_of_endpoint']:g}"
                                                                   for r in outside)
                    + " times 1/(2 s_max^2). Shown instead: GD converges at the predicted rate for every "
                      "h < 1/s_max^2 (twice the endpoint) and diverges beyond it."),
        hypothesis_holds=False,
        criterion=(f"at each step: {FACTOR_CRITERION}; the steps' errors are carried by the norm max(1, rate) of "
                   "the GD map"),
    )


def _kernel_claim(kernel: dict[str, Any]) -> Claim:
    """Return the claim of Remark 11.4: GD on the feature model converges to the kernel estimator plus the w0 term."""
    return Claim(
        reference="Remark 11.4, (11.2.3)-(11.2.4)",
        key="kernel-limit",
        statement=(f"GD on the feature model <phi(x), w> with the polynomial features of degree {kernel['degree']} "
                   f"({kernel['features']} features, {kernel['points']} points) converges to the kernel "
                   "least-squares estimator plus <phi(x), P_ker w0>; from w0 = 0 to the estimator itself."),
        predicted="max over the grid |Phi(x, w_K) - (KLS(x) + <phi(x), P_ker w0>)| = 0 up to rounding",
        measured=(f"{kernel['final_gap_to_remark_11_4']:.1e} (tolerance {kernel['tolerance']:.1e}; the w0 term "
                  f"reaches {kernel['initial_part_max_on_grid']:.2f} between the points, "
                  f"{kernel['initial_part_max_on_training_points']:.1e} at them); from w0 = 0: "
                  f"{kernel['gap_from_zero_to_kernel_estimator']:.1e} (tolerance "
                  f"{kernel['tolerance_from_zero']:.1e})"),
        holds=bool(kernel["final_gap_to_remark_11_4"] <= kernel["tolerance"]
                   and kernel["gap_from_zero_to_kernel_estimator"] <= kernel["tolerance_from_zero"]),
        hypothesis=(f"a small enough step (Theorem 11.3's interval for the feature matrix F): yes, 2 h "
                    f"s_max(F)^2 = {kernel['step_times_2_s_max_squared']:.3f}; phi a feature map of (1 + x z)^"
                    f"{kernel['degree']} in H = R^{kernel['features']}: "
                    + ("yes" if kernel["feature_gram_vs_kernel"] <= kernel["feature_gram_tolerance"] else "no")
                    + f", max |F F^T - K| = {kernel['feature_gram_vs_kernel']:.1e} (rounding bound "
                      f"{kernel['feature_gram_tolerance']:.1e})"),
        hypothesis_holds=bool(kernel["feature_gram_vs_kernel"] <= kernel["feature_gram_tolerance"]),
        criterion=("max_x |Phi(x, w_K) - limit(x)| <= max_x [rate^K |phi(x)| |F^+ r_0| + the first-order rounding "
                   f"of both solves with the Gram (condition kappa(F)^2 = {kernel['condition_number']**2:.0f}, "
                   "backward error gamma_(m P)) and of the projector P_ker]; the same from w0 = 0 against KLS"),
    )


def _corrections(under: dict[str, Any], over: dict[str, Any], kernel: dict[str, Any]) -> list[Correction]:
    """Return the chapter's misprints this experiment shows, with this run's numbers."""
    return [
        Correction(
            reference="(11.1.3)",
            printed="w* := argmin over {w : f(w) < f(v) for all v in R^d} of |w|",
            corrected=("the set {w : f(w) <= f(v) for all v} of minimizers, as in Section 11.2 (with '<' the set is "
                       "empty: take v = w)"),
            evidence=(f"two distinct minimizers, w* and the GD limit w* + P_ker w0 (|difference| = "
                      f"{under['distance_to_min_norm']:.2f}), have f = {under['loss_at_min_norm']:.1e} and "
                      f"{under['final_loss']:.1e}, both 0 to rounding: neither is strictly below the other"),
        ),
        Correction(
            reference="Theorem 11.3 (proof sketch)",
            printed="By Exercise 10.34 and Theorem 10.11, for small enough step size, it holds f(w_k) -> 0",
            corrected=("f(w_k) -> min f = |(I - A A^+) y|^2, which is 0 only when y is in the range of A (e.g. A of "
                       "full row rank); the rest of the argument is unchanged"),
            evidence=(f"for the {_shape(over)} A, f(w_K) = {over['final_loss']:.4f} = min f = {over['min_loss']:.4f} "
                      f"> 0 after {over['steps']} steps, the iterates at {over['distance_to_predicted_limit']:.1e} "
                      "from A^+ y"),
        ),
        Correction(
            reference="Theorem 11.7 (proof)",
            printed="|w*|_H^2 < |w~|_H^2 + |w^|_H^2 = |w|_H",
            corrected="... = |w|_H^2 (Pythagoras: w~ and w^ are orthogonal)",
            evidence=(f"the kernel case's GD limit w = w* + P_ker w0 has |w|^2 = {kernel['norm_limit_squared']:.6f} = "
                      f"|w*|^2 + |P_ker w0|^2 = {kernel['norm_min_norm_squared']:.6f} + "
                      f"{kernel['kernel_part_norm_squared']:.6f}, while |w| = {kernel['norm_limit']:.6f}"),
        ),
        Correction(
            reference="Exercise 11.35",
            printed="Let n in N and consider the polynomial kernel K(x, x') = (1 + x^T x')^r",
            corrected="Let r in N (the exponent; n is not used)",
            evidence=(f"the {kernel['features']} monomial features of degree up to r = {kernel['degree']} reproduce "
                      f"(1 + x z)^{kernel['degree']}: max |F F^T - K| = {kernel['feature_gram_vs_kernel']:.1e}"),
        ),
    ]
