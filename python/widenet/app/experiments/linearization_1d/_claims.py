"""The claims of Figures 11.1 and 11.2."""

from __future__ import annotations

from typing import Any

from widenet.app.experiments._base import Claim
from widenet.app.experiments.linearization_1d._model import RATE_WINDOW, SKIP, W0, X1, loss


def _hypothesis(case: dict[str, Any], lr: float) -> str:
    """Return Theorem 11.13's hypotheses for one case, with the exact constants."""
    c = case["assumption_11_12"]
    return (f"Theorem 11.13's step: h = 1/(lambda_min + lambda_max) = {lr:.4f}: yes. Assumption 11.12 (exact, "
            f"m = n = 1): (a) lambda = Phi'(w0)^2 = {c['lambda']:.3f} > 0: yes; (b) on B_r(w0), r = {c['r']:.3f}: "
            f"U = max |Phi'| = {c['U']:.3f}, L = max |Phi''| = {c['L']:.3f}; (c) L <= lambda^2/(12 U^2 sqrt(f(w0))) "
            f"= {c['bound']:.3f}: {'yes' if c['held'] else 'NO'} (L/bound = {c['ratio']:.2f}, f(w0) = {c['f0']:.4f}), "
            "for every admissible choice of the constants")


def _claims(good: dict[str, Any], bad: dict[str, Any], lr: float, good_limit_held: bool,
            bad_limit_held: bool) -> list[Claim]:
    """Return the claims of Figure 11.1 (``good``) and Figure 11.2 (``bad``): where GD ends, and how fast."""
    rate_criterion = (f"every step ratio e_(k+1)/e_k with {RATE_WINDOW[0]:g} <= |e_k| <= {RATE_WINDOW[1]:g} within "
                      "h sup|f'''| |e_k| (Taylor remainder, mean value theorem) + 2 delta/|e_k| (rounding) of the "
                      "prediction")
    return [
        Claim(
            reference="Figure 11.1",
            key="figure-11-1",
            statement=(f"Phi(w) = tanh({X1:g} w) - {SKIP * X1:g} w stays close to its linearization at w0 = {W0:g} "
                       f"between w0 and the solution (y_1 = {good['target']:g}), the loss is convex there, and GD "
                       f"(h = 1/(2 Phi'(w0)^2)) converges to the global minimizer w* = {good['limit']:.6f} (the root "
                       "of Phi = y_1, by bisection) at the rate of its linearization there."),
            predicted=(f"w_GD = w* to rounding, Phi(w_GD) = y_1; e_(k+1)/e_k -> 1 - h f''(w*) = "
                       f"{good['predicted_rate']:.5f}"),
            measured=(f"w_GD - w* = {good['limit_error']:.1e}, |Phi(w_GD) - y_1| = "
                      f"{abs(good['residual_at_w_gd']):.1e}; "
                      f"step ratios {good['rate_range'][0]:.5f} .. {good['rate_range'][1]:.5f} over "
                      f"{len(good['rate_steps'])} steps, largest deviation {good['rate_worst']:.2f} of its tolerance; "
                      f"max |Phi - Phi_lin| on [{good['interval'][0]:.3f}, {good['interval'][1]:.3f}] = "
                      f"{good['max_model_linearization_gap']:.3f} "
                      f"({100 * good['relative_model_linearization_gap']:.0f}% of |y_1 - Phi(w0)|); "
                      f"min f'' there = {good['min_loss_curvature_on_interval']:.2f}"),
            holds=bool(good_limit_held and good["rate_held"] and good["min_loss_curvature_on_interval"] > 0),
            hypothesis=(_hypothesis(good, lr) + ". Shown instead: GD finds the global minimum although (c) fails "
                        "((c) is sufficient, not necessary)."),
            hypothesis_holds=good["assumption_11_12"]["held"],
            criterion=(f"|w_GD - w*| <= delta = 16 eps (1 + |w*|) = {good['rounding_level']:.1e} and |Phi(w_GD) - y_1| "
                       f"<= 8 eps max(1, |y_1|) (rounding); {rate_criterion}; f'' > 0 between w0 and w*"),
        ),
        Claim(
            reference="Figure 11.2",
            key="figure-11-2",
            statement=(f"For y_1 = {bad['target']:g} the linearization reaches y_1 at w_lin = {bad['w_lin']:.3f}, but "
                       f"Phi(w_lin) = {bad['model_at_w_lin']:.3f}: Phi and Phi_lin are not close. GD from w0 converges "
                       f"to the peak w_p = artanh(sqrt(1 - c))/x_1 = {bad['limit']:.6f} of Phi, a stationary point "
                       f"with loss (Phi(w_p) - y_1)^2 > 0, at the rate of its linearization there; the global minimum "
                       f"0 is at w = {bad['nearest_global_minimizer']:.3f}."),
            predicted=(f"w_GD = w_p to rounding, f(w_GD) = {float(loss(bad['limit'], bad['target'])):.4f}; "
                       f"e_(k+1)/e_k -> 1 - h f''(w_p) = {bad['predicted_rate']:.5f}"),
            measured=(f"w_GD - w_p = {bad['limit_error']:.1e}, f(w_GD) = {bad['loss_at_w_gd']:.4f}; step ratios "
                      f"{bad['rate_range'][0]:.5f} .. {bad['rate_range'][1]:.5f} over {len(bad['rate_steps'])} steps, "
                      f"largest deviation {bad['rate_worst']:.2f} of its tolerance; max |Phi - Phi_lin| on "
                      f"[{bad['interval'][0]:.3f}, {bad['interval'][1]:.3f}] = "
                      f"{bad['max_model_linearization_gap']:.3f} "
                      f"({100 * bad['relative_model_linearization_gap']:.0f}% of |y_1 - Phi(w0)|)"),
            holds=bool(bad_limit_held and bad["rate_held"]),
            hypothesis=(_hypothesis(bad, lr) + ". Shown instead: without (c), GD can stop at a stationary point that "
                        "is not a global minimizer."),
            hypothesis_holds=bad["assumption_11_12"]["held"],
            criterion=(f"|w_GD - w_p| <= delta = 16 eps (1 + |w_p|) = {bad['rounding_level']:.1e} (rounding), "
                       f"f(w_p) above rounding while Phi = y_1 has a root (loss 0); {rate_criterion}"),
        ),
    ]
