"""Peer implementations of the benchmark cases: PyTorch (CPU), JAX and neural-tangents.

Every peer computes the same network as the case, widenet's
``Phi(x) = a v . sigma(s U x + b) + c`` with its parameters ``U`` (n x d), ``b``, ``v``,
``c`` and the scales ``(a, s) = (1, 1)`` (LeCun) or ``(n^{-1/2}, d^{-1/2})`` (NTK
parametrization), so the harness's check against the numpy reference holds them to the
same answer. Each row is skipped, with the reason, when its package is missing.

Rows
----
ntk_gram, the tangent Gram ``K(X, X)``:

- ``torch``: the structured formula with torch ops, as ``numpy_sym`` (one set of
  activations, ``A A^T`` products; torch has no symmetric rank update, so these are GEMMs).
- ``torch_jacobian``: the recipe of PyTorch's NTK tutorial, ``vmap(jacrev(f))`` for the
  per-example Jacobians, then an einsum over the parameters. The Jacobian is computed
  once (``X1 = X2``; the tutorial's function computes it for each argument).
- ``jax``: the structured formula, jit-compiled.
- ``jax_jacobian``: ``vmap(jacrev(f))`` and an einsum, jit-compiled.
- ``nt_jacobian``, ``nt_vector_products``, ``nt_structured``, ``nt_auto``:
  ``neural_tangents.empirical_ntk_fn`` (``vmap_axes=0``, ``x2=None``) with its
  implementations JACOBIAN_CONTRACTION, NTK_VECTOR_PRODUCTS, STRUCTURED_DERIVATIVES and
  AUTO, jit-compiled, on the network written as neural-tangents' stax layers, ``x @ W``
  (see ``nt_runner.py``).

The Jacobian rows hold an ``m x P`` Jacobian (``P = n (d + 2) + 1``), about 9 GB at the
full size in float64; they are skipped when it exceeds ``WIDENET_BENCH_JACOBIAN_GB``
(default 2), which the quick sizes do not.

gd_fig113 (80 networks) and gd_large (one network), full-batch GD on the mean loss,
answering the recorded losses like widenet's ``train``:

- ``torch``: manual gradients (the formulas of ``widenet.reference``), all networks
  batched in one set of tensors, a Python loop over the steps.
- ``jax``: ``jax.value_and_grad`` of the loss inside one jit-compiled ``lax.fori_loop``;
  ``vmap`` over the 80 networks.

Setting up the peers
--------------------
- ``pip install torch==2.13.0`` (pinned: an unpinned torch pulls a CUDA build) and
  ``pip install jax==0.5.3 jaxlib==0.5.3``. JAX runs with float64 enabled.
- neural-tangents 0.6.5 (its last release) imports only with an older JAX. With jax 0.5.3
  and ``tf2jax==0.3.6`` installed here, Jacobian contraction and NTK vector products work
  and the other two are skipped with the error they raise. All four work with jax 0.4.25,
  which needs numpy < 2, so in a virtual environment of its own::

      python -m venv NT_ENV
      NT_ENV/bin/pip install jax==0.4.25 jaxlib==0.4.25 "numpy<2" neural-tangents==0.6.5 \\
          tf2jax==0.3.6 "tensorflow-cpu<2.18" scipy
      WIDENET_NT_PYTHON=NT_ENV/bin/python python bench/run.py ...

  With ``WIDENET_NT_PYTHON`` set, the nt rows run in a worker process started with that
  Python (``nt_runner.py``; widenet need not be installed there), as ``nt_peer.py``
  describes: compiled untimed, the answer passed back through a file, and the peak RSS of
  an ``--isolate`` row the harness process's plus the worker's.

The deep networks' rows are in ``deep_peers.py``.
"""

from __future__ import annotations

import functools
import math
import os

import numpy as np

import nt_peer
import widenet
from harness import Skip, implements

JACOBIAN_GB = "WIDENET_BENCH_JACOBIAN_GB"


def _scales(network) -> tuple:
    """``(a, s)`` of ``Phi(x) = a v . sigma(s U x + b) + c``."""
    if network.parametrization == "lecun":
        return 1.0, 1.0
    return network.width ** -0.5, network.input_dim ** -0.5


def recorded_steps(steps: int, every: int) -> list:
    """The steps at which widenet's ``train`` records: 0, every, 2 every, ..., and the last."""
    ks = list(range(0, steps + 1, every))
    return ks if ks[-1] == steps else ks + [steps]


