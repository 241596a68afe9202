"""Figure 11.3: wide networks before and after training, against their Gaussian-process limit.

The chapter (Section 11.5.5, Figure 11.3) trains 80 independent arctan networks of width
``n = 250`` in LeCun parametrization (11.5.1) with the initialization (11.5.11) on ``m = 3``
points, ``k = 1000`` GD steps of size ``h = 1/n``, and observes that before training the
outputs look like draws of a centered Gaussian process and after training they nearly
interpolate the data, with a spread that is small at the data and grows away from it.

The figure keeps its 80 networks. The claims are tested on more networks of the same
configuration and seed (the figure's 80 are the first of them): a forward pass suffices at
initialization, and the Gaussian process after ``k`` steps can be told from kernel
interpolation only at a step count where the two differ, here ``k = 10`` and ``30``.

- At initialization ``Phi(., w0)`` is a centered Gaussian process with the NNGP covariance
  ``C(x, z) = s_v^2 E[s(h_x) s(h_z)] + s_c^2`` (Proposition 11.28). At width ``n`` the
  covariance is exactly ``C`` (the output layer is Gaussian and independent of the hidden
  one), so the covariance tests carry sampling error only; the outputs are a Gaussian
  scale mixture whose excess kurtosis is ``O(1/n)`` (at ``n = 250`` it moves the
  likelihood-ratio statistic's mean by less than 0.1, computed from hidden-unit moments).
- The expected initial loss is ``s sum_i (C(x_i, x_i) + y_i^2)`` at every width (the sharp
  form of Lemma 11.22's bound).
- After ``k`` steps the network follows its linearization (Proposition 11.26), whose
  tangent Gram is ``n K_LC`` to leading order (Theorem 11.16). The linearized model
  ``f_k(x) = f_0(x) - K(x, X) G_k (f_0(X) - y)`` with ``f_0 ~ GP(0, C)``, ``K = n K_LC``
  and ``G_k = Q diag(g_k(l)) Q^T``, ``g_k(l) = (1 - (1 - 2 h s l)^k) / l`` (Remark 11.24
  with its sum's index corrected, loss scale ``s``), is again a GP, with mean
  ``K(x, X) G_k y`` and covariance ``C - A C(X, .) - C(., X) A^T + A C(X, X) A^T``,
  ``A = K(., X) G_k``; its expected loss is ``s tr(B^(2k) (C(X, X) + y y^T))``,
  ``B = I - 2 h s K``. At width ``n`` the network differs from this by ``O(1/n)`` in these
  averages: the part from the expected tangent Gram, ``E[K_n] = (n - 1) K_LC + K_NTK``
  exactly for ``d = 1``, is computed and allowed for (the "finite-width allowance"); the
  part from the Gram's fluctuations is of the same order and not computed. In a check with
  3000 networks every tested point stayed within the allowance plus three standard errors;
  the largest excess was a 7% larger variance after 1000 steps near x = 1 (where the GP's
  sd is 0.13), 2.7 standard errors of 3000 networks and so about one of the 400 of the full
  run, against thresholds above 4.4; after 10 and 30 steps the excesses stayed below one
  standard error of the 8000 networks of the full run.

The loss. With the chapter's ``f = sum_i (Phi(x_i) - y_i)^2`` (gradient ``2 J^T r``) the
step ``h = 1/n`` exceeds the stability limit ``1 / lambda_max(J J^T)`` for every network at
this initialization and GD diverges (measured here). The figure is therefore reproduced
with the mean loss ``f / m`` (``s = 1/m``), for which ``h = 1/n`` is stable.
"""

from __future__ import annotations

import math
from functools import partial
from typing import TYPE_CHECKING, Any, Optional

import numpy as np
import numpy.typing as npt

from widenet._spectral import gd_decay, gd_filter
from widenet.app.experiments import _statistics as stats
from widenet.app.experiments._base import (
    SILENT,
    Claim,
    Control,
    Correction,
    Experiment,
    ExperimentResult,
    Perturbation,
    Progress,
    factor_of,
)
from widenet.app.experiments._statistics import (
    FloatArray,
    normal_quantile,  # noqa: F401  (importable from here, as before)
)
from widenet.kernels import limit_kernel
from widenet.network.ensemble import ShallowEnsemble
from widenet.reference.activations import activation
from widenet.regression.ntk_regression import NTKRegressor

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from widenet.app.experiments._plotting import Directory

NAME = "figure-11-3"

# The chapter's architecture and initialization (11.5.11): U ~ N(0, 3/d), v ~ N(0, 3/n),
# b, c ~ N(0, 2), arctan, LeCun parametrization (11.5.1).
CONFIG: dict[str, Any] = dict(activation="arctan", parametrization="lecun", weight_var=3.0, output_var=3.0,
                              bias_var=2.0, output_bias_var=2.0)
