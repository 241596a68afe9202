"""Lazy training: how little a wide network moves, and how closely it follows its linearization.

Measurements for one (width, seed) cell and their width sweeps:

- Theorem 11.23: ``|w_k - w0| <= C n^{-1/2}`` for all ``k`` (LeCun parametrization, step
  ``h ~ 1/n``).
- Proposition 11.25: the tangent Gram moves by ``O(n^{-1/2})`` relative to its size.
- Proposition 11.26: ``sup_k |Phi(x, w_k) - Phi_lin(x, p_k)| <= C n^{-1/2}`` for ``|x| <= 1``.
- Section 11.6: under LeCun training moves mainly the output weights ``v``; under the NTK
  parametrization (11.6.1) every block moves comparably.

What the measurements show (:func:`lazy_training_sweep` with its defaults: tanh, 8
unit-norm points in d = 4, 300 steps of GD on the mean loss, widths 2^6 to 2^14, 6 seeds;
fitted exponent with its 95% interval):

=====================  =========================  =========================
quantity               LeCun, ``h = 0.5/n``       NTK parametrization, ``h = 0.25``
=====================  =========================  =========================
``distance``           -0.55 [-0.58, -0.52]       -0.01 [-0.03, 0.01]
``relative_distance``  -1.05 [-1.08, -1.02]       -0.51 [-0.53, -0.50]
``gap_train``          -1.72 [-1.80, -1.64]       -0.88 [-0.97, -0.79]
``gap_test``           -1.74 [-1.80, -1.67]       -0.84 [-0.91, -0.77]
``kernel_change``      -1.91 [-1.95, -1.87]       -0.92 [-0.98, -0.87]
=====================  =========================  =========================

So ``|w_k - w0|`` under LeCun and ``|w_k - w0| / |w0|`` under the NTK parametrization
scale like ``n^{-1/2}``, as Theorem 11.23 says (the LeCun exponent over this range of
widths is off by a few hundredths, in a direction that depends on the data: -0.46 for
inputs in d = 16 instead of 4, measured with arctan up to 2^13; pre-asymptotic
corrections, which the interval, as it assumes a pure power law, does not cover). The
output gap and the kernel change fall *faster* than the
``n^{-1/2}`` of Propositions 11.25 and 11.26: about ``n^{-1.7}`` to ``n^{-1.9}`` under
LeCun and ``n^{-0.9}`` under the NTK parametrization. The propositions are upper bounds;
the terms they bound are sums over the hidden units of mean-zero fluctuations, which
partly cancel (the ``1/n`` corrections to the tangent kernel known from the literature).

These defaults do not train to convergence: on the default data ``K_LC`` has condition
number about 1600, and after 300 steps the final mean loss is still up to 0.08 (LeCun,
widths 2^6 .. 2^14).
The experiment "lazy-training" of ``widenet reproduce`` runs in a well-conditioned setting
(4 points in d = 12, the sum loss, Theorem 11.23's step) until the loss is below ``1e-6`` of
its start; there the exponents are -2 (gap, kernel change) under LeCun and -1 under the NTK
parametrization.
"""

from __future__ import annotations

import copy
import math
import os
from dataclasses import dataclass
from typing import Any, Dict, NamedTuple, Optional, Sequence, Union, cast

import numpy as np
import numpy.typing as npt

from widenet import _memory
from widenet import _validation as check
from widenet._native import _core
from widenet._runtime import get_num_threads
from widenet._types import Activation, Loss, Parametrization
from widenet.dynamics.linearization import linearize
from widenet.network.parameters import PARAMETRIZATIONS, Parameters
from widenet.network.shallow import ShallowNetwork
from widenet.sweeps import SweepResult, sweep
from widenet.sweeps.cells import checked_grid

__all__ = [
    "BlockMovement",
    "LazyTrainingData",
    "compare_parametrizations",
    "lazy_training_cell",
    "lazy_training_data",
    "lazy_training_sweep",
    "parameter_movement",
]

BLOCKS = ("U", "b", "v", "c")

# The step h = lr_constant / n (LeCun) or lr_constant (NTK) for the mean loss, when not
# given. See lazy_training_cell for why these are below the stable limit.
DEFAULT_LR_CONSTANT = {"lecun": 0.5, "ntk": 0.25}