def check_jacobian_size(m: int, P: int, dtype) -> None:
    """Skips a row that holds the ``m x P`` Jacobian when it exceeds the limit."""
    limit = float(os.environ.get(JACOBIAN_GB, "2"))
    size = m * P * np.dtype(dtype).itemsize / 1e9
    if size > limit:
        raise Skip(f"the m x P Jacobian ({m} x {P} {np.dtype(dtype).name}) takes {size:.1f} GB, over the "
                   f"{limit:g} GB limit for Jacobian rows ({JACOBIAN_GB}); measured at the quick size")


# -- PyTorch ---------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def torch_module():
    import torch

    torch.set_num_threads(widenet.get_num_threads())  # the threads the table reports
    return torch


def torch_activation(name: str) -> tuple:
    """``(sigma, sigma')`` of widenet's activations as torch functions."""
    torch = torch_module()
    F = torch.nn.functional
    inv_sqrt2, inv_sqrt_2pi, two_over_sqrt_pi = 1 / math.sqrt(2), 1 / math.sqrt(2 * math.pi), 2 / math.sqrt(math.pi)

    def normal_cdf(z):
        return 0.5 * (1 + torch.erf(z * inv_sqrt2))

    table = {
        "relu": (torch.relu, lambda z: (z > 0).to(z.dtype)),
        "tanh": (torch.tanh, lambda z: 1 - torch.tanh(z) ** 2),
        "erf": (torch.erf, lambda z: two_over_sqrt_pi * torch.exp(-z * z)),
        "arctan": (torch.atan, lambda z: 1 / (1 + z * z)),
        "sigmoid": (torch.sigmoid, lambda z: torch.sigmoid(z) * torch.sigmoid(-z)),
        # softplus(z) = log(1 + e^z); torch returns z itself above z = 20 (an error below 2e-9)
        "softplus": (F.softplus, torch.sigmoid),
        "gelu": (F.gelu, lambda z: normal_cdf(z) + z * inv_sqrt_2pi * torch.exp(-0.5 * z * z)),
        "sin": (torch.sin, torch.cos),
        "identity": (lambda z: z, torch.ones_like),
    }
    return table[name]


def tensors(*arrays) -> list:
    torch = torch_module()
    return [torch.from_numpy(np.array(x)) for x in arrays]  # copies: training updates them in place


@implements("ntk_gram", "torch", requires=("torch",))
def _(p):
    torch = torch_module()
    X, U, b, v = tensors(p.X, *p.net.params.arrays()[:3])
    a, s = _scales(p.net)
    sigma, derivative = torch_activation(p.net.activation)

    def call():
        with torch.inference_mode():
            Z = torch.addmm(b, X, U.T, alpha=s)  # s X U^T + b
            A, G = sigma(Z), derivative(Z) * v
            K = (s * s) * (X @ X.T) + 1
            K *= G @ G.T
            K += A @ A.T
            return (a * a * K + 1).numpy()

    return call


@implements("ntk_gram", "torch_jacobian", requires=("torch",))
def _(p):
    check_jacobian_size(len(p.X), p.net.num_params, p.X.dtype)
    torch = torch_module()
    from torch.func import jacrev, vmap

    X, U, b, v, c = tensors(p.X, *p.net.params.arrays())
    params = {"U": U, "b": b, "v": v, "c": c}
    a, s = _scales(p.net)
    sigma = torch_activation(p.net.activation)[0]
    m = len(p.X)

    def f(params, x):  # one example x (d,) -> Phi(x)
        return a * (sigma(s * (params["U"] @ x) + params["b"]) @ params["v"]) + params["c"]

    def call():
        jacobian = vmap(jacrev(f), in_dims=(None, 0))(params, X)  # name -> (m, *shape)
        blocks = [J.reshape(m, -1) for J in jacobian.values()]
        return sum(torch.einsum("if,jf->ij", J, J) for J in blocks).detach().numpy()

    return call


