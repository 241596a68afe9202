"""Figures 11.1 and 11.2: a one-parameter model, its linearization, and where GD ends.

The model is one tanh unit with input weight ``w`` and a linear skip connection, at the
single data point ``x_1 = 3`` (``m = 1``):

    Phi(x, w) = tanh(w x) - c w x,   c = 0.2,

so ``w -> Phi(x_1, w)`` rises from ``w0 = 0.1`` to a peak ``Phi = 0.605`` at ``w = 0.48``
and falls after it; it reaches large values again only for ``w < -3``. Its linearization
(11.3.1) at ``w0`` is ``Phi_lin(w) = Phi(w0) + Phi'(w0) (w - w0)``; the tangent kernel is
``K(x_1, x_1) = Phi'(w0)^2``, and GD on ``f(w) = (Phi(x_1, w) - y_1)^2`` takes the step
``h = 1 / (lambda_min + lambda_max) = 1 / (2 Phi'(w0)^2)`` of Theorem 11.13.

- Figure 11.1 (``y_1 = 0.4``): ``Phi`` stays close to ``Phi_lin`` between ``w0`` and the
  solution, the loss is convex there, and GD reaches a global minimizer (loss 0).
- Figure 11.2 (``y_1 = 1.0``): ``Phi_lin`` reaches ``y_1`` at ``w = 0.46``, but there
  ``Phi`` is far from it; GD stops at the peak, a stationary point with loss 0.155, while
  the global minimum (loss 0) is at ``w = -3.33``, on the other side of a barrier.

Both claims are sharp and two-sided: GD's limit is the point computed apart (the root of
``Phi = y_1`` by bisection, the peak in closed form) to rounding, and GD approaches it at
the rate of its linearization there: ``e_{k+1} / e_k -> g'(w*) = 1 - h f''(w*)`` for the
error ``e_k = w_k - w*``, with the Taylor remainder ``h sup |f'''| |e_k|`` (mean value
theorem) and the rounding of ``e_k`` as the tolerance.

Theorem 11.13's hypotheses are evaluated exactly here (:func:`assumption_11_12`): in one
dimension the suprema ``U`` and ``L`` of (11.4.2) over ``B_r(w0)`` are maxima of closed
forms. Assumption 11.12 (c) fails in both figures (Figure 11.1 by a factor 3.8), so the
step ``h`` is Theorem 11.13's but its conclusion is not guaranteed: Figure 11.1 shows GD
finding the global minimum anyway ((c) is sufficient, not necessary), Figure 11.2 shows
what can happen without it.
"""

from __future__ import annotations

from widenet.app.experiments._base import Control, Experiment, Perturbation
from widenet.app.experiments.linearization_1d._bounds import assumption_11_12, local_rate, rounding_level
from widenet.app.experiments.linearization_1d._figure import plot
from widenet.app.experiments.linearization_1d._model import (
    EPS,
    NAME,
    RATE_WINDOW,
    SKIP,
    STEPS,
    TARGETS,
    W0,
    WINDOW,
    X1,
    Real,
    global_minimizers,
    gradient_descent,
    linearization,
    loss,
    loss_derivative,
    loss_second_derivative,
    loss_third_derivative,
    model,
    model_derivative,
    model_second_derivative,
    model_third_derivative,
    peak,
)
from widenet.app.experiments.linearization_1d._run import run

EXPERIMENT = Experiment(
    name=NAME,
    title="A one-parameter model and its linearization: when GD finds the global minimum",
    reference="Figures 11.1 and 11.2",
    run=run,
    plot=plot,
    controls={
        "gradient-doubled": Control(Perturbation("gradient", 2.0), ("figure-11-1", "figure-11-2"),
                                    "GD's gradient f' twice the true one (the rate 1 - 2 h f'' instead of 1 - h f'')"),
        "gradient-halved": Control(Perturbation("gradient", 0.5), ("figure-11-1", "figure-11-2"),
                                   "GD's gradient half the true one (the factor 2 of (Phi - y)^2 dropped)"),
        "step-doubled": Control(Perturbation("step", 2.0), ("figure-11-1", "figure-11-2"),
                                "the predicted rates computed with twice the step GD takes"),
    },
)


__all__ = ["assumption_11_12", "EPS", "EXPERIMENT", "global_minimizers", "gradient_descent", "linearization",
           "local_rate", "loss", "loss_derivative", "loss_second_derivative", "loss_third_derivative", "model",
           "model_derivative", "model_second_derivative", "model_third_derivative", "NAME", "peak", "plot",
           "RATE_WINDOW", "Real", "rounding_level", "run", "SKIP", "STEPS", "TARGETS", "W0", "WINDOW", "X1"]
