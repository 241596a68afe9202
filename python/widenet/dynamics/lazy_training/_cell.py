"""One lazy-training cell (Theorem 11.23, Propositions 11.25 and 11.26) and its width sweep."""

from __future__ import annotations

import os
from typing import Any, Dict, Optional, Sequence, Tuple, Union, cast

import numpy as np

from widenet import _memory
from widenet import _validation as check
from widenet._native import _core
from widenet._runtime import get_num_threads
from widenet._types import Activation, Loss, Parametrization
from widenet.dynamics.lazy_training._data import (
    DEFAULT_SEEDS,
    DEFAULT_WIDTHS,
    QUICK_SEEDS,
    QUICK_WIDTHS,
    LazyTrainingData,
    _block_differences,
    _block_norms,
    _check_stable,
    _checked_data,
    _jacobian_blocks,
    _lr_constant,
    _step,
)
from widenet.dynamics.linearization import linearize
from widenet.network._kinds import AnyNetwork
from widenet.network.deep import Network
from widenet.network.parameters import PARAMETRIZATIONS
from widenet.network.shallow import ShallowNetwork
from widenet.sweeps import SweepResult, sweep
from widenet.sweeps.cells import checked_grid

# The network options a cell passes on (the cell sets the rest: input_dim, widths, seed, dtype).
_SHALLOW_OPTIONS = ("weight_var", "bias_var", "output_var", "output_bias_var", "distribution")


