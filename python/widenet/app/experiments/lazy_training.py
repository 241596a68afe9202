"""Theorem 11.23, Propositions 11.25 and 11.26 and Remark 11.24: wide networks train lazily.

At every width ``n`` independent networks (a width sweep, :func:`widenet.sweep`, one network
per cell) and each one's linearization (11.3.1) (:func:`widenet.linearize`) are trained by
gradient descent on the chapter's objective (11.0.1b) (the sum loss) with the same step,
until the loss is far below its start, and the experiment measures for every network

- ``distance``: ``sup_k abs(w_k - w0)`` over every step (Theorem 11.23);
- ``gap``: ``sup_k max_x abs(Phi(x, w_k) - Phi_lin(x, p_k))`` over every step and over the
  training and test points, all of norm 1 (Proposition 11.26);
- ``kernel``: ``sup_k abs(Theta(w_k) - Theta(w0))_2``, divided by ``n`` under LeCun (the
  chapter's ``(1/n)`` in Proposition 11.25), over the checkpoints where the Gram is computed
  (``CHECKPOINTS``, log-spaced over the run, the last step among them). The chapter's
  matrix has ``Theta`` at a mean-value point in one factor; both factors at ``w_k`` differ
  from it by one step's movement.

The setting satisfies Theorem 11.23's hypotheses and says so with the measured constants:
tanh (Assumption 11.18 (a)), unit-norm inputs and targets ``sin(pi a.x)`` (b), ``K_LC``
regular (c), the zero biases of (11.5.3), the step ``h = 0.9 x 2/((lmin_LC + 4 lmax_LC) n)``
below the theorem's limit, widths where Lemma 11.19's event holds (the eigenvalues of
``Theta(w0)/n`` in ``[lmin_LC/2, 2 lmax_LC]``; at ``n = 64`` the Gram's ``B/n`` part, see
below, pushes ``lambda_max`` past ``2 lmax_LC``; the LeCun grid starts at 1024, where the
gap's exponent is close to its limit, see the comments on the allowances), and runs until
the relative loss is below ``1e-6``. The points are few (4) in ``d = 12``, where ``K_LC`` is well conditioned (condition
numbers 3 to 6), so convergence takes tens of steps. The NTK parametrization (Section 11.6,
where the chapter states no theorem) uses the step ``0.9/(lambda_min + lambda_max)`` of every
network's Gram at ``w0`` (Theorem 11.13's (11.4.4)).

What is predicted (sharp orders; the chapter's are bounds):

- LeCun: the network follows its linearization, which converges to ``p = w0 - J0^T
  Theta0^{-1} r0`` (``r0 = Phi(X, w0) - y``), at distance ``sqrt(r0 . Theta0^{-1} r0)``. With
  ``E[Theta0/n] = K_LC + B/n``, ``B = (1 + x.z) E[s'(u.x) s'(u.z)] + 1`` (the ``U``, ``b`` and
  ``c`` blocks), ``sup_k abs(w_k - w0) = sqrt(r0 . (n K_LC + B)^{-1} r0) (1 + O(n^{-1/2}))``:
  the exponent is -1/2 up to the known ``B/n`` term, whose effect on the fitted slope is put
  into the prediction. The random factor ``sqrt(r0 . K_LC^{-1} r0)`` of each network's own
  initial residual is divided out before the fit (it does not depend on ``n`` and carries
  most of the scatter); the rest scatters like ``n^{-1/2}``, so the fit is weighted by ``n``.
- LeCun, gap and kernel change: ``n^{-2}``, not the ``n^{-1/2}`` of the bounds. In the NTK
  parametrization's coordinates (``v' = sqrt(n) v``, ``U' = sqrt(d) U``), LeCun gradient
  descent with ``h = c/n`` is NTK-parametrization gradient descent with step ``c`` on ``v'``
  but ``c d/n`` on ``U'`` and ``c/n`` on ``b`` and ``c``: the hidden layer, the only source
  of nonlinearity, moves ``n`` times less. In the NTK parametrization both are ``O(1/n)``
  (the known ``1/n`` corrections to the tangent kernel: the terms the bounds control are
  sums over units of mean-zero fluctuations); hence ``n^{-2}`` under LeCun.
- NTK parametrization: ``abs(w_k - w0) = O(1)`` against ``abs(w0) ~ sqrt(n (d + 1))``, so the
  relative distance falls like ``n^{-1/2}`` (``E[Theta0] = K_NTK`` exactly: no ``B`` term);
  gap and kernel change ``n^{-1}``.

Tolerances: each exponent is tested two-sided, ``abs(slope - predicted) <= t stderr +
allowance`` at level ``1e-3`` (:mod:`._slopes`); the allowances (``Design.allowance``) bound the
fitted exponent's bias from the next order in ``1/n``, measured as the comment above them
says.

Remark 11.24 prints ``B^k`` where ``B^j`` belongs (in the sum and in the Neumann series);
the run checks the corrected closed form against the iterated linearized gradient descent
and lists the misprint with that evidence.

Negative controls: the linearization trained with half the step (the gaps stop shrinking),
the distance off by ``n^0.1`` (a factor ``2^0.1`` per doubling of the width), the Gram at
initialization 1% too large in the kernel change (it stops shrinking), and the closed form
of Remark 11.24 with half the step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

import numpy as np
import numpy.typing as npt

from widenet.app.experiments._base import (
    SILENT,
    Claim,
    Control,
    Correction,
    Experiment,
    ExperimentResult,
    Parametrization,
    Perturbation,
    Progress,
    factor_of,
)
from widenet.app.experiments._rates import as_fit, fit_record, network_seed
from widenet.app.experiments._slopes import LEVEL, SlopeTest, per_doubling, power_law_fit, slope_test
from widenet.app.experiments._statistics import FloatArray
from widenet.dynamics.lazy_training import LazyTrainingData, lazy_training_data
from widenet.dynamics.linearization import linearize
from widenet.kernels import limit_kernel
from widenet.network.shallow import ShallowNetwork
from widenet.sweeps import SlopeFit, sweep

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from widenet.app.experiments._plotting import Directory

ACTIVATION = "tanh"
POINTS, INPUT_DIM, TEST_POINTS = 4, 12, 4
STEP_FRACTION = 0.9  # of Theorem 11.23's limit (LeCun) and of (11.4.4) (NTK parametrization)
PLANNED_LOSS = 1e-8  # the run is planned to reach this relative loss at the slowest linear rate
CONVERGED = 1e-6  # the hypothesis: every run ends below this relative loss
CHECKPOINTS = 12  # steps where the tangent Gram is computed (log-spaced, the last among them)
BOUND = -0.5  # the chapter's exponent in Theorem 11.23 and Propositions 11.25 and 11.26
TANH_LIPSCHITZ_DERIVATIVE = 4.0 / (3.0 * math.sqrt(3.0))  # sup abs(tanh'') at tanh(x)^2 = 1/3


@dataclass(frozen=True)
class Design:
    """The widths of each parametrization, the networks at every width of each, and the allowances.

    The allowances (``{parametrization: {quantity: bound}}``) bound the bias of the fitted
    exponents on this grid.
    """

    widths: dict[str, tuple[int, ...]]
    networks: dict[str, int]
    allowance: dict[str, dict[str, float]]


# The allowances bound the bias of each fitted exponent from the orders in 1/n the prediction
# leaves out. Measured over data seeds 0 .. 19 (quick) and 0 .. 13 (full): for each seed the
# fitted slope minus the prediction; allowance = abs(mean) + 2 (its standard error) + 3 tau,
# where tau^2 is the variance over seeds beyond the fits' own squared standard errors (the bias
# varies with the data), rounded up; the two LeCun grids are the same widths, so their seeds are
# pooled. Mean bias (sd over seeds; mean standard error of a fit):
#   LeCun, quick and full      distance -0.0004 (0.0018; 0.0020-0.0027)  gap +0.145 (0.094; 0.08-0.11)
#                              kernel +0.058 (0.052; 0.030-0.045; tau 0.024-0.037)
#   NTK, full (64 .. 4096)     distance -0.0007 (0.0027; 0.0026)  gap +0.077 (0.054; 0.058)
#                              kernel -0.017 (0.033; 0.033)
#   NTK, quick (64 .. 1024)    distance +0.0007 (0.0095; 0.0083)  gap +0.090 (0.099; 0.126)
#                              kernel -0.000 (0.095; 0.081)   (6 networks a width when measured)
# The LeCun gap and kernel change approach n^-2 from above: their local exponents between
# neighbouring widths, 16 networks each (seed 0), were -1.26 / -1.64 (256 -> 1024), -1.59 / -1.90
# (-> 4096), -2.00 / -1.95 (-> 16384) and -2.18 / -2.06 (-> 65536), the gap and the kernel change;
# hence the grid from 1024. Without the B/n term in its prediction the LeCun distance's exponent
# would be off by +0.002 to +0.018 over the seeds (mean +0.0065: 2.4 (quick) and 3.3 (full) standard
# errors).
FULL = Design({"lecun": (1024, 4096, 16384), "ntk": (64, 256, 1024, 4096)}, {"lecun": 12, "ntk": 12},
              {"lecun": {"distance": 0.002, "gap": 0.18, "kernel": 0.19},
               "ntk": {"distance": 0.005, "gap": 0.11, "kernel": 0.04}})
QUICK = Design({"lecun": (1024, 4096, 16384), "ntk": (64, 256, 1024)}, {"lecun": 6, "ntk": 12},
               {"lecun": {"distance": 0.002, "gap": 0.18, "kernel": 0.19},
                "ntk": {"distance": 0.02, "gap": 0.14, "kernel": 0.15}})

PARAMETRIZATIONS: tuple[Parametrization, ...] = ("lecun", "ntk")
NAMES = {"lecun": "LeCun", "ntk": "NTK parametrization"}
QUANTITIES = ("distance", "gap", "kernel")
PREDICTED = {"lecun": {"distance": -0.5, "gap": -2.0, "kernel": -2.0},
             "ntk": {"distance": -0.5, "gap": -1.0, "kernel": -1.0}}
CONTROL_STEP = 0.5  # halved: twice the NTK parametrization's step would diverge
CONTROL_EXPONENT = 2.0 ** 0.1
CONTROL_GRAM = 1.01

_NETWORK_STREAM = {"lecun": 1123, "ntk": 1163}


# -- the limits ----------------------------------------------------------------------------
def limit_kernels(X: FloatArray) -> dict[str, FloatArray]:
    """Return ``K_LC``, ``K_NTK`` and ``B`` on the rows of ``X``.

    ``B`` is the mean of the ``U``, ``b`` and ``c`` blocks of ``Theta0`` under LeCun, times ``n``.
    """
    lecun = limit_kernel(X, activation=ACTIVATION, parametrization="lecun")
    ntk = limit_kernel(X, activation=ACTIVATION, parametrization="ntk")
    inner = X @ X.T
    # K_NTK = (x.z/d + 1) E_dd + K_LC + 1 gives E_dd; B = (1 + x.z) E_dd + 1 (proof of Theorem 11.16)
    derivative = (ntk - lecun - 1.0) / (inner / X.shape[1] + 1.0)
    return {"lecun": lecun, "ntk": ntk, "B": (1.0 + inner) * derivative + 1.0}


def gradient_descent_step(parametrization: Parametrization, width: int, limit: FloatArray, gram: FloatArray) -> float:
    """Return the step ``h`` for the sum loss.

    LeCun: ``0.9 x 2/((lmin_LC + 4 lmax_LC) n)`` with the eigenvalues of the limit ``limit``
    (Theorem 11.23). NTK parametrization: ``0.9/(lambda_min + lambda_max)`` of the network's
    own Gram ``gram`` at ``w0`` (Theorem 11.13's (11.4.4)).
    """
    if parametrization == "lecun":
        low, high = np.linalg.eigvalsh(limit)[[0, -1]]
        return STEP_FRACTION * 2.0 / ((low + 4.0 * high) * width)
    low, high = np.linalg.eigvalsh(gram)[[0, -1]]
    return STEP_FRACTION / float(low + high)


def planned_steps(lr: float, gram: FloatArray, target: float = PLANNED_LOSS) -> int:
    """Return the steps until the slowest linear mode of the Gram ``gram`` has fallen by ``target``.

    That mode falls by ``(1 - 2 h lambda_min)^2`` per step.
    """
    slowest = 1.0 - 2.0 * lr * float(np.linalg.eigvalsh(gram)[0])
    return int(math.ceil(math.log(target) / (2.0 * math.log(slowest))))


def _checkpoints(steps: int) -> npt.NDArray[np.int64]:
    """Return the :data:`CHECKPOINTS` log-spaced steps (at most) from 1 to ``steps``, where the Gram is computed."""
    return np.unique(np.round(np.geomspace(1, steps, CHECKPOINTS)).astype(np.int64))


def cell_seed(base: int, parametrization: Parametrization, width: int, index: int) -> int:
    """Return the seed of the network of cell (width, index) for the base seed ``base``."""
    return network_seed(base, _NETWORK_STREAM[parametrization], width, index)


def cell_network(base: int, parametrization: Parametrization, width: int, index: int,
                 input_dim: int = INPUT_DIM) -> ShallowNetwork:
    """Return the network of a cell, at its initialization."""
    return ShallowNetwork(input_dim, width, ACTIVATION, parametrization,
                          seed=cell_seed(base, parametrization, width, index))


# -- one network ---------------------------------------------------------------------------
def lazy_cell(width: int, seed: int, *, parametrization: Parametrization, base: int,
              data: tuple[FloatArray, FloatArray, FloatArray], limits: dict[str, FloatArray],
              linearized_step: float = 1.0, initial_gram: float = 1.0) -> dict[str, float]:
    """Train network ``seed`` of ``width`` and its linearization and measure it (see the module docstring).

    Also measured: what the hypotheses and the predictions need. ``linearized_step`` and
    ``initial_gram`` scale the linearization's step and ``Theta(w0)`` in the kernel change
    (negative controls).
    """
    X, y, X_test = data
    m = X.shape[0]
    network = cell_network(base, parametrization, width, seed, X.shape[1])
    gram = network.ntk(X)
    scale = width if parametrization == "lecun" else 1
    lr = gradient_descent_step(parametrization, width, limits[parametrization], gram)
    steps = planned_steps(lr, gram)
    linearized = linearize(network)
    residual = network.forward(X) - y
    initial_norm = float(np.linalg.norm(network.params.to_vector()))

    records: list[tuple[FloatArray, FloatArray, FloatArray]] = []
    kernel, done = 0.0, 0
    for checkpoint in _checkpoints(steps):
        run = network.train(X, y, lr=lr, steps=int(checkpoint - done), record_every=1, X_test=np.vstack([X, X_test]),
                            loss="sum")
        assert run.test_outputs is not None  # recorded: X_test is given
        start = 0 if done == 0 else 1  # a segment's first record is the previous one's last
        records.append((run.test_outputs[start:], run.distances[start:], run.losses[start:]))
        done = int(checkpoint)
        kernel = max(kernel, float(np.linalg.norm(network.ntk(X) - initial_gram * gram, 2)) / scale)
    outputs, distances, losses = (np.concatenate(parts) for parts in zip(*records))
    linear = linearized.train(X, y, lr=linearized_step * lr, steps=steps, X_test=X_test, record_every=1, loss="sum")

    limit = limits[parametrization]
    spectrum = np.linalg.eigvalsh(gram / scale)
    record = {
        "distance": float(np.max(distances)), "initial_norm": initial_norm,
        "limit_factor": float(residual @ np.linalg.solve(limit, residual)),
        "gap_train": float(np.max(np.abs(outputs[:, :m] - linear.train_outputs))),
        "gap_test": float(np.max(np.abs(outputs[:, m:] - linear.test_outputs))),
        "kernel": kernel,
        "relative_loss": float(losses[-1] / losses[0]),
        "relative_loss_linearized": float(linear.losses[-1] / linear.losses[0]),
        "smallest_eigenvalue": float(spectrum[0]), "largest_eigenvalue": float(spectrum[-1]),
        "lr": lr, "steps": float(steps),
    }
    record["gap"] = max(record["gap_train"], record["gap_test"])
    if parametrization == "lecun":
        corrected = limit + limits["B"] / width
        record["corrected_factor"] = float(residual @ np.linalg.solve(corrected, residual))
    return record


# -- Remark 11.24 --------------------------------------------------------------------------
def remark_11_24(network: ShallowNetwork, X: FloatArray, y: FloatArray, lr: float, steps: int,
                 step_factor: float = 1.0) -> dict[str, Any]:
    """Compare the linearized model's gradient descent with Remark 11.24's closed form.

    The linearized model's training outputs from gradient descent iterated step by step
    (:meth:`widenet.LinearizedModel.train`, ``method="iterate"``) against Remark 11.24's
    closed form with ``A = 2 h Theta0`` and ``B = I - A``: as corrected, ``B^k Phi_lin(X, p0) +
    sum_{j<k} B^j A y``, and as printed, with ``B^k`` in the sum. ``step_factor`` scales ``h``
    in the closed forms only (a negative control). Also the corrected Neumann series
    ``sum_j B^j`` against ``A^{-1}``.
    """
    iterated = linearize(network).train(X, y, lr=lr, steps=steps, method="iterate", record_every=1,
                                        loss="sum").train_outputs
    A = 2.0 * step_factor * lr * network.ntk(X)
    B = np.eye(len(X)) - A
    start, pushed = network.forward(X), A @ y
    power, partial = np.eye(len(X)), np.zeros_like(A)
    corrected: list[FloatArray] = []
    printed: list[FloatArray] = []
    for k in range(steps + 1):
        corrected.append(power @ start + partial @ pushed)
        printed.append(power @ start + k * (power @ pushed))
        partial, power = partial + power, power @ B
    # rounding: every step adds a few ulps of the largest value to each output
    scale = max(float(np.max(np.abs(start))), float(np.max(np.abs(y))), 1.0)
    tolerance = 16.0 * (steps + 1) * len(X) * np.finfo(np.float64).eps * scale
    radius = float(np.max(np.abs(np.linalg.eigvalsh(B))))
    terms = int(math.ceil(math.log(np.finfo(np.float64).eps / 16) / math.log(radius)))
    neumann, power = np.zeros_like(A), np.eye(len(X))
    for _ in range(terms):
        neumann, power = neumann + power, power @ B
    inverse = np.linalg.inv(A)
    corrected_error = np.max(np.abs(np.array(corrected) - iterated), axis=1)
    printed_error = np.max(np.abs(np.array(printed) - iterated), axis=1)
    return {"corrected_error": float(np.max(corrected_error)), "printed_error": float(np.max(printed_error)),
            "corrected_error_by_step": corrected_error, "printed_error_by_step": printed_error,
            "tolerance": tolerance, "steps": steps, "width": network.width, "neumann_terms": terms,
            "spectral_radius": radius,
            "neumann_error": float(np.linalg.norm(neumann - inverse, 2) / np.linalg.norm(inverse, 2))}


# -- the measurements of a run -------------------------------------------------------------
def measure(parametrization: Parametrization, design: Design, seed: int, data: LazyTrainingData,
            limits: dict[str, FloatArray], perturbation: Optional[Perturbation],
            progress: Progress) -> dict[str, FloatArray]:
    """Run :func:`lazy_cell` for every network of ``design`` (a width sweep).

    Returns one array per quantity, one entry per network, ``widths`` naming each network's
    width.
    """
    table = sweep(lazy_cell, design.widths[parametrization], range(design.networks[parametrization]),
                  progress=progress.enabled,
                  parametrization=parametrization, base=seed, data=tuple(data), limits=limits,
                  linearized_step=factor_of(perturbation, "linearized step"),
                  initial_gram=factor_of(perturbation, "initial Gram")).table()
    names = table.dtype.names
    assert names is not None  # a sweep's table is a structured array
    measured = {key: np.asarray(table[key]) for key in names if key != "seed"}
    measured["widths"] = measured.pop("width")
    return measured


def distance_in_limit_units(parametrization: Parametrization, measured: dict[str, FloatArray],
                            perturbation: Optional[Perturbation]) -> FloatArray:
    """Return ``sup_k abs(w_k - w0)`` in units of the linearization's limit.

    That is, divided by the n-independent factor ``sqrt(r0 . K^{-1} r0)`` of the network's
    own initial residual (NTK parametrization: also by ``abs(w0)``), times the control's
    wrong scaling with the width.
    """
    values = measured["distance"] / np.sqrt(measured["limit_factor"])
    if parametrization == "ntk":
        values = values / measured["initial_norm"]
    return values * per_doubling(measured["widths"], factor_of(perturbation, "distance per doubling"))


def slope_tests(parametrization: Parametrization, measured: dict[str, FloatArray], design: Design,
                perturbation: Optional[Perturbation]) -> dict[str, tuple[SlopeFit, SlopeTest]]:
    """Test the fitted exponent of every quantity against its prediction; ``{quantity: (fit, test)}``."""
    widths = measured["widths"]
    predicted = dict(PREDICTED[parametrization])
    if parametrization == "lecun":  # the known B/n term's effect on the fitted exponent
        correction = np.sqrt(measured["corrected_factor"] / measured["limit_factor"])
        predicted["distance"] += power_law_fit(widths, correction, "correction", weights=widths).slope
    fits = {"distance": power_law_fit(widths, distance_in_limit_units(parametrization, measured, perturbation),
                                      "distance", weights=widths),
            "gap": power_law_fit(widths, measured["gap"], "gap"),
            "kernel": power_law_fit(widths, measured["kernel"], "kernel")}
    return {quantity: (fits[quantity], slope_test(fits[quantity], predicted[quantity],
                                                  design.allowance[parametrization][quantity]))
            for quantity in QUANTITIES}


# -- the claims ----------------------------------------------------------------------------
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


# -- the experiment ------------------------------------------------------------------------
def run(quick: bool = False, seed: int = 0, progress: Progress = SILENT,
        perturbation: Optional[Perturbation] = None) -> ExperimentResult:
    """Measure lazy training against Theorem 11.23, Propositions 11.25 and 11.26 and Remark 11.24.

    For both parametrizations (see the module docstring).

    Parameters
    ----------
    quick : bool
        LeCun widths 1024, 4096, 16384 with 6 networks each and NTK-parametrization widths 64,
        256, 1024 with 12, instead of 12 networks at every width and NTK widths up to 4096.
    seed : int
        Seed of the data (:func:`widenet.dynamics.lazy_training.lazy_training_data`) and base seed of
        the networks.
    progress : Progress
    perturbation : Perturbation, optional
        A negative control (see ``EXPERIMENT.controls``).
    """
    design = QUICK if quick else FULL
    data = lazy_training_data(points=POINTS, input_dim=INPUT_DIM, test_points=TEST_POINTS, seed=seed)
    limits = limit_kernels(data.X)
    numbers: dict[str, Any] = {}
    plot_data: dict[str, Any] = {}
    claims: list[Claim] = []
    for parametrization in PARAMETRIZATIONS:
        measured = measure(parametrization, design, seed, data, limits, perturbation, progress)
        tests = slope_tests(parametrization, measured, design, perturbation)
        claims += _claims(parametrization, tests, measured, limits, data)
        numbers[parametrization] = {
            "fits": {quantity: fit_record(fit) for quantity, (fit, _) in tests.items()},
            "tests": {quantity: test.record() for quantity, (_, test) in tests.items()},
            "steps": [int(min(measured["steps"])), int(max(measured["steps"]))],
            "largest_relative_loss": float(np.max(measured["relative_loss"])),
            "largest_relative_loss_linearized": float(np.max(measured["relative_loss_linearized"])),
            "limit_eigenvalues": np.linalg.eigvalsh(limits[parametrization]),
        }
        plot_data[parametrization] = {
            "widths": measured["widths"],
            "scaled_distance": distance_in_limit_units(parametrization, measured, perturbation),
            **{key: measured[key] for key in ("distance", "limit_factor", "initial_norm", "gap", "gap_train",
                                               "gap_test", "kernel", "relative_loss", "lr", "steps")}}
    remark = remark_run(design, seed, data, limits, factor_of(perturbation, "closed-form step"))
    numbers["remark_11_24"] = {key: value for key, value in remark.items() if not key.endswith("_by_step")}
    plot_data["remark_11_24"] = {key: remark[key] for key in ("corrected_error_by_step", "printed_error_by_step")}
    claims.insert(3, _remark_claim(remark))
    settings = {"activation": ACTIVATION, "loss": "sum", "points": POINTS, "input_dim": INPUT_DIM,
                "test_points": TEST_POINTS, "widths": {p: list(design.widths[p]) for p in PARAMETRIZATIONS},
                "networks_per_width": dict(design.networks), "step_fraction": STEP_FRACTION,
                "planned_loss": PLANNED_LOSS,
                "checkpoints": CHECKPOINTS, "data_seed": seed, "level": LEVEL, "quick": quick,
                "perturbation": None if perturbation is None else [perturbation.quantity, perturbation.factor]}
    return ExperimentResult(EXPERIMENT_NAME, settings, numbers, claims, plot_data, _corrections(remark))


def remark_run(design: Design, seed: int, data: LazyTrainingData, limits: dict[str, FloatArray],
               step_factor: float) -> dict[str, Any]:
    """Run :func:`remark_11_24` on the first LeCun network of the smallest width, with its step and steps."""
    width = design.widths["lecun"][0]
    network = cell_network(seed, "lecun", width, 0, data.X.shape[1])
    gram = network.ntk(data.X)
    lr = gradient_descent_step("lecun", width, limits["lecun"], gram)
    return remark_11_24(network, data.X, data.y, lr, planned_steps(lr, gram), step_factor)


# -- the figure ----------------------------------------------------------------------------
def _rate_panel(ax: Axes, result: ExperimentResult, quantity: str, title: str, field: Optional[str] = None) -> None:
    """Draw both parametrizations' values (``field``, default ``quantity``) against the width on ``ax``.

    With their fits, the sharp predictions (dashed, through each fit's centre) and the
    chapter's bound n^-1/2 (dotted).
    """
    for color, parametrization in (("C0", "lecun"), ("C1", "ntk")):
        data = result.data[parametrization]
        widths = np.asarray(data["widths"], dtype=float)
        values = np.asarray(data[field or quantity], dtype=float)
        fit = as_fit(result.numbers[parametrization]["fits"][quantity])
        test = result.numbers[parametrization]["tests"][quantity]
        ax.loglog(widths, values, "o", color=color, alpha=0.4, markersize=4)
        grid = np.geomspace(widths.min(), widths.max(), 50)
        ax.loglog(grid, np.exp(fit.intercept) * grid ** fit.slope, "-", color=color,
                  label=f"{NAMES[parametrization]}: slope {fit.slope:.2f}, predicted {test['predicted']:.2f}")
        centre = np.exp(np.mean(np.log(widths)))
        level = np.exp(fit.intercept) * centre ** fit.slope
        ax.loglog(grid, level * (grid / centre) ** test["predicted"] * 3.0, "--", color=color, linewidth=1)
        ax.loglog(grid, level * (grid / centre) ** BOUND * 3.0, ":", color=color, linewidth=1)
    ax.set_xlabel("width n")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)


def _remark_panel(ax: Axes, result: ExperimentResult) -> None:
    """Draw on ``ax`` Remark 11.24's closed forms' errors against the iterated linearized GD, step by step."""
    remark, numbers = result.data["remark_11_24"], result.numbers["remark_11_24"]
    for key, label, style in (("corrected_error_by_step", "sum_j B^j A y (corrected)", "o-"),
                              ("printed_error_by_step", "sum_j B^k A y (printed)", "s-")):
        values = np.maximum(np.asarray(remark[key], dtype=float), 1e-18)
        ax.semilogy(np.arange(values.size), values, style, markersize=3, label=label)
    ax.axhline(numbers["tolerance"], color="0.5", linestyle="--", linewidth=1, label="rounding bound")
    ax.set_xlabel("step k")
    ax.set_ylabel("max abs(closed form - iterated)")
    ax.set_title(f"Remark 11.24 (LeCun, n = {numbers['width']})", fontsize=9)
    ax.legend(fontsize=7)


def plot(result: ExperimentResult, directory: Directory) -> list[str]:
    """Draw one figure into ``directory``: the distance, the output gap and the kernel change against the width.

    The distance is in units of the linearization's limit; both parametrizations, with fits,
    the sharp predictions (dashed) and the chapter's n^-1/2 (dotted), drawn 3x above the
    data; and Remark 11.24's closed forms against the iterated linearized gradient descent.
    """
    from widenet.app.experiments._plotting import figure, save

    fig, axes = figure(columns=2, rows=2, width=5.2, height=3.8)
    _rate_panel(axes[0, 0], result, "distance", "sup_k abs(w_k - w0) / sqrt(r0.K^-1 r0) (NTK: also / abs(w0))",
                "scaled_distance")
    _rate_panel(axes[0, 1], result, "gap", "sup_k max_x abs(Phi(x, w_k) - Phi_lin(x, p_k))")
    _rate_panel(axes[1, 0], result, "kernel", "sup_k abs(Theta(w_k) - Theta(w0))_2 (LeCun: / n)")
    _remark_panel(axes[1, 1], result)
    fig.suptitle(f"Lazy training: {result.settings['activation']}, {result.settings['points']} points in d = "
                 f"{result.settings['input_dim']}, gradient descent to relative loss <= {CONVERGED:g}; dashed: sharp "
                 f"prediction, dotted: the chapter's n^-1/2", fontsize=9)
    return [save(fig, directory, "lazy-training")]


EXPERIMENT_NAME = "lazy-training"
EXPERIMENT = Experiment(
    name=EXPERIMENT_NAME,
    title="Lazy training: distance travelled, gap to the linearization, kernel change",
    reference="Theorem 11.23, Propositions 11.25 and 11.26, Remark 11.24",
    run=run,
    plot=plot,
    controls={
        "linearization with half the step": Control(
            Perturbation("linearized step", CONTROL_STEP), ("proposition-11-26", "gap-ntk"),
            "the linearized model trained with step h/2 against the network's h"),
        "distance off by n^0.1": Control(
            Perturbation("distance per doubling", CONTROL_EXPONENT), ("theorem-11-23", "distance-ntk"),
            "the measured distance multiplied by 2^0.1 per doubling of the width (an error of n^0.1)"),
        "initial Gram 1% too large": Control(
            Perturbation("initial Gram", CONTROL_GRAM), ("proposition-11-25", "kernel-ntk"),
            "Theta(w0) scaled by 1.01 in the kernel change"),
        "closed form with half the step": Control(
            Perturbation("closed-form step", CONTROL_STEP), ("remark-11-24",),
            "Remark 11.24's closed form evaluated with step h/2"),
    },
)
