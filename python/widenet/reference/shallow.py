"""One-hidden-layer network, its tangent kernel and gradient descent (docs/theory.md, sections 5 and 6).

The numpy twin of the C++ shallow-network, tangent-Gram, tangent-product and training
headers. Both parametrizations are written as

    Phi(x) = a v . sigma(s U x + b) + c,

with ``(a, s) = (1, 1)`` for "lecun" (11.5.1) and ``(n^{-1/2}, d^{-1/2})`` for "ntk"
(11.6.1). Parameters are ``U`` (n x d), ``b`` (n,), ``v`` (n,), ``c`` (scalar); the
parameter vector is ``w = (vec(U) row-major, b, v, c)`` of length ``P = n(d+2)+1``.
Data ``X`` is (m x d) and every function computes in the dtype of ``X``.

Every function takes the network as one object, like its compiled twin: any object with
the attributes ``layers`` (the dense layers ``((U, b), (v, c))``), ``activation`` and
``parametrization`` (the compiled ``Network``, or :class:`Network` here), so that the two
implementations are called alike. Directions and gradients in parameter space have the
layout of ``layers``; a gradient-descent run takes its options as one object with the
attributes of :class:`TrainingOptions`.

The private helpers accept parameters with leading batch axes (an ensemble of ``R``
networks: ``U`` (R, n, d), ``b`` and ``v`` (R, n), ``c`` (R,)); this is what
:func:`train_ensemble_batched` uses.
"""

from __future__ import annotations

import math
from typing import Any, Dict, Literal, Optional, Protocol, Sequence, Tuple

import numpy as np
import numpy.typing as npt

from widenet.reference import activations as _act
from widenet.reference.activations import FloatArray

Parametrization = Literal["lecun", "ntk"]
_Blocks = Tuple[FloatArray, FloatArray, FloatArray, FloatArray]
_Layers = Tuple[Tuple[Any, Any], Tuple[Any, Any]]  # ((U, b), (v, c))

_PARAMETRIZATIONS = ("lecun", "ntk")


class NetworkLike(Protocol):
    """What the twins read of a network: its dense layers and its architecture.

    The compiled ``Network`` has these attributes, and so has :class:`Network`.
    """

    @property
    def layers(self) -> Any:
        """``((U, b), (v, c))``."""

    @property
    def activation(self) -> str:
        """One of :data:`~widenet.reference.ACTIVATIONS`."""

    @property
    def parametrization(self) -> str:
        """``"lecun"`` or ``"ntk"``."""


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


class Network:
    """A network's state for the twins: dense layers, activation and parametrization.

    The attributes of the compiled ``Network``: ``layers = ((U, b), (v, c))``,
    ``activation``, ``parametrization``; the arrays are taken as given, unchecked.
    """

    def __init__(self, U: npt.ArrayLike, b: npt.ArrayLike, v: npt.ArrayLike, c: Any, activation: str,
                 parametrization: str) -> None:
        self.layers: _Layers = ((np.asarray(U), np.asarray(b)), (np.asarray(v), c))
        self.activation = activation
        self.parametrization = parametrization

    @property
    def dtype(self) -> np.dtype:
        """The dtype of ``U``."""
        return self.layers[0][0].dtype

    @property
    def width(self) -> int:
        """``n``, the rows of ``U``."""
        return self.layers[0][0].shape[0]

    @property
    def input_dim(self) -> int:
        """``d``, the columns of ``U``."""
        return self.layers[0][0].shape[1]

    @property
    def num_params(self) -> int:
        """``P = n (d + 2) + 1``."""
        return self.width * (self.input_dim + 2) + 1

    def __repr__(self) -> str:
        return (f"Network(input_dim={self.input_dim}, width={self.width}, activation={self.activation!r}, "
                f"parametrization={self.parametrization!r}, dtype={self.dtype})")


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


def _unpacked(net: NetworkLike) -> Tuple[Any, Any, Any, Any, str, Any]:
    """Return ``(U, b, v, c, activation, parametrization)`` of a network object."""
    (U, b), (v, c) = net.layers
    return U, b, v, c, net.activation, net.parametrization


def _as_layers(U: Any, b: Any, v: Any, c: Any) -> _Layers:
    """Return parameter blocks in the layout of ``Network.layers``."""
    return (U, b), (v, c)


