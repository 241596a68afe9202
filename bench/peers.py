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
  AUTO, jit-compiled, on the network written as ``x @ W`` (see ``nt_runner.py``).

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
      NT_ENV/bin/pip install jax==0.4.25 jaxlib==0.4.25 "numpy<2" neural-tangents==0.6.5 tf2jax==0.3.6
      WIDENET_NT_PYTHON=NT_ENV/bin/python python bench/run.py ...

  With ``WIDENET_NT_PYTHON`` set, the nt rows run in a worker process started with that
  Python (``nt_runner.py``; widenet need not be installed there). The worker compiles
  untimed; a timed call includes passing the ``m x m`` answer back through a ``.npy``
  file (about 1% of the call at the full size), and the row's peak RSS, with
  ``--isolate``, is the harness process's, not the worker's.
"""

from __future__ import annotations

import atexit
import functools
import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

import harness
import widenet
from harness import Skip, implements

HERE = Path(__file__).resolve().parent
NT_PYTHON = "WIDENET_NT_PYTHON"
JACOBIAN_GB = "WIDENET_BENCH_JACOBIAN_GB"


def _scales(network) -> tuple:
    """``(a, s)`` of ``Phi(x) = a v . sigma(s U x + b) + c``."""
    if network.parametrization == "lecun":
        return 1.0, 1.0
    return network.width ** -0.5, network.input_dim ** -0.5


def _recorded_steps(steps: int, every: int) -> list:
    """The steps at which widenet's ``train`` records: 0, every, 2 every, ..., and the last."""
    ks = list(range(0, steps + 1, every))
    return ks if ks[-1] == steps else ks + [steps]


def _check_jacobian_size(p) -> None:
    n, d = np.shape(p.net.params.arrays()[0])
    m, P, itemsize = len(p.X), n * (d + 2) + 1, np.dtype(p.X.dtype).itemsize
    limit = float(os.environ.get(JACOBIAN_GB, "2"))
    size = m * P * itemsize / 1e9
    if size > limit:
        raise Skip(f"the m x P Jacobian ({m} x {P} {np.dtype(p.X.dtype).name}) takes {size:.1f} GB, over the "
                   f"{limit:g} GB limit for Jacobian rows ({JACOBIAN_GB}); measured at the quick size")


# -- PyTorch ---------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _torch():
    import torch

    torch.set_num_threads(widenet.get_num_threads())  # the threads the table reports
    return torch


def _torch_activation(name: str) -> tuple:
    """``(sigma, sigma')`` of widenet's activations as torch functions."""
    torch = _torch()
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


def _tensors(*arrays) -> list:
    torch = _torch()
    return [torch.from_numpy(np.array(x)) for x in arrays]  # copies: training updates them in place


@implements("ntk_gram", "torch", requires=("torch",))
def _(p):
    torch = _torch()
    X, U, b, v = _tensors(p.X, *p.net.params.arrays()[:3])
    a, s = _scales(p.net)
    sigma, derivative = _torch_activation(p.net.activation)

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
    _check_jacobian_size(p)
    torch = _torch()
    from torch.func import jacrev, vmap

    X, U, b, v, c = _tensors(p.X, *p.net.params.arrays())
    params = {"U": U, "b": b, "v": v, "c": c}
    a, s = _scales(p.net)
    sigma = _torch_activation(p.net.activation)[0]
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
    torch = _torch()
    a, s = _scales(network)
    sigma, derivative = _torch_activation(network.activation)
    recorded, losses = set(_recorded_steps(steps, every)), []
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
    X, y, U, b, v, c = _tensors(p.X, p.y, *p.initial)
    scale = 1.0 / len(p.X)  # the case's mean loss
    return lambda: _torch_gd(U, b, v, c, X, y, p.lr, ensemble, scale, p.steps, p.steps)


@implements("gd_large", "torch", requires=("torch",))
def _(p):
    network = p.fresh()
    X, y, U, b, v, c = _tensors(p.X, p.y, *(np.expand_dims(x, 0) for x in network.params.arrays()))
    scale = 1.0 / len(p.X)
    return lambda: _torch_gd(U, b, v, c, X, y, p.lr, network, scale, p.steps, p.record_every)[0]


