"""Section 11.6 and Remark 11.29: which parameters gradient descent moves.

Under LeCun initialization and under the NTK parametrization, and with Adam.

At every width independent networks (a width sweep, one network per cell) are drawn twice
from the same standard draws, as a LeCun network (11.5.1) and as an NTK-parametrized one
(11.6.1) (the same function at initialization), both with the biases of Exercise 11.37
(``b_i, c ~ N(0, 1)``, so that every block has a scale at initialization). Each is trained
by gradient descent on the chapter's objective (11.0.1b) until its loss is below ``1e-6``
of its start, LeCun with
``h = 0.9 x 2/((lmin_LC + 4 lmax_LC) n)`` (Theorem 11.23's step, with this initialization's
``K_LC``), the NTK parametrization with ``h = 0.9/(lambda_min + lambda_max)`` of every
network's Gram (Theorem 11.13's (11.4.4)). Per block ``B`` of ``w = (U, b, v, c)`` the
experiment measures the movement ``abs(B_k - B_0)`` at the end, relative to the
initialization's scale ``sqrt(E abs(B_0)^2)`` (LeCun: ``sqrt(n)`` for ``U`` and ``b``, 1 for
``v`` and ``c``; NTK parametrization: ``sqrt(n d)``, ``sqrt(n)``, ``sqrt(n)``, 1; for the
single number ``c`` the drawn ``abs(c_0)`` can be near 0, so the drawn norms are not used),
and the gradient norms ``E abs(grad_B Phi(x, w0))`` (mean over the data points).

What is predicted, and tested two-sided (:mod:`._slopes`, level ``1e-3`` per claim):

- Gradient norms, exactly to ``O(1/n^2)``: with the pre-activation ``g ~ N(0, 1/d + 1)`` (unit
  inputs, bias variance 1), ``abs(grad_v Phi)^2`` is a sum of ``n`` i.i.d. terms ``s(g)^2``, so
  ``E abs(grad_v Phi) = sqrt(n E s^2) (1 - Var(s^2) / (8 n (E s^2)^2))``: exponent 1/2 (the
  chapter prints ``O(n)``, a correction below). ``abs(grad_b Phi)^2 = (1/n) sum v~_i^2 s'(g_i)^2``
  and ``abs(grad_U Phi) = abs(grad_b Phi) abs(x)``: exponent 0; ``abs(grad_c Phi) = 1``. Under
  the NTK parametrization (11.6.3) the ``n^{-1/2}`` makes all three ``O(1)`` (``grad_U`` also
  carries ``d^{-1/2}``). The ``1/n`` terms are put into the predicted exponents (their effect
  on the fit is below 0.001); the gradient norms scatter like ``n^{-1/2}``, so the fits are
  weighted by ``n``.
- Movement, LeCun: with ``h ~ 1/n`` the run converges in a number of steps independent of
  ``n``; ``v`` moves by ``O(n^{-1/2})`` against a scale 1, ``U`` and ``b`` by ``O(n^{-1})`` (their
  gradients carry ``v ~ n^{-1/2}``) against ``sqrt(n)``, ``c`` by ``O(n^{-1})`` against 1. So the
  ratios of relative movements ``v/U`` and ``v/b`` grow like ``n``, ``v/c`` like ``n^{1/2}``.
- Movement, NTK parametrization: ``U`` and ``v`` both move by ``O(1)`` against ``sqrt(n)``
  scales; ``v/U`` has exponent 0.
- The ratios carry finite-width terms that depend on the data (the network moves to the
  linearization's limit ``Delta w = -J0^T Theta0^{-1} r0`` up to ``O(1/n)``, and that limit's
  block norms have their own ``1/n`` terms). The predicted exponent of each ratio is the
  fitted exponent of the same ratio for the linearization's limit of every network,
  computed at ``w0`` without training; it is reported next to the order argument's.
- Remark 11.29: Adam divides each component's step by the root of its own mean square
  gradient, so in its first steps every component moves by about its learning rate, whatever
  its gradient: the movement follows the number of entries of a block, not its gradient.
  After a few Adam steps ``abs(Delta U) / abs(Delta v)`` stays near ``sqrt(d)`` at every width
  (exponent 0): ``U`` moves more than ``v``, where gradient descent gives
  ``abs(Delta v) / abs(Delta U) ~ n^{1/2}``.

Negative controls: the gradient norms at the largest width scaled by 2; the relative
movement of ``v`` scaled by 2 at the largest width; Adam's ``epsilon`` a factor ``1e9`` too
large (10: the per-component scaling is swamped and Adam becomes gradient descent with
momentum).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

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
from widenet.app.experiments._slopes import LEVEL, SlopeTest, power_law_fit, slope_test
from widenet.app.experiments._statistics import FloatArray
from widenet.app.experiments.lazy_training import gradient_descent_step, planned_steps
from widenet.dynamics.lazy_training import BLOCKS, LazyTrainingData, lazy_training_data
from widenet.kernels import limit_kernel
from widenet.network.parameters import Parameters
from widenet.network.shallow import ShallowNetwork
from widenet.sweeps import SlopeFit, SweepResult, sweep

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from widenet.app.experiments._plotting import Directory

ACTIVATION = "tanh"
POINTS, INPUT_DIM = 4, 12
BIAS_VAR = OUTPUT_BIAS_VAR = 1.0  # Exercise 11.37
STEP_FRACTION = 0.9
PLANNED_LOSS = 1e-8  # the steps are planned for this relative loss at the slowest linear rate
CONVERGED = 1e-6  # the hypothesis: every run ends below this relative loss
MAX_STEPS_FACTOR = 4  # runs that lag behind the plan get up to this many times the planned steps
PARAMETRIZATIONS: tuple[Parametrization, ...] = ("lecun", "ntk")
NAMES = {"lecun": "LeCun with Exercise 11.37 biases", "ntk": "NTK parametrization with Exercise 11.37 biases"}
SHORT = {"lecun": "LeCun", "ntk": "NTK"}


@dataclass(frozen=True)
class Design:
    """Widths and networks of the gradient-descent runs and of the Adam runs, and the allowances.

    The allowances are those of the movement exponents (``"lecun"``, ``"ntk"``: the ratios;
    ``"adam"``) and of the gradient norms' (``"gradient"``) on this grid.
    """

    widths: tuple[int, ...]
    networks: int
    adam_widths: tuple[int, ...]
    adam_networks: int
    allowance: dict[str, float]


# Allowances: bounds on each fitted exponent's bias beyond its prediction, measured over data
# seeds 0 .. 19 (quick) and 0 .. 13 (full) as in the lazy-training experiment: abs(mean bias) +
# 2 (its standard error) + 3 tau, tau^2 the variance over seeds beyond the fits' own squared
# standard errors; rounded up. Mean bias (sd over seeds; mean standard error), quick / full:
#   gradient norms U, b   -0.0012 (0.0110; 0.0119) / +0.0003 (0.0017; 0.0028)
#   gradient norm v       -0.0014 (0.0040; 0.0046) / -0.0002 (0.0007; 0.0011)
#   LeCun v/U             +0.0096 (0.0095; 0.0273) / +0.0061 (0.0058; 0.0111)
#   LeCun v/b             +0.0188 (0.0178; 0.0247) / +0.0126 (0.0107; 0.0104)
#   LeCun v/c             +0.0064 (0.0208; 0.1724) / +0.0003 (0.0092; 0.0928)
#   NTK v/U               -0.0025 (0.0177; 0.0205) / -0.0015 (0.0070; 0.0077)
#   Adam abs(dU)/abs(dv)  +0.0002 (0.0036; 0.0028) / +0.0007 (0.0025; 0.0017; tau 0.0014)
# The predictions with the linearization's finite-width terms ranged over the seeds, quick /
# full: v/U 0.953 .. 1.047 / 0.979 .. 1.024, v/b 0.944 .. 1.056 / 0.993 .. 1.019, v/c 0.22 .. 1.01
# / 0.41 .. 0.70 (the movement of the single c is heavy-tailed), NTK v/U -0.035 .. 0.039 /
# -0.011 .. 0.019: exactly 1, 1, 1/2, 0 would be off by several standard errors.
FULL = Design((64, 256, 1024, 4096, 16384), 6, (64, 256, 1024, 4096), 6,
              {"lecun": 0.025, "ntk": 0.006, "adam": 0.007, "gradient": 0.002})
QUICK = Design((64, 256, 1024), 8, (64, 256, 1024), 4,
               {"lecun": 0.03, "ntk": 0.011, "adam": 0.005, "gradient": 0.006})

# The ratios of relative movements and the exponents of the order argument.
RATIOS = {"lecun": {"U": 1.0, "b": 1.0, "c": 0.5}, "ntk": {"U": 0.0}}

ADAM_STEPS = 10
ADAM_RATE = 0.01  # the learning rate is ADAM_RATE / n: the function moves by O(ADAM_RATE) per step at every width
ADAM_BETAS = (0.9, 0.999)
ADAM_EPSILON = 1e-8

CONTROL_GRADIENT = 2.0
CONTROL_MOVEMENT = 2.0
CONTROL_EPSILON = 1e9

_NETWORK_STREAM = 1106
_ADAM_STREAM = 1129


# -- scales and predictions ----------------------------------------------------------------
def initial_scale(parametrization: Parametrization, block: str, width: int, input_dim: int) -> float:
    """Return ``sqrt(E abs(B_0)^2)`` of block ``block`` for the initializations (11.5.3) and (11.6.2).

    With the weight variances 1 and the bias variances of Exercise 11.37.
    """
    fan_in, fan_out = (input_dim, width) if parametrization == "lecun" else (1, 1)
    variance = {"U": width * input_dim / fan_in, "b": width * BIAS_VAR, "v": width / fan_out,
                "c": OUTPUT_BIAS_VAR}[block]
    return float(np.sqrt(variance))


def gaussian_moments(variance: float, nodes: int = 240) -> dict[str, float]:
    """Return ``E s^2, E s^4, E s'^2, E s'^4`` of tanh at ``g ~ N(0, variance)`` (Gauss-Hermite)."""
    points, weights = np.polynomial.hermite_e.hermegauss(nodes)
    g = math.sqrt(variance) * points
    weights = weights / math.sqrt(2.0 * math.pi)
    s, ds = np.tanh(g), 1.0 / np.cosh(g) ** 2
    return {"s2": float(weights @ s ** 2), "s4": float(weights @ s ** 4), "ds2": float(weights @ ds ** 2),
            "ds4": float(weights @ ds ** 4)}


def expected_gradient_norms(parametrization: Parametrization, width: int, input_dim: int) -> dict[str, float]:
    """Return ``E abs(grad_B Phi(x, w0))`` per block for ``abs(x) = 1``, to ``O(1/n^2)``.

    ``E sqrt(S) = sqrt(E S) (1 - Var S / (8 (E S)^2))`` for the sums ``S`` of ``n`` i.i.d.
    terms (module docstring).
    """
    moments = gaussian_moments(1.0 / input_dim + BIAS_VAR)

    def root_of_sum(mean: float, second: float) -> float:  # E sqrt of (1/n) sum of terms
        return math.sqrt(mean) * (1.0 - (second - mean ** 2) / (8.0 * width * mean ** 2))

    value = root_of_sum(moments["s2"], moments["s4"])
    bias = root_of_sum(moments["ds2"], 3.0 * moments["ds4"])  # v~^4 has mean 3
    if parametrization == "lecun":
        return {"U": bias, "b": bias, "v": math.sqrt(width) * value, "c": 1.0}
    return {"U": bias / math.sqrt(input_dim), "b": bias, "v": value, "c": 1.0}


GRADIENT_EXPONENTS = {"lecun": {"U": 0.0, "b": 0.0, "v": 0.5}, "ntk": {"U": 0.0, "b": 0.0, "v": 0.0}}


# -- gradient descent ----------------------------------------------------------------------
def _jacobian_blocks(network: ShallowNetwork, X: FloatArray) -> dict[str, FloatArray]:
    """Return the Jacobian's column blocks at the network's parameters (``U`` row-major, ``b``, ``v``, ``c``)."""
    J = network.jacobian(X)
    n, d = network.width, network.input_dim
    bounds = np.cumsum([0, n * d, n, n, 1])
    return {block: J[:, start:stop] for block, start, stop in zip(BLOCKS, bounds[:-1], bounds[1:])}


def _initial_analysis(network: ShallowNetwork, X: FloatArray, y: FloatArray) -> dict[str, float]:
    """Return the gradient norms and the linearized limit's movement per block, at ``w0``.

    The mean over the rows of ``X`` of ``abs(grad_B Phi)`` per block, and the movement
    ``abs(Delta B)`` of the linearization's limit ``Delta w = -J0^T Theta0^{-1} r0`` (the point
    gradient descent on the linearized model converges to).
    """
    blocks = _jacobian_blocks(network, X)
    gram = sum(block @ block.T for block in blocks.values())
    coefficients = np.linalg.solve(gram, network.forward(X) - y)
    result = {f"gradient_{name}": float(np.mean(np.linalg.norm(block, axis=1))) for name, block in blocks.items()}
    result.update({f"linearized_{name}": float(np.linalg.norm(block.T @ coefficients))
                   for name, block in blocks.items()})
    return result


def _block_movement(after: Parameters, before: Parameters) -> dict[str, float]:
    """Return ``abs(B_after - B_before)`` for every block ``B``."""
    return {block: float(np.linalg.norm(np.asarray(now) - np.asarray(then)))
            for block, now, then in zip(BLOCKS, after.arrays(), before.arrays())}


def cell_network(base: int, parametrization: Parametrization, width: int, index: int, input_dim: int = INPUT_DIM,
                 stream: Optional[int] = None) -> ShallowNetwork:
    """Return the network of a cell at its initialization.

    Both parametrizations draw the same standard variables (the same function at initialization).
    """
    seed = network_seed(base, _NETWORK_STREAM if stream is None else stream, width, index)
    return ShallowNetwork(input_dim, width, ACTIVATION, parametrization, bias_var=BIAS_VAR,
                          output_bias_var=OUTPUT_BIAS_VAR, seed=seed)


def train_to_convergence(network: ShallowNetwork, X: FloatArray, y: FloatArray, lr: float,
                         gram: FloatArray) -> tuple[float, int]:
    """Run gradient descent until the loss has fallen by ``PLANNED_LOSS`` at the slowest linear rate.

    And on while it is above ``10 PLANNED_LOSS`` of its start (a Gram that changes on the
    way can slow a narrow network), up to ``MAX_STEPS_FACTOR`` times the plan. Returns
    ``(relative loss, steps)``.
    """
    planned = planned_steps(lr, gram, PLANNED_LOSS)
    initial = network.loss(X, y)
    steps, chunk = 0, planned
    while True:
        run = network.train(X, y, lr=lr, steps=chunk, record_every=chunk, loss="sum")
        steps += chunk
        relative = float(run.losses[-1] / initial)
        if relative <= 10 * PLANNED_LOSS or steps >= MAX_STEPS_FACTOR * planned:
            return relative, steps
        chunk = max(planned // 2, 1)


def movement_cell(width: int, seed: int, *, base: int, data: tuple[FloatArray, FloatArray],
                  limits: dict[str, FloatArray]) -> dict[str, float]:
    """Train both parametrizations of network ``seed`` of ``width`` to convergence and measure them.

    Per block the movement, relative to the initialization's scale too, the gradient norm
    and the linearized limit's movement at ``w0``; the relative final loss, the step and the
    steps.
    """
    X, y = data
    record: dict[str, float] = {}
    for parametrization in PARAMETRIZATIONS:
        network = cell_network(base, parametrization, width, seed, X.shape[1])
        initial = network.params.copy()
        gram = network.ntk(X)
        lr = gradient_descent_step(parametrization, width, limits[parametrization], gram)
        analysis = _initial_analysis(network, X, y)
        relative_loss, steps = train_to_convergence(network, X, y, lr, gram)
        movement = _block_movement(network.params, initial)
        for block in BLOCKS:
            record[f"{parametrization}_movement_{block}"] = movement[block]
            record[f"{parametrization}_relative_{block}"] = movement[block] / initial_scale(
                parametrization, block, width, X.shape[1])
        record.update({f"{parametrization}_{key}": value for key, value in analysis.items()})
        record.update({f"{parametrization}_relative_loss": relative_loss, f"{parametrization}_lr": lr,
                       f"{parametrization}_steps": float(steps)})
    return record


# -- Adam (Remark 11.29) -------------------------------------------------------------------
def adam_movement(network: ShallowNetwork, X: FloatArray, y: FloatArray, rate: float, steps: int,
                  epsilon: float) -> dict[str, float]:
    """Return ``abs(B_k - B_0)`` per block after ``steps`` Adam steps on the sum loss.

    The steps start from ``network``'s parameters, with bias-corrected moments and the betas
    ``ADAM_BETAS``; ``network`` is left at the last step.
    """
    start = network.params.copy()
    current = [np.array(block, dtype=float) for block in start.arrays()]
    first = [np.zeros_like(block) for block in current]
    second = [np.zeros_like(block) for block in current]
    beta1, beta2 = ADAM_BETAS
    for k in range(1, steps + 1):
        _, gradient = network.loss_grad(X, y, loss="sum")
        for index, g in enumerate(np.asarray(block, dtype=float) for block in gradient.arrays()):
            first[index] = beta1 * first[index] + (1 - beta1) * g
            second[index] = beta2 * second[index] + (1 - beta2) * g ** 2
            update = (first[index] / (1 - beta1 ** k)) / (np.sqrt(second[index] / (1 - beta2 ** k)) + epsilon)
            current[index] = current[index] - rate * update
        network.params = Parameters(*current)
    return _block_movement(network.params, start)


def adam_cell(width: int, seed: int, *, base: int, data: tuple[FloatArray, FloatArray],
              epsilon: float) -> dict[str, float]:
    """Measure Adam's per-block movement of LeCun network ``seed`` of ``width``."""
    X, y = data
    network = cell_network(base, "lecun", width, seed, X.shape[1], stream=_ADAM_STREAM)
    moved = adam_movement(network, X, y, ADAM_RATE / width, ADAM_STEPS, epsilon)
    return {f"adam_{block}": moved[block] for block in BLOCKS}


