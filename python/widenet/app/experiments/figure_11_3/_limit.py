"""The infinite-width predictions: the Gaussian process of the linearized model after k GD steps."""

from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np

from widenet._spectral import gd_decay, gd_filter
from widenet.app.experiments._base import SILENT, Progress
from widenet.app.experiments._statistics import FloatArray
from widenet.app.experiments.figure_11_3._setup import CONFIG, EARLY_STEPS, STEPS, WIDTH
from widenet.kernels import limit_kernel
from widenet.regression.ntk_regression import NTKRegressor


def limit_kernels(points: FloatArray, X: FloatArray, diagonal: bool = False, nngp_factor: float = 1.0,
                  test_factor: float = 1.0, progress: Progress = SILENT,
                  config: Optional[dict[str, Any]] = None) -> dict[str, FloatArray]:
    """Return the limit kernels the predictions need at the data ``X`` and the test ``points``.

    ``K_LC`` and ``K_NTK`` on ``X x X`` and ``points x X``, the NNGP covariance ``C`` on
    ``X x X``, ``points x X`` and ``points x points`` (its diagonal when ``diagonal``).

    ``nngp_factor`` scales every ``C``, ``test_factor`` the entries of ``C`` at a test point
    (negative controls: the NNGP variance wrong, the kernel wrong at the test inputs);
    ``config`` replaces the networks' configuration :data:`CONFIG`.
    """
    lecun = dict(CONFIG if config is None else config)
    ntk = dict(lecun, parametrization="ntk")
    if diagonal:
        nngp_points = np.array([limit_kernel(points[i:i + 1], kind="nngp", **lecun)[0, 0]
                                for i in progress.steps(range(points.shape[0]), points.shape[0], "NNGP variance")])
    else:
        nngp_points = limit_kernel(points, kind="nngp", **lecun)
    return dict(train=limit_kernel(X, kind="ntk", **lecun), cross=limit_kernel(points, X, kind="ntk", **lecun),
                train_ntk=limit_kernel(X, kind="ntk", **ntk), cross_ntk=limit_kernel(points, X, kind="ntk", **ntk),
                nngp_train=nngp_factor * limit_kernel(X, kind="nngp", **lecun),
                nngp_cross=nngp_factor * test_factor * limit_kernel(points, X, kind="nngp", **lecun),
                nngp_points=nngp_factor * test_factor * nngp_points)


def tangent_kernels(kernels: dict[str, FloatArray], width: int = 0) -> tuple[FloatArray, ...]:
    """Return ``(K(X, X), K(points, X)) / n``.

    ``K`` is ``n K_LC`` (``width = 0``, the limit), or the exact expected Gram of width
    ``n``, ``(n - 1) K_LC + K_NTK``.
    """
    if not width:
        return kernels["train"], kernels["cross"]
    return tuple(kernels[key] + (kernels[f"{key}_ntk"] - kernels[key]) / width for key in ("train", "cross"))


def _accumulated(eigenvalues: FloatArray, rate: float, steps: float) -> FloatArray:
    """Return ``g_k(l)``; ``1 / l`` (kernel interpolation) for ``steps = inf``."""
    return 1.0 / eigenvalues if math.isinf(steps) else gd_filter(eigenvalues, rate, steps)


def _decay(eigenvalues: FloatArray, rate: float, steps: float) -> FloatArray:
    """Return ``(1 - 2 rate l)^k``; 0 for ``steps = inf``."""
    return np.zeros_like(eigenvalues) if math.isinf(steps) else gd_decay(eigenvalues, rate, steps)


def trained_gp(kernels: dict[str, FloatArray], y: FloatArray, rate: float, steps: float,
               width: int = 0) -> tuple[FloatArray, FloatArray]:
    """Return the mean and covariance of the linearized model at the points after ``steps`` GD steps.

    For diagonal ``kernels`` the covariance is the variances. ``rate = h n s`` is in units
    of ``K_LC`` (module docstring); ``width`` as in :func:`tangent_kernels`.
    """
    train, cross = tangent_kernels(kernels, width)
    eigenvalues, Q = np.linalg.eigh(train)
    A = cross @ (Q * _accumulated(eigenvalues, rate, steps)) @ Q.T
    C, C_cross, C_points = kernels["nngp_train"], kernels["nngp_cross"], kernels["nngp_points"]
    if C_points.ndim == 1:
        return A @ y, C_points - 2.0 * np.einsum("ij,ij->i", A, C_cross) + np.einsum("ij,jk,ik->i", A, C, A)
    return A @ y, C_points - A @ C_cross.T - C_cross @ A.T + A @ C @ A.T