DEFAULT_WIDTHS = tuple(2 ** k for k in range(6, 15))
QUICK_WIDTHS = tuple(2 ** k for k in range(6, 11))
DEFAULT_SEEDS = tuple(range(6))
QUICK_SEEDS = tuple(range(3))

_DATA_STREAM = 1126  # keeps the data's random stream apart from every network seed's


# -- data ----------------------------------------------------------------------------------
class LazyTrainingData(NamedTuple):
    """Training inputs ``X`` (m, d), targets ``y`` (m,) and test inputs ``X_test`` (t, d)."""

    X: np.ndarray
    y: np.ndarray
    X_test: np.ndarray


def lazy_training_data(points: int = 8, input_dim: int = 4, test_points: int = 16, amplitude: float = 1.0,
                       seed: int = 0) -> LazyTrainingData:
    """Make a small regression problem with unit-norm inputs and a smooth target.

    Proposition 11.26 holds for ``|x| <= 1``.

    Inputs are Gaussian vectors scaled to unit norm; the target is
    ``y = amplitude * sin(pi a . x)`` for a random unit vector ``a``. The data's random
    stream depends only on ``seed`` and is kept apart from the networks' streams, so the
    data seed and the network seeds are independent even when they are equal numbers.

    ``amplitude`` trades noise against laziness. The network's output at initialization
    has a standard deviation of about 0.45 (tanh, unit-norm inputs in d = 4, default
    variances), so with amplitude 1 a good part of the residual that training removes is
    the random initial function, which varies from seed to seed: the fitted exponent of
    ``distance`` scatters with a standard deviation of about 0.07 over data sets (6 widths,
    3 seeds, 100 steps), against 0.04 with amplitude 3. But a larger target moves small
    networks further: with amplitude 3 and 300 steps an NTK-parametrized network of width
    64 ends 40% of ``|w0|`` away from its start, outside the lazy regime, and the fitted
    exponents of the output gap flatten towards -0.6 from about -0.9.
    """
    points = check.integer(points, "points", 1)
    input_dim = check.integer(input_dim, "input_dim", 1)
    test_points = check.integer(test_points, "test_points", 1)
    _memory.require("lazy_training_data", [("points", (points + test_points + 1, input_dim), np.float64, 1),
                                           ("points being scaled", (max(points, test_points), input_dim),
                                            np.float64, 1)], "Pass fewer points or a smaller input_dim.")
    amplitude = check.positive_real(amplitude, "amplitude")
    seed = check.seed(seed)
    rng = np.random.default_rng([_DATA_STREAM, seed])

    def unit_rows(rows: int) -> np.ndarray:
        Z = rng.standard_normal((rows, input_dim))
        return Z / np.linalg.norm(Z, axis=1, keepdims=True)

    direction = unit_rows(1)[0]
    X, X_test = unit_rows(points), unit_rows(test_points)
    return LazyTrainingData(X, amplitude * np.sin(np.pi * X @ direction), X_test)


def _checked_data(data: Optional[LazyTrainingData]) -> LazyTrainingData:
    if data is None:
        with _memory.preliminary():  # the default data are small: the caller's guard is the estimate
            return lazy_training_data()
    if not isinstance(data, tuple) or len(data) != 3:
        raise TypeError(f"data: expected (X, y, X_test) such as lazy_training_data() returns, got {data!r}")
    float64 = np.dtype(np.float64)
    X = check.as_points(data[0], "X", dtype=float64, min_columns=1)
    return LazyTrainingData(X, check.as_targets(data[1], "y", float64, X.shape[0]),
                            check.as_inputs(data[2], "X_test", float64, X.shape[1]))


# -- blocks of the parameters --------------------------------------------------------------
def _blocks(params: Parameters) -> Dict[str, np.ndarray]:
    U, b, v, c = params.arrays()
    return {"U": U, "b": b, "v": v, "c": np.array([c])}


def _block_norms(params: Parameters) -> Dict[str, float]:
    return {name: float(np.linalg.norm(block)) for name, block in _blocks(params).items()}


def _block_differences(after: Parameters, before: Parameters) -> Dict[str, float]:
    old = _blocks(before)
    return {name: float(np.linalg.norm(block - old[name])) for name, block in _blocks(after).items()}