# -- the measurements of a run -------------------------------------------------------------
def _table(result: SweepResult) -> dict[str, FloatArray]:
    """Return a sweep's records as one array per quantity, ``widths`` naming each network's width."""
    table = result.table()
    names = table.dtype.names
    assert names is not None  # a sweep's table is a structured array
    measured = {key: np.asarray(table[key]) for key in names if key != "seed"}
    measured["widths"] = measured.pop("width")
    return measured


def measure(design: Design, seed: int, data: LazyTrainingData, perturbation: Optional[Perturbation],
            progress: Progress) -> dict[str, FloatArray]:
    """Run the gradient-descent sweep (both parametrizations) and the Adam sweep.

    Returns one array per quantity, one entry per network (``widths``, ``adam_widths`` name
    each network's width); the negative controls' errors applied.
    """
    limits = {p: limit_kernel(data.X, activation=ACTIVATION, parametrization=p, bias_var=BIAS_VAR,
                              output_bias_var=OUTPUT_BIAS_VAR) for p in PARAMETRIZATIONS}
    measured = _table(sweep(movement_cell, design.widths, range(design.networks), progress=progress.enabled,
                            base=seed, data=(data.X, data.y), limits=limits))
    adam = _table(sweep(adam_cell, design.adam_widths, range(design.adam_networks), progress=progress.enabled,
                        base=seed, data=(data.X, data.y),
                        epsilon=factor_of(perturbation, "Adam epsilon") * ADAM_EPSILON))
    measured.update({key: value for key, value in adam.items() if key != "widths"})
    measured["adam_widths"] = adam["widths"]
    for parametrization in PARAMETRIZATIONS:
        measured[f"{parametrization}_limit_eigenvalues"] = np.linalg.eigvalsh(limits[parametrization])
    largest = measured["widths"] == max(design.widths)
    for parametrization in PARAMETRIZATIONS:
        for block in BLOCKS:
            measured[f"{parametrization}_gradient_{block}"] = measured[f"{parametrization}_gradient_{block}"] * \
                np.where(largest, factor_of(perturbation, "gradient norms at the largest width"), 1.0)
        measured[f"{parametrization}_relative_v"] = measured[f"{parametrization}_relative_v"] * \
            np.where(largest, factor_of(perturbation, "v movement at the largest width"), 1.0)
    return measured


