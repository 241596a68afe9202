"""neural-tangents' kernels of widenet's networks, for the benchmark harness.

neural-tangents 0.6.5, its last release, imports only with an older JAX: all four of its
implementations work with jax 0.4.25 (which needs numpy < 2, so usually a virtual
environment of its own); with jax 0.5.3 and tf2jax 0.3.6 the structured-derivatives and
auto implementations fail. The harness therefore uses this module in one of two ways:

- in its own process, when ``neural_tangents`` imports there;
- as a worker in another Python, named by the environment variable ``WIDENET_NT_PYTHON``
  (``python nt_runner.py``; ``python nt_runner.py --versions`` prints what it runs on).
  The worker reads one JSON request a line on stdin and answers one JSON line on stdout;
  problems and answers travel through ``.npz`` and ``.npy`` files. It needs only numpy,
  jax and neural-tangents, not widenet.

A problem is a fully-connected network, one hidden layer or more, written as neural-tangents'
``stax.serial(Dense(n_1, W_std, b_std), act, ..., Dense(1, W_std, b_std))`` with
``parameterization="ntk"``: each layer computes ``W_std / sqrt(n_in) x @ W + b_std b``. A
widenet layer ``h = m W a + beta b`` is the same with ``W_std = m sqrt(n_in)``, ``b_std =
beta`` (None without biases) and the weight matrix transposed to stax orientation, ``x @ W``
(neural-tangents' structured derivatives find the structure of ``x @ W`` but not of
``x @ U.T``). The parameters are the same numbers, so the kernels are the same matrices.
Its kind is ``empirical`` (``empirical_ntk_fn`` with one of four implementations) or
``limit`` (``kernel_fn(X, None, "ntk")``, the infinite-width tangent kernel).
"""

from __future__ import annotations

import json
import math
import os
import resource
import sys
import time

import numpy as np

IMPLEMENTATIONS = ("JACOBIAN_CONTRACTION", "NTK_VECTOR_PRODUCTS", "STRUCTURED_DERIVATIVES", "AUTO")
KERNEL_FN = "KERNEL_FN"  # the ``implementation`` of the infinite-width kernel
KERNEL_FN_NNGP = "KERNEL_FN_NNGP"  # the same, the NNGP (``kernel_fn(X, None, "nngp")``)
PREDICT = "PREDICT"  # gradient_descent_mse_ensemble's mean and covariance (a problem with a prediction)
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


