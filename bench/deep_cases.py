"""The benchmark cases of deep fully-connected networks (docs/theory.md, section 8) and widenet's rows.

Every deep network here is neural-tangents' ``stax.serial(Dense(n, W_std, b_std), act, ...,
Dense(1, W_std, b_std))`` with ``parameterization="ntk"``: widenet's NTK parametrization
with multipliers (``W_std^2`` = ``weight_var``, ``output_var`` for the readout; ``b_std``
likewise), so that the peers of ``deep_peers.py`` compute the same network, and
neural-tangents its infinite-width kernel too.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

import numpy as np

import widenet
from cases import F64, SEED, decreasing, inputs, train_network
from harness import Case, Target, implements
from widenet.network.deep import Network as DeepNetwork

# The benchmarks' deep network (with widths and an activation).
STAX = dict(parametrization="ntk", multipliers=True, bias_var=0.1, output_bias_var=0.1)


# -- deep_ntk_gram: the tangent Gram of a deep network, layer by layer ----------------------
def _deep_flops(m: int, d: int, widths: tuple) -> float:
    """Forward and backward products, and the Gram products (each counted as a full GEMM)."""
    fans = (d, *widths)
    passes = sum(2.0 * m * fan * n for fan, n in zip(fans, widths)) + sum(
        2.0 * m * fan * n for fan, n in zip(fans[1:], widths[1:]))
    grams = sum(2.0 * m * m * (fan + n) for fan, n in zip(fans, widths)) + 2.0 * m * m * widths[-1]
    return passes + grams


def deep_products(m: int, d: int, widths: tuple, dtype) -> Case:
    """The machine limit of the deep Gram: its own matrix products, measured alone in numpy."""
    def setup():
        fans = (d, *widths)
        return SimpleNamespace(inputs=[inputs(m, fan, dtype, SEED + k) for k, fan in enumerate(fans)],
                               weights=[inputs(n, fan, dtype, SEED + 10 + k) for k, (fan, n) in
                                        enumerate(zip(fans, widths))],
                               outputs=[inputs(m, n, dtype, SEED + 20 + k) for k, n in enumerate(widths)])

    return Case("deep_products", f"depth{len(widths)}", dtype, f"m={m} d={d} widths={list(widths)}", setup,
                reference="numpy", flops=_deep_flops(m, d, widths))


@implements("deep_products", "numpy")
def _(p):
    def call():
        total = 0.0
        for k, (A, W, D) in enumerate(zip(p.inputs, p.weights, p.outputs)):
            total += float((A @ W.T)[0, 0])  # the forward product of layer k + 1
            if k > 0:
                total += float((D @ W)[0, 0])  # its backward product
            total += float((A @ A.T)[0, 0]) + float((D @ D.T)[0, 0])  # the two Gram products (SYRK)
        total += float((p.inputs[-1] @ p.inputs[-1].T)[0, 0])  # the readout's
        return np.array([total])

    return call


def deep_ntk_gram(activation: str, m: int, d: int, widths: tuple, dtype) -> Case:
    def setup():
        net = DeepNetwork(d, list(widths), activation, seed=SEED, dtype=dtype, **STAX)
        return SimpleNamespace(net=net, X=inputs(m, d, dtype, SEED + 2))

    limit = deep_products(m, d, widths, dtype)
    return Case("deep_ntk_gram", f"{activation},depth{len(widths)}", dtype, f"m={m} d={d} widths={list(widths)}",
                setup, reference="numpy", targets=(Target("cpp", "numpy", 1.0, "cpp/numpy <= 1"),),
                flops=_deep_flops(m, d, widths), limit=limit.id)


@implements("deep_ntk_gram", "numpy")
def _(p):
    """The twin's layerwise formula, non-symmetric (X1 = X2)."""
    return lambda: p.net.ntk(p.X, p.X.copy(), backend="numpy")


@implements("deep_ntk_gram", "cpp")
def _(p):
    return lambda: p.net.ntk(p.X)


# -- deep_limit_gram: the infinite-width kernels of a deep network ---------------------------
def deep_limit_gram(activation: str, m: int, d: int, depth: int, kind: str = "ntk") -> Case:
    """The infinite-width tangent kernel (or NNGP) of the deep network (NTK parametrization, multipliers, biases)."""

    def setup():
        return SimpleNamespace(X=inputs(m, d, F64, SEED + 5), activation=activation, depth=depth, bias=True,
                               kind=kind, variances=(1.0, STAX["bias_var"], 1.0, STAX["output_bias_var"]))

    return Case("deep_limit_gram", f"{activation},depth{depth},{kind}", F64, f"m={m} d={d}", setup,
                reference="numpy", targets=(Target("cpp", "numpy", 1.0, "cpp/numpy <= 1"),
                                            Target("cpp", "nt_kernel_fn", 1.0, "cpp/nt_kernel_fn <= 1")))