def gradient_tests(parametrization: Parametrization, measured: dict[str, FloatArray], input_dim: int,
                   allowance: float) -> dict[str, tuple[SlopeFit, SlopeTest]]:
    """Test the fitted exponent of ``E abs(grad_B Phi)`` for ``U``, ``b``, ``v`` against its prediction.

    The prediction has the known ``1/n`` term; the fits are weighted by ``n``.
    """
    widths = measured["widths"]
    blocks = GRADIENT_EXPONENTS[parametrization]
    tests: dict[str, tuple[SlopeFit, SlopeTest]] = {}
    for block in blocks:
        values = measured[f"{parametrization}_gradient_{block}"]
        fit = power_law_fit(widths, values, f"{parametrization}_gradient_{block}", weights=widths)
        expected = np.array([expected_gradient_norms(parametrization, int(n), input_dim)[block] for n in widths])
        predicted = power_law_fit(widths, expected, "expected", weights=widths).slope
        in_claim = 1 if block == "v" and parametrization == "lecun" else len(blocks) - (parametrization == "lecun")
        tests[block] = (fit, slope_test(fit, predicted, allowance, tests=in_claim))
    return tests


def ratio_tests(parametrization: Parametrization, measured: dict[str, FloatArray],
                design: Design) -> dict[str, tuple[SlopeFit, SlopeTest]]:
    """Test the exponent of the ratio of the relative movements of ``v`` and each other block.

    It is tested against the exponent of the same ratio for the linearization's limit of
    every network (the order argument's exponent with the ratio's data-dependent
    finite-width terms).
    """
    widths = measured["widths"]
    ratios = RATIOS[parametrization]
    scale = {block: np.array([initial_scale(parametrization, block, int(n), INPUT_DIM) for n in widths])
             for block in BLOCKS}
    tests: dict[str, tuple[SlopeFit, SlopeTest]] = {}
    for block in ratios:
        values = measured[f"{parametrization}_relative_v"] / measured[f"{parametrization}_relative_{block}"]
        linearized = (measured[f"{parametrization}_linearized_v"] / scale["v"]) / (
            measured[f"{parametrization}_linearized_{block}"] / scale[block])
        fit = power_law_fit(widths, values, f"{parametrization}_v_over_{block}")
        predicted = power_law_fit(widths, linearized, "linearized").slope
        tests[block] = (fit, slope_test(fit, predicted, design.allowance[parametrization], tests=len(ratios)))
    return tests