# Three data points in [-1, 1.5] (the chapter does not list its data; these match the
# benchmark of the same figure).
DATA_X = (-1.0, 0.5, 1.5)
DATA_Y = (0.3, -0.4, 0.8)
GRID = (-2.0, 2.5)
WIDTH, STEPS, FIGURE_NETWORKS = 250, 1000, 80
LEVEL = 1e-3  # false-alarm probability of each claim (Bonferroni over the claim's tests)
FAMILY_LEVEL = LEVEL
STATISTICS_NETWORKS = {True: 4000, False: 8000}  # quick, full: initialization and the first steps
TRAINED_NETWORKS = {True: FIGURE_NETWORKS, False: 400}  # trained for all 1000 steps
EARLY_STEPS = (10, 30)  # where the k-step GP and kernel interpolation differ
RATE_WINDOW = (300, 400)  # steps between which the loss decay is measured (far above rounding)
# Points where the NNGP covariance is well conditioned (condition number 82): the full
# covariance at initialization is tested there.
COVARIANCE_POINTS = (-2.0, -0.25, 1.0, 2.5)
# The data points and three away from them: the GP after 10 and 30 steps is tested there.
EARLY_POINTS = (-2.0, -1.0, -0.25, 0.5, 1.5, 2.5)
AT_DATA = [i for i, x in enumerate(EARLY_POINTS) if x in DATA_X]  # the data among them
# After 1000 steps grid points are tested where the GP's sd is at least this (the data
# points and their immediate neighbours are interpolated; the loss claim covers them).
SMALLEST_TESTED_SD = 0.01
VARIANCE_GRID_STRIDE = 4  # the initial variance is tested at every 4th grid point (neighbours correlate ~1)
DIVERGENCE_STEPS = 20  # steps of the sum-loss run that shows the divergence
ROUNDING = np.finfo(np.float64).eps / 2


def bonferroni_threshold(points: int, level: float = LEVEL) -> float:
    """Return ``t`` with ``P(max_i |Z_i| > t) <= level`` for ``points`` standard normals.

    This holds however they are correlated (Bonferroni: ``t = Phi^{-1}(1 - level / (2 points))``).
    """
    return stats.two_sided_threshold(points, level)


# -- the infinite-width predictions ----------------------------------------------------------------
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


# -- the networks --------------------------------------------------------------------------------
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


# -- the claims -----------------------------------------------------------------------------------
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


def _initial_covariance_claim(outputs: FloatArray, kernels: dict[str, FloatArray], grid_outputs: FloatArray,
                              grid_variance: FloatArray) -> tuple[Claim, dict[str, Any], FloatArray]:
    """Return the claim that the initial outputs are a centered GP with the NNGP covariance.

    With it its numbers and the outputs at :data:`COVARIANCE_POINTS` whitened with ``C``.
    """
    count = outputs.shape[0]
    whitened = stats.whiten(outputs, 0.0, kernels["nngp_points"])
    lrt, lrt_dof = stats.covariance_statistic(whitened)
    hotelling, hotelling_dof = stats.mean_statistic(whitened)
    p_lrt, p_mean = float(stats.chi_square_sf(lrt, lrt_dof)), float(stats.chi_square_sf(hotelling, hotelling_dof))
    variance = np.mean(grid_outputs ** 2, axis=0)  # the mean is known (0): count degrees of freedom
    z_grid = stats.variance_z(variance, grid_variance, count)
    two_sided = stats.two_sided_threshold(grid_variance.size, LEVEL / 3)
    holds = min(p_lrt, p_mean) >= LEVEL / 3 and float(np.max(np.abs(z_grid))) <= two_sided
    scale = float(np.trace(whitened.T @ whitened) / (count * whitened.shape[1]))
    claim = Claim(
        key="initial-covariance",
        reference="Proposition 11.28, Figure 11.3 (a)",
        statement=(f"At initialization the outputs of {count} networks are a centered GP with the NNGP covariance "
                   f"C = s_v^2 E[s(h_x) s(h_z)] + s_c^2: the full covariance at x = {list(COVARIANCE_POINTS)} "
                   f"(whitened with C there), the mean there, and the variance at each of the {grid_variance.size} "
                   "grid points."),
        predicted=f"covariance C (variance {_fmt(np.diag(kernels['nngp_points']), '.2f')} at those points), mean 0",
        measured=(f"likelihood ratio {lrt:.1f} ({lrt_dof} dof, p = {p_lrt:.3g}); R |mean|^2 = {hotelling:.1f} "
                  f"({hotelling_dof} dof, p = {p_mean:.3g}); whitened scale tr(S)/p = {scale:.4f}; grid variance / C "
                  f"in [{np.min(variance / grid_variance):.3f}, {np.max(variance / grid_variance):.3f}], "
                  f"max |z| = {np.max(np.abs(z_grid)):.2f}"),
        holds=bool(holds),
        hypothesis=(f"{_extension_hypothesis()}; distinct points: yes. At width n = {WIDTH} the covariance is exactly "
                    "C (v and c are Gaussian and independent of U, b), so only sampling error enters."),
        hypothesis_holds=True,
        criterion=(f"level {LEVEL:g} split in three: the likelihood ratio R (tr S - log det S - p) of the whitened "
                   f"outputs is chi-square with {lrt_dof} dof, R |mean|^2 with {hotelling_dof} dof: each upper-tail "
                   f"p >= {LEVEL / 3:.2g} (any covariance or mean other than C, 0 raises them); each grid variance "
                   f"(mean 0 known) is C chi-square({count}) / {count}: Wilson-Hilferty two-sided |z| <= "
                   f"{two_sided:.2f} (Bonferroni)"),
    )
    numbers = {"likelihood_ratio": lrt, "likelihood_ratio_p": p_lrt, "mean_statistic": hotelling,
               "mean_statistic_p": p_mean, "whitened_scale": scale, "grid_variance_ratio":
               [float(np.min(variance / grid_variance)), float(np.max(variance / grid_variance))],
               "grid_variance_max_z": float(np.max(np.abs(z_grid))), "covariance_condition":
               float(np.linalg.cond(kernels["nngp_points"]))}
    return claim, numbers, whitened


