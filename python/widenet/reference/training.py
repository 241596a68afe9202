"""Gradient descent on the square loss, for one network or a stack of them (docs/theory.md, sections 5 and 6).

The numpy twin of the C++ training header: the same schedule of recorded steps, the same
divergence rule, the same records. A run takes the network as an object (as in
:mod:`widenet.reference.shallow`) and its options as one object with the attributes of
:class:`TrainingOptions` (the compiled ``TrainingOptions`` has them).
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Protocol, Sequence

import numpy as np
import numpy.typing as npt

from widenet.reference.activations import FloatArray
from widenet.reference.shallow import NetworkLike, _as_layers, _cast, _forward, _Layers, _loss_grad, _unpacked
from widenet.reference.shallow_outputs import _forward_outputs, _loss_grad_outputs


class OptionsLike(Protocol):
    """What the twins read of a run's options (the compiled ``TrainingOptions`` has it)."""

    @property
    def lr(self) -> float:
        """The step size ``h``."""

    @property
    def steps(self) -> int:
        """The number of steps."""

    @property
    def record_every(self) -> int:
        """The recording period."""

    @property
    def loss_scale(self) -> float:
        """``s`` in the loss ``s |Phi(X) - y|^2``."""

    @property
    def divergence_factor(self) -> float:
        """Stop when the loss exceeds this many times its reference (<= 0: only when not finite)."""



class TrainingOptions:
    """The options of a gradient-descent run, the attributes of the compiled ``TrainingOptions``.

    Step size ``lr``, ``steps``, ``record_every``, ``loss_scale`` and ``divergence_factor``
    (see :func:`train`). The divergence factor is required: the library passes its own
    (``widenet.DIVERGENCE_FACTOR``, defined by the compiled core), which the twin does not
    repeat.
    """

    def __init__(self, lr: float, steps: int, record_every: int = 1, loss_scale: float = 1.0, *,
                 divergence_factor: float) -> None:
        self.lr, self.steps, self.record_every = lr, steps, record_every
        self.loss_scale, self.divergence_factor = loss_scale, divergence_factor

    def __repr__(self) -> str:
        return (f"TrainingOptions(lr={self.lr!r}, steps={self.steps!r}, record_every={self.record_every!r}, "
                f"loss_scale={self.loss_scale!r}, divergence_factor={self.divergence_factor!r})")



def _distance(w: Sequence[FloatArray], w0: Sequence[FloatArray], several: bool = False) -> FloatArray:
    """Return the Euclidean norm of ``w - w0`` over all P parameters (per network; ``several``: k outputs)."""
    dU, db, dv, dc = (p - p0 for p, p0 in zip(w, w0))
    if several:  # v (..., k, n) and c (..., k)
        return np.sqrt(np.sum(dU * dU, axis=(-2, -1)) + np.sum(db * db, axis=-1) + np.sum(dv * dv, axis=(-2, -1))
                       + np.sum(dc * dc, axis=-1))
    return np.sqrt(np.sum(dU * dU, axis=(-2, -1)) + np.sum(db * db, axis=-1) + np.sum(dv * dv, axis=-1) + dc * dc)



def recorded_steps(steps: int, record_every: int) -> npt.NDArray[np.int64]:
    """Return the recorded steps ``0, e, 2e, ...`` below ``steps``, and ``steps``.

    The twin of ``TrainingSchedule::recorded_steps``. The count comes from a division and every index
    ``i e`` is below ``steps``, so nothing overflows int64; a count whose array could not be
    addressed is refused by name.
    """
    if steps < 0 or record_every < 1:
        raise ValueError(f"need steps >= 0 and record_every >= 1; got steps={steps}, record_every={record_every}")
    intervals = steps // record_every  # the count is intervals + 1, plus 1 when steps is not a multiple
    if intervals >= np.iinfo(np.intp).max // 8 - 2:
        raise ValueError(f"record_every: about {intervals} recorded steps (steps = {steps}, record_every = "
                         f"{record_every}) cannot be allocated; expected a larger record_every")
    ks = np.arange(intervals + 1, dtype=np.int64) * np.int64(record_every)
    return ks if ks[-1] == steps else np.append(ks, np.int64(steps))



def _is_recorded(k: int, steps: int, record_every: int) -> bool:
    return k % record_every == 0 or k == steps



def _diverged(loss: float, reference: float, divergence_factor: float) -> bool:
    """Tell whether a run diverged, by the C++ loop's rule.

    The loss is not finite, or exceeds ``divergence_factor`` times the reference (``f(w_0)``
    or the zero predictor's loss, whichever is larger).
    """
    return not np.isfinite(loss) or (divergence_factor > 0 and loss > divergence_factor * reference)



