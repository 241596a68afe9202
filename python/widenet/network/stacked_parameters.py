"""The parameters of an ensemble's networks, stacked on a leading axis."""

from __future__ import annotations

from typing import Iterable, NamedTuple

import numpy as np
from numpy.typing import DTypeLike

from widenet._native import _core
from widenet._types import FloatArray
from widenet.network.parameters import Parameters


class StackedParameters(NamedTuple):
    """Parameters of R networks stacked on a leading axis.

    ``U`` (R, n, d), ``b`` and ``v`` (R, n), ``c`` (R,); for networks of ``k`` outputs ``v``
    (R, k, n) and ``c`` (R, k).

    Parameters
    ----------
    U, b, v, c : ndarray
        The stacked arrays, of the shapes above (an ensemble's ``params``; not made by hand).

    Examples
    --------
    >>> import widenet
    >>> widenet.ShallowEnsemble(5, input_dim=2, width=8, seed=0).params.U.shape
    (5, 8, 2)
    """

    U: FloatArray
    b: FloatArray
    v: FloatArray
    c: FloatArray

    @classmethod
    def stack(cls, members: Iterable[Parameters], dtype: DTypeLike) -> StackedParameters:
        """Return the parameters of ``members`` stacked, in ``dtype``."""
        return cls(*(np.stack(field).astype(dtype, copy=False) for field in zip(*(p.arrays() for p in members))))

    def member(self, r: int, dtype: DTypeLike) -> Parameters:
        """Return the parameters of network ``r``, in ``dtype``."""
        return Parameters(self.U[r], self.b[r], self.v[r], self.c[r], dtype)

    def networks(self, activation: str, parametrization: str) -> list[_core.Network]:
        """Return one network object per member (``widenet._core.Network``).

        Each holds views of the stacked arrays (no copy).
        """
        return [_core.Network(self.U[r], self.b[r], self.v[r], self.c[r], activation, parametrization)
                for r in range(len(self.U))]