def _gaussian_claim(whitened: FloatArray, width: int) -> tuple[Claim, dict[str, Any]]:
    """Return the claim that the whitened initial outputs are standard normals, and its numbers."""
    count, dimension = whitened.shape
    distance, p_value = stats.kolmogorov_smirnov(whitened)
    squared = np.sum(whitened ** 2, axis=1)
    radial, radial_p = stats.kolmogorov_smirnov(squared, partial(stats.chi_square_cdf, dof=dimension))
    claim = Claim(
        key="initial-gaussian",
        reference="Proposition 11.28",
        statement=(f"The outputs at initialization are Gaussian (the limit n -> infinity; here n = {width}): the "
                   f"whitened outputs of the covariance test are independent standard normals, each of the "
                   f"{whitened.size} coordinates N(0, 1) and each of the {count} squared norms chi-square({dimension}) "
                   "(the norm sees the scale mixture a finite width makes)."),
        predicted=(f"N(0, 1) and chi-square({dimension}); at n = 250 the scale mixture's excess kurtosis, O(1/n), is "
                   "below the reach of these tests (they see n = 10)"),
        measured=(f"Kolmogorov-Smirnov distances {distance:.4f} (p = {p_value:.3g}) and {radial:.4f} "
                  f"(p = {radial_p:.3g}); E|w|^4 = {np.mean(squared ** 2):.2f} "
                  f"(Gaussian: {dimension * (dimension + 2)})"),
        holds=bool(min(p_value, radial_p) >= LEVEL / 2),
        hypothesis=f"{_extension_hypothesis()}; n large: n = {width}",
        hypothesis_holds=True,
        criterion=f"two Kolmogorov-Smirnov tests (two-sided), level {LEVEL:g} split in two: both p >= {LEVEL / 2:g}",
    )
    return claim, {"ks_distance": distance, "ks_p_value": p_value, "ks_radial_distance": radial,
                   "ks_radial_p_value": radial_p, "whitened_fourth_moment": float(np.mean(squared ** 2))}


def _initial_loss_claim(losses: FloatArray, predicted: float, m: int) -> tuple[Claim, dict[str, Any]]:
    """Return the claim that the mean initial loss is its expectation ``predicted``, and its numbers."""
    count = losses.size
    standard_error = float(np.std(losses, ddof=1) / math.sqrt(count))
    z = (float(np.mean(losses)) - predicted) / standard_error
    threshold = stats.two_sided_threshold(1, LEVEL)
    claim = Claim(
        key="initial-loss",
        reference="Lemma 11.22",
        statement=(f"The initial loss is bounded in probability; sharply, its expectation is "
                   f"s sum_i (C(x_i, x_i) + y_i^2) at every width (mean loss s = 1/{m}); {count} networks."),
        predicted=f"E f(w0) = {predicted:.4f}",
        measured=f"mean f(w0) = {np.mean(losses):.4f} +- {standard_error:.4f} (z = {z:.2f})",
        holds=bool(abs(z) <= threshold),
        hypothesis=("Assumption 11.18 (a) |s(0)| = 0, Lip s = 1, Lip s' = 0.65, (b) |x_i|, |y_i| <= 1.5: yes; "
                    f"{_extension_hypothesis()}. The expectation needs only v, c centred and independent of U, b: yes"),
        hypothesis_holds=True,
        criterion=f"|z| <= {threshold:.2f} (level {LEVEL:g}), z from the sample's standard error",
    )
    return claim, {"initial_loss_mean": float(np.mean(losses)), "initial_loss_standard_error": standard_error,
                   "expected_initial_loss": predicted, "initial_loss_z": z}


def _trained_tests(early: dict[int, FloatArray], early_predictions: dict[int, tuple[FloatArray, ...]],
                   after: FloatArray, figure_predictions: tuple[FloatArray, ...],
                   tested: npt.NDArray[np.bool_]) -> dict[str, list[FloatArray]]:
    """Return the per-point deviates of the trained means and variances from the GP (module docstring).

    At :data:`EARLY_POINTS` after each of :data:`EARLY_STEPS` and on the tested grid points
    after :data:`STEPS` steps, each with its finite-width allowance.
    """
    mean_z: list[FloatArray] = []
    variance_z: list[FloatArray] = []
    samples = [(early[k], early_predictions[k]) for k in EARLY_STEPS]
    samples.append((after[:, tested], tuple(part[..., tested] for part in figure_predictions)))
    for outputs, (mean, variance, mean_fw, variance_fw) in samples:
        count = outputs.shape[0]
        mean_z.append(stats.mean_z(outputs.mean(axis=0), mean, outputs.std(axis=0, ddof=1), count,
                                   allowance=np.abs(mean_fw - mean)))
        variance_z.append(stats.variance_z(outputs.var(axis=0, ddof=1), variance, count - 1,
                                           allowance=np.abs(variance_fw - variance)))
    return dict(mean=mean_z, variance=variance_z)


