"""R independent deep networks of one configuration, trained on the same data in one C++ call."""

from __future__ import annotations

import inspect
from typing import Any, Callable, Optional, Sequence, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from widenet import _archive, _memory
from widenet import _validation as check
from widenet._locking import TrainingLock
from widenet._native import _core
from widenet._types import Backend, FloatArray, Kind, Loss, OnDivergence, Seed
from widenet.network._backends import DEEP_BACKENDS
from widenet.network._ensembles import check_stacked, member_generators, member_index, raise_if_diverged
from widenet.network._training_call import check_training
from widenet.network.deep import Network
from widenet.network.deep_parameters import DeepParameters, parameter_count
from widenet.network.results import TrainingResult, overflowed

Computed = TypeVar("Computed")


def _configured(input_dim: object, widths: object, config: dict[str, Any]) -> Network:
    """Return a network holding the configuration of ``Network(input_dim, widths, **config)`` and no parameters.

    The arguments are checked as the constructor checks them, before anything is drawn.
    """
    arguments = inspect.signature(Network).bind(input_dim, widths, **config)
    arguments.apply_defaults()
    arguments.arguments.pop("seed")
    probe = Network.__new__(Network)
    probe._configure(**arguments.arguments)
    return probe


def _stacked(members: Sequence[DeepParameters]) -> list[tuple[FloatArray, Optional[FloatArray]]]:
    """Return the members' layers stacked on a leading member axis, ``[(W^1, b^1), ..., (v, c)]``."""
    return [(np.stack([W for W, _ in layer]), None if layer[0][1] is None else np.stack([b for _, b in layer]))
            for layer in zip(*(member.layers for member in members))]


def _members_config(name: str) -> property:
    """Return the property reading the members' configuration entry ``name`` (from the first member)."""
    return property(lambda self: getattr(self._template, name),
                    doc=f"The members' ``{name}`` (see :class:`widenet.Network`).")