def adam_test(measured: dict[str, FloatArray], design: Design) -> tuple[SlopeFit, SlopeTest]:
    """Test the exponent of ``abs(Delta U) / abs(Delta v)`` after the Adam steps (prediction 0).

    The fit is weighted by ``n`` (a ratio of norms of ``n d`` and ``n`` nearly equal entries).
    """
    widths = measured["adam_widths"]
    fit = power_law_fit(widths, measured["adam_U"] / measured["adam_v"], "adam_U_over_v", weights=widths)
    return fit, slope_test(fit, 0.0, design.allowance["adam"])


# -- the claims ----------------------------------------------------------------------------
def _convergence(measured: dict[str, FloatArray], parametrization: Parametrization) -> tuple[bool, str]:
    """Return whether every run ended below ``CONVERGED`` relative loss, and the text."""
    largest = float(np.max(measured[f"{parametrization}_relative_loss"]))
    steps = measured[f"{parametrization}_steps"]
    held = largest <= CONVERGED
    return held, (f"trained to convergence: largest final f(w_k)/f(w0) {largest:.1e} <= {CONVERGED:g} after "
                  f"{int(min(steps))} to {int(max(steps))} steps: {'yes' if held else 'no'}")


def _training_hypothesis(measured: dict[str, FloatArray], parametrization: Parametrization) -> tuple[str, bool]:
    """Return the hypotheses of the training runs of ``parametrization``, with the constants, and whether all hold."""
    held, convergence = _convergence(measured, parametrization)
    low, high = (float(value) for value in measured[f"{parametrization}_limit_eigenvalues"][[0, -1]])
    if parametrization == "lecun":
        constant = float(measured["lecun_lr"][0]) * float(measured["widths"][0])
        limit = 2.0 / (low + 4.0 * high)
        step = (f"K_LC (Exercise 11.37 biases) regular, eigenvalues in [{low:.4f}, {high:.4f}]: yes; step h n = "
                f"{constant:.4f} < 2/(lmin_LC + 4 lmax_LC) = {limit:.4f} (Theorem 11.23): yes")
        held = held and constant < limit
    else:
        step = (f"K_NTK (Exercise 11.37 biases) eigenvalues in [{low:.4f}, {high:.4f}]; step {STEP_FRACTION} / "
                f"(lambda_min + lambda_max) of every network's Gram (Theorem 11.13's (11.4.4)): yes")
    return (f"{NAMES[parametrization]} (b_i, c ~ N(0, 1) instead of 0): the chapter's order argument does not use "
            f"the biases' scale; {step}; {convergence}"), bool(held and low > 0)