# -- JAX ---------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _jax():
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

        value_and_grad = jax.value_and_grad(loss)
        count = len(_recorded_steps(steps, every))

        def step(k, state):
            params, losses = state
            value, grads = value_and_grad(params)
            slot = k // every  # records at k = 0, every, 2 every, ...
            losses = losses.at[slot].set(jnp.where(k % every == 0, value, losses[slot]))
            return jax.tree_util.tree_map(lambda w, g: w - lr * g, params, grads), losses

        params, losses = jax.lax.fori_loop(0, steps, step, (params, jnp.zeros(count, X.dtype)))
        return losses.at[count - 1].set(loss(params))

    statics = ("activation", "steps", "every")

    @functools.partial(jax.jit, static_argnames=statics)
    def gd(params, X, y, lr, a, s, scale, activation, steps, every):
        return gd_losses(params, X, y, lr, a, s, scale, activation, steps, every)

    @functools.partial(jax.jit, static_argnames=statics)
    def gd_ensemble(params, X, y, lr, a, s, scale, activation, steps, every):
        one = functools.partial(gd_losses, activation=activation, steps=steps, every=every)
        return jax.vmap(one, in_axes=(0,) + (None,) * 6)(params, X, y, lr, a, s, scale)

    return jax, dict(gram=gram, gram_jacobian=gram_jacobian, gd=gd, gd_ensemble=gd_ensemble)


def _jax_arrays(*arrays) -> list:
    jax, _ = _jax()
    return [jax.numpy.asarray(np.asarray(x)) for x in arrays]


@implements("ntk_gram", "jax", requires=("jax",))
def _(p):
    jax, functions = _jax()
    X, U, b, v = _jax_arrays(p.X, *p.net.params.arrays()[:3])
    a, s = _scales(p.net)
    return lambda: np.asarray(functions["gram"](X, U, b, v, a, s, p.net.activation).block_until_ready())


@implements("ntk_gram", "jax_jacobian", requires=("jax",))
def _(p):
    _check_jacobian_size(p)
    jax, functions = _jax()
    X, *params = _jax_arrays(p.X, *p.net.params.arrays())
    a, s = _scales(p.net)
    return lambda: np.asarray(functions["gram_jacobian"](X, tuple(params), a, s, p.net.activation)
                              .block_until_ready())


@implements("gd_fig113", "jax", requires=("jax",))
def _(p):
    jax, functions = _jax()
    ensemble = p.fresh()
    X, y, *params = _jax_arrays(p.X, p.y, *p.initial)
    a, s = _scales(ensemble)
    return lambda: np.asarray(functions["gd_ensemble"](tuple(params), X, y, p.lr, a, s, 1.0 / len(p.X),
                                                       ensemble.activation, p.steps, p.steps))


@implements("gd_large", "jax", requires=("jax",))
def _(p):
    jax, functions = _jax()
    network = p.fresh()
    X, y, *params = _jax_arrays(p.X, p.y, *network.params.arrays())
    a, s = _scales(network)
    return lambda: np.asarray(functions["gd"](tuple(params), X, y, p.lr, a, s, 1.0 / len(p.X),
                                              network.activation, p.steps, p.record_every))


# -- neural-tangents ---------------------------------------------------------------------------
NT_ROWS = {"nt_jacobian": "JACOBIAN_CONTRACTION", "nt_vector_products": "NTK_VECTOR_PRODUCTS",
           "nt_structured": "STRUCTURED_DERIVATIVES", "nt_auto": "AUTO"}


class _InProcess:
    """neural-tangents imported into the harness's own process."""

    def __init__(self, p):
        import nt_runner

        try:
            import neural_tangents  # noqa: F401
        except Exception as error:  # noqa: BLE001 -- e.g. a JAX too new for it
            raise Skip(f"neural_tangents does not import here ({_versions_here()}): {_short(error)}; "
                       f"see {NT_PYTHON} in bench/peers.py") from None
        self.gram = nt_runner.EmpiricalGram(p.X, *p.net.params.arrays(), *_scales(p.net), p.net.activation)

    def setup(self, implementation):
        try:
            self.gram.setup(implementation)
        except Exception as error:  # noqa: BLE001 -- this neural-tangents cannot do it here
            raise Skip(f"{implementation} fails with {_versions_here()}: {_short(error)}") from None

    def run(self, implementation):
        return self.gram(implementation)

    def close(self):
        pass