def _jacobian_blocks(network: ShallowNetwork, X: np.ndarray) -> dict:
    """Return the mean over the rows of ``X`` of ``|grad_B Phi(x_i, w)|`` for every block ``B``.

    Taken from the column blocks of the Jacobian (order U row-major, b, v, c; docs/theory.md,
    section 5).
    """
    J = network.jacobian(X)
    n, d = network.width, network.input_dim
    bounds = np.cumsum([0, n * d, n, n, 1])
    return {name: float(np.mean(np.linalg.norm(J[:, start:stop], axis=1)))
            for name, start, stop in zip(BLOCKS, bounds[:-1], bounds[1:])}


def _relative(movement: dict, initial: dict) -> dict:
    return {name: movement[name] / initial[name] if initial[name] > 0 else math.nan for name in BLOCKS}


# -- the step rule -------------------------------------------------------------------------
def _lr_constant(lr_constant: Optional[float], parametrization: str, loss: str, points: int) -> float:
    if lr_constant is not None:
        return check.positive_real(lr_constant, "lr_constant")
    # The defaults are for the mean loss; the other scalings get the same dynamics.
    return DEFAULT_LR_CONSTANT[parametrization] / (points * check.loss_scale(loss, points))


def _step(constant: float, parametrization: str, width: int) -> float:
    """Return the step ``h = c / n`` or ``h = c``.

    ``c / n`` for LeCun (the Gram grows like n, Theorem 11.23), ``c`` for the NTK
    parametrization (the Gram is O(1), Theorem 11.30).
    """
    return constant / width if parametrization == "lecun" else constant


def _check_stable(lr: float, scale: float, theta: np.ndarray, constant: float) -> None:
    largest = float(np.linalg.eigvalsh(theta)[-1])
    if lr * scale * largest >= 1.0:
        raise ValueError(f"lr_constant: the step h = {lr:.4g} (lr_constant {constant:.4g}) is not below the stable "
                         f"limit 1/(s lambda_max) = {1.0 / (scale * largest):.4g} of this network's tangent Gram; "
                         f"gradient descent would diverge")