def _trained_mean_claim(tests: dict[str, list[FloatArray]], early: dict[int, FloatArray],
                        early_predictions: dict[int, tuple[FloatArray, ...]], hypothesis: tuple[str, bool],
                        counts: tuple[int, int]) -> tuple[Claim, dict[str, Any]]:
    """Return the claim that the trained networks' mean is the GP mean after k steps, and its numbers."""
    z = np.concatenate(tests["mean"])
    threshold = stats.two_sided_threshold(z.size, LEVEL)
    largest = [float(np.max(np.abs(part))) for part in tests["mean"]]
    measured_data = {k: early[k][:, AT_DATA].mean(axis=0) for k in EARLY_STEPS}
    claim = Claim(
        key="trained-mean",
        reference="Figure 11.3 (b), Remark 11.24, Proposition 11.26",
        statement=(f"The mean of the trained networks is the mean K(x, X) G_k y of the infinite-width GP after k "
                   f"steps, not kernel interpolation: at x = {list(EARLY_POINTS)} after k = "
                   f"{' and '.join(map(str, EARLY_STEPS))} ({counts[0]} networks), and on the grid after k = {STEPS} "
                   f"({counts[1]} networks; there the k-step GP is kernel interpolation)."),
        predicted="; ".join(f"k = {k}: {_fmt(early_predictions[k][0][AT_DATA])}" for k in EARLY_STEPS) + " at the data",
        measured=("; ".join(f"k = {k}: {_fmt(measured_data[k])}" for k in EARLY_STEPS)
                  + f" at the data; max |z| = {_z_text(largest)} at k = {list(EARLY_STEPS) + [STEPS]}"),
        holds=bool(np.max(np.abs(z)) <= threshold),
        hypothesis=(f"Proposition 11.26 assumes Theorem 11.23's setting: {hypothesis[0]}; (11.5.3): as for "
                    "Proposition 11.28. Shown instead: the linearized model's GP still describes the networks"),
        hypothesis_holds=hypothesis[1],
        criterion=(f"per point and step, |mean - GP mean| minus the finite-width allowance (the change of the GP mean "
                   f"with the exact expected Gram E[K_n] = (n-1) K_LC + K_NTK for n K_LC), over the sample's "
                   f"standard error: |z| <= {threshold:.2f} (Bonferroni over {z.size} tests, level {LEVEL:g})"),
    )
    return claim, {"trained_mean_max_z": largest, "trained_mean_threshold": threshold}


def _trained_variance_claim(tests: dict[str, list[FloatArray]], early: dict[int, FloatArray],
                            early_predictions: dict[int, tuple[FloatArray, ...]], figure_sd: FloatArray,
                            grid: FloatArray, hypothesis: tuple[str, bool], counts: tuple[int, int],
                            after_sd: FloatArray) -> tuple[Claim, dict[str, Any]]:
    """Return the claim that the trained networks' variance is the GP variance after k steps, and its numbers."""
    z = np.concatenate(tests["variance"])
    threshold = stats.two_sided_threshold(z.size, LEVEL)
    largest = [float(np.max(np.abs(part))) for part in tests["variance"]]
    ends = [0, grid.size - 1]
    predicted = " ".join(f"k = {k}: {_fmt(np.sqrt(np.maximum(early_predictions[k][1][AT_DATA], 0)))};"
                         for k in EARLY_STEPS)
    measured = " ".join(f"k = {k}: {_fmt(early[k][:, AT_DATA].std(axis=0, ddof=1))};" for k in EARLY_STEPS)
    claim = Claim(
        key="trained-variance",
        reference="Figure 11.3 (b), Section 11.5.5",
        statement=("After training the spread is small at the data and larger away, as the GP after k steps says: "
                   f"the variance at x = {list(EARLY_POINTS)} after k = {' and '.join(map(str, EARLY_STEPS))} "
                   f"({counts[0]} networks) and on the grid after k = {STEPS} ({counts[1]} networks) wherever the "
                   f"GP's sd is at least {SMALLEST_TESTED_SD:g} (at the data the loss claim shows interpolation)."),
        predicted=(f"sd at the data {predicted} k = {STEPS}: ~0; at x = {grid[0]:g}, {grid[-1]:g}: "
                   f"{_fmt(figure_sd[ends])}"),
        measured=(f"{measured} k = {STEPS}: {_fmt(after_sd[ends])} at x = {grid[0]:g}, {grid[-1]:g}; "
                  f"max |z| = {_z_text(largest)} at k = {list(EARLY_STEPS) + [STEPS]}"),
        holds=bool(np.max(np.abs(z)) <= threshold),
        hypothesis=(f"as for the trained mean: {hypothesis[0]}; (11.5.3) as for Proposition 11.28"),
        hypothesis_holds=hypothesis[1],
        criterion=(f"per point and step, the sample variance is chi-square with R - 1 dof around the GP variance "
                   f"widened by the finite-width allowance (as for the mean): Wilson-Hilferty |z| <= {threshold:.2f} "
                   f"(Bonferroni over {z.size} tests, level {LEVEL:g})"),
    )
    return claim, {"trained_variance_max_z": largest, "trained_variance_threshold": threshold}


def _linearized_loss_claim(losses: dict[int, FloatArray], predicted: dict[int, float], predicted_fw: dict[int, float],
                           hypothesis: tuple[str, bool]) -> tuple[Claim, dict[str, Any]]:
    """Return the claim that the mean loss follows the linearized model's expected loss, and its numbers."""
    z, texts = [], []
    for k in EARLY_STEPS:
        count = losses[k].size
        standard_error = float(np.std(losses[k], ddof=1) / math.sqrt(count))
        z.append(float(stats.mean_z(np.mean(losses[k]), predicted[k], np.std(losses[k], ddof=1), count,
                                    allowance=abs(predicted_fw[k] - predicted[k]))))
        texts.append(f"k = {k}: {np.mean(losses[k]):.4g} +- {standard_error:.2g}")
    threshold = stats.two_sided_threshold(len(z), LEVEL)
    claim = Claim(
        key="linearized-loss",
        reference="Remark 11.24, Proposition 11.26",
        statement=("The mean loss of the networks follows the expected loss of the linearized model, "
                   "s tr(B^(2k) (C(X, X) + y y^T)) with B = I - 2 h s n K_LC, while it is far above rounding."),
        predicted=", ".join(f"k = {k}: {predicted[k]:.4g} (finite-width allowance "
                            f"{abs(predicted_fw[k] - predicted[k]):.2g})" for k in EARLY_STEPS),
        measured="; ".join(texts) + f" (z = {_z_text(z)})",
        holds=bool(max(abs(value) for value in z) <= threshold),
        hypothesis=f"as for the trained mean: {hypothesis[0]}",
        hypothesis_holds=hypothesis[1],
        criterion=(f"per step, |mean loss - prediction| minus the finite-width allowance (the prediction with E[K_n]) "
                   f"over the sample's standard error: |z| <= {threshold:.2f} (Bonferroni over {len(z)}, level "
                   f"{LEVEL:g})"),
    )
    return claim, {"linearized_loss_z": z, "linearized_loss_predicted": [predicted[k] for k in EARLY_STEPS],
                   "linearized_loss_measured": [float(np.mean(losses[k])) for k in EARLY_STEPS]}