class _Records:
    """The steps of a gradient-descent loop that are recorded, and where it stops.

    Every ``record_every`` steps and the last (:func:`recorded_steps`); with a
    ``divergence_factor`` (None: never stop) the loop stops at the first step whose loss
    diverges (:func:`_diverged`), which is recorded last. ``steps`` is the array of the
    recorded steps, ``rows`` how many were recorded and ``stopped_at`` the step the loop
    stopped at (-1 when it did not).
    """

    def __init__(self, steps: int, record_every: int, divergence_factor: Optional[float] = None) -> None:
        self.last, self.record_every, self.divergence_factor = steps, record_every, divergence_factor
        self.steps = recorded_steps(steps, record_every)
        self.rows, self.stopped_at = 0, -1

    def row(self, k: int, loss: Any, reference: float) -> Optional[int]:
        """Return the row that records step ``k`` of loss ``loss``, or None when it is not recorded.

        A step that diverges is recorded and ends the records (:attr:`stopped`).
        """
        if self.divergence_factor is not None and _diverged(float(loss), reference, self.divergence_factor):
            self.stopped_at = k
            self.steps = np.append(self.steps[:self.rows], np.int64(k))
        elif not _is_recorded(k, self.last, self.record_every):
            return None
        self.rows += 1
        return self.rows - 1

    @property
    def stopped(self) -> bool:
        """Whether the loop stopped at a diverging step."""
        return self.stopped_at >= 0



def _gradient_descent(X: FloatArray, y: npt.ArrayLike, params: Sequence[npt.ArrayLike],
                      initial: Optional[Sequence[npt.ArrayLike]], activation: str, parametrization: str,
                      lr: float, steps: int, record_every: int, X_test: Optional[FloatArray], loss_scale: float,
                      divergence_factor: Optional[float] = None) -> Dict[str, Any]:
    """Run GD ``w_{k+1} = w_k - lr grad f(w_k)`` for one network or a stack of them.

    With ``divergence_factor`` (one network only) the run stops at the first step whose loss
    diverges (:func:`_diverged`); that step is recorded last and ``"stopped_at"`` names it.
    Networks of ``k`` outputs (``v`` (..., k, n), targets (m, k)) record test outputs of
    shape (..., m_test, k).
    """
    dtype = X.dtype
    w = [np.array(p, dtype=dtype) for p in params]  # copies: the inputs are never modified
    w0 = w if initial is None else list(_cast(dtype, *initial))
    targets, lr, loss_scale = np.asarray(y, dtype=dtype), float(lr), float(loss_scale)
    records = _Records(steps, record_every, divergence_factor)
    several = targets.ndim == 2
    loss_grad, outputs_of = (_loss_grad_outputs, _forward_outputs) if several else (_loss_grad, _forward)
    # preallocated like the C++ records: one row per recorded step
    networks = np.shape(w[1])[:-1]
    losses, distances = np.empty(networks + records.steps.shape), np.empty(networks + records.steps.shape)
    outputs = None if X_test is None else np.empty(networks + records.steps.shape + X_test.shape[:1]
                                                   + targets.shape[1:], dtype=dtype)
    with np.errstate(over="ignore"):  # Inf in the dtype, as in the C++: the first loss is then Inf too
        reference = loss_scale * float(np.dot(targets.ravel(), targets.ravel()))
    for k in range(steps + 1):
        with np.errstate(over="ignore", invalid="ignore"):  # a diverging run: caught by the rule below
            loss, *grads = loss_grad(X, targets, w[0], w[1], w[2], w[3], activation, parametrization, loss_scale)
        if divergence_factor is not None and k == 0:
            reference = max(reference, float(loss))
        row = records.row(k, loss, reference)
        if row is not None:
            with np.errstate(over="ignore", invalid="ignore"):
                losses[..., row], distances[..., row] = loss, _distance(w, w0, several)
                if X_test is not None and outputs is not None:
                    record = outputs[..., row, :, :] if several else outputs[..., row, :]
                    record[...] = outputs_of(X_test, w[0], w[1], w[2], w[3], activation, parametrization)
        if records.stopped:
            break
        if k < steps:
            with np.errstate(over="ignore", invalid="ignore"):
                w = [p - lr * gp for p, gp in zip(w, grads)]
    U, b, v, c = w
    return {
        "layers": _as_layers(U, b, v, np.asarray(c, dtype=dtype)),
        "steps": records.steps,
        "stopped_at": records.stopped_at,
        "losses": losses[..., :records.rows],
        "distances": distances[..., :records.rows],
        "test_outputs": None if outputs is None else outputs[..., :records.rows, :],
    }