# -- one cell ------------------------------------------------------------------------------
def lazy_training_cell(width: int, seed: int, *, parametrization: Parametrization = "lecun",
                       activation: Activation = "tanh", steps: int = 300, lr_constant: Optional[float] = None,
                       loss: Loss = "mean", data: Optional[LazyTrainingData] = None, record_every: int = 1,
                       **network_options: Any) -> Dict[str, float]:
    """Train one network and its linearization (11.3.1) and measure how lazy training is.

    A :class:`widenet.ShallowNetwork` of width ``n = width`` (initialized from ``seed``)
    and its linearization at ``w0`` (:func:`widenet.linearize`) are trained by gradient
    descent with the same step, steps and records on the same data. The full network is
    trained with ``X_test = vstack(X, X_test)``, so it records its outputs on the training
    and the test points at every recorded step.

    Parameters
    ----------
    width : int
        ``n``.
    seed : int
        Seed of the network's initialization, which is drawn from
        ``numpy.random.default_rng([seed, width])``: cells of one seed at different widths
        are independent networks. The data do not depend on it.
    parametrization : {"lecun", "ntk"}
    activation : str
    steps : int
        Gradient-descent steps (300 by default).
    lr_constant : float, optional
        ``c`` in the step ``h = c / n`` (LeCun: the tangent Gram grows like ``n``;
        Theorem 11.23 takes ``h < 2 / ((lmin_LC + 4 lmax_LC) n)``) or ``h = c`` (NTK
        parametrization: the Gram converges to ``K_NTK`` itself, Theorem 11.30). Default,
        for the mean loss: 0.5 (LeCun) and 0.25 (NTK). Why these are stable: GD on
        ``s |r|^2`` is stable for ``h < 1 / (s lambda_max(Theta))``, which for the mean loss
        (``s = 1/m``) and large ``n`` reads ``c < m / lambda_max(K)``, ``K = K_LC`` or
        ``K_NTK``. Since ``lambda_max(K) <= m max_x K(x, x)``, the limit is at least
        ``1 / max_x K(x, x)``. For tanh, unit-norm inputs in ``d`` dimensions and the
        default variances, ``K_LC(x, x) = E[tanh(g)^2] <= 1/d`` (``g ~ N(0, 1/d)``) and
        ``K_NTK(x, x) <= (1/d + 1) + 1/d + 1``: limits of at least ``d`` (LeCun) and
        ``1 / (2 + 2/d)`` (NTK), 4 and 0.4 for ``d = 4``. (On the default data the limits
        are 13.8 and 0.59: ``lambda_max`` is 0.58 and 13.7.) For ``loss="sum"``
        (``"half_sum"``) the default is divided by ``m`` (``m/2``), which gives the same
        dynamics. A step at or above ``1 / (s lambda_max)`` of the network's own Gram at
        initialization raises ValueError.
    loss : {"mean", "sum", "half_sum"}
        The objective's scaling (see :meth:`widenet.ShallowNetwork.train`).
    data : LazyTrainingData or (X, y, X_test), optional
        Default: :func:`lazy_training_data` (8 unit-norm points in d = 4, 16 test points).
    record_every : int
        Record every this many steps (and the last); the suprema over ``k`` run over the
        recorded steps, so 1 (default) takes them over every step.
    **network_options
        Passed to :class:`widenet.ShallowNetwork` (``weight_var``, ``bias_var``,
        ``output_var``, ``output_bias_var``, ``distribution``).

    Returns
    -------
    dict
        - ``distance``: ``sup_k |w_k - w0|`` (Theorem 11.23).
        - ``relative_distance``: ``distance / |w0|``.
        - ``gap_train``: ``sup_k max_i |Phi(x_i, w_k) - Phi_lin(x_i, p_k)|`` over the
          training points (Proposition 11.26).
        - ``gap_test``: the same over the test points.
        - ``kernel_change``: ``|Theta(w_steps) - Theta(w0)|_2 / |Theta(w0)|_2``, the
          spectral norm of the change of the tangent Gram on the training points, measured
          at the end of training (Proposition 11.25 bounds it along the way).
        - ``loss``, ``loss_linearized``: the final objectives of the network and of its
          linearization.
        - ``grad_U, grad_b, grad_v, grad_c``: the mean over the training points of
          ``|grad_B Phi(x_i, w0)|`` for each block (Section 11.6).
        - ``movement_U, ..., movement_c``: ``|B_steps - B_0|`` for each block at the end
          of training.
        - ``relative_movement_B``: ``|B_steps - B_0| / |B_0|``, only for the blocks with
          ``|B_0| > 0`` (without bias variances ``b`` and ``c`` start at zero and have no
          relative movement).

    Notes
    -----
    Measured exponents (the table in :mod:`widenet.dynamics.lazy_training`): under LeCun
    ``distance ~ n^{-0.55}`` (Theorem 11.23: ``n^{-1/2}``) and ``relative_distance ~
    n^{-1}`` (``|w0| ~ sqrt(n)``); under the NTK parametrization ``distance = O(1)`` and
    ``relative_distance ~ n^{-1/2}``. The output gap and the kernel change fall faster
    than the ``n^{-1/2}`` of Propositions 11.25 and 11.26 (about ``n^{-1.7}`` to
    ``n^{-1.9}`` under LeCun with ``h = c/n``, ``n^{-0.9}`` under the NTK parametrization):
    the propositions' rates are upper bounds, and the terms they bound are sums over units
    of mean-zero fluctuations that partly cancel.
    """
    width = check.integer(width, "width", 1)
    seed = check.seed(seed)
    check.choice(parametrization, "parametrization", PARAMETRIZATIONS)
    check.choice(activation, "activation", _core.ACTIVATIONS)
    steps = check.integer(steps, "steps", 1)
    record_every = check.integer(record_every, "record_every", 1)
    X, y, X_test = _checked_data(data)
    scale = check.loss_scale(loss, X.shape[0])
    constant = _lr_constant(lr_constant, parametrization, loss, X.shape[0])
    for name in ("dtype", "input_dim"):
        if name in network_options:
            raise TypeError(f"{name}: not a network option of lazy_training_cell")
    _check_cell("lazy_training_cell", width, X, X_test, steps, record_every)

    # One independent draw per (width, seed): with the seed alone, the first rows of U would be
    # shared across widths (U is drawn first) and the cells of one fit correlated.
    network = ShallowNetwork(X.shape[1], width, activation, parametrization,
                             seed=np.random.default_rng([seed, width]), **network_options)
    lr = _step(constant, parametrization, width)
    theta0 = network.ntk(X)
    _check_stable(lr, scale, theta0, constant)
    initial = network.params.copy()
    gradients = _jacobian_blocks(network, X)
    linearized = linearize(network)

    m = X.shape[0]
    full = network.train(X, y, lr=lr, steps=steps, record_every=record_every, X_test=np.vstack([X, X_test]),
                         loss=loss)
    lin = linearized.train(X, y, lr=lr, steps=steps, X_test=X_test, record_every=record_every, loss=loss)
    if not np.array_equal(full.steps, lin.steps):  # the two runs must be compared step by step
        raise RuntimeError("the network and its linearization recorded different steps")

    theta = network.ntk(X)
    distance = float(np.max(full.distances))
    movement = _block_differences(network.params, initial)
    initial_norms = _block_norms(initial)
    outputs = cast(np.ndarray, full.test_outputs)  # recorded: X_test was given
    result = {
        "distance": distance,
        "relative_distance": distance / float(np.linalg.norm(initial.to_vector())),
        "gap_train": float(np.max(np.abs(outputs[:, :m] - lin.train_outputs))),
        "gap_test": float(np.max(np.abs(outputs[:, m:] - lin.test_outputs))),
        "kernel_change": float(np.linalg.norm(theta - theta0, 2) / np.linalg.norm(theta0, 2)),
        "loss": float(full.losses[-1]),
        "loss_linearized": float(lin.losses[-1]),
    }
    result.update({f"grad_{name}": gradients[name] for name in BLOCKS})
    result.update({f"movement_{name}": movement[name] for name in BLOCKS})
    result.update({f"relative_movement_{name}": movement[name] / initial_norms[name]
                   for name in BLOCKS if initial_norms[name] > 0})
    return result