def _torch_gd(U, b, v, c, X, y, lr, network, loss_scale, steps, every) -> np.ndarray:
    """GD with manual gradients for a stack of R networks (U (R, n, d), b, v (R, n), c (R,)):
    the losses ``loss_scale |Phi(X) - y|^2`` at the recorded steps, shape (R, count)."""
    torch = torch_module()
    a, s = _scales(network)
    sigma, derivative = torch_activation(network.activation)
    recorded, losses = set(recorded_steps(steps, every)), []
    with torch.inference_mode():
        for k in range(steps + 1):
            Z = torch.baddbmm(b.unsqueeze(1), X.expand(len(U), -1, -1), U.transpose(1, 2), alpha=s)  # (R, m, n)
            A = sigma(Z)
            r = a * torch.bmm(A, v.unsqueeze(2)).squeeze(2) + c.unsqueeze(1) - y  # residuals (R, m)
            if k in recorded:
                losses.append(loss_scale * (r * r).sum(1))
            if k == steps:
                break
            g = (2 * loss_scale) * r  # d loss / d Phi
            G = derivative(Z)
            G *= v.unsqueeze(1)
            G *= (a * g).unsqueeze(2)  # (R, m, n)
            gU = s * torch.matmul(G.transpose(1, 2), X)
            gv = a * torch.bmm(A.transpose(1, 2), g.unsqueeze(2)).squeeze(2)
            U.sub_(gU, alpha=lr)
            b.sub_(G.sum(1), alpha=lr)
            v.sub_(gv, alpha=lr)
            c.sub_(g.sum(1), alpha=lr)
    return torch.stack(losses, 1).numpy()


@implements("gd_fig113", "torch", requires=("torch",))
def _(p):
    ensemble = p.fresh()
    X, y, U, b, v, c = tensors(p.X, p.y, *p.initial)
    scale = 1.0 / len(p.X)  # the case's mean loss
    return lambda: _torch_gd(U, b, v, c, X, y, p.lr, ensemble, scale, p.steps, p.steps)


@implements("gd_large", "torch", requires=("torch",))
def _(p):
    network = p.fresh()
    X, y, U, b, v, c = tensors(p.X, p.y, *(np.expand_dims(x, 0) for x in network.params.arrays()))
    scale = 1.0 / len(p.X)
    return lambda: _torch_gd(U, b, v, c, X, y, p.lr, network, scale, p.steps, p.record_every)[0]


# -- JAX ---------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def jax_functions():
    """The jit-compiled JAX functions, made once so that their compilations are reused."""
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    from nt_runner import jax_activation

    static = functools.partial(jax.jit, static_argnames=("activation",))

    @static
    def gram(X, U, b, v, a, s, activation):
        sigma, derivative = jax_activation(activation)
        Z = s * (X @ U.T) + b
        A, G = sigma(Z), derivative(Z) * v
        return a * a * ((s * s * (X @ X.T) + 1) * (G @ G.T) + A @ A.T) + 1

    @static
    def gram_jacobian(X, params, a, s, activation):
        sigma = jax_activation(activation)[0]

        def f(params, x):  # one example
            U, b, v, c = params
            return a * (sigma(s * (U @ x) + b) @ v) + c

        blocks = [J.reshape(len(X), -1) for J in jax.vmap(jax.jacrev(f), in_axes=(None, 0))(params, X)]
        return sum(jnp.einsum("if,jf->ij", J, J) for J in blocks)

    def gd_losses(params, X, y, lr, a, s, scale, activation, steps, every):
        sigma = jax_activation(activation)[0]

        def loss(params):
            U, b, v, c = params
            r = a * (sigma(s * (X @ U.T) + b) @ v) + c - y
            return scale * jnp.sum(r * r)

        return fori_gd(loss, params, lr, steps, every, X.dtype)

    statics = ("activation", "steps", "every")

    @functools.partial(jax.jit, static_argnames=statics)
    def gd(params, X, y, lr, a, s, scale, activation, steps, every):
        return gd_losses(params, X, y, lr, a, s, scale, activation, steps, every)

    @functools.partial(jax.jit, static_argnames=statics)
    def gd_ensemble(params, X, y, lr, a, s, scale, activation, steps, every):
        one = functools.partial(gd_losses, activation=activation, steps=steps, every=every)
        return jax.vmap(one, in_axes=(0,) + (None,) * 6)(params, X, y, lr, a, s, scale)

    return jax, dict(gram=gram, gram_jacobian=gram_jacobian, gd=gd, gd_ensemble=gd_ensemble)


