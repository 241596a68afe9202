"""Per-block parameter movement (Section 11.6) and the comparison of the two parametrizations."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Dict, Optional

import numpy.typing as npt

from widenet import _memory
from widenet import _validation as check
from widenet._native import _core
from widenet._types import Activation, Loss
from widenet.dynamics.lazy_training._data import (
    LazyTrainingData,
    _block_differences,
    _block_norms,
    _check_stable,
    _checked_data,
    _jacobian_blocks,
    _lr_constant,
    _relative,
    _step,
)
from widenet.network._kinds import NETWORK_CLASSES, AnyNetwork
from widenet.network.parameters import PARAMETRIZATIONS
from widenet.network.shallow import ShallowNetwork


# -- per-block movement (Section 11.6) -----------------------------------------------------
@dataclass(frozen=True)
class BlockMovement:
    """How each parameter block of a network starts and moves under gradient descent.

    See Section 11.6. Every dict is keyed by block name: ``U, b, v, c`` for a shallow
    network, ``W1, b1, ..., WL, bL, v, c`` for a deep one (without the biases when it has
    none).

    Attributes
    ----------
    parametrization : str
    width : int
        ``n``, the narrowest hidden width.
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

    def ratio(self, numerator: str = "v", denominator: Optional[str] = None, relative: bool = True) -> float:
        """Return ``movement[numerator] / movement[denominator]`` (relative movements by default).

        ``denominator`` defaults to the first layer's weights (``U``, or ``W1`` of a deep network).
        """
        numerator = check.choice(numerator, "numerator", tuple(self.movement))
        denominator = check.choice(next(iter(self.movement)) if denominator is None else denominator, "denominator",
                                   tuple(self.movement))
        values = self.relative_movement if relative else self.movement
        return values[numerator] / values[denominator]

    def __str__(self) -> str:
        rows = [f"{self.parametrization} width {self.width}, h = {self.lr:.4g}, {self.steps} steps, "
                f"{self.loss} loss {self.initial_loss:.4g} -> {self.final_loss:.4g}",
                f"{'block':>5} {'E|dPhi/dB|':>11} {'|df/dB|':>11} {'|B_0|':>11} {'|B_k - B_0|':>11} "
                f"{'relative':>11}"]
        for name in self.movement:
            rows.append(f"{name:>5} {self.output_gradient[name]:11.4g} {self.loss_gradient[name]:11.4g} "
                        f"{self.initial_norm[name]:11.4g} {self.movement[name]:11.4g} "
                        f"{self.relative_movement[name]:11.4g}")
        return "\n".join(rows)


def parameter_movement(network: AnyNetwork, X: npt.ArrayLike, y: npt.ArrayLike, lr: float, steps: int,
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
    network : ShallowNetwork or Network
    X : array, shape (m, d)
    y : array, shape (m,) or (m, 1)
    lr : float
        The step ``h``.
    steps : int
    loss : {"sum", "mean", "half_sum"}

    Returns
    -------
    BlockMovement

    Examples
    --------
    >>> import numpy as np, widenet
    >>> net = widenet.ShallowNetwork(1, 256, "tanh", seed=0)
    >>> X = np.linspace(-1, 1, 8)[:, None]
    >>> moved = widenet.parameter_movement(net, X, np.sin(3 * X[:, 0]), lr=0.5 / 256, steps=20, loss="mean")
    >>> moved.ratio("v", "U") > 1  # LeCun: the readout moves most
    True
    """
    if not isinstance(network, NETWORK_CLASSES):
        raise TypeError(f"network: expected a widenet.ShallowNetwork or widenet.Network, got {type(network).__name__}")
    check.one_output(network.outputs, "parameter_movement", "its block norms are those of one output's gradient")
    X = check.as_inputs(X, "X", network.dtype, network.input_dim)
    y = check.as_targets(y, "y", network.dtype, X.shape[0])
    lr = check.positive_real(lr, "lr")
    steps = check.integer(steps, "steps", 0)
    check.loss_scale(loss, X.shape[0])
    # the copy trained (with its initial parameters), the initial parameters, then the gradient
    _memory.require("parameter_movement", _memory.lazy_training_blocks(network.input_dim, network.widths, X.shape[0],
                                                                       0, 2, (3, 4), False),
                    "Pass a smaller network.")

    trained = copy.deepcopy(network)
    initial = trained.params.copy()
    output_gradient = _jacobian_blocks(trained, X)
    initial_loss, gradient = trained.loss_grad(X, y, loss=loss)
    trained.train(X, y, lr=lr, steps=steps, record_every=max(steps, 1), loss=loss)
    movement = _block_differences(trained, trained.params, initial)
    initial_norm = _block_norms(trained, initial)
    return BlockMovement(network.parametrization, min(network.widths), lr, steps, loss, output_gradient,
                         _block_norms(trained, gradient), initial_norm, movement, _relative(movement, initial_norm),
                         initial_loss, trained.loss(X, y, loss=loss))


def compare_parametrizations(width: int, seed: int = 0, *, activation: Activation = "tanh", steps: int = 300,
                             lr_constant: Optional[float] = None, loss: Loss = "mean",
                             data: Optional[LazyTrainingData] = None,
                             **network_options: Any) -> Dict[str, BlockMovement]:
    """Run :func:`parameter_movement` of the LeCun and the NTK network of one seed on the same data.

    The two networks draw the same standard variables, so they compute the same function
    at initialization (Section 11.6.1); each is trained with its own step rule, ``h = c/n``
    (LeCun) or ``h = c`` (NTK), with ``c`` as in
    :func:`~widenet.dynamics.lazy_training.lazy_training_cell`. LeCun training moves mainly
    ``v`` (``result["lecun"].ratio("v", "U")`` grows like ``n``); the NTK parametrization
    moves ``U`` and ``v`` comparably (the ratio stays ``O(1)``).

    Parameters
    ----------
    width : int
        ``n``, the hidden width of both networks.
    seed : int, default 0
        The seed of both networks (and of the data unless ``data`` is given).
    activation : str, default "tanh"
    steps : int, default 300
        Gradient-descent steps of each network.
    lr_constant : float, optional
        ``c`` of the step rules; default as in :func:`~widenet.dynamics.lazy_training.lazy_training_cell`.
    loss : {"sum", "mean", "half_sum"}, default "mean"
    data : LazyTrainingData, optional
        The training points and targets; default the lazy-training experiment's data.
    **network_options
        Further arguments of both networks (the variances).

    Returns
    -------
    dict
        ``{"lecun": BlockMovement, "ntk": BlockMovement}``.

    Examples
    --------
    >>> import widenet
    >>> moved = widenet.compare_parametrizations(256, steps=20)
    >>> sorted(moved), moved["lecun"].ratio("v", "U") > moved["ntk"].ratio("v", "U")
    (['lecun', 'ntk'], True)
    """
    width = check.integer(width, "width", 1)
    seed = check.seed(seed)
    check.choice(activation, "activation", _core.ACTIVATIONS)
    check.one_output(network_options.get("outputs", 1), "compare_parametrizations",
                     "its block norms are those of one output's gradient")
    X, y, _ = _checked_data(data)
    scale = check.loss_scale(loss, X.shape[0])
    # each network (its parameters and initial ones) beside what parameter_movement holds
    _memory.require("compare_parametrizations", _memory.lazy_training_blocks(X.shape[1], (width,), X.shape[0], 0, 2,
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