def lazy_training_sweep(widths: Optional[Sequence[int]] = None, seeds: Optional[Sequence[int]] = None, *,
                        parametrization: Parametrization = "lecun", quick: bool = False,
                        threads: Optional[int] = None, progress: bool = True, client: Any = None,
                        cache_dir: Union[None, str, os.PathLike[str]] = None, **cell_options: Any) -> SweepResult:
    """Run :func:`lazy_training_cell` over a grid of widths and network seeds, on one data set.

    Parameters
    ----------
    widths : sequence of int, optional
        Default ``2^6, ..., 2^14`` (quick: ``2^6, ..., 2^10``).
    seeds : sequence of int, optional
        Network seeds; default ``range(6)`` (quick: ``range(3)``).
    parametrization : {"lecun", "ntk"}
    quick : bool
        Fewer and smaller widths and fewer seeds, for a first look in seconds.
    threads, progress, client, cache_dir
        As in :func:`widenet.sweep` (``client``: a Dask cluster runs the cells;
        ``cache_dir``: finished cells are stored and a rerun resumes).
    **cell_options
        Passed to :func:`lazy_training_cell` (``activation``, ``steps``, ``lr_constant``,
        ``loss``, ``data``, network options). The data are made once, so every cell sees
        the same.

    Returns
    -------
    SweepResult
        ``result.slope("distance")`` fits the exponent of Theorem 11.23 under LeCun,
        ``result.slope("relative_distance")`` the ``n^{-1/2}`` of the NTK
        parametrization; see :func:`lazy_training_cell` for every quantity and for the
        exponents measured.

    Examples
    --------
    >>> result = widenet.lazy_training_sweep(quick=True, progress=False)  # doctest: +SKIP
    >>> print(result.slope("distance"))  # doctest: +SKIP
    """
    if not isinstance(quick, (bool, np.bool_)):
        raise TypeError(f"quick: expected True or False, got {quick!r}")
    widths = (QUICK_WIDTHS if quick else DEFAULT_WIDTHS) if widths is None else widths
    seeds = (QUICK_SEEDS if quick else DEFAULT_SEEDS) if seeds is None else seeds
    data = cell_options["data"] = _checked_data(cell_options.get("data"))
    if client is None:  # cells on a cluster are guarded where they run
        _check_sweep(widths, seeds, threads, data, cell_options.get("steps", 300), cell_options.get("record_every", 1))
    return sweep(lazy_training_cell, widths, seeds, threads=threads, progress=progress, client=client,
                 cache_dir=cache_dir, parametrization=parametrization, **cell_options)


