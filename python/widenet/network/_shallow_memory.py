"""What the calls of a shallow network hold in memory, from the shapes alone (see :mod:`widenet._memory`).

A network of ``k`` outputs holds ``k`` numbers per point where one output holds one (its
outputs, residuals and test records), a Jacobian of ``m k`` rows, and an ``(m1 k) x (m2 k)``
kernel when every block of the tangent kernel is asked for.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from widenet import _memory
from widenet._types import Activation, Backend, FloatArray, PassKind


class ShallowMemory:
    """The memory guards of :class:`widenet.ShallowNetwork`, one output or several."""

    width: int
    outputs: int
    activation: Activation
    dtype: np.dtype[Any]
    num_params: int

    def _check_pass(self, where: str, kind: PassKind, m: int, backend: Backend) -> None:
        """Guard the memory of a pass of ``kind`` over ``m`` points (see :func:`widenet._memory.pass_blocks`)."""
        _memory.check_hidden(where, m, self.width, self.dtype, backend=backend, activation=self.activation, kind=kind,
                             num_params=self.num_params, network_outputs=self.outputs)

    def pass_blocks(self, kind: PassKind, m: int, backend: Backend) -> list[_memory.Block]:
        """Return the memory blocks of a pass of ``kind`` over ``m`` points (:func:`widenet._memory.pass_blocks`)."""
        return _memory.pass_blocks(kind, m, self.width, self.dtype, backend, self.activation, self.num_params,
                                   self.outputs)

    def gram_blocks(self, m1: int, m2: Optional[int], backend: Backend,
                    trace_outputs: bool = True) -> list[_memory.Block]:
        """Return the memory blocks of an ``m1 x m2`` tangent Gram (``m2`` None: symmetric).

        With ``trace_outputs=False`` and ``k > 1`` outputs, those of every block of the kernel.
        """
        if not trace_outputs and self.outputs > 1:
            return _memory.output_ntk_blocks(m1, m2, self.outputs, self.width, self.dtype, backend, self.activation)
        return _memory.ntk_blocks(m1, m2, self.width, self.dtype, backend, self.activation)

    def _check_jacobian(self, where: str, rows: int, backend: Backend) -> None:
        """Guard the memory of the Jacobian of ``rows`` points (``rows k`` rows for ``k`` outputs)."""
        _memory.check_jacobian(where, rows * self.outputs, self.width, self.num_params, self.dtype, backend,
                               self.activation)

    def training_blocks(self, X: FloatArray, X_test: Optional[FloatArray], steps: int, record_every: int,
                        backend: Backend) -> list[_memory.Block]:
        """Return what :meth:`train` holds at its peak for checked ``X`` and ``X_test``.

        See :func:`widenet._memory.training_blocks` (``k`` outputs record ``m_test k`` numbers).
        """
        return _memory.training_blocks(X.shape[0], 0 if X_test is None else X_test.shape[0] * self.outputs,
                                       self.width, steps, record_every, self.dtype, backend=backend,
                                       activation=self.activation, num_params=self.num_params)