class _Worker:
    """neural-tangents in a worker process started with ``WIDENET_NT_PYTHON`` (nt_runner.py)."""

    def __init__(self, p, python: str):
        self.scratch = tempfile.mkdtemp(prefix="widenet-nt-")
        inputs = os.path.join(self.scratch, "inputs.npz")
        U, b, v, c = p.net.params.arrays()
        np.savez(inputs, X=p.X, U=U, b=b, v=v, c=c, a=_scales(p.net)[0], s=_scales(p.net)[1],
                 activation=p.net.activation)
        self.log = open(os.path.join(self.scratch, "worker.log"), "w")
        try:
            self.process = subprocess.Popen([python, str(HERE / "nt_runner.py"), inputs], stdin=subprocess.PIPE,
                                            stdout=subprocess.PIPE, stderr=self.log, text=True)
        except OSError as error:
            self.close()
            raise Skip(f"{NT_PYTHON}={python} does not start: {error}") from None
        hello = self._receive()
        if not hello.get("ok"):
            self.close()
            raise Skip(f"{hello['skip']} ({_describe_versions(hello.get('versions', {}))})")
        self.versions = _describe_versions(hello["versions"])
        self.skips: dict = {}

    def _receive(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            status = self.process.wait()
            self.log.flush()
            with open(self.log.name) as log:
                tail = " | ".join(log.read().strip().splitlines()[-3:])
            raise RuntimeError(f"neural-tangents worker exited with status {status}: {tail[-400:]}")
        return json.loads(line)

    def _request(self, **message) -> dict:
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()
        return self._receive()

    def setup(self, implementation):
        if implementation not in self.skips:
            answer = self._request(op="setup", implementation=implementation)
            self.skips[implementation] = None if answer.get("ok") else answer["skip"]
        if self.skips[implementation]:
            raise Skip(f"{implementation} fails with {self.versions}: {self.skips[implementation]}")

    def run(self, implementation):
        path = os.path.join(self.scratch, "answer.npy")
        answer = self._request(op="run", implementation=implementation, answer=path)
        if not answer.get("ok"):
            raise RuntimeError(answer["error"])
        return np.load(path)

    def close(self):
        process = getattr(self, "process", None)
        if process is not None and process.poll() is None:
            process.stdin.close()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.log.close()
        shutil.rmtree(self.scratch, ignore_errors=True)


def _short(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text[:300]}{'...' if len(text) > 300 else ''}"


def _versions_here() -> str:
    import nt_runner

    versions = nt_runner.versions()
    return _describe_versions({name: versions[name] for name in ("neural-tangents", "jax", "tf2jax")})


def _describe_versions(versions: dict) -> str:
    return ", ".join(f"{name} {version}" for name, version in versions.items() if version and name != "python")


# One neural-tangents session at a time, for the problem being measured: the worker's
# compilations are reused by the timed calls of a row and by the other nt rows of the case.
_SESSION: dict = {}


def _nt_session(p):
    if _SESSION.get("problem") is p:
        return _SESSION["session"]
    _close_session()
    python = os.environ.get(NT_PYTHON)
    if python:
        session = _Worker(p, python)
    elif importlib.util.find_spec("neural_tangents") is not None:
        session = _InProcess(p)
    else:
        raise Skip(f"neural_tangents not installed here; set {NT_PYTHON} to a Python with neural-tangents "
                   f"0.6.5, jax 0.4.25 and numpy < 2 (see bench/peers.py)")
    _SESSION.update(problem=p, session=session)
    return session


@atexit.register
def _close_session():
    session = _SESSION.pop("session", None)
    _SESSION.pop("problem", None)
    if session is not None:
        session.close()


# NTK vector products cost about m^2 n (d + 2) multiply-adds (m^2 products with the
# network's Jacobian): 1.8e10 at the quick size, where a call takes about 30 s here, and
# 128 times that at the full size.
VECTOR_PRODUCTS_LIMIT = 4e10


def _check_vector_products_size(p) -> None:
    n, d = np.shape(p.net.params.arrays()[0])
    work = len(p.X) ** 2 * n * (d + 2)
    if work > VECTOR_PRODUCTS_LIMIT:
        raise Skip(f"NTK vector products cost about m^2 n (d+2) = {work:.1e} multiply-adds, over this harness's "
                   f"limit of {VECTOR_PRODUCTS_LIMIT:.0e} (at the quick size, 1.8e10, a call takes about 30 s); "
                   f"measured at the quick size")


def _nt_row(p, implementation: str):
    if implementation == "JACOBIAN_CONTRACTION":
        _check_jacobian_size(p)
    if implementation == "NTK_VECTOR_PRODUCTS":
        _check_vector_products_size(p)
    session = _nt_session(p)
    session.setup(implementation)
    return lambda: session.run(implementation)


for _row, _implementation in NT_ROWS.items():
    implements("ntk_gram", _row)(functools.partial(_nt_row, implementation=_implementation))


def _nt_worker_versions() -> dict:
    """What the neural-tangents worker runs on, for the results' header."""
    python = os.environ.get(NT_PYTHON)
    if not python:
        return {}
    try:
        found = json.loads(subprocess.run([python, str(HERE / "nt_runner.py"), "--versions"], capture_output=True,
                                          text=True, timeout=120).stdout)
        return {f"neural-tangents worker ({NT_PYTHON})": _describe_versions(found)}
    except (OSError, ValueError, subprocess.SubprocessError) as error:
        return {f"neural-tangents worker ({NT_PYTHON})": f"unavailable: {error}"}


harness.VERSION_PROBES.append(_nt_worker_versions)
