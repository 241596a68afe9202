"""The infinite-width kernels of smooth activations by the Hermite expansion, against the method it replaced.

``limit_series``: ``K_NTK(X, X)`` in NTK parametrization, m points of dimension d drawn from
the standard normal law (pre-activation variances near 1, correlations near 0). For tanh and
arctan: ``cpp`` is the default (``"auto"``: the expansion), ``cpp_scale_mixture`` the scale
mixture that was the default before (tanh: 12 x 12 arcsine kernels per pair; arctan: an
integral of 60 to 200 nodes per pair), ``numpy`` the expansion's twin. For relu, the yardstick:
its closed form, one arc-cosine kernel per pair, in C++ and numpy. Every row is checked
against the numpy twin (1e-9 of the largest entry).
"""

from __future__ import annotations

from types import SimpleNamespace

import widenet
from cases import F64, SEED, inputs
from harness import Case, Skip, Target, implements


def limit_series(activation: str, m: int, d: int) -> Case:
    def setup():
        return SimpleNamespace(X=inputs(m, d, F64, SEED + 5), activation=activation)

    targets = () if activation == "relu" else (
        Target("cpp", "cpp_scale_mixture", 1 / 5, "expansion >= 5x faster than the scale mixture"),)
    return Case("limit_series", activation, F64, f"m={m} d={d}", setup, reference="numpy", targets=targets)


def _kernel(p, **options):
    return lambda: widenet.limit_kernel(p.X, activation=p.activation, parametrization="ntk", **options)


@implements("limit_series", "numpy")
def _(p):
    return _kernel(p, backend="numpy")


@implements("limit_series", "cpp")
def _(p):
    return _kernel(p)


@implements("limit_series", "cpp_scale_mixture")
def _(p):
    if p.activation not in widenet.kernels.limit.SCALE_MIXTURES:
        raise Skip(f"no scale mixture for {p.activation}")
    return _kernel(p, method="scale_mixture")


def build(quick: bool) -> list:
    m = 256 if quick else 1024
    return [limit_series(activation, m, 64) for activation in ("relu", "tanh", "arctan")]