def _loss_rate(grams: FloatArray, lr: float, scale: float, steps: int) -> FloatArray:
    """Return the ``log`` of the linearized loss decay over ``steps`` steps, per Gram.

    The decay is along the slowest eigenvector of each Gram: ``2 steps log|1 - 2 h s lambda_min|``.
    """
    return 2.0 * steps * np.log(np.abs(1.0 - 2.0 * lr * scale * np.linalg.eigvalsh(grams)[:, 0]))


def _interpolation_claim(figure: dict[str, Any], lr: float, scale: float, eigenvalues: FloatArray,
                         hypothesis: tuple[str, bool]) -> tuple[Claim, dict[str, Any]]:
    """Return the claim that each network's loss decays at the linear rate of its Gram, and its numbers."""
    start, end = RATE_WINDOW
    losses = figure["losses"]
    measured = np.log(losses[end] / losses[start])
    rates = np.stack([_loss_rate(figure["grams"][k], lr, scale, end - start) for k in RATE_WINDOW])
    # the rounding of log f: |d log f| <= 2 |d r| / |r|, |r| = sqrt(f / s), at both ends
    rounding = sum(2.0 * figure["rounding"] / np.sqrt(losses[k] / scale) for k in RATE_WINDOW)
    half_width = np.ptp(rates, axis=0) / 2.0 + rounding
    outside = np.abs(stats.beyond(measured, rates.mean(axis=0), half_width))
    lowest = np.linalg.eigvalsh(figure["grams"][end])[:, 0] / WIDTH
    final = losses[STEPS]
    claim = Claim(
        key="interpolation",
        reference="Theorem 11.23 (its mechanism, Theorem 11.13), Figure 11.3 (b)",
        statement=(f"Training interpolates the data: each of the {final.size} networks' loss decays at the linear rate "
                   "(1 - 2 h s lmin(K_n))^2 per step of its own tangent Gram (the sharp form of Theorem 11.13's "
                   f"(1 - h lmin)^2k), measured between steps {start} and {end}, down to f(w_{STEPS}) at rounding "
                   "level."),
        predicted=(f"log(f_{end} / f_{start}) = 2 ({end - start}) log|1 - 2 h s lmin(K_n)| per network, "
                   f"lmin(K_n)/n in [{lowest.min():.4f}, {lowest.max():.4f}]"),
        measured=(f"largest deviation beyond the band {np.max(outside):.1e} (half-widths up to "
                  f"{np.max(half_width):.1e}; rates "
                  f"{_fmt([measured.min(), measured.max()], '.2f')}); f(w_{STEPS}) at most {final.max():.1e}, mean "
                  f"{final.mean():.1e}"),
        holds=bool(np.all(outside == 0.0)),
        hypothesis=(f"Theorem 11.23: {hypothesis[0]}; initialization (11.5.3): no, (11.5.11) has variances 3 and "
                    f"biases N(0, 2); Assumption 11.18: yes (Lip s' = 0.65; K_LC regular, spectrum "
                    f"[{eigenvalues[0]:.4f}, {eigenvalues[-1]:.4f}]); n >= n0: not checkable. The theorem's bound "
                    "is not tested; shown instead: interpolation at the linear rate of each network's own Gram"),
        hypothesis_holds=False,
        criterion=(f"per network, the measured log ratio lies in the band spanned by the rates of its Grams at steps "
                   f"{start} and {end} (the kernel's drift), widened by the rounding bound of the residual "
                   "(gamma_(n+2) sum |terms| of the forward pass); two-sided"),
    )
    return claim, {"loss_rate_outside_band_max": float(np.max(outside)),
                   "loss_rate_band_max": float(np.max(half_width)), "final_loss_max": float(final.max()),
                   "final_loss_mean": float(final.mean()),
                   "gram_lambda_min_over_n": [float(lowest.min()), float(lowest.max())],
                   "loss_rate_measured": [float(measured.min()), float(measured.max())]}