GRADIENT_HYPOTHESIS = ("at initialization, D = N(0, 1), unit-norm inputs (so abs(grad_U Phi) = abs(grad_b Phi) "
                       "abs(x)), the biases of Exercise 11.37: yes")


def _gradient_criterion(tests: dict[str, tuple[SlopeFit, SlopeTest]], what: str) -> str:
    """Return the criterion of a claim on the gradient norms' exponents ``tests`` (the fits are ``what``)."""
    return ("two-sided, per exponent: " + "; ".join(f"{block}: {test.criterion()}" for block, (_, test) in
                                                    tests.items())
            + f" ({what}; weighted least squares (the norms scatter like n^-1/2), t quantile at level {LEVEL:g}, "
              f"Bonferroni over the exponents of the claim; the known 1/n term is in the predicted exponent)")


def _slopes_text(tests: dict[str, tuple[SlopeFit, SlopeTest]], prefix: str = "") -> str:
    """Return the fitted exponents of ``tests`` as text, each named by its block (after ``prefix``)."""
    return ", ".join(f"{prefix}{block}: {test.text()}" for block, (_, test) in tests.items())


def _claims(measured: dict[str, FloatArray], gradients: dict[Parametrization, dict[str, tuple[SlopeFit, SlopeTest]]],
            ratios: dict[Parametrization, dict[str, tuple[SlopeFit, SlopeTest]]], adam: tuple[SlopeFit, SlopeTest],
            design: Design) -> list[Claim]:
    """Return the claims: the gradient norms, the movements under both parametrizations and Adam's."""
    widths = measured["widths"]
    largest = widths == widths.max()
    expected_v = expected_gradient_norms("lecun", int(widths.max()), INPUT_DIM)["v"]
    v_fit, v_test = gradients["lecun"]["v"]
    lecun_gradients = {block: gradients["lecun"][block] for block in ("U", "b")}
    gradient_c = np.concatenate([measured[f"{p}_gradient_c"] for p in PARAMETRIZATIONS])
    lecun_ratios = {block: measured["lecun_relative_v"] / measured[f"lecun_relative_{block}"] for block in "Ubc"}
    smallest = min(float(np.min(values)) for values in lecun_ratios.values())
    lecun_hypothesis, lecun_holds = _training_hypothesis(measured, "lecun")
    ntk_hypothesis, ntk_holds = _training_hypothesis(measured, "ntk")
    ntk_ratio = measured["ntk_relative_v"] / measured["ntk_relative_U"]
    adam_fit, adam_ratio_test = adam
    adam_ratio = measured["adam_U"] / measured["adam_v"]
    gd_ratio = measured["lecun_movement_v"] / measured["lecun_movement_U"]
    gd_fit = power_law_fit(widths, gd_ratio, "gd_v_over_U")
    return [
        Claim(key="v-moves-most", reference="Section 11.6",
              statement=(f"{NAMES['lecun']}, h ~ 1/n: gradient descent moves mainly v. The movements relative to the "
                         f"initialization's scale: v/U and v/b grow like n, v/c like n^1/2 (v moves by O(n^-1/2) "
                         f"against a scale 1, U and b by O(1/n) against sqrt(n), c by O(1/n) against 1), and "
                         f"v/B > 1 in every network"),
              predicted=("slopes 1 (v/U), 1 (v/b), 0.5 (v/c) (order argument); with the linearization's "
                         "finite-width terms " + ", ".join(f"{test.predicted:.3f}" for _, test in
                                                           ratios["lecun"].values()) + "; every ratio > 1"),
              measured=(f"{_slopes_text(ratios['lecun'], 'v/')}; smallest ratio over the {widths.size} networks "
                        f"{smallest:.3g}; medians at n = {int(widths.max())}: "
                        + ", ".join(f"v/{block} {np.median(values[largest]):.3g}" for block, values in
                                    lecun_ratios.items())),
              holds=bool(all(test.holds for _, test in ratios["lecun"].values()) and smallest > 1.0),
              hypothesis=lecun_hypothesis, hypothesis_holds=lecun_holds,
              criterion=("two-sided, per exponent: " + "; ".join(f"v/{block}: {test.criterion()}" for block, (_, test)
                                                                 in ratios["lecun"].items())
                         + f" (least squares, t quantile at level {LEVEL:g}, Bonferroni over 3; allowance for the "
                           f"next order in 1/n as measured in the module's comments); and every ratio > 1")),
        Claim(key="ntk-comparable", reference="Section 11.6.1",
              statement=(f"{NAMES['ntk']}, h = O(1): U and v move comparably; the ratio of their relative movements "
                         f"stays O(1)"),
              predicted=f"slope 0 (order argument); with the linearization's finite-width terms "
                        f"{ratios['ntk']['U'][1].predicted:.3f}",
              measured=(f"slope {ratios['ntk']['U'][1].text()}; median ratio "
                        + ", ".join(f"{np.median(ntk_ratio[widths == width]):.3g}" for width in design.widths)
                        + f" at n = {', '.join(str(width) for width in design.widths)}"),
              holds=ratios["ntk"]["U"][1].holds, hypothesis=ntk_hypothesis, hypothesis_holds=ntk_holds,
              criterion=(f"two-sided: {ratios['ntk']['U'][1].criterion()} (least squares, t quantile at level "
                         f"{LEVEL:g}; allowance as measured in the module's comments)")),
        Claim(key="gradient-v", reference="Section 11.6 (corrected)",
              statement=(f"{NAMES['lecun']}: E abs(grad_v Phi(x, w0)) = E abs(sigma(Ux + b)) grows like n^1/2 (a "
                         f"norm of n entries of size O(1)), not O(n) as printed; sharp: sqrt(n E s(g)^2) (1 - "
                         f"Var(s(g)^2) / (8 n (E s(g)^2)^2)), g ~ N(0, 1/d + 1)"),
              predicted=f"slope {v_test.predicted:.4f} (1/2 and the known 1/n term); chapter: O(n)",
              measured=(f"slope {v_test.text()}; at n = {int(widths.max())} the mean over networks is "
                        f"{np.mean(measured['lecun_gradient_v'][largest]) / expected_v:.4f} of the predicted "
                        f"{expected_v:.4g}"),
              holds=v_test.holds, hypothesis=GRADIENT_HYPOTHESIS, hypothesis_holds=True,
              criterion=_gradient_criterion({"v": gradients["lecun"]["v"]}, "a single exponent")),
        Claim(key="gradients-lecun", reference="Section 11.6",
              statement=(f"{NAMES['lecun']}: E abs(grad_U Phi) and E abs(grad_b Phi) are O(1) (they carry "
                         f"v ~ n^-1/2), and abs(grad_c Phi) = 1"),
              predicted="slopes 0 (with the known 1/n terms); grad_c = 1",
              measured=(f"{_slopes_text(lecun_gradients)}; abs(grad_c Phi) - 1 at most "
                        f"{np.max(np.abs(gradient_c - 1.0)):.1g} over both parametrizations"),
              holds=bool(all(test.holds for _, test in lecun_gradients.values())
                         and np.all(np.abs(gradient_c - 1.0) <= 1e-12)),
              hypothesis=GRADIENT_HYPOTHESIS, hypothesis_holds=True,
              criterion=_gradient_criterion(lecun_gradients, "and abs(grad_c Phi) = 1 to 1e-12")),
        Claim(key="gradients-ntk", reference="(11.6.3)",
              statement=(f"{NAMES['ntk']}: the factor n^-1/2 makes E abs(grad_B Phi) O(1) for U, b and v"),
              predicted="slopes 0 (with the known 1/n terms)",
              measured=_slopes_text(gradients["ntk"]),
              holds=all(test.holds for _, test in gradients["ntk"].values()),
              hypothesis=GRADIENT_HYPOTHESIS, hypothesis_holds=True,
              criterion=_gradient_criterion(gradients["ntk"], "three exponents")),
        Claim(key="remark-11-29", reference="Remark 11.29",
              statement=(f"with Adam the movement no longer follows the gradients: after {ADAM_STEPS} Adam steps "
                         f"(rate {ADAM_RATE}/n, betas {ADAM_BETAS}, epsilon {ADAM_EPSILON:g}) from the LeCun "
                         f"initialization every component has moved by about the rate, so abs(Delta U)/abs(Delta v) "
                         f"~ sqrt(d) at every width and U moves more than v; gradient descent moves v more, by a "
                         f"factor ~ n^1/2"),
              predicted=f"slope 0 (about sqrt(d) = {math.sqrt(INPUT_DIM):.3f}); abs(Delta U) > abs(Delta v)",
              measured=(f"slope {adam_ratio_test.text()}; abs(Delta U)/abs(Delta v) {adam_ratio.min():.3f} .. "
                        f"{adam_ratio.max():.3f} over {adam_ratio.size} networks, n = {design.adam_widths[0]} .. "
                        f"{design.adam_widths[-1]}; gradient descent (converged runs above): abs(Delta v)/abs(Delta U) "
                        f"slope {gd_fit.slope:.3f}, from {np.median(gd_ratio[widths == widths.min()]):.3g} to "
                        f"{np.median(gd_ratio[largest]):.3g}"),
              holds=bool(adam_ratio_test.holds and np.all(adam_ratio > 1.0)),
              hypothesis=(f"the remark has no hypotheses; {NAMES['lecun']}, the data of the runs above, "
                          f"{design.adam_networks} networks per width"),
              hypothesis_holds=None,
              criterion=(f"two-sided: {adam_ratio_test.criterion()} (weighted least squares, the ratio scatters like "
                         f"n^-1/2; t quantile at level {LEVEL:g}; allowance as measured in the module's comments); "
                         f"and abs(Delta U) > abs(Delta v) in every network")),
    ]