def peak_rss_mb() -> float:
    """This process's high-water resident set (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


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


def _stax_activation(name: str):
    """neural-tangents' own layer for relu and erf (whose infinite-width kernels it knows), else
    the activation applied elementwise (empirical kernels only)."""
    from neural_tangents import stax

    if name == "relu":
        return stax.Relu()
    if name == "erf":
        return stax.Erf()
    return stax.Elementwise(fn=jax_activation(name)[0])


class StaxNetwork:
    """A problem of the worker: a network in stax form at the points ``X``.

    ``stds`` is ``[(W_std, b_std or nan), ...]`` per layer, the readout last (nan: no bias);
    ``widths`` the hidden widths; ``layers``, for an empirical kernel, the stax parameters
    ``[(W (n_in x n_out), b (n_out,) or None), ...]``. ``setup(implementation)`` builds and
    compiles (an exception there means the implementation does not work with this
    neural-tangents and JAX); ``__call__`` runs it.
    """

    def __init__(self, X, stds, widths, activation: str, layers=None, prediction=None):
        import jax

        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp
        from neural_tangents import stax

        dtype = np.asarray(X).dtype
        self.X = jnp.asarray(X, dtype=dtype)
        blocks = []
        for (w_std, b_std), width in zip(stds, (*widths, 1)):
            blocks.append(stax.Dense(int(width), W_std=float(w_std), b_std=None if math.isnan(b_std) else float(b_std),
                                     parameterization="ntk"))
            blocks.append(_stax_activation(activation))
        _, self.apply, self.kernel_fn = stax.serial(*blocks[:-1])  # no activation after the readout
        self.params = None
        if layers is not None:  # one entry per layer of the serial: () for the activations
            dense = [(jnp.asarray(W, dtype=dtype), None if b is None else jnp.asarray(b, dtype=dtype))
                     for W, b in layers]
            self.params = [entry for layer in dense[:-1] for entry in (layer, ())] + dense[-1:]
        self.prediction = prediction
        self.compiled = {}

    def _predict(self, kernel_fn):
        """``gradient_descent_mse_ensemble(kernel_fn, X, y, ...)(t, X_test, get, compute_cov=True)``, flattened."""
        import jax.numpy as jnp
        import neural_tangents as nt

        p = self.prediction
        t = None if math.isnan(float(p["t"])) else float(p["t"])
        y = jnp.asarray(p["y"]).reshape(-1, 1)
        predict_fn = nt.predict.gradient_descent_mse_ensemble(kernel_fn, self.X, y, learning_rate=float(p["lr"]),
                                                              diag_reg=float(p["diag_reg"]))
        mean, cov = predict_fn(t, jnp.asarray(p["X_test"]), str(p["get"]), compute_cov=True)
        return np.concatenate([np.ravel(np.asarray(mean)), np.ravel(np.asarray(cov))])

    def setup(self, implementation: str) -> None:
        if implementation in self.compiled:
            return
        import jax
        import neural_tangents as nt

        if implementation == PREDICT:
            if self.prediction is None:
                raise ValueError("a prediction needs its training targets and test points")
            kernel_fn = jax.jit(self.kernel_fn, static_argnames="get")
            self._predict(kernel_fn)  # compiles the kernel's calls, untimed
            self.compiled[implementation] = lambda: self._predict(kernel_fn)
            return
        if implementation in (KERNEL_FN, KERNEL_FN_NNGP):
            get = "ntk" if implementation == KERNEL_FN else "nngp"
            kernel = jax.jit(lambda x: self.kernel_fn(x, None, get))
            self.compiled[implementation] = kernel.lower(self.X).compile()
            return
        if self.params is None:
            raise ValueError("an empirical kernel needs the network's parameters")
        ntk_fn = nt.empirical_ntk_fn(self.apply, trace_axes=(-1,), vmap_axes=0,
                                     implementation=getattr(nt.NtkImplementation, implementation))
        self.compiled[implementation] = jax.jit(lambda x, params: ntk_fn(x, None, params)).lower(
            self.X, self.params).compile()

    def __call__(self, implementation: str) -> np.ndarray:
        if implementation == PREDICT:
            return self.compiled[implementation]()
        if implementation in (KERNEL_FN, KERNEL_FN_NNGP):
            return np.asarray(self.compiled[implementation](self.X).block_until_ready())
        return np.asarray(self.compiled[implementation](self.X, self.params).block_until_ready())


def save(path: str, X, stds, widths, activation: str, layers=None, prediction=None) -> None:
    """Writes a problem for :func:`load` (layers: widenet orientation, ``W^l`` of shape (n_l, n_(l-1)), ``v``;
    prediction: ``y``, ``X_test``, ``t`` (nan for infinity), ``lr``, ``diag_reg``, ``get``)."""
    arrays = dict(X=X, stds=np.asarray(stds, dtype=np.float64), widths=np.asarray(widths), activation=activation)
    arrays.update({f"predict_{name}": value for name, value in (prediction or {}).items()})
    for k, (W, b) in enumerate(layers or ()):
        arrays[f"W{k}"] = np.reshape(W, (1, -1)) if np.ndim(W) == 1 else W
        if b is not None:
            arrays[f"b{k}"] = np.reshape(b, (-1,))
    np.savez(path, **arrays)


def load(path: str) -> StaxNetwork:
    with np.load(path) as data:
        arrays = {name: data[name] for name in data.files}
    layers = None
    if "W0" in arrays:  # stax orientation: the transposes
        layers = [(np.ascontiguousarray(arrays[f"W{k}"].T), arrays.get(f"b{k}")) for k in range(len(arrays["stds"]))]
    prediction = {name[len("predict_"):]: value for name, value in arrays.items() if name.startswith("predict_")}
    return StaxNetwork(arrays["X"], arrays["stds"], arrays["widths"], str(arrays["activation"]), layers,
                       prediction or None)


def _describe(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text[:300]}{'...' if len(text) > 300 else ''}"


def _answer(network, request: dict) -> dict:
    """One request on the current problem: ``setup`` (compile) or ``run`` (compute, save the answer)."""
    implementation = request["implementation"]
    if request["op"] == "setup":
        try:
            network.setup(implementation)
        except Exception as error:  # noqa: BLE001 -- reported to the harness as the reason
            return dict(ok=False, skip=_describe(error))
        return dict(ok=True)
    try:
        start = time.perf_counter()
        answer = network(implementation)
        seconds = time.perf_counter() - start
        np.save(request["answer"], answer)
    except Exception as error:  # noqa: BLE001
        return dict(ok=False, error=_describe(error))
    return dict(ok=True, seconds=seconds)


def serve() -> int:
    """The worker: requests ``{"op": "load", "inputs": PATH}`` (a problem written by :func:`save`),
    then ``{"op": "setup"|"run", "implementation": NAME, "answer": PATH}`` on it. Every reply
    carries the worker's peak RSS so far (``peak_mb``)."""
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # whatever the libraries print goes to stderr, not into the protocol

    def reply(message: dict):
        protocol.write(json.dumps(dict(message, peak_mb=peak_rss_mb())) + "\n")

    try:
        import neural_tangents  # noqa: F401
    except Exception as error:  # noqa: BLE001
        reply(dict(ok=False, skip=f"neural_tangents does not import: {_describe(error)}", versions=versions()))
        return 0
    reply(dict(ok=True, versions=versions()))
    network = None
    for line in sys.stdin:
        request = json.loads(line)
        if request["op"] == "load":
            try:
                network = load(request["inputs"])
            except Exception as error:  # noqa: BLE001
                network = None
                reply(dict(ok=False, skip=f"neural_tangents setup failed: {_describe(error)}"))
                continue
            reply(dict(ok=True))
        else:
            reply(_answer(network, request))
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--versions"]:
        print(json.dumps(versions()))
        sys.exit(0)
    sys.exit(serve())
