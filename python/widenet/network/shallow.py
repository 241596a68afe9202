"""The one-hidden-layer network of docs/theory.md, sections 5 and 6."""

from __future__ import annotations

import os
from typing import Iterator, Optional, Union

import numpy as np

from widenet import _archive, _memory
from widenet import _validation as check
from widenet._locking import TrainingLock
from widenet._native import _core
from widenet.errors import ON_DIVERGENCE, divergence_error
from widenet.kernels import limit_kernel
from widenet.network._backends import BACKENDS
from widenet.network.parameters import DISTRIBUTIONS, PARAMETRIZATIONS, Parameters, initialize
from widenet.network.results import TrainingResult, overflowed


class ShallowNetwork(TrainingLock):
    """``Phi(x, w) = v . sigma(U x + b) + c`` (LeCun, 11.5.1) or
    ``n^{-1/2} v . sigma(d^{-1/2} U x + b) + c`` (NTK parametrization, 11.6.1).

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

    Attributes
    ----------
    params : Parameters
        The current parameters ``w``: fields ``U, b, v, c`` can be read (read-only arrays) and
        set (checked: NaN and Inf are refused by name).
    initial_params : Parameters
        ``w0``, the parameters at initialization; distances are measured from it.
    num_params : int
        ``P = n (d + 2) + 1``.
    config : dict
        The configuration (the constructor's arguments but ``seed``), as saved by :meth:`save`.

    Every method takes ``backend="cpp"`` (the compiled kernels, default) or ``"numpy"``
    (the reference implementation); both give the same numbers to rounding. The initial
    parameters depend on the seed alone, never on the backend. :meth:`save` and
    :meth:`load` keep a network in a ``.npz`` file (:mod:`widenet._archive`).

    A network may be used from several threads at once: runs of :meth:`train` (and
    :meth:`reset`, setting ``params``) take turns, each starting where the previous one
    ended, and every other method sees the parameters before or after a run, never during.
    """

    _guards_memory = True  # its methods check their own memory (see widenet.kernels.TangentKernel)

    def __init__(self, input_dim: int, width: int, activation: str = "relu", parametrization: str = "lecun",
                 weight_var: float = 1.0, bias_var: float = 0.0, output_var: float = 1.0,
                 output_bias_var: float = 0.0, distribution: str = "normal", seed=None, dtype=np.float64):
        self._configure(input_dim, width, activation, parametrization, weight_var, bias_var, output_var,
                        output_bias_var, distribution, dtype)
        _memory.check_initialization("ShallowNetwork", self.input_dim, self.width, self.dtype)
        rng = check.generator(seed)
        self._params = initialize(self.input_dim, self.width, self.parametrization, self.distribution,
                                  self.weight_var, self.bias_var, self.output_var, self.output_bias_var, rng,
                                  self.dtype)
        self._initial = self._params.copy()

    def _configure(self, input_dim, width, activation, parametrization, weight_var, bias_var, output_var,
                   output_bias_var, distribution, dtype) -> None:
        """Checks and sets the configuration (everything but the parameters)."""
        self.input_dim = check.integer(input_dim, "input_dim", 1)
        self.width = check.integer(width, "width", 1)
        self.activation = check.choice(activation, "activation", _core.ACTIVATIONS)
        self.parametrization = check.choice(parametrization, "parametrization", PARAMETRIZATIONS)
        self.weight_var = check.non_negative_real(weight_var, "weight_var")
        self.bias_var = check.non_negative_real(bias_var, "bias_var")
        self.output_var = check.non_negative_real(output_var, "output_var")
        self.output_bias_var = check.non_negative_real(output_bias_var, "output_bias_var")
        self.distribution = check.choice(distribution, "distribution", DISTRIBUTIONS)
        self.dtype = check.float_dtype(dtype)

    @property
    def config(self) -> dict:
        """The configuration: the constructor's keyword arguments but ``seed``, with
        ``dtype`` as its name (``"float64"`` or ``"float32"``). ``ShallowNetwork(**config)``
        makes a network of the same configuration (with new parameters)."""
        return {"input_dim": self.input_dim, "width": self.width, "activation": self.activation,
                "parametrization": self.parametrization, "weight_var": self.weight_var, "bias_var": self.bias_var,
                "output_var": self.output_var, "output_bias_var": self.output_bias_var,
                "distribution": self.distribution, "dtype": self.dtype.name}

    @classmethod
    def from_parameters(cls, config: dict, params: Parameters, initial_params: Parameters) -> "ShallowNetwork":
        """A network of ``config`` (see :attr:`config`) at ``params`` with initial
        parameters ``initial_params``, without drawing an initialization."""
        network = cls.__new__(cls)
        network._configure(**config)
        network._params = network._checked_params(params, "params")
        network._initial = network._checked_params(initial_params, "initial_params")
        return network

    @classmethod
    def checked_config(cls, config: dict) -> dict:
        """``config`` checked as the constructor checks it, in the form :attr:`config` gives."""
        probe = cls.__new__(cls)
        probe._configure(**config)
        return probe.config

    # -- persistence ---------------------------------------------------------------------
    def save(self, path: Union[str, os.PathLike]) -> str:
        """Writes the configuration, the current and the initial parameters to ``path``,
        one ``.npz`` file (written as a whole or not at all; the name is used as given).

        Returns the path written. :meth:`load` (or :func:`widenet.load`) reads it back
        bit for bit; the format is described in :mod:`widenet._archive`.
        """
        kind, config, arrays = _archive.model_contents(self.config, self._params.arrays(), self._initial.arrays())
        return _archive.save(path, kind, config, arrays, type(self).checked_config)

    @classmethod
    def load(cls, path: Union[str, os.PathLike]) -> "ShallowNetwork":
        """The network saved by :meth:`save` in ``path``.

        The whole file is checked before anything is built: a file that is not a widenet
        network file, truncated or corrupt, with missing or extra entries, wrong shapes or
        dtypes, NaN or Inf, or an unknown format version raises ValueError naming the file
        and the problem.
        """
        return cls.from_stored(_archive.read(path, cls.checked_config, _archive.NETWORK_FORMAT))

    @classmethod
    def from_stored(cls, stored: _archive.Stored) -> "ShallowNetwork":
        """The network of a checked file (:func:`widenet._archive.read`)."""
        dtype = np.dtype(stored.network["dtype"])
        return cls.from_parameters(stored.network, Parameters(*stored.parameters(), dtype=dtype),
                                   Parameters(*stored.parameters(initial=True), dtype=dtype))

    # -- parameters -----------------------------------------------------------------
    @property
    def params(self) -> Parameters:
        return self._params

    @params.setter
    def params(self, value: Parameters):
        checked = self._checked_params(value, "params")
        with self._lock:
            self._params = checked

    @property
    def initial_params(self) -> Parameters:
        return self._initial

    @initial_params.setter
    def initial_params(self, value: Parameters):
        checked = self._checked_params(value, "initial_params")
        with self._lock:
            self._initial = checked

    @property
    def num_params(self) -> int:
        return self._params.size

    def __deepcopy__(self, memo: dict) -> "ShallowNetwork":
        return self.copy()  # the parameters are all a copy needs (the lock is per object)

    def copy(self) -> "ShallowNetwork":
        """An independent network of the same configuration, parameters and initial
        parameters: training one does not move the other."""
        return type(self).from_parameters(self.config, self._params, self._initial)

    def reset(self) -> "ShallowNetwork":
        """Returns the network to its initial parameters."""
        with self._lock:
            self._params = self._initial.copy()
        return self

    def _checked_params(self, value, name: str) -> Parameters:
        if not isinstance(value, Parameters):
            raise TypeError(f"{name}: expected widenet.Parameters, got {type(value).__name__}")
        if (value.width, value.input_dim) != (self.width, self.input_dim):
            raise ValueError(f"{name}: expected width {self.width} and input_dim {self.input_dim}, "
                             f"got {value.width} and {value.input_dim}")
        return Parameters(*value.arrays(), dtype=self.dtype)

    def _inputs(self, X, name: str = "X") -> np.ndarray:
        return check.as_inputs(X, name, self.dtype, self.input_dim)

    def _kernel_args(self) -> tuple:
        return (*self._params.arrays(), self.activation, self.parametrization)

    def _check_pass(self, where: str, kind: str, m: int, backend: str) -> None:
        """The memory guard of a pass of ``kind`` over ``m`` points (see :func:`widenet._memory.pass_blocks`)."""
        _memory.check_hidden(where, m, self.width, self.dtype, backend=backend, activation=self.activation, kind=kind,
                             num_params=self.num_params)

    # -- outputs and derivatives ---------------------------------------------------------
    def forward(self, X, backend: str = "cpp") -> np.ndarray:
        """``Phi(x_i, w)`` for the rows of ``X`` (m x d); returns shape (m,)."""
        X, backend = self._inputs(X), check.backend(backend)
        self._check_pass("ShallowNetwork.forward", "forward", X.shape[0], backend)
        return BACKENDS[backend].forward(X, *self._kernel_args())

    __call__ = forward

    def jacobian(self, X, backend: str = "cpp") -> np.ndarray:
        """The m x P Jacobian ``dPhi(X, w)/dw`` (11.5.2, 11.6.3), columns ordered U
        (row-major), b, v, c. For large m, :meth:`jacobian_chunks` streams it by rows.

        A Jacobian above widenet's memory limit (:func:`widenet.set_memory_limit`) raises
        :class:`widenet.MemoryLimitError` (a ValueError) before anything is allocated."""
        X, backend = self._inputs(X), check.backend(backend)
        _memory.check_jacobian("ShallowNetwork.jacobian", X.shape[0], self.width, self.num_params, self.dtype,
                               backend, self.activation)
        return BACKENDS[backend].jacobian(X, *self._kernel_args())

    def jacobian_chunks(self, X, rows: int, backend: str = "cpp") -> Iterator[tuple]:
        """Yields ``(start, J[start:start + rows])`` so the Jacobian of a large batch never
        has to be held at once. Arguments are checked when called, not when iterated."""
        X = self._inputs(X)
        rows = check.integer(rows, "rows", 1)
        backend = check.backend(backend)
        _memory.check_jacobian("ShallowNetwork.jacobian_chunks", min(rows, X.shape[0]), self.width,
                               self.num_params, self.dtype, backend, self.activation)
        implementation = BACKENDS[backend]
        arguments = self._kernel_args()
        return ((start, implementation.jacobian(X[start:start + rows], *arguments))
                for start in range(0, X.shape[0], rows))

    def ntk(self, X1, X2=None, backend: str = "cpp", width_chunk: Optional[int] = None) -> np.ndarray:
        """The empirical tangent kernel Gram ``K_n(X1, X2)`` (11.3.4) at the current parameters.

        Computed by the structured formula of the proof of Theorem 11.16 (two matrix
        products; the Jacobian is never formed). ``X2=None`` (or ``X2 is X1``) computes the
        symmetric ``K_n(X1, X1)``, using symmetry. ``width_chunk`` bounds the hidden units
        processed at once (memory ``O(m^2 + m * width_chunk)``); default: automatic.

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
        X1 = self._inputs(X1, "X1")
        X2 = None if symmetric else self._inputs(X2, "X2")
        chunk = 0 if width_chunk is None else check.integer(width_chunk, "width_chunk", 1)
        backend = check.backend(backend)
        _memory.check_ntk("ShallowNetwork.ntk", X1.shape[0], None if X2 is None else X2.shape[0], self.width,
                          self.dtype, backend, chunk, activation=self.activation)
        return BACKENDS[backend].ntk_gram(X1, X2, *self._kernel_args(), width_chunk=chunk)

    def ntk_diag(self, X, backend: str = "cpp") -> np.ndarray:
        """The diagonal ``K_n(x_i, x_i)`` of the tangent Gram, without the m x m matrix; its
        accuracy is that of :meth:`ntk`."""
        X, backend = self._inputs(X), check.backend(backend)
        _memory.check_ntk("ShallowNetwork.ntk_diag", X.shape[0], None, self.width, self.dtype, backend,
                          diagonal=True, activation=self.activation)
        return BACKENDS[backend].ntk_diag(X, *self._kernel_args())

    def limit_kernel(self, X1, X2=None, kind: str = "ntk", **options) -> np.ndarray:
        """The infinite-width kernel of this network's configuration (activation,
        parametrization, initial variances and law): ``K_LC`` (LeCun) or ``K_NTK`` (NTK
        parametrization) for ``kind="ntk"``, the NNGP covariance for ``kind="nngp"``. See
        :func:`widenet.limit_kernel` for ``options`` (method, order, samples, seed, ...);
        a non-normal law is only reached by ``method="monte_carlo"``."""
        if self.distribution != "normal":
            options.setdefault("method", "monte_carlo")
        options.setdefault("distribution", self.distribution)
        return limit_kernel(X1, X2, activation=self.activation, parametrization=self.parametrization, kind=kind,
                            weight_var=self.weight_var, bias_var=self.bias_var, output_var=self.output_var,
                            output_bias_var=self.output_bias_var, **options)

    # -- loss and training ---------------------------------------------------------------
    def _data(self, X, y) -> tuple:
        X = self._inputs(X)
        return X, check.as_targets(y, "y", self.dtype, X.shape[0])

    def loss(self, X, y, loss: str = "sum", backend: str = "cpp") -> float:
        """``f(w) = sum_i (Phi(x_i, w) - y_i)^2`` (11.0.1b), or its mean (``"mean"``) or
        half (``"half_sum"``)."""
        X, y = self._data(X, y)
        scale = check.loss_scale(loss, X.shape[0])
        backend = check.backend(backend)
        self._check_pass("ShallowNetwork.loss", "forward", X.shape[0], backend)
        residual = BACKENDS[backend].forward(X, *self._kernel_args()) - y
        return float(scale * np.dot(residual, residual))

    def loss_grad(self, X, y, loss: str = "sum", backend: str = "cpp") -> tuple:
        """``(f(w), grad f(w))`` with the gradient ``2 J^T r`` (scaled as ``loss`` says)
        returned as :class:`Parameters`."""
        X, y = self._data(X, y)
        scale = check.loss_scale(loss, X.shape[0])
        backend = check.backend(backend)
        self._check_pass("ShallowNetwork.loss_grad", "loss_grad", X.shape[0], backend)
        value, gU, gb, gv, gc = BACKENDS[backend].loss_grad(X, y, *self._kernel_args(), scale)
        if not all(np.isfinite(block).all() for block in (value, gU, gb, gv, gc)):
            largest_w = np.max(np.abs(self._params.to_vector()))
            raise ValueError(f"X: the loss or its gradient overflows {self.dtype} at these inputs and parameters "
                             f"(largest |x| = {np.max(np.abs(X), initial=0):.4g}, |y| = {np.max(np.abs(y), initial=0):.4g}, "
                             f"|w| = {largest_w:.4g}); expected data and parameters of moderate magnitude (rescale X "
                             f"and y)")
        return float(value), Parameters(gU, gb, gv, gc, self.dtype)

    def train(self, X, y, lr: float, steps: int, record_every: int = 1, X_test=None, loss: str = "sum",
              backend: str = "cpp", on_divergence: str = "raise") -> TrainingResult:
        """Gradient descent ``w_{k+1} = w_k - lr grad f(w_k)`` for ``steps`` steps.

        The network is left at the trained parameters. Every ``record_every`` steps and at
        the last step the result records ``f(w_k)``, ``|w_k - w0|`` (``w0`` =
        :attr:`initial_params`) and, when ``X_test`` is given, ``Phi(X_test, w_k)``.
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
        X, y = self._data(X, y)
        lr = check.normal_in(check.positive_real(lr, "lr"), "lr", self.dtype)  # the step is taken in the dtype
        steps = check.integer(steps, "steps", 0)
        record_every = check.integer(record_every, "record_every", 1)
        X_test = None if X_test is None else self._inputs(X_test, "X_test")
        scale = check.loss_scale(loss, X.shape[0])
        on_divergence = check.choice(on_divergence, "on_divergence", ON_DIVERGENCE)
        backend = check.backend(backend)
        _memory.require("ShallowNetwork.train", self._training_blocks(X, X_test, steps, record_every, backend),
                        _memory.TRAINING_ALTERNATIVE)
        with self._lock:  # one run at a time, each from where the previous one ended
            records = BACKENDS[backend].train(
                X, y, self._params.arrays(), self._initial.arrays(), self.activation, self.parametrization, lr,
                steps, record_every, X_test, scale)
            trained = records["U"], records["b"], records["v"], records["c"]
            result = TrainingResult.from_records(records, loss, lr, overflowed(*trained))
            if result.diverged_at is not None and on_divergence == "raise":
                raise divergence_error(result, lambda _: self._gram_product(X, backend), X.shape[0], scale)
            if not result.parameters_overflowed:  # Inf or NaN parameters are no network: stay at the start
                self._params = Parameters(*trained, self.dtype)
        return result

    def _training_blocks(self, X: np.ndarray, X_test, steps: int, record_every: int, backend: str) -> list:
        """What :meth:`train` holds at its peak (see :func:`widenet._memory.training_blocks`)."""
        return _memory.training_blocks(X.shape[0], 0 if X_test is None else X_test.shape[0], self.width, steps,
                                       record_every, self.dtype, backend=backend, activation=self.activation,
                                       num_params=self.num_params)

    def _gram_product(self, X: np.ndarray, backend: str):
        """``r -> K_n(X, X) r = J (J^T r)`` at the current parameters, by a vector-Jacobian and
        a Jacobian-vector product (never the m x m Gram or the m x P Jacobian)."""
        implementation, arguments = BACKENDS[backend], self._kernel_args()
        params, activation = self._params.arrays(), (self.activation, self.parametrization)

        def product(r: np.ndarray) -> np.ndarray:
            direction = implementation.vjp(X, r.astype(self.dtype), *arguments)
            return implementation.jvp(X, *params, *direction, *activation)
        return product

    def __repr__(self) -> str:
        return (f"ShallowNetwork(input_dim={self.input_dim}, width={self.width}, activation={self.activation!r}, "
                f"parametrization={self.parametrization!r}, dtype={self.dtype.name})")