def fori_gd(loss, params, lr, steps: int, every: int, dtype):
    """JAX: ``steps`` GD steps on ``loss(params)`` in one ``lax.fori_loop``, traced inside a
    jit-compiled function; the losses at the steps widenet's ``train`` records."""
    import jax
    import jax.numpy as jnp

    value_and_grad = jax.value_and_grad(loss)
    count = len(recorded_steps(steps, every))

    def step(k, state):
        params, losses = state
        value, grads = value_and_grad(params)
        slot = k // every  # records at k = 0, every, 2 every, ...
        losses = losses.at[slot].set(jnp.where(k % every == 0, value, losses[slot]))
        return jax.tree_util.tree_map(lambda w, g: w - lr * g, params, grads), losses

    params, losses = jax.lax.fori_loop(0, steps, step, (params, jnp.zeros(count, dtype)))
    return losses.at[count - 1].set(loss(params))


def jax_arrays(*arrays) -> list:
    jax, _ = jax_functions()
    return [jax.numpy.asarray(np.asarray(x)) for x in arrays]


@implements("ntk_gram", "jax", requires=("jax",))
def _(p):
    jax, functions = jax_functions()
    X, U, b, v = jax_arrays(p.X, *p.net.params.arrays()[:3])
    a, s = _scales(p.net)
    return lambda: np.asarray(functions["gram"](X, U, b, v, a, s, p.net.activation).block_until_ready())


@implements("ntk_gram", "jax_jacobian", requires=("jax",))
def _(p):
    check_jacobian_size(len(p.X), p.net.num_params, p.X.dtype)
    jax, functions = jax_functions()
    X, *params = jax_arrays(p.X, *p.net.params.arrays())
    a, s = _scales(p.net)
    return lambda: np.asarray(functions["gram_jacobian"](X, tuple(params), a, s, p.net.activation)
                              .block_until_ready())


@implements("gd_fig113", "jax", requires=("jax",))
def _(p):
    jax, functions = jax_functions()
    ensemble = p.fresh()
    X, y, *params = jax_arrays(p.X, p.y, *p.initial)
    a, s = _scales(ensemble)
    return lambda: np.asarray(functions["gd_ensemble"](tuple(params), X, y, p.lr, a, s, 1.0 / len(p.X),
                                                       ensemble.activation, p.steps, p.steps))


@implements("gd_large", "jax", requires=("jax",))
def _(p):
    jax, functions = jax_functions()
    network = p.fresh()
    X, y, *params = jax_arrays(p.X, p.y, *network.params.arrays())
    a, s = _scales(network)
    return lambda: np.asarray(functions["gd"](tuple(params), X, y, p.lr, a, s, 1.0 / len(p.X),
                                              network.activation, p.steps, p.record_every))


# -- neural-tangents ---------------------------------------------------------------------------
NT_ROWS = {"nt_jacobian": "JACOBIAN_CONTRACTION", "nt_vector_products": "NTK_VECTOR_PRODUCTS",
           "nt_structured": "STRUCTURED_DERIVATIVES", "nt_auto": "AUTO"}

# NTK vector products cost about m^2 P multiply-adds (m^2 products with the network's
# Jacobian): 1.8e10 for the shallow network at the quick size, where a call takes about
# 30 s here, and 128 times that at the full size.
VECTOR_PRODUCTS_LIMIT = 4e10


def check_nt_size(implementation: str, m: int, P: int, dtype) -> None:
    """Skips an implementation of ``empirical_ntk_fn`` whose cost or memory is out of reach."""
    if implementation == "JACOBIAN_CONTRACTION":
        check_jacobian_size(m, P, dtype)
    if implementation == "NTK_VECTOR_PRODUCTS" and m * m * P > VECTOR_PRODUCTS_LIMIT:
        raise Skip(f"NTK vector products cost about m^2 P = {m * m * P:.1e} multiply-adds, over this harness's "
                   f"limit of {VECTOR_PRODUCTS_LIMIT:.0e} (at 1.8e10 a call takes about 30 s); measured at the "
                   f"quick size")


def _nt_row(p, implementation: str):
    U, b, v, c = p.net.params.arrays()
    check_nt_size(implementation, len(p.X), p.net.num_params, p.X.dtype)
    a, s = _scales(p.net)
    problem = functools.partial(nt_peer.network_problem, p.X, [(U, b), (v, c)], [(s, 1.0), (a, 1.0)],
                                p.net.activation)
    return nt_peer.run_row(p, problem, implementation)


for _row, _implementation in NT_ROWS.items():
    implements("ntk_gram", _row)(functools.partial(_nt_row, implementation=_implementation))