def _deep_limit_gram(p, backend: str):
    return lambda: widenet.limit_kernel(p.X, activation=p.activation, depth=p.depth, kind=p.kind, backend=backend,
                                        **STAX)


implements("deep_limit_gram", "numpy")(functools.partial(_deep_limit_gram, backend="numpy"))
implements("deep_limit_gram", "cpp")(functools.partial(_deep_limit_gram, backend="cpp"))


# -- deep_gd: full-batch GD of one deep network ----------------------------------------------
def deep_gd(m: int, d: int, widths: tuple, steps: int) -> Case:
    def setup():
        fresh = functools.partial(DeepNetwork, d, list(widths), "relu", seed=SEED, **STAX)
        X = inputs(m, d, F64, SEED + 3)
        # Stable on the mean loss below lr = m / lambda_max(K) and trace(K) >= lambda_max: half
        # of m / trace(K) is safe (as gd_large).
        return SimpleNamespace(fresh=fresh, X=X, y=np.sin(X[:, 0]), lr=0.5 * m / fresh().ntk_diag(X).sum(),
                               steps=steps, record_every=max(1, steps // 10))

    return Case("deep_gd", f"relu,depth{len(widths)}", F64, f"m={m} d={d} widths={list(widths)} steps={steps}",
                setup, reference="numpy", validate=decreasing, targets=(Target("cpp", "numpy", 1.0, "cpp/numpy <= 1"),))


implements("deep_gd", "numpy")(functools.partial(train_network, backend="numpy"))
implements("deep_gd", "cpp")(functools.partial(train_network, backend="cpp"))


# -- nt_equality: widenet's kernels against neural-tangents' at a small size ----------------
# Variances other than 1, so that the multipliers matter. The limit's tolerance is that of
# neural-tangents' relu kernel on the diagonal (deep_peers.py); erf's agrees to 1e-15.
EQUALITY_VARIANCES = dict(weight_var=1.7, bias_var=0.3, output_var=0.6, output_bias_var=0.2)
EQUALITY_TOLERANCE = {"empirical": 1e-10, "limit": 1e-8}


def nt_equality(kind: str, activation: str, depth: int, bias: bool, m: int = 24, d: int = 8, n: int = 48) -> Case:
    """``kind`` "empirical" (the tangent kernel of the network's weights) or "limit" (infinite width)."""
    def setup():
        net = DeepNetwork(d, [n] * depth, activation, "ntk", multipliers=True, bias=bias, seed=SEED + depth,
                          **EQUALITY_VARIANCES)
        return SimpleNamespace(net=net, X=inputs(m, d, F64, SEED + 7), kind=kind)

    variant = f"{kind},{activation},depth{depth},{'bias' if bias else 'no_bias'}"
    return Case("nt_equality", variant, F64, f"m={m} d={d} widths={[n] * depth}", setup, reference="widenet",
                tolerance=EQUALITY_TOLERANCE[kind])


@implements("nt_equality", "widenet")
def _(p):
    return lambda: p.net.ntk(p.X) if p.kind == "empirical" else p.net.limit_kernel(p.X)


def build(quick: bool) -> list:
    m, n = (512, 512) if quick else (2048, 2048)
    cases = [case(m, 64, (n,) * depth, F64) for depth in (2, 3)
             for case in (functools.partial(deep_ntk_gram, "relu"), deep_products)]
    cases += [deep_limit_gram("relu", 1024 if quick else 4096, 64, depth, kind) for depth in (1, 2, 3)
              for kind in ("ntk", "nngp")]
    cases += [deep_limit_gram("erf", 1024 if quick else 4096, 64, depth) for depth in (1, 3)]
    cases.append(deep_gd(256, 16, (256, 256), steps=20) if quick else deep_gd(1024, 64, (1024, 1024), steps=100))
    return cases + [nt_equality(kind, activation, depth, bias) for kind in ("empirical", "limit")
                    for activation in ("relu", "erf") for depth in (1, 2, 3) for bias in (True, False)]


import deep_peers  # noqa: E402,F401 -- the peers' rows of these cases, registered on import
