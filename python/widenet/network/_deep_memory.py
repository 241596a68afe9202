"""What the calls of a deep network hold in memory, from the shapes alone (see :mod:`widenet._memory`).

Every layer's activations and derivatives over the points of a call; a network of ``k``
outputs holds each output's sensitivities for a kernel or a gradient, a Jacobian of ``m k``
rows, and an ``(m1 k) x (m2 k)`` kernel when every block of the tangent kernel is asked for.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from widenet import _memory
from widenet._types import Backend, FloatArray, PassKind


class DeepMemory:
    """The memory guards of :class:`widenet.Network`, one output or several."""

    widths: tuple[int, ...]
    outputs: int
    dtype: np.dtype[Any]
    num_params: int

    def pass_blocks(self, kind: PassKind, m: int, backend: Backend) -> list[_memory.Block]:
        """Return the memory blocks of a pass of ``kind`` over ``m`` points.

        Every layer's activations and derivatives (each output's sensitivities for ``k``
        outputs), and for a vector-Jacobian product the gradient it returns.
        """
        passes = 1 if kind == "forward" else self.outputs
        blocks: list[_memory.Block] = [("activations and derivatives of every layer", (m, sum(self.widths)),
                                        self.dtype, 3 * passes)]
        if kind in ("vjp", "loss_grad"):
            blocks.append(("gradient", (self.num_params,), self.dtype, 2))
        return blocks

    def gram_blocks(self, m1: int, m2: Optional[int], backend: Backend,
                    trace_outputs: bool = True) -> list[_memory.Block]:
        """Return the memory blocks of an ``m1 x m2`` tangent Gram (``m2`` None: symmetric).

        With ``trace_outputs=False`` and ``k > 1`` outputs, those of every block of the kernel.
        """
        rows = m1 + (0 if m2 is None else m2)
        k = 1 if trace_outputs else self.outputs
        return [*self.pass_blocks("ntk_diag", rows, backend),
                ("Gram and its layer factors", (m1 * k, (m1 if m2 is None else m2) * k), self.dtype, 3)]

    def _require(self, where: str, rows: int, extra: Sequence[_memory.Block] = ()) -> None:
        """Guard the memory of a pass over ``rows`` points: every layer's activations and derivatives."""
        _memory.require(where, [*self.pass_blocks("forward", rows, "cpp"), *extra], "Pass fewer points at a time.")

    def _check_jacobian(self, where: str, rows: int, backend: Backend) -> None:
        """Guard the memory of the Jacobian of ``rows`` points."""
        self._require(where, rows, [("Jacobian", (rows * self.outputs, self.num_params), self.dtype, 1)])

    def training_blocks(self, X: FloatArray, X_test: Optional[FloatArray], steps: int, record_every: int,
                        backend: Backend) -> list[_memory.Block]:
        """Return what :meth:`train` holds at its peak for checked ``X`` and ``X_test``.

        Every layer's activations and derivatives over the training and test points, the
        gradient, the parameters and their copies, and the records.
        """
        m_test = 0 if X_test is None else X_test.shape[0] * self.outputs
        records = _memory.recorded_count(steps, record_every)
        return [*self.pass_blocks("forward", X.shape[0] + m_test, backend),
                ("gradient and parameters", (self.num_params,), self.dtype, 4),
                ("records", (records, 2 + m_test), self.dtype, 1)]
