"""The one-hidden-layer network of docs/theory.md, sections 5 and 6."""

from __future__ import annotations

from typing import Any, Literal, Optional, Union, overload

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from widenet import _archive, _memory
from widenet import _validation as check
from widenet._native import _core
from widenet._types import (
    Activation,
    Backend,
    Distribution,
    FloatArray,
    Kind,
    Loss,
    OnDivergence,
    Parametrization,
    Seed,
)
from widenet.errors import divergence_error
from widenet.kernels import limit_kernel
from widenet.network._backends import BACKENDS
from widenet.network._common import FullyConnected
from widenet.network._loss import squared_loss
from widenet.network._shallow_config import ShallowConfiguration
from widenet.network._shallow_memory import ShallowMemory
from widenet.network._training_call import check_training
from widenet.network.parameters import Parameters, initialize
from widenet.network.results import TrainingResult, overflowed


class ShallowNetwork(ShallowConfiguration, ShallowMemory, FullyConnected):
    """A shallow network ``Phi(x, w) = v.sigma(U x + b) + c`` (LeCun) or its NTK parametrization.

    ``Phi(x, w) = v . sigma(U x + b) + c`` in LeCun parametrization (11.5.1),
    ``n^{-1/2} v . sigma(d^{-1/2} U x + b) + c`` in NTK parametrization (11.6.1). With
    ``outputs = k > 1`` the readout ``v`` is a ``k x n`` matrix and ``c`` a vector of ``k``:
    ``Phi(x, w) = V sigma(U x + b) + c`` in ``R^k``, every output sharing the hidden layer
    (docs/theory.md, section 5, "Several outputs").

    Parameters
    ----------
    input_dim : int
        ``d``, the number of input features.
    width : int
        ``n``, the number of hidden units.
    activation : str
        One of ``relu, tanh, erf, arctan, sigmoid, softplus, gelu, sin, identity``.
    parametrization : {"lecun", "ntk"}
    weight_var, bias_var, output_var, output_bias_var : float
        The initial variances ``s_w^2, s_b^2, s_v^2, s_c^2`` (11.5.3, 11.6.2).
    distribution : {"normal", "uniform", "rademacher"}
        The zero-mean, unit-variance law ``D`` of the initial parameters.
    seed : None, int or numpy.random.Generator
    dtype : numpy.float64 or numpy.float32
        The dtype of the parameters and of every computation.
    outputs : int
        ``k``, the number of outputs (default 1). With ``k > 1`` outputs are ``(m, k)``,
        targets must be ``(m, k)``, the loss sums over points and outputs
        (``loss="mean"`` divides by the number of points ``m``, not ``m k``), the Jacobian is
        ``(m, k, P)``, and :meth:`ntk` is the kernel traced over the outputs (their mean)
        unless ``trace_outputs=False``. With ``k = 1`` the network is exactly the one-output
        network: ``v`` of shape (n,), ``c`` a float, the same numbers and files.

    Attributes
    ----------
    params : Parameters
        The current parameters ``w``: fields ``U, b, v, c`` can be read (read-only arrays) and
        set (checked: NaN and Inf are refused by name).
    initial_params : Parameters
        ``w0``, the parameters at initialization; distances are measured from it.
    num_params : int
        ``P = n (d + 1) + k (n + 1)``: ``n (d + 2) + 1`` for one output.
    config : dict
        The configuration (the constructor's arguments but ``seed``), as saved by :meth:`save`.

    Notes
    -----
    Every method takes ``backend="cpp"`` (the compiled kernels, default) or ``"numpy"``
    (the reference implementation); both give the same numbers to rounding. The initial
    parameters depend on the seed alone, never on the backend. :meth:`save` and
    :meth:`load` keep a network in a ``.npz`` file (:mod:`widenet._archive`).

    A network may be used from several threads at once: runs of :meth:`train` (and
    :meth:`reset`, setting ``params``) take turns, each starting where the previous one
    ended, and every other method sees the parameters before or after a run, never during.

    Examples
    --------
    >>> import numpy as np, widenet
    >>> net = widenet.ShallowNetwork(input_dim=3, width=1024, activation="relu", parametrization="ntk", seed=0)
    >>> X = np.random.default_rng(1).standard_normal((20, 3))
    >>> net.forward(X).shape, net.jacobian(X).shape, net.ntk(X).shape
    ((20,), (20, 5121), (20, 20))
    """

    kernels = BACKENDS

    def __init__(self, input_dim: int, width: int, activation: Activation = "relu",
                 parametrization: Parametrization = "lecun", weight_var: float = 1.0, bias_var: float = 0.0,
                 output_var: float = 1.0, output_bias_var: float = 0.0, distribution: Distribution = "normal",
                 seed: Seed = None, dtype: DTypeLike = np.float64, outputs: int = 1) -> None:
        self._configure(input_dim, width, activation, parametrization, weight_var, bias_var, output_var,
                        output_bias_var, distribution, dtype, outputs)
        _memory.check_initialization("ShallowNetwork", self.input_dim, self.width, self.dtype, outputs=self.outputs)
        rng = check.generator(seed)
        self._params = initialize(self.input_dim, self.width, self.parametrization, self.distribution,
                                  self.weight_var, self.bias_var, self.output_var, self.output_bias_var, rng,
                                  self.dtype, self.outputs)
        self._initial = self._params.copy()

    # -- persistence ---------------------------------------------------------------------
    archive_format = _archive.NETWORK_FORMAT

    def archive_contents(self) -> tuple[str, _archive.Config, _archive.Entries]:
        """Return ``(format, config, arrays)`` of the file :meth:`save` writes."""
        return _archive.model_contents(self.config, self._params.arrays(), self._initial.arrays())

    @classmethod
    def from_stored(cls, stored: _archive.Stored) -> ShallowNetwork:
        """Return the network of a checked file (:func:`widenet._archive.read`)."""
        dtype = np.dtype(stored.network["dtype"])
        return cls.from_parameters(stored.network, Parameters(*stored.parameters(), dtype=dtype),
                                   Parameters(*stored.parameters(initial=True), dtype=dtype))

    # -- parameters -----------------------------------------------------------------
    @property
    def state(self) -> _core.Network:
        """The network object the kernels of both backends take (``widenet._core.Network``).

        The architecture and the current parameters, held by reference; replaced with the
        parameters (a run of :meth:`train`, setting :attr:`params`), never changed in place.
        """
        return self._params.network(self.activation, self.parametrization)

    @property
    def initial_state(self) -> _core.Network:
        """:attr:`state` at the initial parameters ``w0``."""
        return self._initial.network(self.activation, self.parametrization)

    def checked_params(self, value: object, name: str) -> Parameters:
        """Return a copy of ``value``, parameters of this network's shape, in its dtype.

        TypeError or ValueError naming ``name`` when they are not :class:`Parameters` of its
        shape.
        """
        if not isinstance(value, Parameters):
            raise TypeError(f"{name}: expected widenet.Parameters, got {type(value).__name__}")
        if (value.width, value.input_dim) != (self.width, self.input_dim):
            raise ValueError(f"{name}: expected width {self.width} and input_dim {self.input_dim}, "
                             f"got {value.width} and {value.input_dim}")
        if value.outputs != self.outputs:
            raise ValueError(f"{name}: expected parameters of {self.outputs} output(s) (v of shape "
                             f"{(self.width,) if self.outputs == 1 else (self.outputs, self.width)}), got "
                             f"{value.outputs}")
        return Parameters(*value.arrays(), dtype=self.dtype)

    def parameters_of(self, layers: tuple[tuple[Any, Any], tuple[Any, Any]]) -> Parameters:
        """Return the layers ``((U, b), (v, c))`` a kernel gave as :class:`Parameters` of this network."""
        (U, b), (v, c) = layers
        return Parameters(U, b, v, c, self.dtype)

    def parameters_from_vector(self, w: ArrayLike) -> Parameters:
        """Return the parameter vector ``w`` (:meth:`Parameters.to_vector`) as :class:`Parameters`."""
        return Parameters.from_vector(w, self.width, self.input_dim, self.dtype, self.outputs)

    # -- outputs and derivatives ---------------------------------------------------------
    def forward(self, X: ArrayLike, backend: Backend = "cpp") -> FloatArray:
        """Return ``Phi(x_i, w)`` for the rows of ``X`` (m x d), shape (m,), or (m, k) for ``k`` outputs."""
        X, backend = self.check_inputs(X), check.backend(backend)
        self._check_pass("ShallowNetwork.forward", "forward", X.shape[0], backend)
        return BACKENDS[backend].forward(self.state, X)

    __call__ = forward

    def jacobian(self, X: ArrayLike, backend: Backend = "cpp") -> FloatArray:
        """Return the m x P Jacobian ``dPhi(X, w)/dw`` (11.5.2, 11.6.3); (m, k, P) for ``k`` outputs.

        Columns are ordered U (row-major), b, v (row-major: output by output), c. For large
        m, :meth:`jacobian_chunks` streams it by rows.

        A Jacobian above widenet's memory limit (:func:`widenet.set_memory_limit`) raises
        :class:`widenet.MemoryLimitError` (a ValueError) before anything is allocated.
        """
        X, backend = self.check_inputs(X), check.backend(backend)
        self._check_jacobian("ShallowNetwork.jacobian", X.shape[0], backend)
        return BACKENDS[backend].jacobian(self.state, X)

    def ntk(self, X1: ArrayLike, X2: Optional[ArrayLike] = None, backend: Backend = "cpp",
            width_chunk: Optional[int] = None, trace_outputs: bool = True) -> FloatArray:
        """Return the empirical tangent kernel Gram ``K_n(X1, X2)`` (11.3.4) at the current parameters.

        Computed by the structured formula of the proof of Theorem 11.16 (two matrix
        products; the Jacobian is never formed). ``X2=None`` (or ``X2 is X1``) computes the
        symmetric ``K_n(X1, X1)``, using symmetry. ``width_chunk`` bounds the hidden units
        processed at once (memory ``O(m^2 + m * width_chunk)``); default: automatic.

        With ``k > 1`` outputs the kernel has a block ``K_ii'(x, z) = grad_w Phi_i(x) .
        grad_w Phi_i'(z)`` for every pair of outputs. By default the result is the kernel
        traced over the outputs, ``(1/k) sum_i K_ii``, shape (m1, m2): the mean, as
        neural-tangents' empirical kernels divide their trace over the output axis by its
        size (``trace_axes=(-1,)``, their default). It is the one-output kernel of the
        readout ``sqrt(sum_i v_ij^2 / k)`` and costs what one output's does.
        ``trace_outputs=False`` returns every block, ``K[x, i, z, i'] = K_ii'(x, z)``, shape
        (m1, k, m2, k) (neural-tangents' ``trace_axes=()`` has the axes in the order
        (m1, m2, k, k)); for one output, the kernel as shape (m1, 1, m2, 1). At infinite width
        the off-diagonal blocks vanish and each diagonal block is the limit kernel of one
        output (docs/theory.md, section 5).

        Accuracy at every scale of the inputs: wherever the Jacobian is finite, each entry is
        within ``c (n + d) eps sqrt(K(x, x) K(z, z))`` of ``J J^T`` (``eps`` of the dtype,
        ``c`` a small constant); an entry whose value is beyond the dtype's range is inf of
        its sign; none is NaN. (Large inputs are taken out of the factors by powers of two, so
        that a derivative vanishing at a huge pre-activation gives 0, not ``inf * 0``; entries
        that overflow an intermediate are recomputed in long double.) For ``sin``,
        pre-activations beyond about ``1/eps`` leave ``sin`` and ``cos`` undetermined by the
        rounding of ``z`` itself.
        """
        symmetric = X2 is None or X2 is X1
        points1 = self.check_inputs(X1, "X1")
        points2 = None if symmetric else self.check_inputs(X2, "X2")
        chunk = 0 if width_chunk is None else check.integer(width_chunk, "width_chunk", 1)
        backend = check.backend(backend)
        blocks = not check.boolean(trace_outputs, "trace_outputs") and self.outputs > 1
        _memory.check_ntk("ShallowNetwork.ntk", points1.shape[0], None if points2 is None else points2.shape[0],
                          self.width, self.dtype, backend, chunk, activation=self.activation,
                          blocks_of=self.outputs if blocks else 0)
        if blocks:
            return BACKENDS[backend].ntk_blocks(self.state, points1, points2, chunk)
        gram = BACKENDS[backend].ntk_gram(self.state, points1, points2, chunk)
        if trace_outputs:
            return gram
        return gram.reshape(points1.shape[0], 1, gram.shape[1], 1)  # one output: its kernel is the one block

    def ntk_diag(self, X: ArrayLike, backend: Backend = "cpp") -> FloatArray:
        """Return the diagonal ``K_n(x_i, x_i)`` of the tangent Gram, without the m x m matrix.

        Its accuracy is that of :meth:`ntk`; for ``k`` outputs, the diagonal of the kernel
        traced over the outputs.
        """
        X, backend = self.check_inputs(X), check.backend(backend)
        _memory.check_ntk("ShallowNetwork.ntk_diag", X.shape[0], None, self.width, self.dtype, backend,
                          diagonal=True, activation=self.activation)
        return BACKENDS[backend].ntk_diag(self.state, X)

    @overload
    def limit_kernel(self, X1: ArrayLike, X2: Optional[ArrayLike] = None, kind: Kind = "ntk", *,
                     return_std: Literal[False] = False, **options: Any) -> NDArray[np.float64]: ...

    @overload
    def limit_kernel(self, X1: ArrayLike, X2: Optional[ArrayLike] = None, kind: Kind = "ntk", *,
                     return_std: Literal[True],
                     **options: Any) -> tuple[NDArray[np.float64], NDArray[np.float64]]: ...

    @overload
    def limit_kernel(self, X1: ArrayLike, X2: Optional[ArrayLike] = None, kind: Kind = "ntk", *,
                     return_std: bool = False,
                     **options: Any) -> Union[NDArray[np.float64], tuple[NDArray[np.float64], NDArray[np.float64]]]: ...

    def limit_kernel(self, X1: ArrayLike, X2: Optional[ArrayLike] = None, kind: Kind = "ntk", *,
                     return_std: bool = False,
                     **options: Any) -> Union[NDArray[np.float64], tuple[NDArray[np.float64], NDArray[np.float64]]]:
        """Return the infinite-width kernel of this network's configuration.

        With ``k`` outputs it is each output's kernel: at infinite width the outputs are
        independent, each with this kernel (docs/theory.md, section 5, "Several outputs").
        The configuration is the activation, parametrization, initial variances and law. The
        kernel is ``K_LC`` (LeCun) or ``K_NTK`` (NTK parametrization) for ``kind="ntk"``, the
        NNGP covariance for ``kind="nngp"``. See :func:`widenet.limit_kernel` for
        ``return_std`` and ``options`` (method, order, samples, seed, ...); a non-normal law
        is only reached by ``method="monte_carlo"``.
        """
        if self.distribution != "normal":
            options.setdefault("method", "monte_carlo")
        options.setdefault("distribution", self.distribution)
        return limit_kernel(X1, X2, activation=self.activation, parametrization=self.parametrization, kind=kind,
                            weight_var=self.weight_var, bias_var=self.bias_var, output_var=self.output_var,
                            output_bias_var=self.output_bias_var, return_std=return_std, **options)

    # -- loss and training ---------------------------------------------------------------
    def loss(self, X: ArrayLike, y: ArrayLike, loss: Loss = "sum", backend: Backend = "cpp") -> float:
        """Return the loss ``f(w) = sum_i (Phi(x_i, w) - y_i)^2`` (11.0.1b), or its mean or half.

        ``loss="mean"`` gives the mean over the ``m`` points, ``"half_sum"`` the half. With
        ``k`` outputs, ``f(w) = sum_{i, j} (Phi_j(x_i, w) - y_ij)^2`` over points and
        outputs, ``y`` of shape (m, k); ``"mean"`` still divides by ``m`` (the mean over
        points of the squared error of the output vector, as :mod:`widenet.predict` takes
        it; neural-tangents' mean squared error divides by ``m k`` and halves).
        """
        X, y = self.check_data(X, y)
        scale = check.loss_scale(loss, X.shape[0])
        backend = check.backend(backend)
        self._check_pass("ShallowNetwork.loss", "forward", X.shape[0], backend)
        return squared_loss(BACKENDS[backend].forward(self.state, X), y, scale)

    def loss_grad(self, X: ArrayLike, y: ArrayLike, loss: Loss = "sum",
                  backend: Backend = "cpp") -> tuple[float, Parameters]:
        """Return ``(f(w), grad f(w))``, the gradient ``2 J^T r`` (scaled as ``loss`` says) as :class:`Parameters`.

        For ``k`` outputs, with the residuals ``R`` (m, k): the readout's gradient is
        ``2 s a A^T R`` (k x n rows), the hidden layer's comes through ``(R V) * sigma'(Z)``
        (docs/theory.md, section 5, "Several outputs").
        """
        X, y = self.check_data(X, y)
        scale = check.loss_scale(loss, X.shape[0])
        backend = check.backend(backend)
        self._check_pass("ShallowNetwork.loss_grad", "loss_grad", X.shape[0], backend)
        value, ((gU, gb), (gv, gc)) = BACKENDS[backend].loss_grad(self.state, X, y, scale)
        if not all(np.isfinite(block).all() for block in (value, gU, gb, gv, gc)):
            largest_w = np.max(np.abs(self._params.to_vector()))
            largest_x, largest_y = np.max(np.abs(X), initial=0), np.max(np.abs(y), initial=0)
            raise ValueError(f"X: the loss or its gradient overflows {self.dtype} at these inputs and parameters "
                             f"(largest |x| = {largest_x:.4g}, |y| = {largest_y:.4g}, "
                             f"|w| = {largest_w:.4g}); expected data and parameters of moderate magnitude (rescale X "
                             f"and y)")
        return float(value), Parameters(gU, gb, gv, gc, self.dtype)

    def train(self, X: ArrayLike, y: ArrayLike, lr: float, steps: int, record_every: int = 1,
              X_test: Optional[ArrayLike] = None, loss: Loss = "sum", backend: Backend = "cpp",
              on_divergence: OnDivergence = "raise") -> TrainingResult:
        """Run gradient descent ``w_{k+1} = w_k - lr grad f(w_k)`` for ``steps`` steps.

        The network is left at the trained parameters. Every ``record_every`` steps and at
        the last step the result records ``f(w_k)``, ``|w_k - w0|`` (``w0`` =
        :attr:`initial_params`) and, when ``X_test`` is given, ``Phi(X_test, w_k)`` (records
        of shape (records, m_test), or (records, m_test, k) for ``k`` outputs, whose targets
        ``y`` are (m, k)).
        ``loss`` scales the objective: ``"sum"`` is the chapter's ``f``, ``"mean"`` is
        ``f/m`` and ``"half_sum"`` is ``f/2`` (docs/theory.md, section 5, on Figure 11.3: with ``"sum"`` the
        step ``h = 1/n`` of that figure diverges).

        A run whose loss stops being finite, or grows by the divergence factor (see
        :data:`widenet.DIVERGENCE_FACTOR`) over its reference (``f(w_0)``, or the zero
        predictor's loss if larger), stops at that step.
        ``on_divergence="raise"`` (default) then raises :class:`widenet.DivergenceError`
        (step, loss, and the admissible step ``1/(s lambda_max)`` of the tangent Gram at the
        start) and leaves the network unchanged; ``"return"`` returns the records up to that
        step (``result.diverged_at``) and leaves the network there, unless its parameters
        overflowed to Inf or NaN (``result.parameters_overflowed``): then it stays where the
        run started. Ctrl-C stops a run within about 0.1 s with KeyboardInterrupt, the
        network unchanged.

        The step is taken in the network's dtype, so ``lr`` must be a normal number there
        (ValueError otherwise: 1e-46 is 0 in float32, and training would do nothing).
        """
        call = check_training(self, X, y, lr, steps, record_every, X_test, loss, on_divergence, backend)
        _memory.require("ShallowNetwork.train",
                        self.training_blocks(call.points, call.test_points, steps, record_every, call.backend),
                        _memory.TRAINING_ALTERNATIVE)
        with self._lock:  # one run at a time, each from where the previous one ended
            records = BACKENDS[call.backend].train(self.state, self.initial_state, call.points, call.targets,
                                                   call.options, call.test_points)
            (U, b), (v, c) = records["layers"]
            trained = U, b, v, c
            result = TrainingResult.from_records(records, loss, call.lr, overflowed(*trained))
            if result.diverged_at is not None and call.on_divergence == "raise":
                raise divergence_error(result, lambda _: self.gram_product(call.points, call.backend),
                                       call.targets.size, call.loss_scale)
            if not result.parameters_overflowed:  # Inf or NaN parameters are no network: stay at the start
                self._params = Parameters(*trained, self.dtype)
        return result

    def __repr__(self) -> str:
        outputs = f", outputs={self.outputs}" if self.outputs > 1 else ""
        return (f"ShallowNetwork(input_dim={self.input_dim}, width={self.width}, activation={self.activation!r}, "
                f"parametrization={self.parametrization!r}{outputs}, dtype={self.dtype.name})")