def lazy_training_cell(width: int, seed: int, *, parametrization: Parametrization = "lecun",
                       activation: Activation = "tanh", steps: int = 300, lr_constant: Optional[float] = None,
                       loss: Loss = "mean", data: Optional[LazyTrainingData] = None, record_every: int = 1,
                       depth: int = 1, **network_options: Any) -> Dict[str, float]:
    """Train one network and its linearization (11.3.1) and measure how lazy training is.

    A :class:`widenet.ShallowNetwork` of width ``n = width`` (with ``depth > 1``, a
    :class:`widenet.Network` of ``depth`` hidden layers of width ``n``), initialized from
    ``seed``, and its linearization at ``w0`` (:func:`widenet.linearize`) are trained by gradient
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
        Default: ``lazy_training_data()`` (8 unit-norm points in d = 4, 16 test points).
    record_every : int
        Record every this many steps (and the last); the suprema over ``k`` run over the
        recorded steps, so 1 (default) takes them over every step.
    depth : int
        The number of hidden layers, all of width ``n`` (1: the chapter's network). The step
        rule is the same (the tangent Gram of a deep network also grows like ``n`` under
        LeCun and converges under the NTK parametrization); an unstable step still raises.
    **network_options
        Passed to the network (``weight_var``, ``bias_var``, ``output_var``,
        ``output_bias_var``, ``distribution``; for ``depth > 1`` also ``bias`` and
        ``multipliers``).

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
          ``|grad_B Phi(x_i, w0)|`` for each block (Section 11.6); for ``depth > 1`` the
          blocks are ``W1, b1, ..., v, c``.
        - ``movement_U, ..., movement_c``: ``|B_steps - B_0|`` for each block at the end
          of training.
        - ``relative_movement_B``: ``|B_steps - B_0| / |B_0|``, only for the blocks with
          ``|B_0| > 0`` (without bias variances ``b`` and ``c`` start at zero and have no
          relative movement).

    Notes
    -----
    Measured exponents (the table in the docstring of ``widenet.dynamics.lazy_training``): under LeCun
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
    depth = check.integer(depth, "depth", 1)
    check.choice(parametrization, "parametrization", PARAMETRIZATIONS)
    check.choice(activation, "activation", _core.ACTIVATIONS)
    steps = check.integer(steps, "steps", 1)
    record_every = check.integer(record_every, "record_every", 1)
    X, y, X_test = _checked_data(data)
    scale = check.loss_scale(loss, X.shape[0])
    constant = _lr_constant(lr_constant, parametrization, loss, X.shape[0])
    allowed = _SHALLOW_OPTIONS if depth == 1 else _SHALLOW_OPTIONS + ("bias", "multipliers")
    check.one_output(network_options.pop("outputs", 1), "lazy_training_cell (and lazy_training_sweep)",
                     "its data and bounds are those of one output")
    for name in network_options:
        if name not in allowed:
            raise TypeError(f"{name}: not a network option of lazy_training_cell at depth {depth}; expected one of "
                            f"{', '.join(allowed)}")
    _check_cell("lazy_training_cell", (width,) * depth, X, X_test, steps, record_every)

    # One independent draw per (width, seed): with the seed alone, the first rows of U would be
    # shared across widths (U is drawn first) and the cells of one fit correlated.
    rng = np.random.default_rng([seed, width])
    network: AnyNetwork = (ShallowNetwork(X.shape[1], width, activation, parametrization, seed=rng, **network_options)
                           if depth == 1 else
                           Network(X.shape[1], [width] * depth, activation, parametrization, seed=rng,
                                   **network_options))
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
    movement = _block_differences(network, network.params, initial)
    initial_norms = _block_norms(network, initial)
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
    result.update({f"grad_{name}": gradients[name] for name in network.block_names})
    result.update({f"movement_{name}": movement[name] for name in network.block_names})
    result.update({f"relative_movement_{name}": movement[name] / initial_norms[name]
                   for name in network.block_names if initial_norms[name] > 0})
    return result


def lazy_training_sweep(widths: Optional[Sequence[int]] = None, seeds: Optional[Sequence[int]] = None, *,
                        parametrization: Parametrization = "lecun", quick: bool = False,
                        threads: Optional[int] = None, progress: bool = True, client: Any = None,
                        cache_dir: Union[None, str, os.PathLike[str]] = None, **cell_options: Any) -> SweepResult:
    """Run :func:`~widenet.dynamics.lazy_training.lazy_training_cell` over widths and network seeds, on one data set.

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
        Passed to :func:`~widenet.dynamics.lazy_training.lazy_training_cell` (``activation``, ``steps``,
        ``lr_constant``, ``loss``, ``data``, network options). The data are made once, so every cell sees
        the same.

    Returns
    -------
    SweepResult
        ``result.slope("distance")`` fits the exponent of Theorem 11.23 under LeCun,
        ``result.slope("relative_distance")`` the ``n^{-1/2}`` of the NTK
        parametrization; see :func:`~widenet.dynamics.lazy_training.lazy_training_cell` for every quantity and for the
        exponents measured.

    Examples
    --------
    >>> import widenet
    >>> result = widenet.lazy_training_sweep(widths=[64, 256, 1024], seeds=[0], steps=20, progress=False)
    >>> result.slope("relative_distance").slope < 0  # the weights move less the wider the network
    True
    """
    quick = check.boolean(quick, "quick")
    widths = (QUICK_WIDTHS if quick else DEFAULT_WIDTHS) if widths is None else widths
    seeds = (QUICK_SEEDS if quick else DEFAULT_SEEDS) if seeds is None else seeds
    data = cell_options["data"] = _checked_data(cell_options.get("data"))
    if client is None:  # cells on a cluster are guarded where they run
        _check_sweep(widths, seeds, threads, data, cell_options.get("steps", 300), cell_options.get("record_every", 1),
                     cell_options.get("depth", 1))
    return sweep(lazy_training_cell, widths, seeds, threads=threads, progress=progress, client=client,
                 cache_dir=cache_dir, parametrization=parametrization, **cell_options)


def _check_cell(where: str, widths: Tuple[int, ...], X: np.ndarray, X_test: np.ndarray, steps: int, record_every: int,
                cells: int = 1) -> None:
    """Guard the memory of ``cells`` lazy-training cells of hidden ``widths`` computed at once.

    They hold the network, its initial parameters and a copy, then also the linearization's two (see
    :func:`widenet._memory.lazy_training_blocks`).
    """
    blocks = _memory.lazy_training_blocks(X.shape[1], widths, X.shape[0], X_test.shape[0],
                                          _memory.recorded_count(steps, record_every), (3, 7), True)
    _memory.require(where, [(f"{label} (x{cells} cells at once)", (cells, *shape), dtype, copies)
                            for label, shape, dtype, copies in blocks],
                    "Pass smaller widths, record less often, or run fewer cells at once (threads=).")


def _check_sweep(widths: object, seeds: object, threads: Optional[int], data: LazyTrainingData, steps: object,
                 record_every: object, depth: object) -> None:
    """Guard a sweep's memory before it starts: its widest cells, as many at once as run in parallel."""
    widths, seeds = checked_grid(widths, "widths", 1), checked_grid(seeds, "seeds", 0)
    threads = get_num_threads() if threads is None else check.integer(threads, "threads", 1)
    cells = min(threads, len(widths) * len(seeds))
    deepest = (max(widths),) * check.integer(depth, "depth", 1)
    _check_cell("lazy_training_sweep", deepest, data.X, data.X_test, check.integer(steps, "steps", 1),
                check.integer(record_every, "record_every", 1), cells)