def _check_cell(where: str, width: int, X: np.ndarray, X_test: np.ndarray, steps: int, record_every: int,
                cells: int = 1) -> None:
    """Guard the memory of ``cells`` lazy-training cells of ``width`` computed at once.

    They hold the network, its initial parameters and a copy, then also the linearization's two (see
    :func:`widenet._memory.lazy_training_blocks`).
    """
    blocks = _memory.lazy_training_blocks(width, X.shape[1], X.shape[0], X_test.shape[0],
                                          _memory.recorded_count(steps, record_every), (3, 7), True)
    _memory.require(where, [(f"{label} (x{cells} cells at once)", (cells, *shape), dtype, copies)
                            for label, shape, dtype, copies in blocks],
                    "Pass smaller widths, record less often, or run fewer cells at once (threads=).")


def _check_sweep(widths: object, seeds: object, threads: Optional[int], data: LazyTrainingData, steps: object,
                 record_every: object) -> None:
    """Guard a sweep's memory before it starts: its widest cells, as many at once as run in parallel."""
    widths, seeds = checked_grid(widths, "widths", 1), checked_grid(seeds, "seeds", 0)
    threads = get_num_threads() if threads is None else check.integer(threads, "threads", 1)
    cells = min(threads, len(widths) * len(seeds))
    _check_cell("lazy_training_sweep", max(widths), data.X, data.X_test, check.integer(steps, "steps", 1),
                check.integer(record_every, "record_every", 1), cells)


# -- per-block movement (Section 11.6) -----------------------------------------------------
@dataclass(frozen=True)
class BlockMovement:
    """How each block ``U, b, v, c`` of a shallow network starts and moves under gradient descent.

    See Section 11.6. Every dict is keyed by block name.

    Attributes
    ----------
    parametrization : str
    width : int
    lr : float
        The step ``h``.
    steps : int
    loss : str
    output_gradient : dict
        Mean over the data points of ``|grad_B Phi(x_i, w0)|``, from the column blocks of
        the Jacobian.
    loss_gradient : dict
        ``|grad_B f(w0)|``, the block norms of the loss gradient at the start.
    initial_norm : dict
        ``|B_0|``.
    movement : dict
        ``|B_k - B_0|`` after the ``steps`` steps.
    relative_movement : dict
        ``|B_k - B_0| / |B_0|``; NaN for a block with ``|B_0| = 0`` (``b`` and ``c``
        without bias variances), where a relative movement has no meaning.
    initial_loss, final_loss : float
    """

    parametrization: str
    width: int
    lr: float
    steps: int
    loss: str
    output_gradient: dict
    loss_gradient: dict
    initial_norm: dict
    movement: dict
    relative_movement: dict
    initial_loss: float
    final_loss: float

    def ratio(self, numerator: str = "v", denominator: str = "U", relative: bool = True) -> float:
        """Return ``movement[numerator] / movement[denominator]`` (relative movements by default)."""
        numerator = check.choice(numerator, "numerator", BLOCKS)
        denominator = check.choice(denominator, "denominator", BLOCKS)
        values = self.relative_movement if relative else self.movement
        return values[numerator] / values[denominator]

    def __str__(self) -> str:
        rows = [f"{self.parametrization} width {self.width}, h = {self.lr:.4g}, {self.steps} steps, "
                f"{self.loss} loss {self.initial_loss:.4g} -> {self.final_loss:.4g}",
                f"{'block':>5} {'E|dPhi/dB|':>11} {'|df/dB|':>11} {'|B_0|':>11} {'|B_k - B_0|':>11} "
                f"{'relative':>11}"]
        for name in BLOCKS:
            rows.append(f"{name:>5} {self.output_gradient[name]:11.4g} {self.loss_gradient[name]:11.4g} "
                        f"{self.initial_norm[name]:11.4g} {self.movement[name]:11.4g} "
                        f"{self.relative_movement[name]:11.4g}")
        return "\n".join(rows)