def expected_loss(kernels: dict[str, FloatArray], y: FloatArray, rate: float, steps: float, scale: float,
                  width: int = 0) -> float:
    """Return ``E f(w_k) = s tr(B^(2k) (C(X, X) + y y^T))`` of the linearized model."""
    eigenvalues, Q = np.linalg.eigh(tangent_kernels(kernels, width)[0])
    decay = (Q * _decay(eigenvalues, rate, steps) ** 2) @ Q.T
    return scale * float(np.trace(decay @ (kernels["nngp_train"] + np.outer(y, y))))


def trained_gaussian_process(grid: FloatArray, X: FloatArray, y: FloatArray, width: int, lr: float, steps: int,
                             scale: float, progress: Progress = SILENT) -> dict[str, Any]:
    """Return the mean and standard deviation on ``grid`` of the infinite-width GP after training.

    The GP is that of the outputs after ``steps`` GD steps of size ``lr`` on the loss
    ``scale * |Phi(X) - y|^2``. With them: the NNGP standard deviation at initialization,
    the GP mean from :class:`widenet.NTKRegressor` (an independent evaluation), the
    spectrum of ``K_LC(X, X)`` and the expected initial and final losses of the linearized
    model.
    """
    kernels = limit_kernels(grid, X, diagonal=True, progress=progress)
    rate = lr * width * scale
    mean, variance = trained_gp(kernels, y, rate, steps)
    regressor = NTKRegressor(kernel="ntk", steps=steps, lr=rate, **CONFIG).fit(X, y)
    finite_width = tangent_kernels(kernels, width)[0]
    return dict(mean=mean, sd=np.sqrt(np.maximum(variance, 0.0)), sd_init=np.sqrt(kernels["nngp_points"]),
                regressor_mean=regressor.predict(grid), eigenvalues=np.linalg.eigvalsh(kernels["train"]),
                effective_lr=rate, expected_final_loss=expected_loss(kernels, y, rate, steps, scale),
                expected_initial_loss=expected_loss(kernels, y, rate, 0, scale),
                kernel_correction=float(np.max(np.abs(finite_width - kernels["train"])) /
                                        np.max(np.abs(kernels["train"]))))


def _predictions(kernels: dict[str, dict[str, FloatArray]], y: FloatArray, rate: float, steps_factor: float,
                 scale: float) -> dict[str, Any]:
    """Return the predictions, each for ``steps_factor`` times the step count.

    (``steps_factor`` is a negative control: ``inf`` for kernel interpolation.) The GP after
    each of :data:`EARLY_STEPS` at :data:`EARLY_POINTS` and after :data:`STEPS` on the grid,
    each as ``(mean, variance)`` in the limit followed by the same with the expected Gram of
    width :data:`WIDTH`; the expected losses after :data:`EARLY_STEPS` (``loss``,
    ``loss_fw``) and at initialization.
    """
    def gp(points_kernels: dict[str, FloatArray], k: int) -> tuple[FloatArray, ...]:
        return (*trained_gp(points_kernels, y, rate, k * steps_factor),
                *trained_gp(points_kernels, y, rate, k * steps_factor, WIDTH))

    def loss(k: int, width: int = 0) -> float:
        return expected_loss(kernels["grid"], y, rate, k * steps_factor, scale, width)

    return dict(early={k: gp(kernels["early"], k) for k in EARLY_STEPS}, figure=gp(kernels["grid"], STEPS),
                loss={k: loss(k) for k in EARLY_STEPS}, loss_fw={k: loss(k, WIDTH) for k in EARLY_STEPS},
                initial_loss=expected_loss(kernels["grid"], y, rate, 0, scale),
                expected_gram=tangent_kernels(kernels["grid"], WIDTH)[0])
