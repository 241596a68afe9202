"""Theorem 11.23 and Propositions 11.25 and 11.26: wide networks train lazily.

A width sweep of :func:`widenet.lazy_training.lazy_training_cell` for both
parametrizations: each cell trains one network and its linearization (11.3.1) with the same
gradient descent and measures ``sup_k abs(w_k - w0)`` (``distance``), the same relative to
``abs(w0)`` (``relative_distance``), ``sup_k max_i abs(Phi(x_i, w_k) - Phi_lin(x_i, p_k))`` on
the training and on test points (``gap_train``, ``gap_test``) and the relative change of the
tangent Gram (``kernel_change``). The exponent of each against the width is fitted with its
95% interval (:func:`widenet.sweeps.fit_slope`, every cell one point).

What the chapter predicts, and how the claims read it:

- Theorem 11.23 (LeCun, ``h ~ 1/n``): ``abs(w_k - w0) <= C n^{-1/2}``. Measured, this is the
  true order, so the claim is that the fitted slope is *near* -1/2: its interval
  meets ``[-0.6, -0.4]`` (0.1 for pre-asymptotic corrections, which the interval of a pure
  power law does not cover; the same tolerance as in the experiment "kernel-convergence").
  Under the NTK parametrization (Section 11.6, ``h = O(1)``) the same holds for
  ``abs(w_k - w0) / abs(w0)`` (``abs(w0) ~ sqrt(n)``).
- Propositions 11.25 and 11.26: the kernel change and the output gap are at most
  ``C n^{-1/2}``. These are UPPER bounds; measured, both fall faster (about ``n^{-1.7}`` to
  ``n^{-1.9}`` under LeCun, ``n^{-0.9}`` under the NTK parametrization). A bound is
  contradicted only by a slope significantly above -1/2, so the claim holds when the
  interval reaches down to -1/2 or below; the measured line says whether the whole
  interval lies below -1/2 (the bound is then not tight). The chapter proves them for LeCun
  and refers to the literature for the NTK parametrization (end of Section 11.6.2).

Measured with seed 0 on the default grid (fitted slope, 95% interval):

=====================  =========================  =========================
quantity               LeCun, ``h = 0.5/n``       NTK parametrization, ``h = 0.25``
=====================  =========================  =========================
``distance``           -0.52 [-0.56, -0.49]       0.00 [-0.02, 0.02]
``relative_distance``  -1.02 [-1.05, -0.98]       -0.50 [-0.52, -0.48]
``gap_train``          -1.79 [-1.88, -1.70]       -0.82 [-0.89, -0.75]
``gap_test``           -1.75 [-1.84, -1.66]       -0.88 [-0.93, -0.82]
``kernel_change``      -1.89 [-1.95, -1.84]       -0.92 [-0.97, -0.87]
=====================  =========================  =========================

Every cell's network has a seed of its own, derived from (base seed, width, index): with
one integer seed per index at every width, as :func:`widenet.lazy_training_sweep` takes
them, networks of different widths share their first rows of ``U`` (the draws are nested)
and the cells of a fit are not independent. Otherwise the cells are exactly those of
:func:`widenet.lazy_training_sweep` with its default grid (quick: its quick grid).
"""

from __future__ import annotations

import numpy as np

from ..lazy_training import (
    DEFAULT_LR_CONSTANT,
    DEFAULT_SEEDS,
    DEFAULT_WIDTHS,
    QUICK_SEEDS,
    QUICK_WIDTHS,
    lazy_training_cell,
    lazy_training_data,
)
from ..sweeps import sweep
from ._base import Claim, Experiment, ExperimentResult, Progress
from ._rates import TOLERANCE, as_fit, fit_record, interval_meets, network_seed, slope_text

QUANTITIES = ("distance", "relative_distance", "gap_train", "gap_test", "kernel_change")
RATE = -0.5
ACTIVATION = "tanh"
STEPS = 300

_NETWORK_STREAM = 1125

