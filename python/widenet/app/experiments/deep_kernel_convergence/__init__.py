"""Beyond the chapter: the tangent kernel of deep networks converges to its limit like ``n^-1/2``.

The chapter proves that the tangent kernel of a one-hidden-layer network converges to a
deterministic limit (Theorems 11.16 and 11.30) and says that similar considerations hold
for deep networks. This experiment measures it for fully-connected networks of 2 and 3
hidden layers of equal width ``n`` (docs/theory.md, section 8), without biases: under the
NTK parametrization ``K_n`` against the limit ``Theta`` of the layer recursion, under
LeCun's ``K_n/n`` against the recursion that :func:`widenet.limit_kernel` gives for
``parametrization="lecun", kind="ntk"``.

``K_n`` is a sum over the units of the last layer of terms that depend on the layers below,
whose own empirical covariances fluctuate by ``O(n^-1/2)`` around the recursion's; so the
error ``abs(K_n - Theta)_F`` of one network is ``O(n^-1/2)``, and its mean ``O(1/n)`` part
(which the one-layer experiment knows in closed form) is of lower order. The claim fits the
exponent of the error over the widths, every network one point, and tests two-sided that
-1/2 lies in the fit's interval. Without biases, LeCun's ``K_n`` has a single block of size
``O(1)``, the first layer's, whose share of ``K_n/n`` (an ``O(1/n)`` bias) leaves the exponent
unchanged from ``n = 64`` on.

The activation is erf on the points of the one-layer experiment (six points on the sphere
``abs(x)^2 = d`` in ``d = 8``): its expectations are closed forms, so the limit carries no
quadrature error.

Negative control: the limit kernel off by 10% (the fluctuation of one network at the largest
width is several percent of the kernel, so a smaller error leaves the decay too little changed
to be seen with this many networks).
"""

from __future__ import annotations

from typing import Any, Optional

from widenet.app.experiments._base import (
    SILENT,
    Claim,
    Control,
    Experiment,
    ExperimentResult,
    Parametrization,
    Perturbation,
    Progress,
    factor_of,
)
from widenet.app.experiments._statistics import FloatArray
from widenet.app.experiments.deep_kernel_convergence._claims import rate_claim
from widenet.app.experiments.deep_kernel_convergence._figure import plot
from widenet.app.experiments.deep_kernel_convergence._measure import (
    cell_seed,
    deep_network,
    gram_cell,
    measure_grams,
    scaled_gram,
)
from widenet.app.experiments.deep_kernel_convergence._setup import (
    ACTIVATION,
    BEYOND_CHAPTER,
    CONTROL_ERROR,
    DEPTHS,
    EXPERIMENT_NAME,
    FULL,
    LEVEL,
    PARAMETRIZATIONS,
    QUICK,
    RATE,
    Design,
)
from widenet.app.experiments.kernel_convergence import INPUT_DIM, POINTS, kernel_points
from widenet.kernels import limit_kernel

# The limit kernels are looked up here, where a test can patch them in to see the claims fail.


def limits(X: FloatArray, depth: int, perturbation: Optional[Perturbation]) -> dict[Parametrization, FloatArray]:
    """Return the infinite-width tangent kernels of both parametrizations at ``depth`` (LeCun's: of ``K_n/n``)."""
    factor = factor_of(perturbation, "limit kernel")
    return {parametrization: factor * limit_kernel(X, activation=ACTIVATION, parametrization=parametrization,
                                                   kind="ntk", depth=depth, bias=False)
            for parametrization in PARAMETRIZATIONS}


def run(quick: bool = False, seed: int = 0, progress: Progress = SILENT,
        perturbation: Optional[Perturbation] = None) -> ExperimentResult:
    """Fit the exponent of the deep tangent kernel's error against its limit, at depths 2 and 3.

    See the module docstring. ``quick`` runs 12 networks at each width ``2^6 .. 2^10`` instead
    of 20; ``seed`` is the base seed of the points and of every network; ``perturbation``, a
    negative control, scales both limits (``"limit kernel"``).
    """
    design = QUICK if quick else FULL
    X = kernel_points(seed)
    numbers: dict[str, Any] = {}
    data: dict[str, Any] = {"points": X}
    claims: list[Claim] = []
    for depth in DEPTHS:
        limit = limits(X, depth, perturbation)
        grams = measure_grams(depth, design, seed, X, progress)
        for parametrization in PARAMETRIZATIONS:
            claim, claim_numbers, claim_data = rate_claim(depth, parametrization, design, grams[parametrization],
                                                          limit[parametrization])
            claims.append(claim)
            numbers[f"{parametrization}_depth_{depth}"] = claim_numbers
            data[f"{parametrization}_depth_{depth}"] = claim_data
    settings = {"activation": ACTIVATION, "points": POINTS, "input_dim": INPUT_DIM, "depths": list(DEPTHS),
                "bias": False, "widths": list(design.widths), "networks_per_width": design.networks,
                "base_seed": seed, "level": LEVEL, "quick": quick,
                "perturbation": None if perturbation is None else [perturbation.quantity, perturbation.factor]}
    return ExperimentResult(EXPERIMENT_NAME, settings, numbers, claims, data)


EXPERIMENT = Experiment(
    name=EXPERIMENT_NAME,
    title="Convergence of the tangent kernel of deep networks (beyond the chapter)",
    reference="Theorems 11.16 and 11.30 at depths 2 and 3",
    run=run,
    plot=plot,
    controls={
        f"limit kernel off by {CONTROL_ERROR:.0%}": Control(
            Perturbation("limit kernel", 1.0 + CONTROL_ERROR),
            tuple(f"deep-kernel-{p}-depth-{depth}" for depth in DEPTHS for p in PARAMETRIZATIONS),
            f"both infinite-width tangent kernels scaled by {1 + CONTROL_ERROR:g}"),
    },
    beyond_chapter=BEYOND_CHAPTER,
)


__all__ = ["ACTIVATION", "cell_seed", "CONTROL_ERROR", "deep_network", "DEPTHS", "Design", "EXPERIMENT",
           "EXPERIMENT_NAME", "FULL", "gram_cell", "LEVEL", "limits", "measure_grams", "PARAMETRIZATIONS", "plot",
           "QUICK", "RATE", "rate_claim", "run", "scaled_gram"]