def _corrections(measured: dict[str, FloatArray],
                 gradients: dict[Parametrization, dict[str, tuple[SlopeFit, SlopeTest]]]) -> list[Correction]:
    """Return the chapter's misprint on the gradient norm of ``v``, with this run's numbers."""
    widths = measured["widths"]
    test = gradients["lecun"]["v"][1]
    scaled = measured["lecun_gradient_v"] / np.sqrt(widths)
    limit = math.sqrt(gaussian_moments(1.0 / INPUT_DIM + BIAS_VAR)["s2"])
    return [Correction(
        reference="Section 11.6",
        printed="E abs(grad_v Phi(x, w0)) = E abs(sigma(Ux + b)) = O(n)",
        corrected="O(n^1/2): sigma(Ux + b) has n entries of size O(1); E abs(grad_v Phi) / sqrt(n) -> "
                  "sqrt(E sigma(g)^2). The conclusion (v moves most under h ~ 1/n) stands",
        evidence=(f"fitted exponent {test.slope:.4f} +- {test.stderr:.4f} over n = {int(widths.min())} .. "
                  f"{int(widths.max())} (O(n) would be 1); E abs(grad_v Phi)/sqrt(n) between {scaled.min():.4f} and "
                  f"{scaled.max():.4f}, against sqrt(E tanh(g)^2) = {limit:.4f}"))]