def _divergence_claim(growth: FloatArray, stopped: int, top: FloatArray, lr: float) -> tuple[Claim, dict[str, Any]]:
    """Return the claim that the step ``h = 1/n`` diverges on the chapter's sum loss, and its numbers."""
    claim = Claim(
        key="sum-loss-diverges",
        reference="Figure 11.3 (step size)",
        statement=("With the chapter's sum loss (gradient 2 J^T r) linearized GD multiplies the residual's top "
                   f"component by |1 - 2 h lmax(K_n)| per step, above 1 when h > 1/lmax: h = 1/n = {lr:g} is, for "
                   f"every network, and {DIVERGENCE_STEPS} steps grow every network's loss; hence the mean loss."),
        predicted=f"h lmax(K_n) > 1 for all {top.size} networks; every sum loss grows",
        measured=(f"h lmax in [{lr * top.min():.2f}, {lr * top.max():.2f}]; largest loss within {DIVERGENCE_STEPS} "
                  f"steps / initial >= {np.min(growth):.2e}; {stopped} of {growth.size} runs stopped as diverged"),
        holds=bool(np.all(lr * top > 1.0) and np.all(growth > 1.0)),
        criterion=("the linear stability threshold h lmax(K_n) = 1, for each network: above it and growing "
                   "(the chapter's setting), or below it and not growing (a stable step) — any network not growing "
                   "fails the claim"),
    )
    return claim, {"tangent_gram_lambda_max": {"min": float(top.min()), "median": float(np.median(top)),
                                               "max": float(top.max())},
                   "sum_loss_stable_step": float(1.0 / top.max()), "sum_loss_growth_min": float(np.min(growth))}


def _corrections(eigenvalues: FloatArray, lr: float, scale: float, measured_rates: list[float], top: FloatArray,
                 growth: FloatArray, early_mean_at_data: FloatArray, kernels_data: dict[str, FloatArray],
                 y: FloatArray, p_lrt: float) -> list[Correction]:
    """Return the chapter's misprints this experiment shows, with this run's numbers."""
    low = eigenvalues[0]
    step = lr * scale  # the mean loss with step h is the sum loss with step h s
    printed = 1.0 - step * WIDTH / (2.0 * low)
    corrected = 1.0 - step * WIDTH * low / 2.0
    per_step = np.exp(np.array(measured_rates) / (2.0 * (RATE_WINDOW[1] - RATE_WINDOW[0])))
    k = EARLY_STEPS[0]
    train = kernels_data["train"]
    B = np.eye(train.shape[0]) - 2.0 * lr * WIDTH * scale * train
    A = 2.0 * lr * WIDTH * scale * train
    B_k = np.linalg.matrix_power(B, k)
    remark_printed = k * B_k @ A @ y  # the mean of f_0 is 0
    remark_corrected = (np.eye(train.shape[0]) - B_k) @ y
    return [
        Correction(
            reference="Theorem 11.23",
            printed="f(w_k) <= C (1 - h n / (2 lmin_LC))^(2k)",
            corrected=("f(w_k) <= C (1 - h n lmin_LC / 2)^(2k): Theorem 11.13's (1 - h lmin)^(2k) with Lemma "
                       "11.19's lmin = n lmin_LC / 2"),
            evidence=(f"here (the sum loss with step h s = {step:.4g}, lmin_LC = {low:.4f}) the printed factor is "
                      f"{printed:.2f}, not a contraction; the corrected one is {corrected:.5f} per step, and the "
                      f"networks' measured per-step contraction of the residual is in {_fmt(per_step, '.4f')}, "
                      "below it"),
        ),
        Correction(
            reference="Proposition 11.28",
            printed="Consider depth-n networks Phi_n as in (11.5.1)",
            corrected="Consider width-n networks Phi_n as in (11.5.1) (one hidden layer of n units, n -> infinity)",
            evidence=(f"the networks of depth one and width n = {WIDTH} match the NNGP covariance (likelihood-ratio "
                      f"p = {p_lrt:.2g}); (11.5.1) has no depth parameter"),
        ),
        Correction(
            reference="Figure 11.3 (Section 11.5.5)",
            printed="k = 1000 steps of gradient descent and constant step size h = 1/n (on the loss (11.0.1b))",
            corrected=("h = 1/n diverges on the sum loss (11.0.1b); it is stable on the mean loss f/m, i.e. the sum "
                       "loss with step h/m, which widenet uses"),
            evidence=(f"h lmax(K_n) in [{top.min() / WIDTH:.2f}, {top.max() / WIDTH:.2f}] > 1 for all {top.size} "
                      f"networks; their sum losses grow by at least {np.min(growth):.1e} within {DIVERGENCE_STEPS} "
                      f"steps; with the mean loss every network interpolates"),
        ),
        Correction(
            reference="Remark 11.24",
            printed="Phi_lin(X, p_k) = B^k Phi_lin(X, p_0) + sum_(i=0)^(k-1) B^k A y",
            corrected="Phi_lin(X, p_k) = B^k Phi_lin(X, p_0) + sum_(i=0)^(k-1) B^i A y",
            evidence=(f"after k = {k} steps the networks' mean at the data is {_fmt(early_mean_at_data)}; the "
                      f"corrected sum gives {_fmt(remark_corrected)}, the printed one {_fmt(remark_printed)}"),
        ),
    ]