def _scales(parametrization: str, n: int, d: int) -> Tuple[float, float]:
    """Return the output and input scales ``(a, s)`` of ``Phi(x) = a v.sigma(s U x + b) + c``."""
    if parametrization == "lecun":
        return 1.0, 1.0
    if parametrization == "ntk":
        return 1.0 / math.sqrt(n), 1.0 / math.sqrt(d)
    raise ValueError(f"parametrization must be one of {', '.join(_PARAMETRIZATIONS)}; got {parametrization!r}")


def _cast(dtype: npt.DTypeLike, *arrays: npt.ArrayLike) -> Tuple[FloatArray, ...]:
    return tuple(np.asarray(x, dtype=dtype) for x in arrays)


def _T(M: FloatArray) -> FloatArray:
    """Transpose the last two axes."""
    return np.swapaxes(M, -1, -2)


def _preactivations(X: FloatArray, U: FloatArray, b: FloatArray,
                    parametrization: str) -> Tuple[FloatArray, float, float]:
    """Return the pre-activations ``Z = s X U^T + b`` of shape (..., m, n), and the scales (a, s)."""
    a, s = _scales(parametrization, *U.shape[-2:])
    return s * (X @ _T(U)) + b[..., None, :], a, s


def _forward(X: FloatArray, U: FloatArray, b: FloatArray, v: FloatArray, c: FloatArray, activation: str,
             parametrization: str) -> FloatArray:
    Z, a, _ = _preactivations(X, U, b, parametrization)
    A = _act.activation(activation, Z)
    return a * np.einsum("...mn,...n->...m", A, v) + c[..., None]


def _pullback(X: FloatArray, g: FloatArray, Z: FloatArray, A: FloatArray, v: FloatArray, activation: str,
              a: float, s: float) -> _Blocks:
    """Return the blocks ``(gU, gb, gv, gc)`` of ``J^T g`` from the pre-activations ``Z`` and ``A = sigma(Z)``.

    With ``G = a (g v^T) * sigma'(Z)``, ``gU = s G^T X``, ``gb = G^T 1``, ``gv = a A^T g``, ``gc = g^T 1``.
    """
    G = a * g[..., :, None] * _act.activation_derivative(activation, Z) * v[..., None, :]
    gU = s * (_T(G) @ X)
    gv = a * np.einsum("...mn,...m->...n", A, g)
    return gU, G.sum(axis=-2), gv, g.sum(axis=-1)


def _loss_grad(X: FloatArray, y: FloatArray, U: FloatArray, b: FloatArray, v: FloatArray, c: FloatArray,
               activation: str, parametrization: str,
               loss_scale: float) -> Tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """Return the loss and gradient blocks, for one network or a stack of them."""
    Z, a, s = _preactivations(X, U, b, parametrization)
    A = _act.activation(activation, Z)
    r = a * np.einsum("...mn,...n->...m", A, v) + c[..., None] - y
    g = (2 * loss_scale) * r  # d loss / d Phi(x_i)
    loss = loss_scale * np.sum(r * r, axis=-1)
    return (loss, *_pullback(X, g, Z, A, v, activation, a, s))


