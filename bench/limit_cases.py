"""The infinite-width kernels of smooth activations by the Hermite expansion, against the method it replaced.

``limit_series``: ``K_NTK(X, X)`` in NTK parametrization, m points of dimension d drawn from
the standard normal law (pre-activation variances near 1, correlations near 0). For tanh and
arctan: ``cpp`` is the default (``"auto"``: the expansion), ``cpp_scale_mixture`` the scale
mixture that was the default before (tanh: 12 x 12 arcsine kernels per pair; arctan: an
integral of 60 to 200 nodes per pair), ``numpy`` the expansion's twin. For relu, the yardstick:
its closed form, one arc-cosine kernel per pair, in C++ and numpy. Every row is checked
against the numpy twin (1e-9 of the largest entry).

``limit_gram_by_activation``: the NTK and NNGP Grams ``limit_kernel(X, kind=...)`` of m = 4096 points
(d = 64, NTK parametrization, biases) for relu, whose closed form is the yardstick, and for
the smooth activations tanh, arctan, gelu, softplus and sin, which take the expansion. The
rows of one run are meant to be read against the relu row of the same kind: each smooth
activation's time over relu's (at most 10 is the goal). The numpy twin would take minutes
here, so every answer is checked instead on its leading 256 x 256 block against the twin's
Gram of those 256 points (1e-9 of the block's largest entry).
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

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


CHECKED_POINTS = 256
GRAM_ACTIVATIONS = ("relu", "tanh", "arctan", "gelu", "softplus", "sin")


def limit_gram_by_activation(activation: str, kind: str, m: int, d: int) -> Case:
    options = dict(activation=activation, kind=kind, parametrization="ntk")
    twin = {}  # the twin's Gram of the leading points, made with the problem

    def setup():
        X = inputs(m, d, F64, SEED + 6)
        twin["block"] = widenet.limit_kernel(X[:CHECKED_POINTS], backend="numpy", **options)
        return SimpleNamespace(X=X, options=options)

    def against_twin(answer: np.ndarray):
        block = twin["block"]
        error = np.max(np.abs(answer[:CHECKED_POINTS, :CHECKED_POINTS] - block)) / np.max(np.abs(block))
        return None if error <= 1e-9 else f"leading block off the numpy twin by {error:.1e} of its largest entry"

    return Case("limit_gram_by_activation", f"{activation},{kind}", F64, f"m={m} d={d}", setup, reference="cpp",
                validate=against_twin)


@implements("limit_gram_by_activation", "cpp")
def _(p):
    return lambda: widenet.limit_kernel(p.X, **p.options)


def build(quick: bool) -> list:
    m = 256 if quick else 1024
    grams = [limit_gram_by_activation(activation, kind, 512 if quick else 4096, 64)
             for kind in ("ntk", "nngp") for activation in GRAM_ACTIVATIONS]
    return [limit_series(activation, m, 64) for activation in ("relu", "tanh", "arctan")] + grams