# -- the experiment -------------------------------------------------------------------------------
def run(quick: bool = False, seed: int = 0, progress: Progress = SILENT,
        perturbation: Optional[Perturbation] = None) -> ExperimentResult:
    """Measure Figure 11.3's networks before and after training, against the infinite-width GP.

    Parameters
    ----------
    quick : bool
        Fewer grid points (100 instead of 200) and networks for the statistics (4000 and 80
        instead of 8000 and 400); the figure's 80 networks, width and steps are the
        chapter's in both modes.
    seed : int
        Seed of the networks' initialization.
    progress : Progress
    perturbation : Perturbation, optional
        A negative control (see ``EXPERIMENT.controls``).

    Returns
    -------
    ExperimentResult
    """
    factor = partial(factor_of, perturbation)
    lr = 1.0 / WIDTH
    points = 100 if quick else 200
    X, y = np.array(DATA_X)[:, None], np.array(DATA_Y)
    scale = 1.0 / X.shape[0]  # the mean loss
    grid = np.linspace(*GRID, points)[:, None]
    rate = lr * WIDTH * scale * factor("gp_step")  # h n s, in units of K_LC, as the predictions take it
    training_lr = lr * factor("gradient")
    counts = (STATISTICS_NETWORKS[quick], TRAINED_NETWORKS[quick])
    statistics_width = max(1, round(WIDTH * factor("width")))

    perturbed_kernels = partial(limit_kernels, nngp_factor=factor("nngp_variance"),
                                test_factor=factor("nngp_test_inputs"))
    kernels = dict(grid=perturbed_kernels(grid, X, diagonal=True, progress=progress),
                   covariance=perturbed_kernels(np.array(COVARIANCE_POINTS)[:, None], X),
                   early=perturbed_kernels(np.array(EARLY_POINTS)[:, None], X, diagonal=True))
    predicted = _predictions(kernels, y, rate, factor("gp_steps"), scale)
    variance_grid = grid[::VARIANCE_GRID_STRIDE]
    first = _statistics_ensemble(counts[0], statistics_width, seed, X, y, variance_grid, training_lr, progress)
    figure = _figure_ensemble(counts[1], seed, X, y, grid, training_lr, progress)
    growth, stopped = _sum_loss_growth(seed, X, y, training_lr)
    top = np.linalg.eigvalsh(figure["initial_grams"][:FIGURE_NETWORKS])[:, -1]
    eigenvalues = np.linalg.eigvalsh(kernels["grid"]["train"])
    step_hypothesis = _step_hypothesis(scale, lr, eigenvalues)
    figure_sd = np.sqrt(np.maximum(predicted["figure"][1], 0.0))
    tested = figure_sd >= SMALLEST_TESTED_SD

    grid_variance = kernels["grid"]["nngp_points"][::VARIANCE_GRID_STRIDE]
    covariance, covariance_numbers, whitened = _initial_covariance_claim(first["covariance"], kernels["covariance"],
                                                                         first["grid"], grid_variance)
    gaussian, gaussian_numbers = _gaussian_claim(whitened, statistics_width)
    initial_loss, initial_numbers = _initial_loss_claim(first["losses"][0], predicted["initial_loss"], X.shape[0])
    tests = _trained_tests(first["early"], predicted["early"], figure["after"], predicted["figure"], tested)
    trained_mean, mean_numbers = _trained_mean_claim(tests, first["early"], predicted["early"], step_hypothesis,
                                                     counts)
    trained_variance, variance_numbers = _trained_variance_claim(
        tests, first["early"], predicted["early"], figure_sd, grid[:, 0], step_hypothesis, counts,
        figure["after"].std(axis=0, ddof=1))
    linearized, linearized_numbers = _linearized_loss_claim(first["losses"], predicted["loss"], predicted["loss_fw"],
                                                            step_hypothesis)
    interpolation, interpolation_numbers = _interpolation_claim(figure, lr * factor("gp_step"), scale, eigenvalues,
                                                                step_hypothesis)
    divergence, divergence_numbers = _divergence_claim(growth, stopped, top, lr)

    corrections = _corrections(eigenvalues, lr, scale, interpolation_numbers["loss_rate_measured"], top, growth,
                               first["early"][EARLY_STEPS[0]][:, AT_DATA].mean(axis=0), kernels["grid"], y,
                               covariance_numbers["likelihood_ratio_p"])
    regressor = NTKRegressor(kernel="ntk", steps=STEPS, lr=rate, **CONFIG).fit(X, y)
    numbers = {
        **covariance_numbers, **gaussian_numbers, **initial_numbers, **mean_numbers, **variance_numbers,
        **linearized_numbers, **interpolation_numbers, **divergence_numbers,
        "grid_points_tested_after": int(tested.sum()),
        "gp_sd_after_max": float(figure_sd.max()),
        "gp_sd_init_max": float(np.sqrt(kernels["grid"]["nngp_points"]).max()),
        "gp_mean_vs_regressor_max_abs": float(np.max(np.abs(predicted["figure"][0] - regressor.predict(grid)))),
        "k_lc_eigenvalues": eigenvalues,
        "kernel_lr": rate,
        "finite_width_kernel_correction": float(np.max(np.abs(predicted["expected_gram"] - kernels["grid"]["train"]))
                                                / np.max(np.abs(kernels["grid"]["train"]))),
        "mean_loss_stable_step": float(X.shape[0] / top.max()),
    }
    settings = {"networks": FIGURE_NETWORKS, "statistics_networks": counts[0], "trained_networks": counts[1],
                "width": WIDTH, "statistics_width": statistics_width, "steps": STEPS,
                "early_steps": list(EARLY_STEPS), "rate_window": list(RATE_WINDOW), "lr": lr, "loss": "mean",
                "input_dim": 1, **CONFIG, "X": list(DATA_X), "y": list(DATA_Y), "grid": [*GRID, points],
                "covariance_points": list(COVARIANCE_POINTS), "early_points": list(EARLY_POINTS), "seed": seed,
                "quick": quick, "level": LEVEL, "divergence_steps": DIVERGENCE_STEPS,
                "perturbation": None if perturbation is None else f"{perturbation.quantity} x {perturbation.factor:g}"}
    data = {"grid": grid[:, 0], "X": X[:, 0], "y": y, "outputs_before": figure["before"][:FIGURE_NETWORKS],
            "outputs_after": figure["after"][:FIGURE_NETWORKS], "gp_mean_after": predicted["figure"][0],
            "gp_sd_after": figure_sd, "gp_sd_before": np.sqrt(kernels["grid"]["nngp_points"]),
            # the statistics networks after the first steps at the early points: mean and sd per step
            "early_mean": np.array([first["early"][k].mean(axis=0) for k in EARLY_STEPS]),
            "early_sd": np.array([first["early"][k].std(axis=0, ddof=1) for k in EARLY_STEPS]),
            "gp_mean_early": np.array([predicted["early"][k][0] for k in EARLY_STEPS]),
            "gp_sd_early": np.sqrt(np.maximum([predicted["early"][k][1] for k in EARLY_STEPS], 0.0))}
    claims = [covariance, gaussian, initial_loss, trained_mean, trained_variance, linearized, interpolation,
              divergence]
    return ExperimentResult(name=NAME, settings=settings, numbers=numbers, claims=claims, data=data,
                            corrections=corrections)


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