def train(net: NetworkLike, initial: Optional[NetworkLike], X: FloatArray, y: npt.ArrayLike, options: OptionsLike,
          X_test: Optional[FloatArray] = None) -> Dict[str, Any]:
    """Run gradient descent ``w_{k+1} = w_k - lr grad f(w_k)`` on the square loss (docs/theory.md, sections 5 and 6).

    Parameters
    ----------
    net : Network or an object with its attributes
        The starting point (never modified), as in :func:`~widenet.reference.shallow.forward`.
    initial : Network or an object with its attributes, or None
        Reference point ``w0`` of the distances (its ``layers``); None: the starting point.
    X, y
        As in :func:`~widenet.reference.shallow.loss`.
    options : TrainingOptions or an object with its attributes
        ``lr``, the step size ``h``; ``steps``, the number of GD steps (0 is allowed);
        ``record_every``, record at ``k = 0, record_every, 2 record_every, ...`` and at
        ``k = steps``; ``loss_scale``, as in :func:`~widenet.reference.shallow.loss`; ``divergence_factor``, stop at the
        first step whose loss is not finite or exceeds this factor times
        ``max(f(w_0), loss of the zero predictor)`` (<= 0: only non-finite losses stop it).
    X_test : ndarray, shape (m_test, d), optional
        Points at which the outputs are recorded.

    Returns
    -------
    dict
        ``"stopped_at"``: the step where the loss diverged (its record is the last), else -1;
        ``"layers"``: parameters after the run in the layout of ``net.layers`` (``c`` a 0-d
        array); ``"steps"``: int64 recorded step indices; ``"losses"``: ``f(w_k)`` and
        ``"distances"``: ``|w_k - w0|`` there (float64); ``"test_outputs"``:
        (len(steps), m_test) outputs at ``X_test`` there, or None. A network of ``k`` outputs
        (``v`` of shape (k, n), ``c`` (k,)) takes ``y`` of shape (m, k) and records test
        outputs of shape (len(steps), m_test, k).
    """
    U, b, v, c, activation, parametrization = _unpacked(net)
    start = None if initial is None else _unpacked(initial)[:4]
    return _gradient_descent(X, y, (U, b, v, c), start, activation, parametrization, options.lr, options.steps,
                             options.record_every, X_test, options.loss_scale, options.divergence_factor)



def _padded(records: np.ndarray, rows: int) -> np.ndarray:
    """Pad ``records`` (rows first) with NaN rows to ``rows``: a network that stopped early."""
    missing = rows - records.shape[0]
    return records if missing == 0 else np.concatenate([records, np.full((missing,) + records.shape[1:], np.nan,
                                                                         dtype=records.dtype)])



def _stacked_layers(runs: Sequence[Dict[str, Any]]) -> _Layers:
    """Stack the ``layers`` of several runs on a leading network axis."""
    (U, b), (v, c) = zip(*(run["layers"][0] for run in runs)), zip(*(run["layers"][1] for run in runs))
    return _as_layers(np.stack(U), np.stack(b), np.stack(v), np.stack(c))



def train_ensemble(networks: Sequence[NetworkLike], initial: Optional[Sequence[NetworkLike]], X: FloatArray,
                   y: npt.ArrayLike, options: OptionsLike, X_test: Optional[FloatArray] = None) -> Dict[str, Any]:
    """Run :func:`train` for ``R`` independent networks, one after the other (the numpy loop baseline).

    Parameters
    ----------
    networks : sequence of Network (or objects with its attributes)
        ``R`` starting points of one architecture and shape.
    initial : sequence of ``R`` Network, or None
        The reference points of the distances, one per network; None: the starting points.
    X, y, options, X_test
        As in :func:`train`, shared by all networks.

    Returns
    -------
    dict
        The keys of :func:`train`, each with a leading ``R`` axis except ``"steps"`` (the
        whole schedule): ``"layers"`` stacked, ``U`` (R, n, d), ``b`` and ``v`` (R, n),
        ``c`` (R,). A network that diverged has its last record at its ``stopped_at`` and NaN
        rows after it, as in the C++ kernel.
    """
    networks = list(networks)
    starts = [None] * len(networks) if initial is None else list(initial)
    runs = [train(net, start, X, y, options, X_test) for net, start in zip(networks, starts)]
    ks = recorded_steps(options.steps, options.record_every)
    out: Dict[str, Any] = {"layers": _stacked_layers(runs)}
    for key in ("losses", "distances"):
        out[key] = np.stack([_padded(run[key], len(ks)) for run in runs])
    out["steps"] = ks
    out["stopped_at"] = np.array([run["stopped_at"] for run in runs], dtype=np.int64)
    out["test_outputs"] = None if X_test is None else np.stack([_padded(run["test_outputs"], len(ks))
                                                                for run in runs])
    return out



def train_ensemble_batched(networks: Sequence[NetworkLike], initial: Optional[Sequence[NetworkLike]],
                           X: FloatArray, y: npt.ArrayLike, options: OptionsLike,
                           X_test: Optional[FloatArray] = None) -> Dict[str, Any]:
    """Run :func:`train_ensemble` vectorised over the ``R`` networks (batched matmul baseline).

    Same parameters and result as :func:`train_ensemble` (without the divergence rule: every
    network runs all the steps); each GD step updates all networks at once with stacked
    matrix products.
    """
    networks = list(networks)
    stacked = [np.stack(block) for block in zip(*(_unpacked(net)[:4] for net in networks))]
    start = None if initial is None else [np.stack(block) for block in zip(*(_unpacked(net)[:4] for net in initial))]
    activation, parametrization = networks[0].activation, networks[0].parametrization
    return _gradient_descent(X, y, stacked, start, activation, parametrization, options.lr, options.steps,
                             options.record_every, X_test, options.loss_scale)

