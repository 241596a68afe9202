"""What the shallow and the deep network share: parameters, copies, inputs, Jacobian blocks, Gram products.

Each network class says how it is configured, which kernels it calls and how its parameters
are checked; the rest, written once here, follows from that.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, Callable, ClassVar, Iterator, Optional, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from widenet import _archive, _memory
from widenet import _validation as check
from widenet._locking import TrainingLock
from widenet._types import Backend, FloatArray, PassKind
from widenet.errors import MatrixProduct

Self = TypeVar("Self", bound="FullyConnected")


class FullyConnected(TrainingLock):
    """The base of :class:`widenet.ShallowNetwork` and :class:`widenet.Network`.

    A subclass sets ``kernels`` (backend name -> module of kernels taking its ``state``) and
    defines ``_configure(**config)``, ``config``, ``checked_params``, ``state``,
    ``initial_state`` and ``_check_jacobian``.
    """

    _guards_memory = True  # its methods check their own memory (see widenet.kernels.TangentKernel)
    kernels: ClassVar[dict[Backend, ModuleType]]
    dtype: np.dtype[Any]
    input_dim: int
    outputs: int = 1  # k, the number of outputs (a ShallowNetwork may have several)
    _params: Any
    _initial: Any

    # -- what a subclass defines -----------------------------------------------------------
    _configure: Callable[..., None]  # checks and sets the configuration (everything but the parameters)

    @property
    def config(self) -> dict[str, Any]:
        """The configuration: the constructor's keyword arguments but ``seed``, ``dtype`` by its name."""
        raise NotImplementedError

    def checked_params(self, value: object, name: str) -> Any:
        """Return a copy of ``value``, parameters of this network's shape, in its dtype."""
        raise NotImplementedError

    def checked_point(self, value: object, name: str) -> Any:
        """Return a copy of ``value``, parameters of this network's shape or their vector (length ``P``).

        TypeError or ValueError naming ``name`` otherwise.
        """
        if hasattr(value, "to_vector"):  # parameters of some network
            return self.checked_params(value, name)
        return self.parameters_from_vector(check.as_shaped(value, name, self.dtype, (self.num_params,)))

    @property
    def state(self) -> Any:
        """The network object the kernels of both backends take, at the current parameters."""
        raise NotImplementedError

    def parameters_of(self, layers: Any) -> Any:
        """Return the layers a kernel gave (``((W, b), ..., (v, c))``) as parameters of this network."""
        raise NotImplementedError

    def parameters_from_vector(self, w: ArrayLike) -> Any:
        """Return a parameter vector as parameters of this network."""
        raise NotImplementedError

    def pass_blocks(self, kind: PassKind, m: int, backend: Backend) -> list[_memory.Block]:
        """Return the memory blocks of a pass of ``kind`` over ``m`` points."""
        raise NotImplementedError

    def gram_blocks(self, m1: int, m2: Optional[int], backend: Backend,
                    trace_outputs: bool = True) -> list[_memory.Block]:
        """Return the memory blocks of an ``m1 x m2`` tangent Gram (``m2`` None: symmetric; every block: not traced)."""
        raise NotImplementedError

    def _check_jacobian(self, where: str, rows: int, backend: Backend) -> None:
        raise NotImplementedError

    @property
    def hidden_units(self) -> int:
        """The number of hidden units, ``n_1 + ... + n_L``."""
        widths: tuple[int, ...] = getattr(self, "widths")  # noqa: B009  (a property or an attribute by class)
        return sum(widths)

    # -- configuration -----------------------------------------------------------------------
    @classmethod
    def from_parameters(cls: type[Self], config: dict[str, Any], params: Any, initial_params: Any) -> Self:
        """Return a network of ``config`` at ``params`` with initial parameters ``initial_params``.

        ``config`` is as :attr:`config` gives it; no initialization is drawn.
        """
        network = cls.__new__(cls)
        network._configure(**config)
        network._params = network.checked_params(params, "params")
        network._initial = network.checked_params(initial_params, "initial_params")
        return network

    @classmethod
    def checked_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        """Return ``config`` checked as the constructor checks it, in the form :attr:`config` gives."""
        probe = cls.__new__(cls)
        probe._configure(**config)
        return probe.config

    # -- persistence -------------------------------------------------------------------------
    archive_format: ClassVar[str]  # the format of its files (widenet._archive)

    def archive_contents(self) -> tuple[str, _archive.Config, _archive.Entries]:
        """Return ``(format, config, arrays)`` of the file :meth:`save` writes."""
        raise NotImplementedError

    @classmethod
    def from_stored(cls: type[Self], stored: _archive.Stored) -> Self:
        """Return the network of a checked file (:func:`widenet._archive.read`)."""
        raise NotImplementedError

    def save(self, path: _archive.PathLike) -> str:
        """Write the configuration, the current and the initial parameters to ``path``, one ``.npz`` file.

        The file is written as a whole or not at all; the name is used as given.

        Returns the path written. :meth:`load` (or :func:`widenet.load`) reads it back
        bit for bit; the format is described in :mod:`widenet._archive`.
        """
        kind, config, arrays = self.archive_contents()
        return _archive.save(path, kind, config, arrays, type(self).checked_config)

    @classmethod
    def load(cls: type[Self], path: _archive.PathLike) -> Self:
        """Return the network saved by :meth:`save` in ``path``.

        The whole file is checked before anything is built: a file that is not a widenet
        network file of this class, truncated or corrupt, with missing or extra entries, wrong
        shapes or dtypes, NaN or Inf, or an unknown format version raises ValueError naming
        the file and the problem.
        """
        return cls.from_stored(_archive.read(path, cls.checked_config, cls.archive_format))

    # -- parameters --------------------------------------------------------------------------
    @property
    def params(self) -> Any:
        """The current parameters ``w`` (setting them checks their shapes)."""
        return self._params

    @params.setter
    def params(self, value: Any) -> None:
        checked = self.checked_params(value, "params")
        with self._lock:
            self._params = checked

    @property
    def initial_params(self) -> Any:
        """``w0``, the parameters at initialization (setting them checks their shapes)."""
        return self._initial

    @initial_params.setter
    def initial_params(self, value: Any) -> None:
        checked = self.checked_params(value, "initial_params")
        with self._lock:
            self._initial = checked

    @property
    def num_params(self) -> int:
        """``P``, the number of parameters."""
        size: int = self._params.size
        return size

    def __deepcopy__(self: Self, memo: dict[int, Any]) -> Self:
        return self.copy()  # the parameters are all a copy needs (the lock is per object)

    def copy(self: Self) -> Self:
        """Return an independent network of the same configuration, parameters and initial parameters.

        Training one does not move the other.
        """
        return type(self).from_parameters(self.config, self._params, self._initial)

    def reset(self: Self) -> Self:
        """Reset the network to its initial parameters; return the network."""
        with self._lock:
            self._params = self._initial.copy()
        return self

    # -- inputs ------------------------------------------------------------------------------
    def check_inputs(self, X: object, name: str = "X") -> FloatArray:
        """Return the batch ``X`` checked and converted to the network's dtype.

        A C-contiguous (m, input_dim) array with m >= 1 (ValueError or TypeError naming
        ``name`` otherwise).
        """
        return check.as_inputs(X, name, self.dtype, self.input_dim)

    def check_data(self, X: object, y: object) -> tuple[FloatArray, FloatArray]:
        """Return the training data ``(X, y)`` checked and converted to the network's dtype.

        ``X`` as :meth:`check_inputs` checks it, ``y`` one finite target per row of ``X``
        (shape (m,) or (m, 1)), or a row of ``k`` for a network of ``k > 1`` outputs (m, k).
        """
        points = self.check_inputs(X)
        return points, check.as_targets(y, "y", self.dtype, points.shape[0], self.outputs)

    # -- derivatives in pieces ---------------------------------------------------------------
    def jacobian_chunks(self, X: ArrayLike, rows: int, backend: Backend = "cpp") -> Iterator[tuple[int, FloatArray]]:
        """Yield ``(start, J[start:start + rows])``, so the Jacobian of a large batch is never held at once.

        Arguments are checked when called, not when iterated.
        """
        X = self.check_inputs(X)
        rows = check.integer(rows, "rows", 1)
        backend = check.backend(backend)
        self._check_jacobian(f"{type(self).__name__}.jacobian_chunks", min(rows, X.shape[0]), backend)
        implementation, state = self.kernels[backend], self.state
        return ((start, implementation.jacobian(state, X[start:start + rows]))
                for start in range(0, X.shape[0], rows))

    def gram_product(self, X: FloatArray, backend: Backend) -> MatrixProduct:
        """Return ``r -> K_n(X, X) r = J (J^T r)`` at the current parameters, for checked ``X``.

        By a vector-Jacobian and a Jacobian-vector product: never the m x m Gram or the
        m x P Jacobian. For ``k`` outputs ``r`` has ``m k`` entries (point by point, the
        outputs of each together) and the Gram is every block of the kernel.
        """
        implementation, state = self.kernels[backend], self.state
        shape = (X.shape[0],) if self.outputs == 1 else (X.shape[0], self.outputs)

        def product(r: NDArray[np.float64]) -> FloatArray:
            weights = r.astype(self.dtype).reshape(shape)
            result: FloatArray = implementation.jvp(state, X, implementation.vjp(state, X, weights))
            return result.reshape(r.shape)
        return product
