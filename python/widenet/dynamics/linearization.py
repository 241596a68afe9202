"""The linearized model of docs/theory.md, section 3 (chapter 11.3), and its training dynamics.

``Phi_lin(x, p) = Phi(x, w0) + <grad_w Phi(x, w0), p - w0>`` (11.3.1) is linear in ``p``; gradient descent
on its loss (11.3.3) moves the training residual by the tangent Gram ``Theta = J0 J0^T`` alone (11.5.9):
``r_{k+1} = (I - 2 h s Theta) r_k`` for the loss ``s |r|^2``. Training therefore never needs the ``m x P``
Jacobian: the residuals, the outputs on test points (through ``K_n(X_test, X)``) and the distance
``|p_k - w0|`` (through ``a_k . Theta a_k``) all live in function space, and the parameters follow at the
end from one product ``J0^T a`` (docs/theory.md, section 3; Remark 11.24 corrected).
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Dict, Optional, Tuple, Union

import numpy as np
import numpy.typing as npt

from widenet import _memory
from widenet import _validation as check
from widenet._interrupt import is_long_factorization, run_interruptible
from widenet._locking import TrainingLock
from widenet._native import _core
from widenet._spectral import flow_decay, flow_filter, gd_decay, gd_filter, spectral_records
from widenet._types import Backend, FloatArray, LinearMethod, Loss, OnDivergence
from widenet.dynamics._tangents import JacobianTangent, NetworkTangent
from widenet.errors import ON_DIVERGENCE, divergence_error
from widenet.network._backends import BACKENDS, training_options
from widenet.network._kinds import NETWORK_CLASSES
from widenet.network._loss import squared_loss
from widenet.network.parameters import Parameters
from widenet.network.results import LinearizedTrainingResult

METHODS = ("closed_form", "iterate")
_FLOAT64 = np.dtype(np.float64)

_Filters = Callable[[float], Tuple[Callable[..., np.ndarray], Callable[..., np.ndarray], float]]


def linearize(model: Any, params: Union[None, Parameters, npt.ArrayLike] = None) -> LinearizedModel:
    """Return the linearization (11.3.1) of ``model`` at ``w0``: its current parameters, or ``params``.

    Parameters
    ----------
    model : ShallowNetwork, Network or a model with ``forward(X)``, ``jacobian(X)`` and ``params``
        For example :class:`widenet.network.linear_models.LinearModel` or
        :class:`~widenet.network.linear_models.FeatureModel`.
        The model is copied: later changes to it do not move the linearization.
    params : Parameters, DeepParameters or array_like, optional
        The expansion point ``w0``; the model's current parameters by default. For a network,
        parameters of its shape or their vector (``to_vector()``, length ``P``); for another
        model, what its ``params`` attribute takes.

    Returns
    -------
    LinearizedModel
        Starts at ``p = w0``.

    Examples
    --------
    >>> import numpy as np, widenet
    >>> net, X = widenet.ShallowNetwork(2, 128, "tanh", "ntk", seed=0), np.eye(2)
    >>> bool(np.allclose(widenet.linearize(net).forward(X), net.forward(X)))  # equal at w0
    True
    """
    if isinstance(model, NETWORK_CLASSES):  # holds the copy's parameters and initial ones, w0 and p - w0
        _memory.require("linearize", [("parameters of the copy, w0 and p - w0", (model.num_params,), model.dtype, 4)],
                        "Pass a smaller network.")
        w0 = model.params if params is None else model.checked_point(params, "params")
        return LinearizedModel(NetworkTangent(type(model).from_parameters(model.config, w0, w0)))
    if not all(callable(getattr(model, name, None)) for name in ("forward", "jacobian")) or \
            not hasattr(model, "params"):
        raise TypeError(f"model: expected a network or a model with forward(X), jacobian(X) and params, "
                        f"got {type(model).__name__}")
    base = copy.deepcopy(model)
    if params is not None:
        base.params = params
    return LinearizedModel(JacobianTangent(base))


class LinearizedModel(TrainingLock):
    """``Phi_lin(x, p) = Phi(x, w0) + <grad_w Phi(x, w0), p - w0>`` (11.3.1).

    Made by :func:`linearize`. ``params`` is the current ``p`` (it starts at ``w0`` and :meth:`train` moves it);
    ``initial_params`` is ``w0``. For a network both are its parameters (:class:`Parameters`, or
    :class:`DeepParameters` for a :class:`widenet.Network`), for other models parameter vectors. Methods take
    ``backend="cpp"`` or ``"numpy"`` (used for networks; other models compute with their own methods). Runs of
    :meth:`train` and :meth:`flow` from several threads take turns, each starting where the previous one ended.

    Parameters
    ----------
    tangent : object
        The model's value and Jacobian at ``w0``; made by :func:`linearize`, not by hand.

    Examples
    --------
    >>> import numpy as np, widenet
    >>> lin = widenet.linearize(widenet.ShallowNetwork(2, 128, "tanh", "ntk", seed=0))
    >>> lin.flow(np.eye(2), [0.5, -0.5], times=[1e3]).losses[-1] < 1e-12
    True
    """

    _guards_memory = True  # its methods check their own memory (see widenet.kernels.TangentKernel)

    def __init__(self, tangent: Union[NetworkTangent, JacobianTangent]) -> None:
        self._tangent = tangent
        self._offset = np.zeros_like(tangent.initial)  # p - w0

    # -- parameters ----------------------------------------------------------------------
    @property
    def model(self) -> Any:
        """The model at ``w0`` (a copy of the one linearized)."""
        return self._tangent.network

    @property
    def initial_params(self) -> Union[Parameters, np.ndarray]:
        """The expansion point ``w0``."""
        return self._tangent.as_params(self._tangent.initial)

    @property
    def params(self) -> Union[Parameters, np.ndarray]:
        """The current parameters ``p`` (settable)."""
        return self._tangent.as_params(self._tangent.initial + self._offset)

    @params.setter
    def params(self, value: Union[Parameters, npt.ArrayLike]) -> None:
        offset = self._tangent.as_vector(value, "params") - self._tangent.initial
        with self._lock:
            self._offset = offset

    @property
    def num_params(self) -> int:
        """The number of parameters ``P``."""
        return self._tangent.initial.size

    def reset(self) -> LinearizedModel:
        """Return to ``p = w0``."""
        with self._lock:
            self._offset = np.zeros_like(self._offset)
        return self

    # -- outputs -------------------------------------------------------------------------
    def _outputs(self, X: np.ndarray, backend: Backend) -> np.ndarray:
        offset = self._offset  # read once: a run in another thread replaces it as a whole
        outputs = self._tangent.outputs(X, backend)
        if offset.any():
            outputs = outputs + self._tangent.jvp(X, offset, backend)
        return outputs

    def forward(self, X: npt.ArrayLike, backend: Backend = "cpp") -> FloatArray:
        """Return ``Phi_lin(x_i, p)`` for the rows of ``X``, by one Jacobian-vector product."""
        points = self._tangent.inputs(X, "X")
        check.backend(backend)
        self._check_outputs("LinearizedModel.forward", points.shape[0], backend)
        return self._outputs(points, backend)

    def _check_outputs(self, where: str, m: int, backend: Backend) -> None:
        """Guard the memory of the outputs at ``m`` points: a forward pass, then a Jacobian-vector product."""
        tangent = self._tangent
        _memory.require(where, _memory.peak(tangent.pass_blocks("forward", m, backend),
                                            tangent.pass_blocks("jvp", m, backend)),
                        "Pass the rows of X in batches.")

    __call__ = forward

    @property
    def outputs(self) -> int:
        """The number ``k`` of outputs of the network linearized."""
        return int(self._tangent.output_count)

    def ntk(self, X1: npt.ArrayLike, X2: Optional[npt.ArrayLike] = None, backend: Backend = "cpp",
            trace_outputs: bool = True) -> FloatArray:
        """Return the empirical tangent kernel ``K_n(X1, X2)`` at ``w0`` (11.3.4).

        It is the linearized model's kernel, the same for every ``p``; for a network of ``k``
        outputs the kernel traced over them, and with ``trace_outputs=False`` every block,
        shape ``(m1, k, m2, k)``: the Gram the training dynamics use, as the network's
        :meth:`~widenet.ShallowNetwork.ntk` has it.
        """
        symmetric = X2 is None or X2 is X1
        P1 = self._tangent.inputs(X1, "X1")
        P2 = None if symmetric or X2 is None else self._tangent.inputs(X2, "X2")
        check.backend(backend)
        every_block = not check.boolean(trace_outputs, "trace_outputs") and self.outputs > 1
        m1, m2 = P1.shape[0], None if P2 is None else P2.shape[0]
        # the blocks of every output pair: what the traced kernel needs too, while it is summed
        _memory.require("LinearizedModel.ntk", self._tangent.gram_blocks(m1, m2, backend),
                        "Compute the Gram in tiles, ntk(X1[i:i + t], X2[j:j + t]).")
        if every_block:
            k = self.outputs
            return self._tangent.function_gram(P1, P2, backend).reshape(m1, k, m1 if m2 is None else m2, k)
        return self._tangent.gram(P1, P2, backend)

    def _data(self, X: npt.ArrayLike, y: npt.ArrayLike) -> Tuple[np.ndarray, np.ndarray]:
        points = self._tangent.inputs(X, "X")
        return points, check.as_targets(y, "y", self._tangent.dtype, points.shape[0], self._tangent.output_count)

    def offsets(self, X: npt.ArrayLike, y: npt.ArrayLike, backend: Backend = "cpp") -> FloatArray:
        """Return ``delta_i = Phi(x_i, w0) - <grad_w Phi(x_i, w0), w0> - y_i`` (11.3.2).

        So that ``f_lin(p) = sum_i (<grad_w Phi(x_i, w0), p> + delta_i)^2`` (11.3.3).
        """
        points, targets = self._data(X, y)
        check.backend(backend)
        self._check_outputs("LinearizedModel.offsets", points.shape[0], backend)
        return (self._tangent.outputs(points, backend) - self._tangent.jvp(points, self._tangent.initial, backend)
                - targets)

    def loss(self, X: npt.ArrayLike, y: npt.ArrayLike, loss: Loss = "sum", backend: Backend = "cpp") -> float:
        """Return ``f_lin(p) = sum_i (Phi_lin(x_i, p) - y_i)^2`` (11.3.3), or its mean or half."""
        points, targets = self._data(X, y)
        check.backend(backend)
        self._check_outputs("LinearizedModel.loss", points.shape[0], backend)
        return squared_loss(self._outputs(points, backend), targets, check.loss_scale(loss, points.shape[0]))

    # -- training ------------------------------------------------------------------------
    def train(self, X: npt.ArrayLike, y: npt.ArrayLike, lr: float, steps: int, X_test: Optional[npt.ArrayLike] = None,
              method: LinearMethod = "closed_form", record_every: int = 1, loss: Loss = "sum", backend: Backend = "cpp",
              on_divergence: OnDivergence = "raise") -> LinearizedTrainingResult:
        """Run gradient descent ``p_{k+1} = p_k - lr grad f_lin(p_k)`` for ``steps`` steps (11.5.9).

        Starts from the current ``params`` and leaves the model at ``p_steps``.
        ``method="closed_form"`` diagonalizes the tangent Gram once, ``Theta = Q diag(l) Q^T``,
        and gives every recorded step exactly: ``r_k = Q diag((1 - 2 h s l)^k) Q^T r_0``
        (docs/theory.md, section 3; Remark 11.24 corrected); ``"iterate"`` runs the steps one by one in
        function space in C++ (one symmetric matrix-vector product per step). Both agree
        to rounding; neither forms the ``m x P`` Jacobian.

        For a network of ``k`` outputs ``y`` is (m, k), the residual of the ``m k`` outputs
        moves by every block of the tangent kernel as one ``(m k) x (m k)`` Gram, and the
        recorded outputs have a last axis of ``k``.

        Parameters
        ----------
        X, y : array_like, shapes (m, d) and (m,) or (m, 1); y (m, k) for ``k`` outputs
        lr : float
            The step ``h``. Steps with ``2 h s lambda_max >= 2`` diverge (and are computed).
        steps : int
        X_test : array_like, shape (t, d), optional
            Points where ``Phi_lin(x, p_k)`` is recorded too.
        method : {"closed_form", "iterate"}
        record_every : int
            Record every this many steps; the last step is always recorded.
        loss : {"sum", "mean", "half_sum"}
            ``s = 1, 1/m, 1/2`` in the objective ``s |Phi_lin(X, p) - y|^2``.
        on_divergence : {"raise", "return"}
            When the loss stops being finite or grows by the divergence factor (see
            :data:`widenet.DIVERGENCE_FACTOR`) over its initial value (``"iterate"``: at
            that step; ``"closed_form"``: at the first recorded step where it has), raise
            :class:`widenet.DivergenceError` and leave the model unchanged, or return the
            records up to there (``result.diverged_at``) and move the model there (unless its
            parameters overflowed to Inf or NaN, ``result.parameters_overflowed``: then it
            stays where the run started).

        Returns
        -------
        LinearizedTrainingResult
            ``losses``, ``distances`` ``|p_k - w0|`` (float64), ``train_outputs`` and
            ``test_outputs`` (in the model's dtype: float32 for a float32 network) at the
            recorded steps.
        """
        points, targets = self._data(X, y)
        # "iterate" steps in the Gram's dtype: a step that is 0 there would do nothing.
        lr = check.normal_in(check.positive_real(lr, "lr"), "lr", self._tangent.dtype)
        steps = check.integer(steps, "steps", 0)
        record_every = check.integer(record_every, "record_every", 1)
        check.choice(method, "method", METHODS)
        check.choice(on_divergence, "on_divergence", ON_DIVERGENCE)
        with self._lock:  # one run at a time, each from where the previous one ended
            # the schedule is made only after the memory guard has counted it
            records, offset, theta, scale = self._run(points, targets, X_test, loss, backend, method,
                                                      _memory.recorded_count(steps, record_every),
                                                      lambda: _core.recorded_steps(steps, record_every),
                                                      lambda rate: (gd_decay, gd_filter, lr * rate), lr, steps,
                                                      record_every)
            result = LinearizedTrainingResult(**records, loss=loss, lr=lr, method=method)
            if result.diverged_at is not None and on_divergence == "raise":
                raise divergence_error(result, lambda _: lambda v: theta @ v.astype(theta.dtype), theta.shape[0], scale)
            self._move_to(offset)
        return result

    def flow(self, X: npt.ArrayLike, y: npt.ArrayLike, times: npt.ArrayLike, X_test: Optional[npt.ArrayLike] = None,
             loss: Loss = "sum", backend: Backend = "cpp") -> LinearizedTrainingResult:
        """Run gradient flow ``dp/dt = -grad f_lin(p)``, the limit of :meth:`train` for ``lr -> 0``.

        With ``t = lr k``: ``r(t) = Q diag(exp(-2 s l t)) Q^T r(0)``, exactly. ``times``
        (non-negative) are the recorded times; the model is left at ``times[-1]`` (unless its
        parameters overflow to Inf or NaN there, ``result.parameters_overflowed``: then it
        stays where it was). Returns a :class:`LinearizedTrainingResult` with ``times`` set
        (``steps`` and ``lr`` are None).
        """
        points, targets = self._data(X, y)
        recorded = check.as_array(times, "times", _FLOAT64, 1)
        if recorded.size == 0 or (recorded < 0).any():
            raise ValueError(f"times: expected a non-empty 1-D array of non-negative times, got {recorded!r}")
        with self._lock:  # one run at a time, each from where the previous one ended
            records, offset, _, _ = self._run(points, targets, X_test, loss, backend, "flow", recorded.size,
                                              lambda: recorded,
                                              lambda rate: (flow_decay, flow_filter, rate), None, None, None)
            records["steps"] = None  # gradient flow cannot diverge: its loss never grows
            self._move_to(offset)
        return LinearizedTrainingResult(**records, loss=loss, lr=None,  # no step: flow
                                        method="flow", times=recorded)

    def _run(self, X: np.ndarray, y: np.ndarray, X_test: Optional[npt.ArrayLike], loss: str, backend: Backend,
             method: LinearMethod, records: int, when: Callable[[], np.ndarray], filters: _Filters, lr: Optional[float],
             steps: Optional[int],
             record_every: Optional[int]) -> Tuple[Dict[str, Any], Optional[np.ndarray], np.ndarray, float]:
        """Return ``(records, offset, theta, loss_scale)`` of a run.

        ``records``: the ``records`` records at ``when()`` (steps or times) as keyword
        arguments of the result, up to a divergence (the C++ loop's rule, applied to the
        recorded steps in closed form), and ``p - w0`` at the last one (None when it
        overflows).
        """
        check.backend(backend)
        scale = check.loss_scale(loss, X.shape[0])
        test_points = None if X_test is None else self._tangent.inputs(X_test, "X_test")
        self._check_run(X, test_points, records, method, backend)
        # In function space the outputs at the points are one vector (m k entries for k outputs).
        theta = self._tangent.function_gram(X, None, backend)
        start = self._outputs(X, backend)  # Phi_lin(X, p) where this run starts
        # J0 (p - w0) and |p - w0|^2: the start's own offset enters every distance.
        shift = (start - self._tangent.outputs(X, backend)).ravel()
        cross: Optional[np.ndarray] = None
        test_start: Optional[np.ndarray] = None
        if test_points is not None:
            cross = self._tangent.function_gram(test_points, X, backend)
            test_start = self._outputs(test_points, backend).ravel()
        residual = (start - y).astype(theta.dtype).ravel()
        targets = y.ravel()
        # "iterate" comes from train, which passes lr, steps and record_every (flow passes None)
        if method == "iterate" and lr is not None and steps is not None and record_every is not None:
            options = training_options(lr, steps, record_every, scale)
            run = BACKENDS[backend].linear_gd(theta, residual, options, cross, test_start, shift.astype(theta.dtype),
                                              float(np.dot(self._offset, self._offset)))
            outputs = run["residuals"].astype(np.float64, copy=False)  # a fresh array: made the outputs in place
            outputs += targets
            coefficients, recorded = run["coefficients"], run["steps"]
            losses, distances, test_outputs = run["losses"], run["distances"], run["test_outputs"]
            stopped = int(run["stopped_at"])
        else:
            schedule = when()
            decay_of, filter_of, rate = filters(scale)
            with np.errstate(over="ignore", invalid="ignore"):  # an unstable step: inf, caught there
                outputs, losses, distances, test_outputs, coefficients, stopped = run_interruptible(
                    spectral_records, theta, residual, targets, decay_of, filter_of, rate, schedule, scale, shift,
                    self._offset, cross, test_start, long_call=is_long_factorization(*theta.shape))
            recorded = schedule[:len(losses)]
            stopped = -1 if stopped < 0 else int(recorded[stopped])
        outputs = np.asarray(outputs).reshape(-1, *y.shape)  # records x the shape of y
        if test_outputs is not None and test_points is not None:
            test_outputs = np.asarray(test_outputs).reshape(-1, test_points.shape[0], *y.shape[1:])
        offset = self._offset_after(X, coefficients, backend)
        # Outputs in the model's dtype (computed in float64 in closed form); losses and
        # distances in float64, as every training result records them.
        dtype = self._tangent.dtype
        with np.errstate(over="ignore"):  # beyond the dtype's range: inf, as the run itself gives
            train_outputs = np.asarray(outputs).astype(dtype, copy=False)
            test_outputs = None if test_outputs is None else np.asarray(test_outputs).astype(dtype, copy=False)
        fields = dict(steps=recorded, losses=np.asarray(losses, dtype=np.float64),
                      distances=np.asarray(distances, dtype=np.float64), test_outputs=test_outputs,
                      train_outputs=train_outputs, diverged_at=None if stopped < 0 else stopped,
                      parameters_overflowed=offset is None)
        return fields, offset, theta, scale

    def _check_run(self, X: np.ndarray, X_test: Optional[np.ndarray], records: int, method: LinearMethod,
                   backend: Backend) -> None:
        """Guard the memory of :meth:`train` and :meth:`flow`, before anything is allocated.

        In function space a point holds ``k`` outputs: the Gram and the records count ``m k``.
        """
        tangent, m, m_test = self._tangent, X.shape[0], 0 if X_test is None else X_test.shape[0]
        points = max(m, m_test)
        passes = _memory.peak(tangent.pass_blocks("forward", points, backend),
                              tangent.pass_blocks("jvp", points, backend))
        k = tangent.output_count
        _memory.check_linear_run("LinearizedModel." + ("flow" if method == "flow" else "train"), m * k, m_test * k,
                                 records,
                                 method, tangent.dtype, tangent.gram_blocks(m, None, backend),
                                 tangent.gram_blocks(m_test, m, backend) if m_test else [], passes,
                                 tangent.pass_blocks("vjp", m, backend))

    def _offset_after(self, X: np.ndarray, coefficients: np.ndarray, backend: Backend) -> Optional[np.ndarray]:
        """Return ``p - w0`` after a run whose last record has ``p - p_start = -J0^T coefficients``.

        None when it overflows (Inf or NaN parameters).
        """
        if not np.isfinite(coefficients).all():
            return None
        offset = self._offset - self._tangent.vjp(X, np.asarray(coefficients), backend)
        return offset if np.isfinite(offset).all() else None

    def _move_to(self, offset: Optional[np.ndarray]) -> None:
        if offset is not None:  # overflowed parameters are no model: it stays where it was
            self._offset = offset

    def __repr__(self) -> str:
        return f"LinearizedModel({self.model!r})"

