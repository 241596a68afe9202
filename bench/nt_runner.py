"""neural-tangents' empirical tangent Gram of widenet's shallow network, for ``bench/peers.py``.

neural-tangents 0.6.5, its last release, imports only with an older JAX: all four of its
implementations work with jax 0.4.25 (which needs numpy < 2, so usually a virtual
environment of its own); with jax 0.5.3 and tf2jax 0.3.6 the structured-derivatives and
auto implementations fail. The harness therefore uses this module in one of two ways:

- in its own process, when ``neural_tangents`` imports there;
- as a worker in another Python, named by the environment variable ``WIDENET_NT_PYTHON``
  (``python nt_runner.py INPUTS.npz``; ``python nt_runner.py --versions`` prints what it
  runs on). The worker reads one JSON request a line on
  stdin and answers one JSON line on stdout; answers travel through ``.npy`` files. It
  needs only numpy, jax and neural-tangents, not widenet.

The network is widenet's ``Phi(x) = a v . sigma(s U x + b) + c`` written in stax
orientation, ``a sigma(s x @ W + b) @ V + c`` with ``W = U^T`` (d x n) and ``V = v``
as an (n x 1) matrix: neural-tangents' structured derivatives find the structure of
``x @ W`` but not of ``x @ U.T``. The parameters are the same numbers, so the Gram is
the same matrix.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time

import numpy as np

IMPLEMENTATIONS = ("JACOBIAN_CONTRACTION", "NTK_VECTOR_PRODUCTS", "STRUCTURED_DERIVATIVES", "AUTO")
PACKAGES = ("neural-tangents", "jax", "jaxlib", "numpy", "tf2jax", "tensorflow")


def versions() -> dict:
    """Installed versions of neural-tangents and what it runs on (None: not installed)."""
    from importlib import metadata

    found = {"python": ".".join(map(str, sys.version_info[:3]))}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def jax_activation(name: str) -> tuple:
    """``(sigma, sigma')`` of widenet's activations as jax.numpy functions (docs/theory.md, section 7)."""
    import jax
    import jax.numpy as jnp
    from jax.scipy.special import erf

    inv_sqrt2, inv_sqrt_2pi, two_over_sqrt_pi = 1 / math.sqrt(2), 1 / math.sqrt(2 * math.pi), 2 / math.sqrt(math.pi)

    def normal_cdf(z):
        return 0.5 * (1 + erf(z * inv_sqrt2))

    table = {
        "relu": (lambda z: jnp.maximum(z, 0), lambda z: (z > 0).astype(z.dtype)),
        "tanh": (jnp.tanh, lambda z: 1 - jnp.tanh(z) ** 2),
        "erf": (erf, lambda z: two_over_sqrt_pi * jnp.exp(-z * z)),
        "arctan": (jnp.arctan, lambda z: 1 / (1 + z * z)),
        "sigmoid": (jax.nn.sigmoid, lambda z: jax.nn.sigmoid(z) * jax.nn.sigmoid(-z)),
        "softplus": (jax.nn.softplus, jax.nn.sigmoid),
        "gelu": (lambda z: z * normal_cdf(z), lambda z: normal_cdf(z) + z * inv_sqrt_2pi * jnp.exp(-0.5 * z * z)),
        "sin": (jnp.sin, jnp.cos),
        "identity": (lambda z: z, jnp.ones_like),
    }
    return table[name]


class EmpiricalGram:
    """``K(X, X)`` by ``neural_tangents.empirical_ntk_fn`` with each implementation.

    ``setup(implementation)`` builds and compiles (an exception there means the
    implementation does not work with this neural-tangents and JAX); ``__call__`` runs it.
    """

    def __init__(self, X, U, b, v, c, a: float, s: float, activation: str):
        import jax

        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp

        dtype = np.asarray(X).dtype
        self.X = jnp.asarray(X, dtype=dtype)
        self.params = (jnp.asarray(np.ascontiguousarray(np.asarray(U).T), dtype=dtype),
                       jnp.asarray(b, dtype=dtype),
                       jnp.asarray(np.reshape(v, (-1, 1)), dtype=dtype),
                       jnp.asarray(np.reshape(c, (1,)), dtype=dtype))
        sigma = jax_activation(activation)[0]

        def apply(params, x):
            W, bias, V, c0 = params
            return a * (sigma(s * (x @ W) + bias) @ V) + c0  # (m, 1)

        self.apply = apply
        self.compiled = {}

    def setup(self, implementation: str) -> None:
        if implementation in self.compiled:
            return
        import jax
        import neural_tangents as nt

        ntk_fn = nt.empirical_ntk_fn(self.apply, trace_axes=(-1,), vmap_axes=0,
                                     implementation=getattr(nt.NtkImplementation, implementation))
        self.compiled[implementation] = jax.jit(lambda x, params: ntk_fn(x, None, params)).lower(
            self.X, self.params).compile()

    def __call__(self, implementation: str) -> np.ndarray:
        return np.asarray(self.compiled[implementation](self.X, self.params).block_until_ready())


def load(path: str) -> EmpiricalGram:
    with np.load(path) as data:
        arrays = {name: data[name] for name in data.files}
    return EmpiricalGram(arrays["X"], arrays["U"], arrays["b"], arrays["v"], arrays["c"], float(arrays["a"]),
                         float(arrays["s"]), str(arrays["activation"]))


def _describe(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text[:300]}{'...' if len(text) > 300 else ''}"


def serve(inputs: str) -> int:
    """The worker: requests ``{"op": "setup"|"run", "implementation": NAME, "answer": PATH}``."""
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # whatever the libraries print goes to stderr, not into the protocol

    def reply(**message):
        protocol.write(json.dumps(message) + "\n")

    try:
        gram = load(inputs)
    except Exception as error:  # noqa: BLE001 -- reported to the harness as the reason
        reply(ok=False, skip=f"neural_tangents setup failed: {_describe(error)}", versions=versions())
        return 0
    reply(ok=True, versions=versions())
    for line in sys.stdin:
        request = json.loads(line)
        implementation = request["implementation"]
        if request["op"] == "setup":
            try:
                gram.setup(implementation)
            except Exception as error:  # noqa: BLE001
                reply(ok=False, skip=_describe(error))
                continue
            reply(ok=True)
        elif request["op"] == "run":
            try:
                start = time.perf_counter()
                answer = gram(implementation)
                seconds = time.perf_counter() - start
                np.save(request["answer"], answer)
            except Exception as error:  # noqa: BLE001
                reply(ok=False, error=_describe(error))
                continue
            reply(ok=True, seconds=seconds)
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--versions"]:
        print(json.dumps(versions()))
        sys.exit(0)
    sys.exit(serve(sys.argv[1]))
