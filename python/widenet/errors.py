"""widenet's own exceptions (bad arguments raise the built-in ValueError and TypeError)."""

from __future__ import annotations

import math
import time
from typing import Any, Callable, Optional, Protocol, Union, get_args

import numpy as np
from numpy.typing import ArrayLike, NDArray

from widenet._types import OnDivergence

# ``v -> A v`` for a symmetric matrix ``A`` known only through its products.
MatrixProduct = Callable[[NDArray[np.float64]], ArrayLike]


class RunRecords(Protocol):
    """The records of a run as a divergence error reads them (a ``widenet.TrainingResult``)."""

    @property
    def steps(self) -> NDArray[Any]:
        """The recorded step indices."""

    @property
    def losses(self) -> NDArray[Any]:
        """The recorded losses (one row per network of an ensemble)."""

    @property
    def lr(self) -> Optional[float]:
        """The step size."""

    @property
    def diverged_at(self) -> Union[None, int, NDArray[np.int64]]:
        """The step where the loss diverged (per network of an ensemble, -1 where it did not)."""


class DivergenceError(FloatingPointError):
    """Gradient descent diverged.

    At ``step`` the loss was not finite, or had grown beyond ``factor`` times its reference
    (the initial loss, or the zero predictor's if larger).

    Parameters
    ----------
    step, loss, initial_loss, lr, admissible_lr, result, networks, note
        The attributes below, by the same names: the training loop fills them in.

    Attributes
    ----------
    step : int
        The step whose loss diverged (for an ensemble: the earliest over the networks).
    loss : float
        The loss there (``inf`` or ``nan`` when it overflowed).
    initial_loss : float
        ``f(w_0)`` of the run.
    lr : float
        The step size used.
    admissible_lr : float or None
        ``1 / (s lambda_max)`` of the tangent Gram at the run's starting parameters (``s`` the
        loss scale): the largest step for which the linearized dynamics (11.5.9) do not grow.
        ``lambda_max`` is estimated without forming the Gram, by at most
        ``LANCZOS_STEPS`` Lanczos steps on ``v -> J (J^T v)`` (``largest_eigenvalue`` in this module):
        a lower bound of ``lambda_max``, exact to rounding for up to ``LANCZOS_STEPS``
        training points, so ``admissible_lr`` is never below the true bound. None when the
        Gram is zero, overflows, or the estimate could not be made (``note`` says why).
    note : str
        How ``admissible_lr`` was estimated (steps and relative residual), or why it was not.
    networks : tuple of int
        For an ensemble, the indices of the networks that diverged.
    result : TrainingResult
        The records up to the divergence (what ``on_divergence="return"`` gives).

    Examples
    --------
    >>> import numpy as np, widenet
    >>> net = widenet.ShallowNetwork(2, 64, "relu", "ntk", seed=0)
    >>> try:
    ...     net.train(np.eye(2), [1.0, -1.0], lr=100.0, steps=100)
    ... except widenet.DivergenceError as error:
    ...     print(error.step < 100, error.lr)
    True 100.0
    """

    def __init__(self, step: int, loss: float, initial_loss: float, lr: float, admissible_lr: Optional[float],
                 result: RunRecords, networks: tuple[int, ...] = (), note: str = "") -> None:
        self.step, self.loss, self.initial_loss, self.lr = step, loss, initial_loss, lr
        self.admissible_lr, self.result, self.networks, self.note = admissible_lr, result, tuple(networks), note
        which = f" (networks {', '.join(map(str, networks[:10]))}{', ...' if len(networks) > 10 else ''})" \
            if networks else ""
        advice = "" if admissible_lr is None else (
            f"; the tangent Gram at the start allows lr < {admissible_lr:.6g} = 1/(s lambda_max)")
        detail = f" ({note})" if note else ""
        super().__init__(f"gradient descent diverged at step {step}{which}: loss {loss:.6g} from {initial_loss:.6g} "
                         f"with lr = {lr:.6g}{advice}{detail}. Pass on_divergence='return' to get the records up "
                         f"to that step instead of this error.")


class ConditioningWarning(RuntimeWarning):
    """A solve lost accuracy to an ill-conditioned matrix.

    The message gives its condition number on the directions kept (the minimum-norm answer
    treats the rest as zero).

    Examples
    --------
    >>> import warnings, widenet
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("error", widenet.ConditioningWarning)  # make it an error
    ...     pass
    """


ON_DIVERGENCE: tuple[OnDivergence, ...] = get_args(OnDivergence)


# The admissible step's lambda_max: at most this many Lanczos steps, and at most this many
# seconds of them (a step costs two passes over the training points, J^T v and J u).
LANCZOS_STEPS = 40
LANCZOS_SECONDS = 2.0