class DeepEnsemble(TrainingLock):
    """``size`` independent :class:`widenet.Network` s of one configuration, trained together.

    Takes the arguments of :class:`widenet.Network` but ``seed``: member ``r`` is initialized
    exactly as ``Network(input_dim, widths, ..., seed=g_r)`` with ``g_r`` the r-th generator
    spawned from ``seed`` (as :class:`widenet.ShallowEnsemble` spawns them);
    :meth:`member` returns it as a network.

    The configuration (``input_dim``, ``widths``, ``depth``, ``activation``,
    ``parametrization``, the four variances, ``bias``, ``multipliers``, ``distribution``,
    ``dtype``, ``outputs``, ``scales``, ``num_params``) reads as a network's; ``outputs=k``
    makes members of ``k`` outputs, trained in parallel on targets (m, k). :attr:`params` and
    :attr:`initial_params` are tuples of :class:`widenet.DeepParameters`, one per member. The
    methods that compute with the parameters (:meth:`forward`, :meth:`loss`,
    :meth:`loss_grad`, :meth:`jacobian`, :meth:`ntk`, :meth:`ntk_diag`, :meth:`nngp`)
    answer for every member, with a leading member axis; :meth:`limit_kernel` answers once,
    the same for every member; :meth:`train` and :meth:`reset` act on every member. An
    ensemble may be used from several threads (runs of :meth:`train` take turns).
    :meth:`save` and :meth:`load` keep it in a ``.npz`` file (:mod:`widenet._archive`).

    Parameters
    ----------
    size : int
        ``R``, the number of networks (at least 1).
    input_dim : int
        ``d``, the number of input features.
    widths : sequence of int
        The hidden widths ``(n_1, ..., n_L)``.
    seed : None, int or numpy.random.Generator
        The seed the members' generators are spawned from.
    **config
        The other arguments of :class:`widenet.Network` (``activation``,
        ``parametrization``, the variances, ``bias``, ``multipliers``, ``distribution``,
        ``dtype``, ``outputs``), the same for every member.

    Examples
    --------
    >>> import numpy as np, widenet
    >>> ensemble = widenet.DeepEnsemble(4, input_dim=2, widths=[32, 32], activation="relu", seed=0)
    >>> X = np.random.default_rng(1).standard_normal((5, 2))
    >>> ensemble.forward(X).shape  # (members, points)
    (4, 5)
    """

    input_dim = _members_config("input_dim")
    widths = _members_config("widths")
    depth = _members_config("depth")
    activation = _members_config("activation")
    parametrization = _members_config("parametrization")
    weight_var = _members_config("weight_var")
    bias_var = _members_config("bias_var")
    output_var = _members_config("output_var")
    output_bias_var = _members_config("output_bias_var")
    bias = _members_config("bias")
    multipliers = _members_config("multipliers")
    distribution = _members_config("distribution")
    dtype = _members_config("dtype")
    outputs = _members_config("outputs")
    scales = _members_config("scales")
    num_params = _members_config("num_params")

    def __init__(self, size: int, input_dim: int, widths: Sequence[int], *, seed: Seed = None,
                 **config: Any) -> None:
        self.size = check.integer(size, "size", 1)
        probe = _configured(input_dim, widths, config)
        count = parameter_count(probe.input_dim, probe.widths, probe.bias, probe.outputs)
        _memory.require("DeepEnsemble", [("members' parameters and their initial copies", (self.size, count),
                                          probe.dtype, 2)], "Pass a smaller size or smaller networks.")
        self._members = tuple(Network(input_dim, widths, seed=rng, **config)
                              for rng in member_generators(seed, self.size))
        # the configuration and the input checks only: its parameters are never used
        self._template = self._members[0]

    @classmethod
    def from_parameters(cls, config: dict[str, Any], params: Sequence[DeepParameters],
                        initial_params: Sequence[DeepParameters]) -> DeepEnsemble:
        """Return an ensemble of ``config`` at ``params`` with initial parameters ``initial_params``.

        ``config`` is as :attr:`config` gives it; ``params`` and ``initial_params`` hold one
        :class:`widenet.DeepParameters` per member (copied). No initialization is drawn.
        """
        config = dict(config)
        ensemble = cls.__new__(cls)
        ensemble.size = check.integer(config.pop("size", None), "size", 1)
        for name, given in (("params", params), ("initial_params", initial_params)):
            if isinstance(given, DeepParameters) or not isinstance(given, Sequence) or len(given) != ensemble.size:
                raise ValueError(f"{name}: expected a sequence of {ensemble.size} DeepParameters, one per member")
        ensemble._members = tuple(Network.from_parameters(config, current, initial)
                                  for current, initial in zip(params, initial_params))
        ensemble._template = ensemble._members[0]
        return ensemble

    def save(self, path: _archive.PathLike) -> str:
        """Write the configuration and the members' current and initial parameters to ``path``, one ``.npz`` file.

        See :meth:`widenet.Network.save`; the layers are stacked on a leading member axis.
        Returns the path.
        """
        kind, config, arrays = _archive.deep_contents(self.config, _stacked(self.params), _stacked(self.initial_params))
        return _archive.save(path, kind, config, arrays, Network.checked_config)

    @classmethod
    def load(cls, path: _archive.PathLike) -> DeepEnsemble:
        """Return the ensemble saved by :meth:`save` in ``path``, checked as :meth:`widenet.Network.load` checks."""
        return cls.from_stored(_archive.read(path, Network.checked_config, _archive.DEEP_ENSEMBLE_FORMAT))

    @classmethod
    def from_stored(cls, stored: _archive.Stored) -> DeepEnsemble:
        """Return the ensemble of a checked file (:func:`widenet._archive.read`)."""
        dtype = np.dtype(stored.network["dtype"])

        def members(initial: bool) -> list[DeepParameters]:
            weights, biases = stored.layers(initial)
            return [DeepParameters([W[r] for W in weights], None if biases is None else [b[r] for b in biases], dtype)
                    for r in range(len(weights[0]))]
        return cls.from_parameters({"size": stored.size, **stored.network}, members(False), members(True))

    @property
    def config(self) -> dict[str, Any]:
        """``size`` and the members' configuration (:attr:`widenet.Network.config`).

        ``DeepEnsemble(**config)`` makes an ensemble of the same configuration.
        """
        return {"size": self.size, **self._template.config}

    @property
    def params(self) -> tuple[DeepParameters, ...]:
        """The members' current parameters, one :class:`widenet.DeepParameters` per member."""
        return tuple(member.params for member in self._members)

    @property
    def initial_params(self) -> tuple[DeepParameters, ...]:
        """The members' initial parameters, one :class:`widenet.DeepParameters` per member."""
        return tuple(member.initial_params for member in self._members)

    def reset(self) -> DeepEnsemble:
        """Reset every member to its initial parameters; return the ensemble."""
        with self._lock:
            self._members = tuple(Network.from_parameters(member.config, member.initial_params, member.initial_params)
                                  for member in self._members)
        return self

    def member(self, r: int) -> Network:
        """Return network ``r`` with its current and initial parameters (a copy)."""
        return self._members[member_index(r, self.size)].copy()

    def _each_member(self, compute: Callable[[Network], Computed]) -> list[Computed]:
        """Return ``[compute(network_r) for every member r]`` at one snapshot of the parameters."""
        members = self._members  # replaced as a whole by train: every member from the same run
        return [compute(member) for member in members]

    def check_inputs(self, X: object, name: str = "X") -> FloatArray:
        """Return ``X`` checked as a batch of inputs of the members (see :meth:`widenet.Network.check_inputs`)."""
        return self._template.check_inputs(X, name)

    def forward(self, X: ArrayLike, backend: Backend = "cpp") -> FloatArray:
        """Return the outputs of every member, shape (size, m), or (size, m, k) for ``k`` outputs."""
        points = self.check_inputs(X)
        check_stacked("DeepEnsemble.forward", (self.size, points.shape[0], self.outputs), self.dtype)
        return np.stack(self._each_member(lambda network: network.forward(points, backend)))

    __call__ = forward

    def loss(self, X: ArrayLike, y: ArrayLike, loss: Loss = "sum", backend: Backend = "cpp") -> NDArray[np.float64]:
        """Return the loss of every member (see :meth:`widenet.Network.loss`), shape (size,)."""
        return np.array(self._each_member(lambda network: network.loss(X, y, loss, backend)), dtype=np.float64)

    def loss_grad(self, X: ArrayLike, y: ArrayLike, loss: Loss = "sum",
                  backend: Backend = "cpp") -> tuple[NDArray[np.float64], tuple[DeepParameters, ...]]:
        """Return ``(losses, gradients)`` of every member (see :meth:`widenet.Network.loss_grad`).

        The losses have shape (size,); the gradients are one :class:`widenet.DeepParameters` per member.
        """
        pairs = self._each_member(lambda network: network.loss_grad(X, y, loss, backend))
        return np.array([value for value, _ in pairs], dtype=np.float64), tuple(gradient for _, gradient in pairs)

    def jacobian(self, X: ArrayLike, backend: Backend = "cpp") -> FloatArray:
        """Return the Jacobian of every member (see :meth:`widenet.Network.jacobian`), shape (size, m, P).

        (size, m, k, P) for ``k`` outputs.
        """
        points = self.check_inputs(X)
        check_stacked("DeepEnsemble.jacobian", (self.size, points.shape[0], self.outputs, self.num_params),
                      self.dtype)
        return np.stack(self._each_member(lambda network: network.jacobian(points, backend)))

    def _grams(self, method: str, X1: ArrayLike, X2: Optional[ArrayLike], backend: Backend,
               **options: Any) -> FloatArray:
        """Return the Gram ``method`` (``"ntk"`` or ``"nngp"``) of every member, shape (size, m1, m2).

        Shape (size, m1, k, m2, k) for every block of a kernel of ``k`` outputs
        (``trace_outputs=False`` in ``options``).
        """
        symmetric = X2 is None or X2 is X1
        points1 = self.check_inputs(X1, "X1")
        points2 = None if symmetric else self.check_inputs(X2, "X2")
        m2 = points1.shape[0] if points2 is None else points2.shape[0]
        blocks = 1 if options.get("trace_outputs", True) else self.outputs
        check_stacked(f"DeepEnsemble.{method}", (self.size, points1.shape[0], blocks, m2, blocks), self.dtype)
        return np.stack(self._each_member(lambda network: getattr(network, method)(points1, points2, backend,
                                                                                   **options)))

    def ntk(self, X1: ArrayLike, X2: Optional[ArrayLike] = None, backend: Backend = "cpp",
            trace_outputs: bool = True) -> FloatArray:
        """Return the empirical tangent kernel of every member (:meth:`widenet.Network.ntk`), shape (size, m1, m2).

        ``trace_outputs=False``: every block, shape (size, m1, k, m2, k).
        """
        return self._grams("ntk", X1, X2, backend, trace_outputs=check.boolean(trace_outputs, "trace_outputs"))

    def nngp(self, X1: ArrayLike, X2: Optional[ArrayLike] = None, backend: Backend = "cpp") -> FloatArray:
        """Return the empirical NNGP kernel of every member (:meth:`widenet.Network.nngp`), shape (size, m1, m2)."""
        return self._grams("nngp", X1, X2, backend)

    def ntk_diag(self, X: ArrayLike, backend: Backend = "cpp") -> FloatArray:
        """Return the tangent Gram's diagonal of every member (:meth:`widenet.Network.ntk_diag`), shape (size, m)."""
        return np.stack(self._each_member(lambda network: network.ntk_diag(X, backend)))

    def limit_kernel(self, X1: ArrayLike, X2: Optional[ArrayLike] = None, kind: Kind = "ntk",
                     **options: Any) -> NDArray[np.float64]:
        """Return the infinite-width kernel of the members' configuration.

        See :meth:`widenet.Network.limit_kernel`: one kernel, the same for every member.
        """
        return self._template.limit_kernel(X1, X2, kind, **options)

    def train(self, X: ArrayLike, y: ArrayLike, lr: float, steps: int, record_every: int = 1,
              X_test: Optional[ArrayLike] = None, loss: Loss = "sum", backend: Backend = "cpp",
              on_divergence: OnDivergence = "raise") -> TrainingResult:
        """Run gradient descent on every member (see :meth:`widenet.Network.train`), parallel over members in C++.

        The records have a leading member axis. A member whose loss diverges stops alone
        (its later records are NaN); ``on_divergence="raise"`` then raises
        :class:`widenet.DivergenceError` naming the members and leaves the ensemble
        unchanged, ``"return"`` returns the records with ``result.diverged_at`` per member
        (-1 where it did not diverge). A member whose parameters overflowed to Inf or NaN
        (``result.parameters_overflowed``) stays where its run started.
        """
        call = check_training(self._template, X, y, lr, steps, record_every, X_test, loss, on_divergence, backend)
        _memory.require("DeepEnsemble.train",
                        self.training_blocks(call.points, call.test_points, call.steps, call.record_every,
                                             call.backend), _memory.TRAINING_ALTERNATIVE)
        with self._lock:  # one run at a time, each from where the previous one ended
            members = self._members
            records = DEEP_BACKENDS[call.backend].train_ensemble(
                [member.state for member in members], [member.initial_state for member in members], call.points,
                call.targets, call.options, call.test_points)
            layers = records["layers"]
            stuck = overflowed(*(np.asarray(block) for layer in layers for block in layer if block is not None),
                               stacked=True)
            result = TrainingResult.from_records(records, loss, call.lr, stuck)
            raise_if_diverged(result, call, lambda r: members[r].gram_product(call.points, call.backend))
            # a member whose parameters overflowed to Inf or NaN stays where its run started
            self._members = tuple(member if stuck[r] else Network.from_parameters(
                member.config, member.parameters_of([(W[r], None if b is None else b[r]) for W, b in layers]),
                member.initial_params) for r, member in enumerate(members))
        return result

    def training_blocks(self, X: FloatArray, X_test: Optional[FloatArray], steps: int, record_every: int,
                        backend: Backend) -> list[_memory.Block]:
        """Return what :meth:`train` holds at its peak for checked ``X`` and ``X_test``.

        Every worker's passes over the points, the members' parameters, gradients and
        copies, and the records.
        """
        workers = min(self.size, _core.get_num_threads()) if backend == "cpp" else 1
        m_test = 0 if X_test is None else X_test.shape[0] * self.outputs
        records = _memory.recorded_count(steps, record_every)
        return [*self._template.pass_blocks("forward", workers * (X.shape[0] + m_test), backend),
                ("gradients and parameters", (self.size, self.num_params), self.dtype, 4),
                ("records", (self.size, records, 2 + m_test), self.dtype, 1)]

    def __repr__(self) -> str:
        return f"DeepEnsemble(size={self.size}, {self._template!r})"