LABELS = {
    "distance": "sup_k abs(w_k - w0)",
    "relative_distance": "sup_k abs(w_k - w0) / abs(w0)",
    "gap_train": "sup_k max abs(Phi - Phi_lin), training points",
    "gap_test": "sup_k max abs(Phi - Phi_lin), test points",
    "kernel_change": "abs(Theta_k - Theta_0) / abs(Theta_0)",
}
NAMES = {"lecun": "LeCun", "ntk": "NTK parametrization"}


def cell_seed(base: int, width: int, index: int) -> int:
    """The seed of the network of cell (width, index) for the base seed ``base``."""
    return network_seed(base, _NETWORK_STREAM, width, index)


def lazy_cell(width: int, seed: int, *, base: int, **options) -> dict:
    """:func:`widenet.lazy_training.lazy_training_cell` with a network seed of its own."""
    return lazy_training_cell(width, cell_seed(base, width, seed), **options)


def _bound_holds(fit) -> bool:
    """An upper bound ``C n^rate`` is consistent with the fit when the slope interval reaches
    down to ``rate``."""
    return bool(fit.interval[0] <= RATE)


def _bound_text(fit) -> str:
    tight = "the whole interval is below -0.5: faster than the bound" if fit.interval[1] < RATE else (
        "the interval reaches above -0.5")
    return f"slope {slope_text(fit)} ({tight})"


def run(quick: bool = False, seed: int = 0, progress: Progress = Progress(False)) -> ExperimentResult:
    """The lazy-training sweep for both parametrizations, its fitted exponents and the claims
    (see the module docstring).

    Parameters
    ----------
    quick : bool
        The library's quick grid (widths ``2^6 .. 2^10``, 3 networks each) instead of its
        default (``2^6 .. 2^14``, 6 networks each).
    seed : int
        Seed of the data (:func:`widenet.lazy_training.lazy_training_data`) and base seed of
        the networks.
    progress : Progress
    """
    widths = QUICK_WIDTHS if quick else DEFAULT_WIDTHS
    seeds = QUICK_SEEDS if quick else DEFAULT_SEEDS
    data_set = lazy_training_data(seed=seed)
    numbers, data, fits = {}, {}, {}
    for parametrization in ("lecun", "ntk"):
        result = sweep(lazy_cell, widths, seeds, progress=progress.enabled, base=seed,
                       parametrization=parametrization, activation=ACTIVATION, steps=STEPS, data=data_set)
        fits[parametrization] = {name: result.slope(name) for name in QUANTITIES}
        table = result.table()
        numbers[parametrization] = {
            "fits": {name: fit_record(fit) for name, fit in fits[parametrization].items()},
            "largest_final_loss": float(np.max(table["loss"])),
            "largest_final_loss_linearized": float(np.max(table["loss_linearized"])),
        }
        data[parametrization] = {"widths": table["width"], **{name: table[name] for name in QUANTITIES}}

    lecun, ntk = fits["lecun"], fits["ntk"]
    band = f"[{RATE - TOLERANCE:.1f}, {RATE + TOLERANCE:.1f}]"
    claims = [
        Claim(
            reference="Theorem 11.23",
            statement=(f"LeCun, h = {DEFAULT_LR_CONSTANT['lecun']}/n: sup_k abs(w_k - w0) <= C n^-1/2, and this "
                       f"is the true order: the 95% interval of the fitted slope meets {band}"),
            predicted="slope -0.5",
            measured=(f"slope {slope_text(lecun['distance'])}; relative to abs(w0) "
                      f"{slope_text(lecun['relative_distance'])} (abs(w0) ~ n^1/2)"),
            holds=interval_meets(lecun["distance"], RATE)),
        Claim(
            reference="Proposition 11.26",
            statement=("LeCun: sup_k abs(Phi(x, w_k) - Phi_lin(x, p_k)) <= C n^-1/2 (an upper bound: holds when "
                       "the slope is at most -0.5 within its interval)"),
            predicted="slope <= -0.5",
            measured=f"training points: {_bound_text(lecun['gap_train'])}; test points: "
                     f"{_bound_text(lecun['gap_test'])}",
            holds=_bound_holds(lecun["gap_train"]) and _bound_holds(lecun["gap_test"])),
        Claim(
            reference="Proposition 11.25",
            statement=("LeCun: the tangent Gram moves by at most C n^-1/2 relative to its size (upper bound), "
                       "measured at the end of training"),
            predicted="slope <= -0.5",
            measured=_bound_text(lecun["kernel_change"]),
            holds=_bound_holds(lecun["kernel_change"])),
        Claim(
            reference="Section 11.6 (Theorem 11.23 analogue)",
            statement=(f"NTK parametrization, h = {DEFAULT_LR_CONSTANT['ntk']}: sup_k abs(w_k - w0) / abs(w0) "
                       f"~ n^-1/2 (abs(w_k - w0) = O(1), abs(w0) ~ n^1/2); the interval meets {band}"),
            predicted="slope -0.5",
            measured=(f"slope {slope_text(ntk['relative_distance'])}; abs(w_k - w0) alone "
                      f"{slope_text(ntk['distance'])}"),
            holds=interval_meets(ntk["relative_distance"], RATE)),
        Claim(
            reference="Section 11.6 (Proposition 11.26 analogue)",
            statement="NTK parametrization: the output gap is at most C n^-1/2 (upper bound)",
            predicted="slope <= -0.5",
            measured=f"training points: {_bound_text(ntk['gap_train'])}; test points: {_bound_text(ntk['gap_test'])}",
            holds=_bound_holds(ntk["gap_train"]) and _bound_holds(ntk["gap_test"])),
        Claim(
            reference="Section 11.6 (Proposition 11.25 analogue)",
            statement="NTK parametrization: the relative change of the tangent Gram is at most C n^-1/2 (upper bound)",
            predicted="slope <= -0.5",
            measured=_bound_text(ntk["kernel_change"]),
            holds=_bound_holds(ntk["kernel_change"])),
    ]
    settings = {"activation": ACTIVATION, "steps": STEPS, "loss": "mean",
                "lr_constant": dict(DEFAULT_LR_CONSTANT), "widths": list(widths), "seeds_per_width": len(seeds),
                "points": int(data_set.X.shape[0]), "input_dim": int(data_set.X.shape[1]),
                "test_points": int(data_set.X_test.shape[0]), "data_seed": seed, "tolerance": TOLERANCE,
                "quick": quick}
    return ExperimentResult(EXPERIMENT_NAME, settings, numbers, claims, data)


