"""The infinite-width kernels as :class:`~widenet.kernels.Kernel` objects.

:func:`widenet.limit_kernel` computes ``K_LC``, ``K_NTK`` or the NNGP covariance from its
keyword arguments; :class:`LimitKernel` holds those arguments, so the limit kernels plug
in wherever a kernel object is taken (tiled Grams, kernel least squares).
"""

from __future__ import annotations

import numpy as np

from .kernels import Kernel
from .limit_kernels import limit_kernel

_DIAGONAL_BLOCK = 256  # rows per block when only the diagonal K(x, x) is needed


class LimitKernel(Kernel):
    """``K(x, z) = limit_kernel(x, z, **options)``: the infinite-width kernel of a shallow
    network (Theorems 11.16 and 11.30, Proposition 11.28), in float64.

    Parameters
    ----------
    activation : str
    parametrization : {"lecun", "ntk"}
    kind : {"ntk", "nngp"}
    **options
        The other keyword arguments of :func:`widenet.limit_kernel` (variances,
        ``method``, ``order``); Monte Carlo is refused (its entries would not form one
        consistent matrix across tiles).
    """

    def __init__(self, activation: str, parametrization: str = "lecun", kind: str = "ntk", **options):
        if options.get("method") == "monte_carlo":
            raise ValueError("method: a LimitKernel needs a deterministic method (auto, closed_form, quadrature), "
                             "got 'monte_carlo'")
        if "backend" in options or "return_std" in options:
            raise TypeError("options: backend and return_std are not options of a LimitKernel")
        self.options = dict(activation=activation, parametrization=parametrization, kind=kind, **options)
        limit_kernel(np.zeros((1, 1)), **self.options)  # checks the options now, not inside a tile

    @classmethod
    def of(cls, network, kind: str = "ntk", **options) -> "LimitKernel":
        """The limit kernel of a network's configuration (its activation, parametrization and
        initial variances), as :meth:`widenet.ShallowNetwork.limit_kernel` computes it."""
        variances = {name: getattr(network, name) for name in ("weight_var", "bias_var", "output_var",
                                                                "output_bias_var")}
        return cls(network.activation, network.parametrization, kind, **variances, **options)

    def __call__(self, X1, X2=None, backend: str = "cpp") -> np.ndarray:
        return limit_kernel(X1, X2, backend=backend, **self.options)

    def gram(self, X1, X2, backend):
        return limit_kernel(X1, X2, backend=backend, **self.options)

    def diagonal(self, X, backend):
        X = np.asarray(X, dtype=np.float64)
        return np.concatenate([np.diagonal(limit_kernel(X[start:start + _DIAGONAL_BLOCK], backend=backend,
                                                        **self.options))
                               for start in range(0, X.shape[0], _DIAGONAL_BLOCK)])

    def __repr__(self) -> str:
        return "LimitKernel(" + ", ".join(f"{key}={value!r}" for key, value in self.options.items()) + ")"
