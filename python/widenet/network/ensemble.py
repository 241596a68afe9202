"""R independent shallow networks trained on the same data in one C++ call."""

from __future__ import annotations

import os
from typing import Any, Callable, Literal, Optional, TypeVar, Union, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

from widenet import _archive, _memory
from widenet import _validation as check
from widenet._locking import TrainingLock
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
from widenet.network._backends import BACKENDS
from widenet.network._ensembles import check_stacked, member_generators, member_index, raise_if_diverged
from widenet.network._training_call import check_training
from widenet.network.results import TrainingResult, overflowed
from widenet.network.shallow import ShallowNetwork
from widenet.network.stacked_parameters import StackedParameters

Computed = TypeVar("Computed")


class ShallowEnsemble(TrainingLock):
    """``size`` independent :class:`ShallowNetwork` s of one configuration, trained together.

    For example the 80 networks of Figure 11.3.

    Takes the keyword arguments of :class:`ShallowNetwork`. Member ``r`` is initialized
    exactly as ``ShallowNetwork(..., seed=g_r)`` with ``g_r`` the r-th generator spawned
    from ``seed``; :meth:`member` returns it as a network. :meth:`save` and :meth:`load`
    keep an ensemble in a ``.npz`` file (:mod:`widenet._archive`).

    The configuration (``input_dim``, ``width``, ``activation``, ``parametrization``, the
    four variances, ``distribution``, ``dtype``, ``outputs``, ``num_params``) reads as a
    network's; ``outputs=k`` makes members of ``k`` outputs, trained in parallel on targets
    of shape (m, k) (see :class:`ShallowNetwork`). The
    methods that compute with the parameters (:meth:`forward`, :meth:`loss`,
    :meth:`loss_grad`, :meth:`jacobian`, :meth:`ntk`, :meth:`ntk_diag`) answer for every
    member, with a leading member axis; :meth:`train` and :meth:`reset` act on every member.
    Other network methods are not offered (AttributeError): use :meth:`member`. Like a
    network, an ensemble may be used from several threads (runs of :meth:`train` take turns).

    Parameters
    ----------
    size : int
        ``R``, the number of networks (at least 1).
    input_dim : int
        ``d``, the number of input features.
    width : int
        ``n``, the number of hidden units of every member.
    seed : None, int or numpy.random.Generator
        The seed the members' generators are spawned from.
    **config
        The other arguments of :class:`ShallowNetwork`, the same for every member.

    Examples
    --------
    >>> import numpy as np, widenet
    >>> ensemble = widenet.ShallowEnsemble(80, input_dim=1, width=250, activation="arctan", seed=0)
    >>> run = ensemble.train(np.array([[-1.0], [0.0], [1.0]]), [1.0, 0.0, 1.0], lr=1 / 250, steps=100, loss="mean")
    >>> run.losses.shape  # (members, records)
    (80, 101)
    """

    @property
    def input_dim(self) -> int:
        """The members' ``input_dim`` (see :class:`ShallowNetwork`)."""
        return self._template.input_dim

    @property
    def width(self) -> int:
        """The members' ``width`` (see :class:`ShallowNetwork`)."""
        return self._template.width

    @property
    def activation(self) -> Activation:
        """The members' ``activation`` (see :class:`ShallowNetwork`)."""
        return self._template.activation

    @property
    def parametrization(self) -> Parametrization:
        """The members' ``parametrization`` (see :class:`ShallowNetwork`)."""
        return self._template.parametrization

    @property
    def weight_var(self) -> float:
        """The members' ``weight_var`` (see :class:`ShallowNetwork`)."""
        return self._template.weight_var

    @property
    def bias_var(self) -> float:
        """The members' ``bias_var`` (see :class:`ShallowNetwork`)."""
        return self._template.bias_var

    @property
    def output_var(self) -> float:
        """The members' ``output_var`` (see :class:`ShallowNetwork`)."""
        return self._template.output_var

    @property
    def output_bias_var(self) -> float:
        """The members' ``output_bias_var`` (see :class:`ShallowNetwork`)."""
        return self._template.output_bias_var

    @property
    def distribution(self) -> Distribution:
        """The members' ``distribution`` (see :class:`ShallowNetwork`)."""
        return self._template.distribution

    @property
    def dtype(self) -> np.dtype[Any]:
        """The members' ``dtype`` (see :class:`ShallowNetwork`)."""
        return self._template.dtype

    @property
    def outputs(self) -> int:
        """The members' ``outputs`` (see :class:`ShallowNetwork`)."""
        return self._template.outputs

    @property
    def num_params(self) -> int:
        """The members' ``num_params`` (see :class:`ShallowNetwork`)."""
        return self._template.num_params

    def __init__(self, size: int, input_dim: int, width: int, *, seed: Seed = None, **config: Any) -> None:
        self.size = check.integer(size, "size", 1)
        _memory.check_initialization("ShallowEnsemble", check.integer(input_dim, "input_dim", 1),
                                     check.integer(width, "width", 1),
                                     check.float_dtype(config.get("dtype", np.float64)), networks=self.size,
                                     outputs=check.integer(config.get("outputs", 1), "outputs", 1))
        members = [ShallowNetwork(input_dim, width, seed=rng, **config)
                   for rng in member_generators(seed, self.size)]
        # the configuration and the input checks only: its parameters are never used
        self._template = members[0]
        self._params = StackedParameters.stack([m.params for m in members], members[0].dtype)
        self._initial = self._params

    @property
    def config(self) -> dict[str, Any]:
        """``size`` and the members' configuration (:attr:`ShallowNetwork.config`).

        ``ShallowEnsemble(**config)`` makes an ensemble of the same configuration.
        """
        return {"size": self.size, **self._template.config}

    @classmethod
    def from_parameters(cls, config: dict[str, Any], params: StackedParameters,
                        initial_params: StackedParameters) -> ShallowEnsemble:
        """Return an ensemble of ``config`` at the stacked ``params`` with initial parameters ``initial_params``.

        ``config`` is as :attr:`config` gives it; no initialization is drawn.
        """
        config, initial = dict(config), initial_params
        ensemble = cls.__new__(cls)
        ensemble.size = check.integer(config.pop("size"), "size", 1)
        dtype = check.float_dtype(config["dtype"])
        for name, stacked in (("params", params), ("initial_params", initial)):
            if len(stacked.U) != ensemble.size or any(len(field) != ensemble.size for field in stacked):
                raise ValueError(f"{name}: expected {ensemble.size} stacked networks")
        ensemble._template = ShallowNetwork.from_parameters(config, params.member(0, dtype), initial.member(0, dtype))
        ensemble._params = StackedParameters(*(np.array(field, dtype=dtype) for field in params))
        ensemble._initial = StackedParameters(*(np.array(field, dtype=dtype) for field in initial))
        return ensemble

    def save(self, path: Union[str, os.PathLike]) -> str:
        """Write the configuration and the stacked current and initial parameters to ``path``, one ``.npz`` file.

        See :meth:`ShallowNetwork.save`. Returns the path.
        """
        kind, config, arrays = _archive.model_contents(self.config, self._params, self._initial)
        return _archive.save(path, kind, config, arrays, ShallowNetwork.checked_config)

    @classmethod
    def load(cls, path: Union[str, os.PathLike]) -> ShallowEnsemble:
        """Return the ensemble saved by :meth:`save` in ``path``.

        The file is checked as :meth:`ShallowNetwork.load` checks a network file.
        """
        return cls.from_stored(_archive.read(path, ShallowNetwork.checked_config, _archive.ENSEMBLE_FORMAT))

    @classmethod
    def from_stored(cls, stored: _archive.Stored) -> ShallowEnsemble:
        """Return the ensemble of a checked file (:func:`widenet._archive.read`)."""
        return cls.from_parameters({"size": stored.size, **stored.network}, StackedParameters(*stored.parameters()),
                                   StackedParameters(*stored.parameters(initial=True)))

    @property
    def params(self) -> StackedParameters:
        """The members' current parameters, stacked."""
        return self._params

    @property
    def initial_params(self) -> StackedParameters:
        """The members' initial parameters, stacked."""
        return self._initial

    def reset(self) -> ShallowEnsemble:
        """Reset every member to its initial parameters; return the ensemble."""
        with self._lock:
            self._params = self._initial
        return self

    def member(self, r: int) -> ShallowNetwork:
        """Return network ``r`` with its current and initial parameters (a copy)."""
        return self._member(self._params, member_index(r, self.size))

    def _member(self, params: StackedParameters, r: int) -> ShallowNetwork:
        """Return network ``r`` at ``params`` (one of its snapshots), with its initial parameters."""
        return ShallowNetwork.from_parameters(self._template.config, params.member(r, self.dtype),
                                       self._initial.member(r, self.dtype))

    def _each_member(self, compute: Callable[[ShallowNetwork], Computed]) -> list[Computed]:
        """Return ``[compute(network_r) for every member r]`` at one snapshot of the parameters."""
        params = self._params  # replaced as a whole by train: every member from the same run
        return [compute(self._member(params, r)) for r in range(self.size)]

    def _check_stacked(self, where: str, shape: tuple[int, ...]) -> None:
        """Guard the stacked result (size, *shape) of a per-member method: it must fit in memory too."""
        check_stacked(where, (self.size, *shape), self.dtype)

    def forward(self, X: ArrayLike, backend: Backend = "cpp") -> FloatArray:
        """Return the outputs of every member, shape (size, m), or (size, m, k) for ``k`` outputs."""
        X, backend = self._template.check_inputs(X), check.backend(backend)
        _memory.check_hidden("ShallowEnsemble.forward", X.shape[0], self.width, self.dtype, backend=backend,
                             activation=self.activation, kind="forward", network_outputs=self.outputs,
                             outputs=[("outputs", (self.size, X.shape[0], self.outputs), self.dtype, 2)])
        implementation = BACKENDS[backend]
        return np.stack([implementation.forward(network, X)
                         for network in self._params.networks(self.activation, self.parametrization)])

    __call__ = forward

    def loss(self, X: ArrayLike, y: ArrayLike, loss: Loss = "sum", backend: Backend = "cpp") -> NDArray[np.float64]:
        """Return the loss of every member (see :meth:`ShallowNetwork.loss`), shape (size,)."""
        return np.array(self._each_member(lambda network: network.loss(X, y, loss, backend)), dtype=np.float64)

    def loss_grad(self, X: ArrayLike, y: ArrayLike, loss: Loss = "sum",
                  backend: Backend = "cpp") -> tuple[NDArray[np.float64], StackedParameters]:
        """Return ``(losses, gradients)`` of every member (see :meth:`ShallowNetwork.loss_grad`).

        The losses have shape (size,); the gradients are stacked as :class:`StackedParameters`.
        """
        pairs = self._each_member(lambda network: network.loss_grad(X, y, loss, backend))
        return (np.array([value for value, _ in pairs], dtype=np.float64),
                StackedParameters.stack([gradient for _, gradient in pairs], self.dtype))

    def jacobian(self, X: ArrayLike, backend: Backend = "cpp") -> FloatArray:
        """Return the Jacobian of every member (see :meth:`ShallowNetwork.jacobian`), shape (size, m, P).

        (size, m, k, P) for ``k`` outputs.
        """
        points = self._template.check_inputs(X)
        self._check_stacked("ShallowEnsemble.jacobian", (points.shape[0], self.outputs, self.num_params))
        return np.stack(self._each_member(lambda network: network.jacobian(points, backend)))

    def ntk(self, X1: ArrayLike, X2: Optional[ArrayLike] = None, backend: Backend = "cpp",
            width_chunk: Optional[int] = None, trace_outputs: bool = True) -> FloatArray:
        """Return the empirical tangent kernel Gram of every member, shape (size, m1, m2).

        See :meth:`ShallowNetwork.ntk`: ``trace_outputs=False`` gives every block, shape
        (size, m1, k, m2, k).
        """
        symmetric = X2 is None or X2 is X1
        points1 = self._template.check_inputs(X1, "X1")
        points2 = points1 if symmetric else self._template.check_inputs(X2, "X2")
        blocks = 1 if check.boolean(trace_outputs, "trace_outputs") else self.outputs
        self._check_stacked("ShallowEnsemble.ntk", (points1.shape[0], points2.shape[0], blocks, blocks))
        return np.stack(self._each_member(
            lambda network: network.ntk(points1, None if symmetric else points2, backend, width_chunk,
                                        trace_outputs)))

    def ntk_diag(self, X: ArrayLike, backend: Backend = "cpp") -> FloatArray:
        """Return the tangent Gram's diagonal of every member (see :meth:`ShallowNetwork.ntk_diag`), shape (size, m).

        Traced over the outputs for ``k`` outputs.
        """
        return np.stack(self._each_member(lambda network: network.ntk_diag(X, backend)))

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
        """Return the infinite-width kernel of the members' configuration.

        See :meth:`ShallowNetwork.limit_kernel`: one kernel, the same for every member.
        """
        return self._template.limit_kernel(X1, X2, kind, return_std=return_std, **options)

    def train(self, X: ArrayLike, y: ArrayLike, lr: float, steps: int, record_every: int = 1,
              X_test: Optional[ArrayLike] = None, loss: Loss = "sum", backend: Backend = "cpp",
              on_divergence: OnDivergence = "raise") -> TrainingResult:
        """Run gradient descent on every member (see :meth:`ShallowNetwork.train`), parallel over members in C++.

        The records have a leading member axis; for ``k`` outputs ``y`` is (m, k) and the test
        outputs (size, records, m_test, k).

        A member whose loss diverges stops alone (its later records are NaN);
        ``on_divergence="raise"`` then raises :class:`widenet.DivergenceError` naming the
        members and leaves the ensemble unchanged, ``"return"`` returns the records with
        ``result.diverged_at`` per member (-1 where it did not diverge). A member whose
        parameters overflowed to Inf or NaN (``result.parameters_overflowed``) stays where
        its run started.
        """
        call = check_training(self._template, X, y, lr, steps, record_every, X_test, loss, on_divergence, backend)
        _memory.require("ShallowEnsemble.train",
                        self.training_blocks(call.points, call.test_points, steps, record_every, call.backend),
                        _memory.TRAINING_ALTERNATIVE)
        architecture = self.activation, self.parametrization
        with self._lock:  # one run at a time, each from where the previous one ended
            records = BACKENDS[call.backend].train_ensemble(self._params.networks(*architecture),
                                                            self._initial.networks(*architecture), call.points,
                                                            call.targets, call.options, call.test_points)
            (U, b), (v, c) = records["layers"]
            trained = StackedParameters(U, b, v, np.asarray(c, dtype=self.dtype))
            stuck = overflowed(*trained, stacked=True)
            result = TrainingResult.from_records(records, loss, call.lr, stuck)
            raise_if_diverged(result, call, lambda r: self.member(r).gram_product(call.points, call.backend))
            if stuck.any():  # a member whose parameters overflowed to Inf or NaN stays where its run started
                trained = StackedParameters(*(np.where(stuck.reshape((-1,) + (1,) * (new.ndim - 1)), old, new)
                                              for new, old in zip(trained, self._params)))
            self._params = trained
        return result

    def check_inputs(self, X: object, name: str = "X") -> FloatArray:
        """Return ``X`` checked as a batch of inputs of the members (see :meth:`ShallowNetwork.check_inputs`)."""
        return self._template.check_inputs(X, name)

    def training_blocks(self, X: FloatArray, X_test: Optional[FloatArray], steps: int, record_every: int,
                        backend: Backend) -> list[_memory.Block]:
        """Return what :meth:`train` holds at its peak for checked ``X`` and ``X_test``.

        See :func:`widenet._memory.training_blocks`.
        """
        workers = min(self.size, _core.get_num_threads()) if backend == "cpp" else 1
        return _memory.training_blocks(X.shape[0], 0 if X_test is None else X_test.shape[0] * self.outputs,
                                       self.width, steps, record_every, self.dtype, networks=self.size,
                                       workers=workers, backend=backend, activation=self.activation,
                                       num_params=self.num_params)

    def __repr__(self) -> str:
        return f"ShallowEnsemble(size={self.size}, {self._template!r})"
