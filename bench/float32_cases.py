"""float32 networks whose activations are evaluated in float, against the evaluation in double
that float32 took before, in the same run.

``float32_forward``: the outputs ``Phi(X)`` of a float32 shallow network of width n at m points
of dimension d; ``float32_gradient``: the gradient of the mean squared loss (a GD step's work:
the forward pass with sigma', and the backward products). ``cpp`` evaluates the activation in
float (16 entries per AVX-512 vector), ``cpp_double_eval`` in double, rounded once (the
switch ``_core._set_float32_in_double``); ``numpy`` is the twin, the reference (float32
answers agree to 1e-4 of the largest entry).
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

import widenet
from cases import F32, SEED, inputs
from harness import Case, implements
from widenet import _core


def _problem(activation: str, m: int, d: int, n: int):
    def setup():
        net = widenet.ShallowNetwork(d, n, activation=activation, seed=SEED, dtype=F32)
        X = inputs(m, d, F32, SEED + 7)
        return SimpleNamespace(net=net, X=X, y=np.sin(X[:, 0]))

    return setup


def float32_forward(activation: str, m: int, d: int, n: int) -> Case:
    return Case("float32_forward", activation, F32, f"m={m} d={d} n={n}", _problem(activation, m, d, n),
                reference="numpy", tolerance=1e-4)


def float32_gradient(activation: str, m: int, d: int, n: int) -> Case:
    return Case("float32_gradient", activation, F32, f"m={m} d={d} n={n}", _problem(activation, m, d, n),
                reference="numpy", tolerance=1e-4)


def _in_double(call):
    """`call` with float32 activations evaluated in double, as before the float evaluation."""
    def wrapped():
        previous = _core._set_float32_in_double(True)
        try:
            return call()
        finally:
            _core._set_float32_in_double(previous)

    return wrapped


def _forward(p, backend="cpp"):
    return lambda: p.net.forward(p.X, backend=backend)


def _gradient(p, backend="cpp"):
    def call():
        _, gradient = p.net.loss_grad(p.X, p.y, loss="mean", backend=backend)
        return np.concatenate([np.ravel(block) for block in gradient.arrays()])

    return call


implements("float32_forward", "numpy")(lambda p: _forward(p, "numpy"))
implements("float32_forward", "cpp")(_forward)
implements("float32_forward", "cpp_double_eval")(lambda p: _in_double(_forward(p)))
implements("float32_gradient", "numpy")(lambda p: _gradient(p, "numpy"))
implements("float32_gradient", "cpp")(_gradient)
implements("float32_gradient", "cpp_double_eval")(lambda p: _in_double(_gradient(p)))


def build(quick: bool) -> list:
    m, d, n = (256, 64, 1024) if quick else (1024, 64, 4096)
    return [make(activation, m, d, n) for make in (float32_forward, float32_gradient)
            for activation in ("arctan", "tanh", "gelu")]