def plot(result: ExperimentResult, directory) -> list:
    """One figure, a log-log panel per quantity with both parametrizations, their fitted
    slopes and the ``n^{-1/2}`` guide (dashed)."""
    from ._plotting import figure, power_law_panel, save

    fig, axes = figure(columns=3, rows=2, width=4.6, height=3.6)
    panels = axes.ravel()
    for ax, quantity in zip(panels, QUANTITIES):
        for color, parametrization in (("C0", "lecun"), ("C1", "ntk")):
            data = result.data[parametrization]
            fit = as_fit(result.numbers[parametrization]["fits"][quantity])
            power_law_panel(ax, data["widths"], data[quantity], fit, NAMES[parametrization], color=color)
        ax.set_title(LABELS[quantity], fontsize=9)
        ax.legend(fontsize=7)
    for ax in panels[len(QUANTITIES):]:
        ax.axis("off")
    settings = result.settings
    fig.suptitle(f"Lazy training: {settings['activation']}, {settings['steps']} GD steps, "
                 f"{settings['points']} points in d = {settings['input_dim']}; dashed: n^-1/2", fontsize=10)
    return [save(fig, directory, "lazy-training")]


EXPERIMENT_NAME = "lazy-training"
EXPERIMENT = Experiment(
    name=EXPERIMENT_NAME,
    title="Lazy training: distance travelled, gap to the linearization, kernel change",
    reference="Theorem 11.23, Propositions 11.25 and 11.26",
    run=run,
    plot=plot,
)