# -- the experiment ------------------------------------------------------------------------
def run(quick: bool = False, seed: int = 0, progress: Progress = SILENT,
        perturbation: Optional[Perturbation] = None) -> ExperimentResult:
    """Measure the per-block movement and gradient norms for both parametrizations, and Adam's movement.

    Against Section 11.6 and Remark 11.29 (see the module docstring).

    Parameters
    ----------
    quick : bool
        Widths 64, 256, 1024 instead of 64 .. 16384 (Adam: 64 .. 4096), 4 networks each.
    seed : int
        Seed of the data (:func:`widenet.dynamics.lazy_training.lazy_training_data`) and base seed of
        the networks.
    progress : Progress
    perturbation : Perturbation, optional
        A negative control (see ``EXPERIMENT.controls``).
    """
    design = QUICK if quick else FULL
    data = lazy_training_data(points=POINTS, input_dim=INPUT_DIM, seed=seed)
    measured = measure(design, seed, data, perturbation, progress)
    gradients = {p: gradient_tests(p, measured, INPUT_DIM, design.allowance["gradient"]) for p in PARAMETRIZATIONS}
    ratios = {p: ratio_tests(p, measured, design) for p in PARAMETRIZATIONS}
    adam = adam_test(measured, design)
    claims = _claims(measured, gradients, ratios, adam, design)
    fits = {f"{p}_gradient_{block}": fit for p in PARAMETRIZATIONS for block, (fit, _) in gradients[p].items()}
    fits.update({f"{p}_v_over_{block}": fit for p in PARAMETRIZATIONS for block, (fit, _) in ratios[p].items()})
    fits["adam_U_over_v"] = adam[0]
    tests = {f"{p}_gradient_{block}": test for p in PARAMETRIZATIONS for block, (_, test) in gradients[p].items()}
    tests.update({f"{p}_v_over_{block}": test for p in PARAMETRIZATIONS for block, (_, test) in ratios[p].items()})
    tests["adam_U_over_v"] = adam[1]
    numbers = {
        "fits": {name: fit_record(fit) for name, fit in fits.items()},
        "tests": {name: test.record() for name, test in tests.items()},
        "steps": {p: [int(min(measured[f"{p}_steps"])), int(max(measured[f"{p}_steps"]))] for p in PARAMETRIZATIONS},
        "largest_relative_loss": {p: float(np.max(measured[f"{p}_relative_loss"])) for p in PARAMETRIZATIONS},
        "median_relative_movement": {p: {block: [float(np.median(measured[f"{p}_relative_{block}"][
            measured["widths"] == width])) for width in design.widths] for block in BLOCKS} for p in PARAMETRIZATIONS},
    }
    arrays = {key: value for key, value in measured.items() if isinstance(value, np.ndarray)}
    settings = {"activation": ACTIVATION, "loss": "sum", "points": POINTS, "input_dim": INPUT_DIM,
                "bias_var": BIAS_VAR, "output_bias_var": OUTPUT_BIAS_VAR, "widths": list(design.widths),
                "networks_per_width": design.networks, "adam_widths": list(design.adam_widths),
                "adam_networks_per_width": design.adam_networks, "adam_steps": ADAM_STEPS, "adam_rate": ADAM_RATE,
                "step_fraction": STEP_FRACTION, "planned_loss": PLANNED_LOSS, "data_seed": seed, "level": LEVEL,
                "quick": quick,
                "perturbation": None if perturbation is None else [perturbation.quantity, perturbation.factor]}
    return ExperimentResult(EXPERIMENT_NAME, settings, numbers, claims, arrays, _corrections(measured, gradients))


# -- the figure ----------------------------------------------------------------------------
def _bars(ax: Axes, result: ExperimentResult) -> None:
    """Draw the median relative movement per block on ``ax``: both parametrizations, smallest and largest width."""
    widths = result.settings["widths"]
    movement = result.numbers["median_relative_movement"]
    positions = np.arange(len(BLOCKS))
    bars = [(p, index) for p in PARAMETRIZATIONS for index in (0, len(widths) - 1)]
    span = 0.8 / len(bars)
    for offset, (p, index) in enumerate(bars):
        heights = [movement[p][block][index] for block in BLOCKS]
        ax.bar(positions + (offset - (len(bars) - 1) / 2) * span, heights, span, log=True,
               color="C0" if p == "lecun" else "C1", alpha=0.45 if index == 0 else 0.95,
               label=f"{SHORT[p]}, n = {widths[index]}")
    ax.set_xticks(positions, BLOCKS)
    low, high = ax.get_ylim()
    ax.set_ylim(low, high * 1e3)  # room for the legend above the bars
    ax.set_ylabel("abs(B_k - B_0) / sqrt(E abs(B_0)^2), median")
    ax.set_title("relative movement per block, gradient descent to convergence\n(both with Exercise 11.37 biases)",
                 fontsize=9)
    ax.legend(fontsize=7, ncol=2, loc="upper left")