def plot(result: ExperimentResult, directory: Directory) -> list[str]:
    """Draw Figure 11.3 into ``directory``: the networks at initialization (a) and after training (b).

    With them their mean, the data and the infinite-width GP mean with its
    two-standard-deviation band, on one y-range so the two spreads compare.
    """
    from widenet.app.experiments._plotting import figure, save

    data, settings = result.data, result.settings
    grid = np.asarray(data["grid"])
    fig, axes = figure(columns=2, width=5.6, height=4.2)
    panels = (
        ("(a) at initialization", np.asarray(data["outputs_before"]), np.zeros_like(grid),
         np.asarray(data["gp_sd_before"]), "NNGP: mean 0"),
        (f"(b) after {settings['steps']} GD steps (h = 1/n, mean loss)", np.asarray(data["outputs_after"]),
         np.asarray(data["gp_mean_after"]), np.asarray(data["gp_sd_after"]), "infinite width: mean"),
    )
    for ax, (title, outputs, mean, sd, mean_label) in zip(axes[0], panels):
        for r, curve in enumerate(outputs):
            ax.plot(grid, curve, color="tab:blue", linewidth=0.5, alpha=0.3,
                    label=f"{outputs.shape[0]} networks" if r == 0 else None)
        ax.fill_between(grid, mean - 2.0 * sd, mean + 2.0 * sd, color="tab:orange", alpha=0.2,
                        label="infinite width: mean +- 2 sd")
        ax.plot(grid, mean, color="tab:orange", linewidth=1.8, label=mean_label)
        ax.plot(grid, outputs.mean(axis=0), "--", color="navy", linewidth=2.0, label="mean of the networks")
        ax.plot(data["X"], data["y"], "o", color="red", markersize=7, zorder=5, label="data")
        ax.set_title(title)
        ax.set_xlabel("x")
        ax.set_ylabel("Phi(x, w)")
        ax.set_xlim(grid[0], grid[-1])
    low = min(ax.get_ylim()[0] for ax in axes[0])
    high = max(ax.get_ylim()[1] for ax in axes[0])
    for ax in axes[0]:
        ax.set_ylim(low, high)
    _legend_below(fig, axes[0][1])
    fig.suptitle(f"Figure 11.3: {settings['networks']} arctan networks, n = {settings['width']}, LeCun "
                 "parametrization (11.5.1) with the initialization (11.5.11)")
    return [save(fig, directory, "figure_11_3")]


def _legend_below(fig: Figure, ax: Axes) -> None:
    """Draw one legend for the figure, below the panels (matplotlib >= 3.7), else inside ``ax``."""
    from widenet.app.experiments._plotting import matplotlib

    handles, labels = ax.get_legend_handles_labels()
    major, minor = (int(part) for part in matplotlib().__version__.split(".")[:2])
    if (major, minor) >= (3, 7):
        fig.legend(handles, labels, loc="outside lower center", ncols=len(labels), fontsize=9)
    else:
        ax.legend(handles, labels, loc="upper left", fontsize=8)


EXPERIMENT = Experiment(
    name=NAME,
    title="80 wide networks before and after training, and their Gaussian-process limit",
    reference="Figure 11.3, Proposition 11.28, Lemma 11.22, Remark 11.24, Section 11.5.5",
    run=run,
    plot=plot,
    controls={
        "nngp-variance": Control(Perturbation("nngp_variance", 0.9), ("initial-covariance", "initial-loss"),
                                 "the NNGP covariance C scaled by 0.9 in every prediction"),
        "narrow-networks": Control(Perturbation("width", 0.04), ("initial-gaussian",),
                                   "the initialization networks 25 times narrower (n = 10) than the n = 250 the "
                                   "Gaussian limit is tested at"),
        "prediction-step": Control(Perturbation("gp_step", 0.5), ("trained-mean", "trained-variance",
                                                                   "linearized-loss", "interpolation"),
                                   "the step in the predictions half the step trained with"),
        "kernel-interpolation": Control(Perturbation("gp_steps", math.inf), ("trained-mean", "trained-variance",
                                                                             "linearized-loss"),
                                        "the k-step GP replaced by kernel interpolation (the predictions' k times "
                                        "infinity)"),
        "kernel-at-test-inputs": Control(Perturbation("nngp_test_inputs", 1.01), ("trained-variance",),
                                         "the NNGP kernel C(x, .) off by 1% at the test inputs x"),
        "gradient": Control(Perturbation("gradient", 0.5), ("interpolation", "sum-loss-diverges", "trained-mean"),
                            "the training gradient half its value (2 J^T r taken as J^T r)"),
    },
)