def _distance(w: Sequence[FloatArray], w0: Sequence[FloatArray]) -> FloatArray:
    """Return the Euclidean norm of ``w - w0`` over all P parameters (per network)."""
    dU, db, dv, dc = (p - p0 for p, p0 in zip(w, w0))
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
    """
    dtype = X.dtype
    w = [np.array(p, dtype=dtype) for p in params]  # copies: the inputs are never modified
    w0 = w if initial is None else list(_cast(dtype, *initial))
    targets, lr, loss_scale = np.asarray(y, dtype=dtype), float(lr), float(loss_scale)
    records = _Records(steps, record_every, divergence_factor)
    # preallocated like the C++ records: one row per recorded step
    networks = np.shape(w[3])
    losses, distances = np.empty(networks + records.steps.shape), np.empty(networks + records.steps.shape)
    outputs = None if X_test is None else np.empty(networks + records.steps.shape + X_test.shape[:1], dtype=dtype)
    reference = loss_scale * float(np.dot(targets, targets))
    for k in range(steps + 1):
        with np.errstate(over="ignore", invalid="ignore"):  # a diverging run: caught by the rule below
            loss, *grads = _loss_grad(X, targets, w[0], w[1], w[2], w[3], activation, parametrization, loss_scale)
        if divergence_factor is not None and k == 0:
            reference = max(reference, float(loss))
        row = records.row(k, loss, reference)
        if row is not None:
            with np.errstate(over="ignore", invalid="ignore"):
                losses[..., row], distances[..., row] = loss, _distance(w, w0)
                if X_test is not None and outputs is not None:
                    outputs[..., row, :] = _forward(X_test, w[0], w[1], w[2], w[3], activation, parametrization)
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


def forward(net: NetworkLike, X: FloatArray) -> FloatArray:
    """Return the outputs ``Phi(x_i, w)`` for the rows of ``X`` (docs/theory.md, sections 5 and 6: 11.5.1, 11.6.1).

    Parameters
    ----------
    net : Network or an object with its attributes
        ``layers = ((U, b), (v, c))`` with ``U`` (n, d), ``b`` and ``v`` (n,), ``c`` a
        scalar; ``activation``, one of :data:`~widenet.reference.ACTIVATIONS`;
        ``parametrization``, "lecun" (``v.sigma(Ux + b) + c``) or "ntk"
        (``n^{-1/2} v.sigma(d^{-1/2} U x + b) + c``).
    X : ndarray, shape (m, d)
        Inputs; their dtype (float32 or float64) is the compute dtype.

    Returns
    -------
    ndarray, shape (m,)
    """
    U, b, v, c, activation, parametrization = _unpacked(net)
    U, b, v, c = _cast(X.dtype, U, b, v, c)
    return _forward(X, U, b, v, c, activation, parametrization)


def jacobian(net: NetworkLike, X: FloatArray) -> FloatArray:
    """Return the explicit Jacobian ``J = d Phi(X, w) / d w`` (docs/theory.md, sections 5 and 6: 11.5.2, 11.6.3).

    With ``z = s U x + b``: ``dPhi/dU_ij = a v_i sigma'(z_i) s x_j``,
    ``dPhi/db_i = a v_i sigma'(z_i)``, ``dPhi/dv_i = a sigma(z_i)``, ``dPhi/dc = 1``.

    Parameters
    ----------
    net, X
        As in :func:`forward`.

    Returns
    -------
    ndarray, shape (m, n(d+2)+1)
        Columns in parameter order: ``U`` row-major, then ``b``, ``v``, ``c``.
    """
    U, b, v, c, activation, parametrization = _unpacked(net)
    U, b, v, c = _cast(X.dtype, U, b, v, c)
    Z, a, s = _preactivations(X, U, b, parametrization)
    m = X.shape[0]
    Jb = a * _act.activation_derivative(activation, Z) * v  # (m, n)
    JU = s * Jb[:, :, None] * X[:, None, :]  # (m, n, d)
    Jv = a * _act.activation(activation, Z)
    return np.concatenate([JU.reshape(m, -1), Jb, Jv, np.ones((m, 1), dtype=X.dtype)], axis=1)


def jvp(net: NetworkLike, X: FloatArray, tangent: Any) -> FloatArray:
    """Return the Jacobian-vector product ``J(X, w) delta`` without the Jacobian (docs/theory.md, section 3).

    For the direction ``delta = (dU, db, dv, dc)`` in the parameter layout, with
    ``Z = s X U^T + 1 b^T`` and ``dZ = s X dU^T + 1 db^T`` (the change of ``Z`` along
    ``delta``)::

        J delta = a [ sigma(Z) dv + (sigma'(Z) * dZ) v ] + dc.

    Parameters
    ----------
    net, X
        As in :func:`forward`.
    tangent : ((dU, db), (dv, dc))
        The direction ``delta`` in the layout of ``net.layers``: ``dU`` (n, d), ``db`` and
        ``dv`` (n,), ``dc`` a scalar.

    Returns
    -------
    ndarray, shape (m,)
        ``grad_w Phi(x_i, w) . delta`` for every row ``x_i``.
    """
    U, b, v, _, activation, parametrization = _unpacked(net)
    (dU, db), (dv, dc) = tangent
    U, b, v, dU, db, dv, dc = _cast(X.dtype, U, b, v, dU, db, dv, dc)
    Z, a, _ = _preactivations(X, U, b, parametrization)
    dZ, _, _ = _preactivations(X, dU, db, parametrization)  # linear in (dU, db): same scales
    return a * (_act.activation(activation, Z) @ dv + (_act.activation_derivative(activation, Z) * dZ) @ v) + dc


def vjp(net: NetworkLike, X: FloatArray, r: npt.ArrayLike) -> _Layers:
    """Return the vector-Jacobian product ``J(X, w)^T r`` without the Jacobian, layer by layer.

    See docs/theory.md, sections 5 and 6: 11.5.2, 11.6.3. The gradient of :func:`loss_grad`
    with its weights ``2 loss_scale (Phi - y)`` replaced by ``r``: with
    ``G = a (r v^T) * sigma'(Z)`` (m x n), ``gU = s G^T X``, ``gb = G^T 1``,
    ``gv = a sigma(Z)^T r``, ``gc = r^T 1``.

    Parameters
    ----------
    net, X
        As in :func:`forward`.
    r : ndarray, shape (m,)
        One weight per row of ``X``.

    Returns
    -------
    ((gU, gb), (gv, gc))
        In the layout of ``net.layers``: ``gU`` (n, d), ``gb`` and ``gv`` (n,), ``gc`` a float.
    """
    U, b, v, _, activation, parametrization = _unpacked(net)
    U, b, v, r = _cast(X.dtype, U, b, v, r)
    Z, a, s = _preactivations(X, U, b, parametrization)
    gU, gb, gv, gc = _pullback(X, r, Z, _act.activation(activation, Z), v, activation, a, s)
    return _as_layers(gU, gb, gv, float(gc))


def _input_scales(X: FloatArray) -> Tuple[FloatArray, FloatArray, FloatArray]:
    """Return per-row powers of two ``q >= 1``, their inverses, and ``X / q``.

    Rows whose largest entry reaches ``2^(maxexp/4)`` are scaled so that it lies in
    [1/2, 1). With them the derivative part
    ``(s^2 x.z + 1) (D1 v)(D2 v)^T`` is ``(s^2 x^.z^ + 1/(q q')) (q D1 v)(q' D2 v)^T``, whose
    factors stay finite where the Jacobian is (the compiled kernel does the same).
    """
    info = np.finfo(X.dtype)
    largest = np.max(np.abs(X), axis=1)
    exponents = np.where(largest >= 2.0 ** (info.maxexp // 4), np.minimum(np.frexp(largest)[1], info.maxexp - 1), 0)
    up = np.ldexp(np.ones(len(X), dtype=X.dtype), exponents)
    down = np.ldexp(np.ones(len(X), dtype=X.dtype), -exponents)
    return up, down, X * down[:, None]


def _wide_hidden(X: FloatArray, U: FloatArray, b: FloatArray, v: FloatArray, activation: str,
                 s: Any) -> Tuple[npt.NDArray[np.longdouble], npt.NDArray[np.longdouble]]:
    """Return ``sigma(Z)`` and ``sigma'(Z) v`` in long double.

    These are the float64 functions where ``Z`` fits a double, their limits beyond (bounded
    activations are flat there).
    """
    Z = s * (X.astype(np.longdouble) @ U.astype(np.longdouble).T) + b.astype(np.longdouble)
    if activation == "sin":
        return np.sin(Z), np.cos(Z) * v
    inside = np.abs(Z) <= np.finfo(np.float64).max
    clipped = np.where(inside, Z, 0).astype(np.float64)
    A = np.where(inside, _act.activation(activation, clipped), 0).astype(np.longdouble)
    D = np.where(inside, _act.activation_derivative(activation, clipped), 0).astype(np.longdouble)
    positive = Z > 0
    with np.errstate(divide="ignore"):
        limits = {"identity": (Z, 1), "relu": (np.where(positive, Z, 0), positive),
                  "softplus": (np.where(positive, Z, 0), positive), "gelu": (np.where(positive, Z, 0), positive),
                  "arctan": (np.copysign(np.longdouble(np.pi / 2), Z), 1 / Z / Z),
                  "sigmoid": (positive, 0), "tanh": (np.sign(Z), 0), "erf": (np.sign(Z), 0)}[activation]
    A = np.where(inside, A, limits[0])
    D = np.where(inside, D, limits[1])
    return A, D * v.astype(np.longdouble)


def _wide_entries(X1: FloatArray, X2: FloatArray, U: FloatArray, b: FloatArray, v: FloatArray, activation: str,
                  parametrization: str, dtype: npt.DTypeLike) -> FloatArray:
    """Return ``K(x1_k, x2_k)`` for the paired rows of ``X1`` and ``X2``, in long double rounded once to ``dtype``.

    Computed from the definition, these are the entries the fast formula gives as inf or NaN when
    an intermediate overflows (the compiled kernel recomputes the same ones). Pairs are taken
    in blocks of about 2^20 hidden units, so memory stays bounded however many there are.
    """
    n, d = U.shape
    a2, s2 = (np.longdouble(1) / n, np.longdouble(1) / d) if parametrization == "ntk" else (1, 1)
    exact = np.empty(len(X1), dtype=np.longdouble)
    block = max(1, 2**20 // n)
    for start in range(0, len(X1), block):
        x1, x2 = X1[start:start + block], X2[start:start + block]
        A1, D1 = _wide_hidden(x1, U, b, v, activation, np.sqrt(s2))
        A2, D2 = _wide_hidden(x2, U, b, v, activation, np.sqrt(s2))
        inner = np.sum(x1.astype(np.longdouble) * x2.astype(np.longdouble), axis=1)
        exact[start:start + block] = a2 * ((s2 * inner + 1) * np.sum(D1 * D2, axis=1) + np.sum(A1 * A2, axis=1)) + 1
    with np.errstate(over="ignore"):
        return exact.astype(dtype)


def ntk_gram(net: NetworkLike, X1: FloatArray, X2: Optional[FloatArray] = None, width_chunk: int = 0) -> FloatArray:
    """Return the empirical tangent kernel ``K_n(x, z) = <grad Phi(x), grad Phi(z)>``.

    The kernel is defined in docs/theory.md, section 3: 11.3.4. Structured form
    (docs/theory.md, sections 5 and 6: proof of Theorem 11.16, with bias), never forming
    the Jacobian. With ``A = sigma(Z)``, ``D = sigma'(Z)`` at the pre-activations:

    - lecun: ``K = (X1 X2^T + 1) * ((D1 v)(D2 v)^T) + A1 A2^T + 1``
    - ntk:   ``K = (X1 X2^T / (n d) + 1/n) * ((D1 v)(D2 v)^T) + A1 A2^T / n + 1``

    where ``*`` is the elementwise product and ``D v`` scales column ``i`` by ``v_i``.
    Large rows enter through powers of two (:func:`_input_scales`), so that a derivative
    that underflows to 0 at a huge pre-activation gives a 0 term rather than ``inf * 0``;
    entries that still overflow an intermediate are recomputed in long double. Where the
    Jacobian is finite each entry is within ``c (n + d) eps sqrt(K(x, x) K(z, z))`` of
    ``J J^T``; beyond the dtype's range it is inf of its sign; never NaN.

    Parameters
    ----------
    net
        As in :func:`forward`.
    X1 : ndarray, shape (m1, d)
    X2 : ndarray, shape (m2, d), optional
        Default: ``X1`` (the symmetric Gram).
    width_chunk : int, default 0
        Accepted for the compiled twin's signature and ignored: this twin forms all hidden
        units at once (the compiled kernel processes ``width_chunk`` of them at a time, which
        changes its memory, not its result beyond rounding).

    Returns
    -------
    ndarray, shape (m1, m2)
    """
    U, b, v, _, activation, parametrization = _unpacked(net)
    X2 = X1 if X2 is None else X2
    U, b, v = _cast(X1.dtype, U, b, v)
    up1, down1, scaled1 = _input_scales(X1)
    up2, down2, scaled2 = _input_scales(X2)
    with np.errstate(over="ignore", invalid="ignore"):  # overflowing entries are recomputed below
        Z1, a, s = _preactivations(X1, U, b, parametrization)
        Z2, _, _ = _preactivations(X2, U, b, parametrization)
        G1 = _act.activation_derivative(activation, Z1) * v * up1[:, None]
        G2 = _act.activation_derivative(activation, Z2) * v * up2[:, None]
        A1A2 = _act.activation(activation, Z1) @ _act.activation(activation, Z2).T
        K = a * a * ((s * s * (scaled1 @ scaled2.T) + np.outer(down1, down2)) * (G1 @ G2.T) + A1A2) + 1
    rows, cols = np.nonzero(~np.isfinite(K))
    K[rows, cols] = _wide_entries(X1[rows], X2[cols], U, b, v, activation, parametrization, K.dtype)
    return K


def ntk_diag(net: NetworkLike, X: FloatArray) -> FloatArray:
    """Return the diagonal ``K_n(x_i, x_i)`` of :func:`ntk_gram` ``(X, X)`` (docs/theory.md, section 3: 11.3.4).

    Parameters
    ----------
    net, X
        As in :func:`forward`.

    Returns
    -------
    ndarray, shape (m,)
        ``a^2 ((s^2 |x|^2 + 1) |D v|^2 + |A|^2) + 1`` row by row, scaled and repaired as in
        :func:`ntk_gram`.
    """
    U, b, v, _, activation, parametrization = _unpacked(net)
    U, b, v = _cast(X.dtype, U, b, v)
    up, down, scaled = _input_scales(X)
    with np.errstate(over="ignore", invalid="ignore"):  # overflowing entries are recomputed below
        Z, a, s = _preactivations(X, U, b, parametrization)
        G = _act.activation_derivative(activation, Z) * v * up[:, None]
        A = _act.activation(activation, Z)
        K = a * a * ((s * s * np.sum(scaled * scaled, axis=1) + down * down) * np.sum(G * G, axis=1)
                     + np.sum(A * A, axis=1)) + 1
    bad = ~np.isfinite(K)
    K[bad] = _wide_entries(X[bad], X[bad], U, b, v, activation, parametrization, K.dtype)
    return K


def loss(net: NetworkLike, X: FloatArray, y: npt.ArrayLike, loss_scale: float = 1.0) -> float:
    """Return the square loss ``loss_scale * sum_i (Phi(x_i) - y_i)^2`` (docs/theory.md, notation: 11.0.1b).

    Parameters
    ----------
    net, X
        As in :func:`forward`.
    y : ndarray, shape (m,)
        Targets.
    loss_scale : float, default 1.0
        1 for the chapter's sum, ``1/m`` for the mean, ``1/2`` for the half sum.

    Returns
    -------
    float
    """
    r = forward(net, X) - np.asarray(y, dtype=X.dtype)
    return float(float(loss_scale) * np.sum(r * r))


def loss_grad(net: NetworkLike, X: FloatArray, y: npt.ArrayLike, loss_scale: float = 1.0) -> Tuple[float, _Layers]:
    """Return the loss and its gradient ``2 loss_scale J^T r``, ``r = Phi(X) - y`` (11.0.1b; docs/theory.md, section 5).

    Vectorised back-propagation, without the explicit Jacobian: with
    ``g = 2 loss_scale r`` and ``G = a (g v^T) * sigma'(Z)`` (m x n),
    ``gU = s G^T X``, ``gb = G^T 1``, ``gv = a sigma(Z)^T g``, ``gc = g^T 1``.

    Parameters
    ----------
    net, X, y, loss_scale
        As in :func:`loss`.

    Returns
    -------
    loss : float
    gradient : ((gU, gb), (gv, gc))
        In the layout of ``net.layers``: ``gU`` (n, d), ``gb`` and ``gv`` (n,), ``gc`` a float.
    """
    dtype = X.dtype
    U, b, v, c, activation, parametrization = _unpacked(net)
    U, b, v, c, y = _cast(dtype, U, b, v, c, y)
    f, gU, gb, gv, gc = _loss_grad(X, y, U, b, v, c, activation, parametrization, float(loss_scale))
    return float(f), _as_layers(gU, gb, gv, float(gc))


def train(net: NetworkLike, initial: Optional[NetworkLike], X: FloatArray, y: npt.ArrayLike, options: OptionsLike,
          X_test: Optional[FloatArray] = None) -> Dict[str, Any]:
    """Run gradient descent ``w_{k+1} = w_k - lr grad f(w_k)`` on the square loss (docs/theory.md, sections 5 and 6).

    Parameters
    ----------
    net : Network or an object with its attributes
        The starting point (never modified), as in :func:`forward`.
    initial : Network or an object with its attributes, or None
        Reference point ``w0`` of the distances (its ``layers``); None: the starting point.
    X, y
        As in :func:`loss`.
    options : TrainingOptions or an object with its attributes
        ``lr``, the step size ``h``; ``steps``, the number of GD steps (0 is allowed);
        ``record_every``, record at ``k = 0, record_every, 2 record_every, ...`` and at
        ``k = steps``; ``loss_scale``, as in :func:`loss`; ``divergence_factor``, stop at the
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
        (len(steps), m_test) outputs at ``X_test`` there, or None.
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
