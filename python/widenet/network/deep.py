"""Fully-connected networks of any depth (docs/theory.md, section 8)."""

from __future__ import annotations

from typing import Any, Optional, Sequence

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
from widenet.network._backends import DEEP_BACKENDS
from widenet.network._common import FullyConnected
from widenet.network._deep_memory import DeepMemory
from widenet.network._loss import squared_loss
from widenet.network._training_call import check_training
from widenet.network.deep_parameters import (
    DeepParameters,
    initial_variances,
    initialize_deep,
    layer_scales,
    parameter_count,
)
from widenet.network.parameters import DISTRIBUTIONS, PARAMETRIZATIONS
from widenet.network.results import TrainingResult, overflowed


class Network(DeepMemory, FullyConnected):
    """A fully-connected network ``x -> Phi(x)`` with ``L = len(widths)`` hidden layers.

    ``h^l = m_l W^l a^(l-1) + beta_l b^l``, ``a^l = sigma(h^l)``, ``Phi = m_out v . a^L +
    beta_out c`` with ``a^0 = x`` (docs/theory.md, section 8). With ``outputs = k > 1`` the
    readout ``V`` is a ``k x n_L`` matrix and ``c`` a vector of ``k``: ``Phi = m_out V a^L +
    beta_out c`` in ``R^k``, every output sharing the hidden layers (docs/theory.md, section 5,
    "Several outputs").

    Parameters
    ----------
    input_dim : int
        ``d``.
    widths : sequence of int
        The hidden widths ``(n_1, ..., n_L)``, at least one.
    activation : str
        One of ``relu, tanh, erf, arctan, sigmoid, softplus, gelu, sin, identity``.
    parametrization : {"lecun", "ntk"}
        LeCun's (plain products, the variances in the initial weights divided by the fan-in)
        or the NTK parametrization (the forward pass divides by ``sqrt(n_(l-1))``).
    weight_var, bias_var, output_var, output_bias_var : float
        ``s_w^2, s_b^2`` of the hidden layers and ``s_v^2, s_c^2`` of the readout.
    bias : bool
        Whether the layers have biases; without, they are not parameters at all.
    multipliers : bool
        NTK parametrization only: draw every parameter with variance 1 and multiply by the
        standard deviations in the forward pass (neural-tangents' convention), instead of
        drawing the weights with the variances (the chapter's).
    distribution : {"normal", "uniform", "rademacher"}
        The zero-mean, unit-variance law of the initial draws.
    seed : None, int or numpy.random.Generator
    dtype : numpy.float64 or numpy.float32
    outputs : int
        ``k``, the number of outputs (default 1), with the conventions of
        :class:`widenet.ShallowNetwork`: outputs ``(m, k)``, targets ``(m, k)``, the loss summed
        over points and outputs (``loss="mean"`` divides by ``m``), the Jacobian ``(m, k, P)``,
        :meth:`ntk` traced over the outputs (their mean) unless ``trace_outputs=False``. With
        ``k = 1`` the network is exactly the one-output network (``v`` of shape (n_L,), ``c``
        a number, the same numbers and files).

    Attributes
    ----------
    scales : list of (float, float)
        ``(m_l, beta_l)`` for each hidden layer and the readout last, the factors of the
        weights and biases in the forward pass: 1 in LeCun parametrization, ``n_(l-1)^(-1/2)``
        and 1 in NTK's, ``s_w n_(l-1)^(-1/2)`` and ``s_b`` with ``multipliers`` (readout ``s_v``, ``s_c``).

    Notes
    -----
    With one hidden layer and the default ``bias=True, multipliers=False``, a network draws
    the parameters a :class:`widenet.ShallowNetwork` of the same seed draws and computes
    the same functions.

    Examples
    --------
    >>> import numpy as np, widenet
    >>> net = widenet.Network(3, [256, 256], "relu", "ntk", bias_var=0.1, seed=0)
    >>> X = np.random.default_rng(1).standard_normal((10, 3))
    >>> net.forward(X).shape, net.ntk(X).shape, net.num_params
    ((10,), (10, 10), 67073)
    """

    kernels = DEEP_BACKENDS

    def __init__(self, input_dim: int, widths: Sequence[int], activation: Activation = "relu",
                 parametrization: Parametrization = "lecun", *, weight_var: float = 1.0, bias_var: float = 0.0,
                 output_var: float = 1.0, output_bias_var: float = 0.0, bias: bool = True,
                 multipliers: bool = False, distribution: Distribution = "normal", seed: Seed = None,
                 dtype: DTypeLike = np.float64, outputs: int = 1) -> None:
        self._configure(input_dim, widths, activation, parametrization, weight_var, bias_var, output_var,
                        output_bias_var, bias, multipliers, distribution, dtype, outputs)
        size = parameter_count(self.input_dim, self.widths, self.bias, self.outputs)
        # the float64 draws (a layer's draw and its scaled copy at most), then the parameters
        _memory.require("Network", [("float64 draws", (size,), np.float64, 2),
                                    ("parameters and their initial copy", (size,), self.dtype, 2)],
                        "Pass a smaller network.")
        self._params = initialize_deep(self.input_dim, self.widths, self._initial_law, self.bias,
                                       self.distribution, check.generator(seed), self.dtype, self.outputs)
        self._initial = self._params

    def _configure(self, input_dim: object, widths: object, activation: object, parametrization: object,
                   weight_var: object, bias_var: object, output_var: object, output_bias_var: object,
                   bias: object, multipliers: object, distribution: object, dtype: object,
                   outputs: object = 1) -> None:
        """Check and set the configuration (everything but the parameters), the layers' scales and laws."""
        self.input_dim = check.integer(input_dim, "input_dim", 1)
        if isinstance(widths, (str, bytes)) or not isinstance(widths, Sequence) or len(widths) < 1:
            raise TypeError(f"widths: expected a sequence of at least one hidden width, got {widths!r}")
        self.widths = tuple(check.integer(n, f"widths[{k}]", 1) for k, n in enumerate(widths))
        self.activation: Activation = check.choice(activation, "activation", _core.ACTIVATIONS)
        self.parametrization: Parametrization = check.choice(parametrization, "parametrization", PARAMETRIZATIONS)
        self.weight_var, self.bias_var, self.output_var, self.output_bias_var = (
            check.non_negative_real(value, name) for value, name in (
                (weight_var, "weight_var"), (bias_var, "bias_var"), (output_var, "output_var"),
                (output_bias_var, "output_bias_var")))
        self.bias = check.boolean(bias, "bias")
        self.multipliers = check.boolean(multipliers, "multipliers")
        if self.multipliers and self.parametrization != "ntk":
            raise ValueError("multipliers: expected False under parametrization='lecun' (multipliers are the NTK "
                             "parametrization's convention)")
        self.distribution: Distribution = check.choice(distribution, "distribution", DISTRIBUTIONS)
        self.dtype = check.float_dtype(dtype)
        self.outputs = check.integer(outputs, "outputs", 1)
        fan_ins = (self.input_dim, *self.widths)
        variances = (self.weight_var, self.bias_var, self.output_var, self.output_bias_var)
        self.scales = layer_scales(self.parametrization, self.multipliers, fan_ins, variances)
        for k, (multiplier, _) in enumerate(self.scales):
            if multiplier <= 0:
                name = "output_var" if k == self.depth else "weight_var"
                raise ValueError(f"{name}: expected a positive variance with multipliers=True (the layer's "
                                 f"multiplier would be 0)")
        self._initial_law = initial_variances(self.parametrization, self.multipliers, fan_ins, variances)

    @property
    def config(self) -> dict[str, Any]:
        """The configuration: the constructor's arguments but ``seed`` (``widths`` a list, ``dtype`` its name).

        ``outputs`` only for ``k > 1`` (so that a one-output network's configuration and files
        are as they were). ``Network(**config)`` makes a network of the same configuration
        (with new parameters).
        """
        config = {"input_dim": self.input_dim, "widths": list(self.widths), "activation": self.activation,
                "parametrization": self.parametrization, "weight_var": self.weight_var, "bias_var": self.bias_var,
                "output_var": self.output_var, "output_bias_var": self.output_bias_var, "bias": self.bias,
                "multipliers": self.multipliers, "distribution": self.distribution, "dtype": self.dtype.name}
        return config if self.outputs == 1 else {**config, "outputs": self.outputs}

    archive_format = _archive.DEEP_FORMAT

    def archive_contents(self) -> tuple[str, _archive.Config, _archive.Entries]:
        """Return ``(format, config, arrays)`` of the file :meth:`save` writes."""
        return _archive.deep_contents(self.config, self._params.layers, self._initial.layers)

    @classmethod
    def from_stored(cls, stored: _archive.Stored) -> Network:
        """Return the network of a checked file (:func:`widenet._archive.read`)."""
        dtype = np.dtype(stored.network["dtype"])
        return cls.from_parameters(stored.network, DeepParameters(*stored.layers(), dtype=dtype),
                                   DeepParameters(*stored.layers(initial=True), dtype=dtype))

    @property
    def block_names(self) -> tuple[str, ...]:
        """The parameter blocks in the vector's order: ``W1, b1, ..., WL, bL, v, c`` (no biases without them)."""
        names = [(f"W{k}", f"b{k}") for k in range(1, self.depth + 1)] + [("v", "c")]
        return tuple(name for pair in names for name in (pair if self.bias else pair[:1]))

    @property
    def depth(self) -> int:
        """``L``, the number of hidden layers."""
        return len(self.widths)

    @property
    def state(self) -> _core.DeepNetwork:
        """The network object the kernels of both backends take (``widenet._core.DeepNetwork``).

        The architecture and the current parameters, held by reference; replaced with the
        parameters, never changed in place.
        """
        return self._params.network(self.activation, self.scales)

    @property
    def initial_state(self) -> _core.DeepNetwork:
        """:attr:`state` at the initial parameters ``w0``."""
        return self._initial.network(self.activation, self.scales)

    def checked_params(self, value: object, name: str) -> DeepParameters:
        """Return a copy of ``value``, :class:`DeepParameters` of this network's shape, in its dtype.

        TypeError or ValueError naming ``name`` otherwise.
        """
        if not isinstance(value, DeepParameters):
            raise TypeError(f"{name}: expected widenet.DeepParameters, got {type(value).__name__}")
        if (value.input_dim, value.widths, value.biases is not None) != (self.input_dim, self.widths, self.bias):
            raise ValueError(f"{name}: expected input_dim {self.input_dim}, widths {list(self.widths)} and "
                             f"bias={self.bias}, got {value.input_dim}, {list(value.widths)} and "
                             f"bias={value.biases is not None}")
        if value.outputs != self.outputs:
            raise ValueError(f"{name}: expected parameters of {self.outputs} output(s) (a readout of shape "
                             f"{(self.widths[-1],) if self.outputs == 1 else (self.outputs, self.widths[-1])}), got "
                             f"{value.outputs}")
        return DeepParameters(value.weights, value.biases, self.dtype)

    def parameters_of(self, layers: Sequence[tuple[Any, Any]]) -> DeepParameters:
        """Return the layers ``((W^1, b^1), ..., (v, c))`` a kernel gave as parameters of this network."""
        return DeepParameters([W for W, _ in layers], [np.asarray(b) for _, b in layers] if self.bias else None,
                              self.dtype)

    def parameters_from_vector(self, w: ArrayLike) -> DeepParameters:
        """Return the parameter vector ``w`` (:meth:`DeepParameters.to_vector`) as parameters of this network."""
        return self._params.from_vector(w)

    def _finite(self, result: FloatArray, name: str, X: FloatArray, X2: Optional[FloatArray] = None,
                *more: Any) -> FloatArray:
        """Return ``result``, or raise ValueError naming ``name`` where it (or ``more``) overflowed the dtype."""
        if not all(np.isfinite(block).all() for block in (result, *more) if block is not None):
            largest = max(np.max(np.abs(points)) for points in (X, X2) if points is not None)
            raise ValueError(f"{name}: the computation overflows {self.dtype} at these inputs (largest |x| = "
                             f"{largest:.4g}); expected inputs of moderate magnitude (rescale {name})")
        return result

    def forward(self, X: ArrayLike, backend: Backend = "cpp") -> FloatArray:
        """Return ``Phi(x_i)`` for the rows of ``X`` (m x d), shape (m,), or (m, k) for ``k`` outputs."""
        X, backend = self.check_inputs(X), check.backend(backend)
        self._require("Network.forward", X.shape[0])
        return self._finite(DEEP_BACKENDS[backend].forward(self.state, X), "X", X)

    __call__ = forward

    def jacobian(self, X: ArrayLike, backend: Backend = "cpp") -> FloatArray:
        """Return the m x P Jacobian, columns per layer: ``W^l`` row-major, then ``b^l``; ``v``, ``c`` last.

        (m, k, P) for ``k`` outputs, ``V`` row-major (output by output). For large m,
        :meth:`jacobian_chunks` streams it by rows.
        """
        X, backend = self.check_inputs(X), check.backend(backend)
        self._check_jacobian("Network.jacobian", X.shape[0], backend)
        return self._finite(DEEP_BACKENDS[backend].jacobian(self.state, X), "X", X)

    def _gram_inputs(self, where: str, X1: ArrayLike, X2: Optional[ArrayLike], backend: Backend,
                     copies: int, blocks: int = 1) -> tuple[FloatArray, Optional[FloatArray], Backend]:
        """Return the checked points of a Gram (``X2`` None for the symmetric one) and backend, its memory guarded.

        ``blocks``: the outputs of every block (1 for a traced or one-output kernel).
        """
        points1 = self.check_inputs(X1, "X1")
        points2 = None if X2 is None or X2 is X1 else self.check_inputs(X2, "X2")
        m2 = points1.shape[0] if points2 is None else points2.shape[0]
        rows = points1.shape[0] + m2
        passes: list[_memory.Block] = [] if self.outputs == 1 else [
            ("each output's sensitivities", (rows, sum(self.widths)), self.dtype, self.outputs)]
        self._require(where, points1.shape[0] + (0 if points2 is None else m2),
                      [*passes, ("Gram and its layer factors", (points1.shape[0] * blocks, m2 * blocks), self.dtype,
                                 copies)])
        return points1, points2, check.backend(backend)

    def ntk(self, X1: ArrayLike, X2: Optional[ArrayLike] = None, backend: Backend = "cpp",
            trace_outputs: bool = True) -> FloatArray:
        """Return the empirical tangent kernel ``J(X1) J(X2)^T`` by the layerwise formula (no Jacobian).

        ``X2=None`` computes the symmetric Gram of ``X1``. A Gram that overflows the dtype
        raises ValueError naming ``X1``.

        With ``k > 1`` outputs, as :meth:`widenet.ShallowNetwork.ntk`: by default the kernel
        traced over the outputs, ``(1/k) sum_i K_ii``, shape (m1, m2); ``trace_outputs=False``
        every block ``K[x, i, z, i'] = grad_w Phi_i(x) . grad_w Phi_i'(z)``, shape
        (m1, k, m2, k) (for one output the kernel as (m1, 1, m2, 1)). Each output's
        sensitivities are back-propagated from its own readout row (docs/theory.md, section 5).
        """
        blocks = not check.boolean(trace_outputs, "trace_outputs") and self.outputs > 1
        points1, points2, backend = self._gram_inputs("Network.ntk", X1, X2, backend, 3,
                                                      self.outputs if blocks else 1)
        if blocks:
            return self._finite(DEEP_BACKENDS[backend].ntk_blocks(self.state, points1, points2), "X1", points1,
                                points2)
        gram = self._finite(DEEP_BACKENDS[backend].ntk_gram(self.state, points1, points2), "X1", points1, points2)
        if trace_outputs:
            return gram
        return gram.reshape(points1.shape[0], 1, gram.shape[1], 1)  # one output: its kernel is the one block

    def ntk_diag(self, X: ArrayLike, backend: Backend = "cpp") -> FloatArray:
        """Return the diagonal ``K_n(x_i, x_i)`` without the m x m Gram (of the traced kernel for ``k`` outputs)."""
        X, backend = self.check_inputs(X), check.backend(backend)
        self._require("Network.ntk_diag", X.shape[0])
        return self._finite(DEEP_BACKENDS[backend].ntk_diag(self.state, X), "X", X)

    def nngp(self, X1: ArrayLike, X2: Optional[ArrayLike] = None, backend: Backend = "cpp") -> FloatArray:
        """Return the empirical NNGP kernel: the covariance of the outputs over the readout's initial law.

        ``Var(v_i) m_out^2 a^L(x) . a^L(z) + Var(c) beta_out^2`` with the hidden layers fixed at
        the current parameters; it tends to the infinite-width NNGP kernel as the widths grow.
        With ``k`` outputs it is each output's (the outputs are independent over the readout's
        law, each with this covariance).
        """
        points1, points2, backend = self._gram_inputs("Network.nngp", X1, X2, backend, 2)
        law_v, law_c = self._initial_law[-1]
        gram = law_v * DEEP_BACKENDS[backend].feature_gram(self.state, points1, points2)
        if self.bias:
            gram += law_c * self.scales[-1][1] ** 2
        return self._finite(gram, "X1", points1, points2)

    def limit_kernel(self, X1: ArrayLike, X2: Optional[ArrayLike] = None, kind: Kind = "ntk",
                     **options: Any) -> NDArray[np.float64]:
        """Return the infinite-width kernel of this network's configuration (docs/theory.md, section 8).

        With ``k`` outputs it is each output's kernel: at infinite width the outputs are
        independent, each with this kernel (docs/theory.md, section 5, "Several outputs").
        The NTK parametrization's tangent kernel (``kind="ntk"``), LeCun's divided by the
        width, or the NNGP (``kind="nngp"``), for the activation, variances, depth, biases and
        multipliers of this network; ``options`` (``method``, ``order``, ``backend``) as for
        :func:`widenet.limit_kernel`. The recursions assume normal initial weights: with another
        ``distribution`` the first layer's pre-activations are not Gaussian (ValueError).
        """
        if self.distribution != "normal":
            raise ValueError(f"distribution: the limit kernels assume normal initial weights, this network draws "
                             f"{self.distribution!r} ones")
        return limit_kernel(X1, X2, activation=self.activation, parametrization=self.parametrization, kind=kind,
                            weight_var=self.weight_var, bias_var=self.bias_var, output_var=self.output_var,
                            output_bias_var=self.output_bias_var, depth=self.depth, bias=self.bias,
                            multipliers=self.multipliers, **options)

    def loss(self, X: ArrayLike, y: ArrayLike, loss: Loss = "sum", backend: Backend = "cpp") -> float:
        """Return ``s sum_i (Phi(x_i) - y_i)^2`` with ``s`` as ``loss`` says (1, 1/m or 1/2).

        For ``k`` outputs the sum runs over points and outputs, ``y`` of shape (m, k) (``"mean"``
        still divides by ``m``).
        """
        X, y = self.check_data(X, y)
        scale, backend = check.loss_scale(loss, X.shape[0]), check.backend(backend)
        self._require("Network.loss", X.shape[0])
        return squared_loss(self._finite(DEEP_BACKENDS[backend].forward(self.state, X), "X", X), y, scale)

    def loss_grad(self, X: ArrayLike, y: ArrayLike, loss: Loss = "sum",
                  backend: Backend = "cpp") -> tuple[float, DeepParameters]:
        """Return the loss and its gradient ``2 s J^T (Phi(X) - y)`` as parameters of this network's shape."""
        X, y = self.check_data(X, y)
        scale, backend = check.loss_scale(loss, X.shape[0]), check.backend(backend)
        self._require("Network.loss_grad", X.shape[0], [("gradient", (self.num_params,), self.dtype, 2)])
        value, layers = DEEP_BACKENDS[backend].loss_grad(self.state, X, y, scale)
        self._finite(np.asarray(value), "X", X, None, *(block for layer in layers for block in layer))
        return float(value), self.parameters_of(layers)

    def train(self, X: ArrayLike, y: ArrayLike, lr: float, steps: int, record_every: int = 1,
              X_test: Optional[ArrayLike] = None, loss: Loss = "sum", backend: Backend = "cpp",
              on_divergence: OnDivergence = "raise") -> TrainingResult:
        """Run gradient descent ``w_{k+1} = w_k - lr grad f(w_k)`` for ``steps`` steps (see ShallowNetwork.train).

        The records, the loss scales, the divergence rule (:data:`widenet.DIVERGENCE_FACTOR`)
        and ``on_divergence`` are those of :meth:`widenet.ShallowNetwork.train`. The network is
        left at the trained parameters, unless the run raises or its parameters overflowed.
        """
        call = check_training(self, X, y, lr, steps, record_every, X_test, loss, on_divergence, backend)
        _memory.require("Network.train", self.training_blocks(call.points, call.test_points, call.steps,
                                                              call.record_every, call.backend),
                        _memory.TRAINING_ALTERNATIVE)
        with self._lock:  # one run at a time, each from where the previous one ended
            records = DEEP_BACKENDS[call.backend].train(self.state, self.initial_state, call.points, call.targets,
                                                        call.options, call.test_points)
            layers = records["layers"]
            blocks = [np.asarray(block) for layer in layers for block in layer if block is not None]
            result = TrainingResult.from_records(records, loss, call.lr, overflowed(*blocks))
            if result.diverged_at is not None and call.on_divergence == "raise":
                raise divergence_error(result, lambda _: self.gram_product(call.points, call.backend),
                                       call.targets.size, call.loss_scale)
            if not result.parameters_overflowed:  # Inf or NaN parameters are no network: stay at the start
                self._params = self.parameters_of(layers)
        return result

    def __repr__(self) -> str:
        outputs = f"outputs={self.outputs}, " if self.outputs > 1 else ""
        return (f"Network(input_dim={self.input_dim}, widths={list(self.widths)}, activation={self.activation!r}, "
                f"parametrization={self.parametrization!r}, bias={self.bias}, multipliers={self.multipliers}, "
                f"{outputs}dtype={self.dtype.name})")
