"""Peer implementations of the deep networks' cases (``deep_cases.py``).

Every peer computes widenet's network ``h^l = m_l W^l a^(l-1) + beta_l b^l``, ``Phi = m_out
v . a^L + beta_out c`` from its parameters and scales ``(m_l, beta_l)`` (``net.scales``), so
the harness's check against the numpy twin holds them to the same answer.

Rows
----
deep_ntk_gram, the tangent Gram ``K(X, X)``:

- ``torch``, ``jax`` (jit-compiled): the layerwise structured formula of docs/theory.md,
  section 8, symmetric (one forward and one backward pass, ``A A^T`` and ``D D^T``
  products).
- ``nt_jacobian``, ``nt_vector_products``, ``nt_structured``, ``nt_auto``:
  ``neural_tangents.empirical_ntk_fn`` with each implementation, on the network as stax
  layers (``x @ W``, see ``nt_runner.py``); the first two are skipped beyond the sizes
  within reach (an ``m x P`` Jacobian; ``m^2 P`` work), as in ``peers.py``.

deep_limit_gram: ``nt_kernel_fn``, neural-tangents' ``kernel_fn(X, None, kind)`` of the
same stax layers (``kind`` the case's, "ntk" or "nngp"), jit-compiled.

deep_gd: ``jax``, ``jax.value_and_grad`` of the loss in one jit-compiled ``lax.fori_loop``.

nt_equality: ``nt``, neural-tangents' kernel of the case's kind: ``empirical_ntk_fn`` by
Jacobian contraction (``J J^T`` by automatic differentiation, the definition) or
``kernel_fn``; the harness reports the largest difference relative to widenet's largest
entry.
"""

from __future__ import annotations

import functools

import numpy as np

import nt_peer
import nt_runner
import peers
from harness import Skip, implements


def _layers(net) -> tuple:
    """``(weights, biases or None, scales)``: the parameters as the peers take them."""
    weights = [np.asarray(W) for W in net.params.weights]
    biases = None if net.params.biases is None else [np.asarray(b) for b in net.params.biases]
    return weights, biases, tuple(tuple(map(float, scale)) for scale in net.scales)


# -- PyTorch -----------------------------------------------------------------------------------
@implements("deep_ntk_gram", "torch", requires=("torch",))
def _(p):
    torch = peers.torch_module()
    weights, biases, scales = _layers(p.net)
    X, *weights = peers.tensors(p.X, *weights)
    biases = None if biases is None else peers.tensors(*biases)
    sigma, derivative = peers.torch_activation(p.net.activation)

    def call():
        with torch.inference_mode():
            A, H = [X], []
            for k, (m, beta) in enumerate(scales[:-1]):
                h = m * (A[-1] @ weights[k].T)
                H.append(h if biases is None else h + beta * biases[k])
                A.append(sigma(H[-1]))
            (m_out, beta_out), D = scales[-1], None
            K = m_out * m_out * (A[-1] @ A[-1].T) + (0 if biases is None else beta_out * beta_out)
            for k in range(len(H) - 1, -1, -1):
                m_next = scales[k + 1][0]
                G = weights[k + 1] * m_next if D is None else (D @ weights[k + 1]) * m_next
                D = G * derivative(H[k])
                m, beta = scales[k]
                K += (m * m * (A[k] @ A[k].T) + (0 if biases is None else beta * beta)) * (D @ D.T)
            return K.numpy()

    return call