def _series(ax: Axes, widths: npt.ArrayLike, values: npt.ArrayLike, fit: SlopeFit, predicted: float, label: str,
            marker: str, color: str) -> None:
    """Draw ``values`` against ``widths`` (log-log) on ``ax`` with the fitted line, labelled with both exponents."""
    widths, values = np.asarray(widths, dtype=float), np.asarray(values, dtype=float)
    ax.loglog(widths, values, marker, color=color, alpha=0.5, markersize=4)
    grid = np.geomspace(widths.min(), widths.max(), 50)
    ax.loglog(grid, np.exp(fit.intercept) * grid ** fit.slope, "-", color=color,
              label=f"{label}: slope {fit.slope:.2f} (predicted {predicted:.2f})")


def _ratio_panel(ax: Axes, result: ExperimentResult) -> None:
    """Draw the ratios of relative movements against the width on ``ax``."""
    data, fits, tests = result.data, result.numbers["fits"], result.numbers["tests"]
    series = [("lecun", "U", "o", "C0"), ("lecun", "b", "s", "C2"), ("lecun", "c", "^", "C3"), ("ntk", "U", "v", "C1")]
    for p, block, marker, color in series:
        name = f"{p}_v_over_{block}"
        values = np.asarray(data[f"{p}_relative_v"]) / np.asarray(data[f"{p}_relative_{block}"])
        _series(ax, data["widths"], values, as_fit(fits[name]), tests[name]["predicted"], f"{SHORT[p]} v/{block}",
                marker, color)
    ax.set_xlabel("width n")
    ax.set_title("ratios of relative movements (Exercise 11.37 biases)", fontsize=9)
    ax.legend(fontsize=7)


def _gradient_panel(ax: Axes, result: ExperimentResult) -> None:
    """Draw the gradient norms at initialization against the width on ``ax``."""
    data, fits, tests = result.data, result.numbers["fits"], result.numbers["tests"]
    series = [("lecun", "v", "o", "C0", ""), ("lecun", "U", "s", "C2", " (= LeCun b, unit x)"),
              ("lecun", "b", "x", "C3", ""), ("ntk", "v", "v", "C1", ""), ("ntk", "U", "D", "C4", ""),
              ("ntk", "b", "+", "C5", " (= LeCun b)")]
    for p, block, marker, color, note in series:
        name = f"{p}_gradient_{block}"
        _series(ax, data["widths"], data[name], as_fit(fits[name]), tests[name]["predicted"],
                f"{SHORT[p]} {block}{note}", marker, color)
    ax.loglog(data["widths"], data["lecun_gradient_c"], "_", color="k", label="grad_c = 1 (both)")
    ax.set_xlabel("width n")
    ax.set_title("E abs(grad_B Phi(x, w0)) (Exercise 11.37 biases)", fontsize=9)
    ax.legend(fontsize=6)


def _adam_panel(ax: Axes, result: ExperimentResult) -> None:
    """Draw Adam's ``abs(Delta U) / abs(Delta v)`` against gradient descent's on ``ax`` (Remark 11.29)."""
    data, fits = result.data, result.numbers["fits"]
    adam = np.asarray(data["adam_U"]) / np.asarray(data["adam_v"])
    _series(ax, data["adam_widths"], adam, as_fit(fits["adam_U_over_v"]), 0.0, "Adam", "o", "C3")
    gd = np.asarray(data["lecun_movement_U"]) / np.asarray(data["lecun_movement_v"])
    ax.loglog(data["widths"], gd, "s", color="C0", alpha=0.5, markersize=4, label="gradient descent (predicted n^-1/2)")
    ax.axhline(math.sqrt(result.settings["input_dim"]), color="0.5", linestyle="--", linewidth=1, label="sqrt(d)")
    ax.set_xlabel("width n")
    ax.set_title("Remark 11.29: abs(Delta U) / abs(Delta v), LeCun with Exercise 11.37 biases", fontsize=9)
    ax.legend(fontsize=7)


def plot(result: ExperimentResult, directory: Directory) -> list[str]:
    """Draw one figure into ``directory``: the relative movement per block, the ratios and the gradient norms.

    The relative movement per block (bars), the ratios of relative movements and the
    gradient norms against the width (every series in the legend, with its fitted and
    predicted exponent), and Adam's movement against gradient descent's.
    """
    from widenet.app.experiments._plotting import figure, save

    fig, axes = figure(columns=2, rows=2, width=5.2, height=3.9)
    _bars(axes[0, 0], result)
    _ratio_panel(axes[0, 1], result)
    _gradient_panel(axes[1, 0], result)
    _adam_panel(axes[1, 1], result)
    fig.suptitle(f"Section 11.6: {result.settings['activation']}, gradient descent to relative loss <= "
                 f"{CONVERGED:g}, biases of variance 1 (Exercise 11.37)", fontsize=10)
    return [save(fig, directory, "parameter-movement")]


EXPERIMENT_NAME = "parameter-movement"
EXPERIMENT = Experiment(
    name=EXPERIMENT_NAME,
    title="Which parameters move: LeCun against the NTK parametrization, and Adam",
    reference="Section 11.6, Remark 11.29",
    run=run,
    plot=plot,
    controls={
        "gradient norms at the largest width doubled": Control(
            Perturbation("gradient norms at the largest width", CONTROL_GRADIENT),
            ("gradient-v", "gradients-lecun", "gradients-ntk"),
            "every block's E abs(grad_B Phi) scaled by 2 at the largest width"),
        "movement of v doubled at the largest width": Control(
            Perturbation("v movement at the largest width", CONTROL_MOVEMENT), ("v-moves-most", "ntk-comparable"),
            "the relative movement of v scaled by 2 at the largest width"),
        "Adam's epsilon 1e9 times too large": Control(
            Perturbation("Adam epsilon", CONTROL_EPSILON), ("remark-11-29",),
            "Adam with epsilon 10 instead of 1e-8: the per-component scaling is swamped"),
    },
)