def largest_eigenvalue(product: MatrixProduct, size: int, steps: int = LANCZOS_STEPS,
                       seconds: float = LANCZOS_SECONDS) -> tuple[float, float, int]:
    """Return ``(theta, residual, steps)``, the largest eigenvalue of a matrix known by its products.

    The matrix ``A`` is symmetric positive semidefinite, ``size x size``, known only through
    ``product(v) = A v``.

    Lanczos with full reorthogonalization from a fixed random start (the same answer every
    time), stopped after ``steps`` products, after ``seconds``, or when the Krylov space is
    invariant; the Rayleigh-Ritz matrix ``Q^T A Q`` is formed from the products themselves,
    so ``theta``, its largest eigenvalue, is a Rayleigh quotient of ``A``: never above the
    largest eigenvalue, and equal to it up to rounding once the Krylov space holds the top
    eigenvector (for ``size <= steps`` always). ``residual`` is ``|A u - theta u| / theta`` for
    the Ritz vector ``u``: some eigenvalue lies within ``residual * theta`` of ``theta``.
    Memory: ``2 steps`` vectors of ``size`` (the basis and its products).
    """
    start = time.perf_counter()
    vector = np.random.default_rng(0).standard_normal(size)
    basis: list[NDArray[np.float64]] = [vector / _norm(vector)]
    images: list[NDArray[np.float64]] = []
    scale = 0.0
    while True:
        image = np.asarray(product(basis[-1]), dtype=np.float64)
        if not np.isfinite(image).all():  # an overflowing matrix: no spectrum to speak of
            return math.nan, math.inf, len(images)
        images.append(image)
        scale = max(scale, _norm(image))
        Q = np.array(basis)
        w = image
        for _ in range(2):  # twice is enough to keep the basis orthogonal in floating point
            w = w - Q.T @ (Q @ w)
        beta = _norm(w)
        if beta <= 1e-10 * scale or len(images) >= min(steps, size) or time.perf_counter() - start > seconds:
            break
        basis.append(w / beta)
    Q, W = np.array(basis), np.array(images)
    rayleigh = Q @ W.T  # q_i . A q_j
    values, vectors = np.linalg.eigh((rayleigh + rayleigh.T) / 2)
    theta, ritz = float(values[-1]), vectors[:, -1]
    residual = _norm(W.T @ ritz - theta * (Q.T @ ritz)) / theta if theta > 0 else math.inf
    return theta, residual, len(images)


def _norm(vector: NDArray[np.float64]) -> float:
    """Return the Euclidean norm by numpy's pairwise sum.

    No BLAS call, whose threads are slow to wake for one vector on a busy machine.
    """
    return float(np.sqrt(np.sum(vector * vector)))


def divergence_error(result: RunRecords, product_of: Callable[[int], MatrixProduct], size: int,
                     loss_scale: float, networks: tuple[int, ...] = ()) -> DivergenceError:
    """Return the error for a run that stopped at ``result.diverged_at``.

    ``product_of(r)`` gives the product ``v -> Theta v`` with the tangent Gram (on the
    ``size`` training points) of network ``r`` (0 for a single one) where its run started.
    The admissible step comes from ``largest_eigenvalue``; the error is raised whatever
    happens while estimating it.
    """
    stopped = np.atleast_1d(np.asarray(result.diverged_at))
    first = int(np.argmin(np.where(stopped >= 0, stopped, np.iinfo(np.int64).max)))
    losses = np.atleast_2d(result.losses)[first]
    # the diverged step is the row where it would be in the schedule (its last record)
    row = int(np.searchsorted(result.steps, stopped[first]))
    admissible, note = _admissible_step(product_of(first), size, loss_scale)
    assert result.lr is not None, "only runs with a step diverge"  # gradient flow has none
    return DivergenceError(int(stopped[first]), float(losses[row]), float(losses[0]), result.lr, admissible, result,
                           networks, note)


def _admissible_step(product: MatrixProduct, size: int, loss_scale: float) -> tuple[Optional[float], str]:
    """Return ``(1 / (s lambda_max), note)``, or ``(None, note)`` when there is no such step to advise."""
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            largest, residual, steps = largest_eigenvalue(product, size)
    except MemoryError as error:  # MemoryLimitError included: the advice is optional, the error is not
        return None, f"the admissible step was not estimated: {error}"
    # an overflowing Gram (inputs near the dtype's range) has no spectrum to advise from
    if not np.isfinite(largest) or largest <= 0:
        return None, ""
    return 1.0 / (loss_scale * largest), (f"lambda_max from {steps} Lanczos steps, a lower bound with relative "
                                          f"residual {residual:.1g}")
