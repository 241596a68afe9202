"""The wording the claims share: numbers as text and the theorems' hypotheses."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from widenet.app.experiments._statistics import FloatArray
from widenet.app.experiments.figure_11_3._setup import WIDTH


def _fmt(values: npt.ArrayLike, spec: str = ".3f") -> str:
    """Return ``values`` as text, ``"[a, b, ...]"``, each number formatted with ``spec``."""
    return "[" + ", ".join(format(float(value), spec) for value in np.ravel(values)) + "]"


def _z_text(values: npt.ArrayLike) -> str:
    """Return deviates as text; those of an impossible prediction (a negative variance) as ">1e6"."""
    return "[" + ", ".join(f"{value:.2f}" if abs(value) < 1e6 else ">1e6" for value in np.ravel(values)) + "]"


def _extension_hypothesis() -> str:
    """Return the text on the hypotheses (11.5.3) and Assumption 11.14 for the initialization (11.5.11)."""
    return ("(11.5.3) holds with other variances and nonzero biases, the variants the chapter allows after "
            "(11.5.3) and in its exercises: (11.5.11) has variances 3 and biases N(0, 2): yes under that reading; "
            "D normal (Assumption 11.14): yes")


def _step_hypothesis(scale: float, lr: float, eigenvalues: FloatArray) -> tuple[str, bool]:
    """Return Theorem 11.23's step condition as ``(text, holds)``.

    The condition is for the sum loss, which the mean loss with step ``lr`` equals with
    step ``lr * scale``.
    """
    low, high = eigenvalues[0], eigenvalues[-1]
    admissible = 2.0 / ((low + 4.0 * high) * WIDTH)
    step = lr * scale
    verdict = "yes" if step < admissible else f"no, {100 * (step / admissible - 1):.0f}% above"
    return (f"the step bound h < 2 / ((lmin_LC + 4 lmax_LC) n) = {admissible:.4g} (lmin_LC = {low:.4f}, lmax_LC = "
            f"{high:.4f}) for the sum loss, which the mean loss with h = 1/n is with step h s = {step:.4g}: {verdict} "
            f"(the linearized model's own stability, 2 h s n lmax_LC = {2 * step * WIDTH * high:.2f} < 2: "
            f"{'yes' if 2 * step * WIDTH * high < 2 else 'no'})", bool(step < admissible))