# -- JAX ---------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _jax():
    """The jit-compiled deep functions (made once: their compilations are reused)."""
    jax, _ = peers.jax_functions()  # float64 enabled
    import jax.numpy as jnp

    def forward(params, X, scales, activation):
        (weights, biases), sigma = params, nt_runner.jax_activation(activation)[0]
        A, H = [X], []
        for k, (m, beta) in enumerate(scales[:-1]):
            h = m * (A[-1] @ weights[k].T)
            H.append(h if biases is None else h + beta * biases[k])
            A.append(sigma(H[-1]))
        m_out, beta_out = scales[-1]
        return A, H, m_out * (A[-1] @ weights[-1]) + (0 if biases is None else beta_out * biases[-1])

    @functools.partial(jax.jit, static_argnames=("scales", "activation"))
    def gram(params, X, scales, activation):
        derivative = nt_runner.jax_activation(activation)[1]
        (weights, biases), (A, H, _) = params, forward(params, X, scales, activation)
        (m_out, beta_out), D = scales[-1], None
        K = m_out * m_out * (A[-1] @ A[-1].T) + (0 if biases is None else beta_out * beta_out)
        for k in range(len(H) - 1, -1, -1):
            m_next = scales[k + 1][0]
            D = (weights[k + 1] * m_next if D is None else (D @ weights[k + 1]) * m_next) * derivative(H[k])
            m, beta = scales[k]
            K += (m * m * (A[k] @ A[k].T) + (0 if biases is None else beta * beta)) * (D @ D.T)
        return K

    @functools.partial(jax.jit, static_argnames=("scales", "activation", "steps", "every"))
    def gd(params, X, y, lr, scale, scales, activation, steps, every):
        def loss(params):
            r = forward(params, X, scales, activation)[2] - y
            return scale * jnp.sum(r * r)

        return peers.fori_gd(loss, params, lr, steps, every, X.dtype)

    return dict(gram=gram, gd=gd)


def _jax_params(net) -> tuple:
    weights, biases, scales = _layers(net)
    params = (peers.jax_arrays(*weights), None if biases is None else peers.jax_arrays(*biases))
    return params, scales


@implements("deep_ntk_gram", "jax", requires=("jax",))
def _(p):
    functions = _jax()
    params, scales = _jax_params(p.net)
    X = peers.jax_arrays(p.X)[0]
    return lambda: np.asarray(functions["gram"](params, X, scales, p.net.activation).block_until_ready())


@implements("deep_gd", "jax", requires=("jax",))
def _(p):
    functions, network = _jax(), p.fresh()
    params, scales = _jax_params(network)
    X, y = peers.jax_arrays(p.X, p.y)
    return lambda: np.asarray(functions["gd"](params, X, y, p.lr, 1.0 / len(p.X), scales, network.activation,
                                              p.steps, p.record_every))


# -- neural-tangents ---------------------------------------------------------------------------
def _network_problem(p):
    return nt_peer.network_problem(p.X, p.net.params.layers, p.net.scales, p.net.activation)


def _nt_gram_row(p, implementation: str):
    peers.check_nt_size(implementation, len(p.X), p.net.num_params, p.X.dtype)
    return nt_peer.run_row(p, functools.partial(_network_problem, p), implementation)


for _row, _implementation in peers.NT_ROWS.items():
    implements("deep_ntk_gram", _row)(functools.partial(_nt_gram_row, implementation=_implementation))


# neural-tangents' relu kernel takes arccos of the correlation as computed, which on the
# diagonal rounds to 1 - 1e-16 instead of 1: an angle of about 1e-8 where it is 0, and
# entries off by a few 1e-9 of the largest (measured; off the diagonal 1e-16).
NT_RELU_LIMIT_TOLERANCE = 1e-8


@implements("deep_limit_gram", "nt_kernel_fn", tolerance=NT_RELU_LIMIT_TOLERANCE)
def _(p):
    problem = functools.partial(nt_peer.limit_problem, p.X, p.activation, p.depth, p.variances, p.bias)
    return nt_peer.run_row(p, problem, nt_runner.KERNEL_FN if p.kind == "ntk" else nt_runner.KERNEL_FN_NNGP)


@implements("nt_equality", "nt")
def _(p):
    if p.kind == "empirical":
        return nt_peer.run_row(p, functools.partial(_network_problem, p), "JACOBIAN_CONTRACTION")
    if not (p.net.multipliers and p.net.parametrization == "ntk"):
        raise Skip("neural-tangents' kernel_fn is the NTK parametrization with multipliers")
    variances = (p.net.weight_var, p.net.bias_var, p.net.output_var, p.net.output_bias_var)
    problem = functools.partial(nt_peer.limit_problem, p.X, p.net.activation, p.net.depth, variances, p.net.bias)
    return nt_peer.run_row(p, problem, nt_runner.KERNEL_FN)