def parameter_movement(network: ShallowNetwork, X: npt.ArrayLike, y: npt.ArrayLike, lr: float, steps: int,
                       loss: Loss = "sum") -> BlockMovement:
    """Measure per-block gradient norms at the start and movement after gradient descent (Section 11.6).

    A copy of ``network`` is trained (``network`` itself is not modified), starting from
    its current parameters ``w0 = network.params`` (for a fresh network, its
    initialization).

    Section 11.6 states, under LeCun initialization, ``E|grad_U Phi| = O(1)``,
    ``E|grad_b Phi| = O(1)``, ``E|grad_c Phi| = 1`` and ``E|grad_v Phi| = E|sigma(Ux + b)|
    = O(n)``. The last is really ``O(sqrt(n))``: ``sigma(Ux + b)`` has ``n`` entries of
    size ``O(1)``, so its norm grows like ``sqrt(n)`` (measured: exponent 0.50 for tanh
    over widths 2^6 to 2^14). The conclusion stands: with ``h ~ 1/n`` the output weights
    ``v`` move by ``O(n^{-1/2})`` against ``|v_0| = O(1)``, while ``U`` moves by
    ``O(n^{-1})`` against ``|U_0| = O(sqrt(n))``, so the ratio of the relative movements of
    ``v`` and ``U`` grows like ``n``. Under the NTK parametrization (11.6.3) every block's
    gradient carries ``n^{-1/2}``; with ``h = O(1)`` both ``v`` and ``U`` move by ``O(1)``
    against initial norms ``O(sqrt(n))``, and the ratio stays ``O(1)``.

    Parameters
    ----------
    network : ShallowNetwork
    X : array, shape (m, d)
    y : array, shape (m,)
    lr : float
        The step ``h``.
    steps : int
    loss : {"sum", "mean", "half_sum"}

    Returns
    -------
    BlockMovement
    """
    if not isinstance(network, ShallowNetwork):
        raise TypeError(f"network: expected a widenet.ShallowNetwork, got {type(network).__name__}")
    X = check.as_inputs(X, "X", network.dtype, network.input_dim)
    y = check.as_targets(y, "y", network.dtype, X.shape[0])
    lr = check.positive_real(lr, "lr")
    steps = check.integer(steps, "steps", 0)
    check.loss_scale(loss, X.shape[0])
    # the copy trained (with its initial parameters), the initial parameters, then the gradient
    _memory.require("parameter_movement", _memory.lazy_training_blocks(network.width, network.input_dim, X.shape[0],
                                                                       0, 2, (3, 4), False),
                    "Pass a smaller network.")

    trained = copy.deepcopy(network)
    initial = trained.params.copy()
    output_gradient = _jacobian_blocks(trained, X)
    initial_loss, gradient = trained.loss_grad(X, y, loss=loss)
    trained.train(X, y, lr=lr, steps=steps, record_every=max(steps, 1), loss=loss)
    movement = _block_differences(trained.params, initial)
    initial_norm = _block_norms(initial)
    return BlockMovement(network.parametrization, network.width, lr, steps, loss, output_gradient,
                         _block_norms(gradient), initial_norm, movement, _relative(movement, initial_norm),
                         initial_loss, trained.loss(X, y, loss=loss))


def compare_parametrizations(width: int, seed: int = 0, *, activation: Activation = "tanh", steps: int = 300,
                             lr_constant: Optional[float] = None, loss: Loss = "mean",
                             data: Optional[LazyTrainingData] = None,
                             **network_options: Any) -> Dict[str, BlockMovement]:
    """Run :func:`parameter_movement` of the LeCun and the NTK network of one seed on the same data.

    The two networks draw the same standard variables, so they compute the same function
    at initialization (Section 11.6.1); each is trained with its own step rule, ``h = c/n``
    (LeCun) or ``h = c`` (NTK), with ``c`` as in :func:`lazy_training_cell`. LeCun training
    moves mainly ``v`` (``result["lecun"].ratio("v", "U")`` grows like ``n``); the NTK
    parametrization moves ``U`` and ``v`` comparably (the ratio stays ``O(1)``).

    Returns
    -------
    dict
        ``{"lecun": BlockMovement, "ntk": BlockMovement}``.
    """
    width = check.integer(width, "width", 1)
    seed = check.seed(seed)
    check.choice(activation, "activation", _core.ACTIVATIONS)
    X, y, _ = _checked_data(data)
    scale = check.loss_scale(loss, X.shape[0])
    # each network (its parameters and initial ones) beside what parameter_movement holds
    _memory.require("compare_parametrizations", _memory.lazy_training_blocks(width, X.shape[1], X.shape[0], 0, 2,
                                                                             (5, 6), False),
                    "Pass a smaller width.")
    result: Dict[str, BlockMovement] = {}
    for parametrization in PARAMETRIZATIONS:
        constant = _lr_constant(lr_constant, parametrization, loss, X.shape[0])
        network = ShallowNetwork(X.shape[1], width, activation, parametrization, seed=seed, **network_options)
        lr = _step(constant, parametrization, width)
        _check_stable(lr, scale, network.ntk(X), constant)
        result[parametrization] = parameter_movement(network, X, y, lr, steps, loss)
    return result
