"""The networks: the statistics' ensemble, the figure's trained ensemble and the sum-loss run."""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import numpy as np

from widenet.app.experiments._base import Progress
from widenet.app.experiments._statistics import FloatArray
from widenet.app.experiments.figure_11_3._setup import (
    CONFIG,
    COVARIANCE_POINTS,
    DIVERGENCE_STEPS,
    EARLY_POINTS,
    EARLY_STEPS,
    FIGURE_NETWORKS,
    RATE_WINDOW,
    ROUNDING,
    STEPS,
    WIDTH,
)
from widenet.network.ensemble import ShallowEnsemble
from widenet.reference.activations import activation


def _statistics_ensemble(size: int, width: int, seed: int, X: FloatArray, y: FloatArray, grid: FloatArray,
                         lr: float, progress: Progress) -> dict[str, Any]:
    """Return the outputs and losses of ``size`` networks at initialization and after the first steps.

    Their outputs at initialization at ``grid`` and at :data:`COVARIANCE_POINTS`, then
    trained: their losses at 0 and after each of :data:`EARLY_STEPS`, and their outputs then
    at :data:`EARLY_POINTS` (the training records give the outputs at initialization too;
    every record costs a forward pass of all networks at its test points, so later records
    take the early points only).
    """
    ensemble = ShallowEnsemble(size, 1, width, seed=seed, **CONFIG)
    early = np.array(EARLY_POINTS)[:, None]
    first = np.concatenate([early, np.array(COVARIANCE_POINTS)[:, None], grid])
    outputs: dict[int, FloatArray] = {}
    losses: dict[int, FloatArray] = {}
    done = 0
    for k in progress.steps(EARLY_STEPS, len(EARLY_STEPS), "first steps"):
        record = ensemble.train(X, y, lr=lr, steps=k - done, record_every=k - done,
                                X_test=first if done == 0 else early, loss="mean", on_divergence="return")
        assert record.test_outputs is not None  # recorded: X_test is given
        outputs.setdefault(0, record.test_outputs[:, 0])
        losses.setdefault(0, record.losses[:, 0])
        outputs[k], losses[k], done = record.test_outputs[:, -1, :early.shape[0]], record.losses[:, -1], k
    covariance = early.shape[0] + len(COVARIANCE_POINTS)
    return dict(grid=outputs[0][:, covariance:], covariance=outputs[0][:, early.shape[0]:covariance],
                early={k: outputs[k] for k in EARLY_STEPS}, losses=losses)


def _rounding_scale(ensemble: ShallowEnsemble, X: FloatArray, y: FloatArray) -> FloatArray:
    """Return a bound on the rounding error of each network's residual vector ``Phi(X) - y``.

    Per network, ``sqrt(m) gamma_(n+2) max_i (sum_j |v_j s(u_j x_i + b_j)| + |c| + |y_i|)``
    (the forward sum of ``n + 2`` terms), at the current parameters (over
    :data:`RATE_WINDOW` the bound changes by a relative 1e-5: one value serves the window).
    """
    U, b, v, c = ensemble.params
    hidden = activation(ensemble.activation, U[:, None, :, 0] * X[None, :, 0, None] + b[:, None, :])
    terms = np.abs(v[:, None, :] * hidden)
    magnitude = terms.sum(axis=2) + np.abs(c)[:, None] + np.abs(y)[None, :]
    count = ensemble.width + 2
    gamma = count * ROUNDING / (1.0 - count * ROUNDING)
    return math.sqrt(X.shape[0]) * gamma * magnitude.max(axis=1)


def _grams(ensemble: ShallowEnsemble, X: FloatArray) -> FloatArray:
    """Return every member's tangent Gram ``K_n(X, X)`` at its current parameters."""
    return np.array([ensemble.member(r).ntk(X) for r in range(ensemble.size)])


def _figure_ensemble(size: int, seed: int, X: FloatArray, y: FloatArray, grid: FloatArray, lr: float,
                     progress: Progress) -> dict[str, Any]:
    """Return the records of ``size`` networks trained for :data:`STEPS` steps.

    Their outputs on the grid before and after, the losses at 0, the ends of
    :data:`RATE_WINDOW` and the end, the tangent Grams at initialization and at the
    window's ends, and the rounding scale of the residual at the window's end.
    """
    ensemble = ShallowEnsemble(size, 1, WIDTH, seed=seed, **CONFIG)
    before, initial_grams = ensemble.forward(grid), _grams(ensemble, X)
    losses: dict[int, FloatArray] = {}
    grams: dict[int, FloatArray] = {}
    done = 0
    train = partial(ensemble.train, X, y, lr=lr, loss="mean", on_divergence="return")
    for k in progress.steps(RATE_WINDOW, len(RATE_WINDOW), "training"):
        record = train(steps=k - done, record_every=k - done)
        losses.setdefault(0, record.losses[:, 0])
        losses[k], grams[k], done = record.losses[:, -1], _grams(ensemble, X), k
    rounding = _rounding_scale(ensemble, X, y)
    record = train(steps=STEPS - done, record_every=STEPS - done, X_test=grid)
    losses[STEPS] = record.losses[:, -1]
    assert record.test_outputs is not None  # recorded: X_test is given
    return dict(before=before, after=record.test_outputs[:, -1], losses=losses, grams=grams,
                initial_grams=initial_grams, rounding=rounding)


def _sum_loss_growth(seed: int, X: FloatArray, y: FloatArray, lr: float) -> tuple[FloatArray, int]:
    """Train the figure's networks on the chapter's sum loss with step ``lr``.

    Returns per network the largest loss within :data:`DIVERGENCE_STEPS` steps over the
    initial one, and the count of runs stopped as diverged.
    """
    run = ShallowEnsemble(FIGURE_NETWORKS, 1, WIDTH, seed=seed, **CONFIG).train(
        X, y, lr=lr, steps=DIVERGENCE_STEPS, record_every=1, loss="sum", on_divergence="return")
    growth = np.nanmax(run.losses, axis=1) / run.losses[:, 0]  # later records of a stopped run are NaN
    stopped = 0 if run.diverged_at is None else int(np.sum(np.asarray(run.diverged_at) >= 0))
    return growth, stopped
