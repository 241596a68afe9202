"""The long calls of test_interrupts.py, run in a child process that the test interrupts.

``python interrupt_calls.py THREADS NAME...`` sets widenet's thread count and, for each
named call, prepares its inputs, prints ``{"event": "ready", ...}`` and makes the call.
The test sends SIGINT once it reads that line. The child catches the KeyboardInterrupt and
prints one JSON line: how long the call ran, whether the objects it was given are unchanged
and whether a second, small call afterwards gives the right answer (checked against the
numpy reference or a direct computation). Sizes take several seconds uninterrupted on a
two-core machine of today, with at most about 1 GB of memory.
"""

from __future__ import annotations

import json
import signal
import sys
import time

import numpy as np

# Started from a process that ignores SIGINT (a background job), the child inherits that;
# Python then installs no KeyboardInterrupt handler. Restore it first.
signal.signal(signal.SIGINT, signal.default_int_handler)

import widenet  # noqa: E402
import widenet.network.deep  # noqa: E402
from widenet import _core  # noqa: E402

F32 = np.float32


def data(m: int, d: int, dtype=np.float64, seed: int = 1) -> tuple:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, d)).astype(dtype)
    return X, np.sin(X[:, 0]).astype(dtype)


def network(d: int, n: int, activation: str = "tanh", dtype=np.float64, **config) -> widenet.ShallowNetwork:
    return widenet.ShallowNetwork(d, n, activation, seed=0, dtype=dtype, **config)


def close(actual, expected, rtol: float = 1e-6) -> bool:
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    return actual.shape == expected.shape and np.allclose(actual, expected, rtol=rtol,
                                                          atol=rtol * max(1.0, np.abs(expected).max()))


# Each call: prepare() -> (long_call, second_call, state). second_call() returns True when
# its answer is right; state() returns arrays that the interrupted call must leave as they were.

def network_call(method: str, d: int, n: int, m: int, dtype=np.float64, **arguments):
    def prepare():
        net = network(d, n, dtype=dtype)
        X, _ = data(m, d, dtype)
        small = X[:4]
        return (lambda: getattr(net, method)(X, **arguments),
                lambda: close(getattr(net, method)(small, **arguments),
                              getattr(net, method)(small, backend="numpy", **arguments), 1e-4),
                lambda: [net.params.to_vector(), X])
    return prepare


def ntk_cross():
    net = network(64, 16384)
    X1, _ = data(3000, 64, seed=1)
    X2, _ = data(3000, 64, seed=2)
    return (lambda: net.ntk(X1, X2),
            lambda: close(net.ntk(X1[:3], X2[:5]), net.ntk(X1[:3], X2[:5], backend="numpy")),
            lambda: [net.params.to_vector(), X1, X2])


def loss_grad():
    net = network(256, 8192)
    X, y = data(40000, 256)

    def again():
        value, gradient = net.loss_grad(X[:4], y[:4])
        reference, expected = net.loss_grad(X[:4], y[:4], backend="numpy")
        return close(value, reference) and close(gradient.to_vector(), expected.to_vector())
    return lambda: net.loss_grad(X, y), again, lambda: [net.params.to_vector(), X, y]


def tangent_product(kind: str):
    def prepare():
        net = network(256, 8192)
        X, y = data(40000, 256)
        state = net.state

        def product(rows):
            if kind == "jvp":
                return _core.jvp(state, X[rows], net.params.layers)
            (gU, gb), (gv, gc) = _core.vjp(state, X[rows], y[rows])
            return np.concatenate([gU.ravel(), gb, gv, [gc]])

        def reference(rows):
            J = net.jacobian(X[rows])
            return J @ net.params.to_vector() if kind == "jvp" else J.T @ y[rows]
        return lambda: product(slice(None)), lambda: close(product(slice(0, 4)), reference(slice(0, 4))), \
            lambda: [net.params.to_vector(), X, y]
    return prepare


def train():
    net = network(16, 1024)
    X, y = data(256, 16)
    twin = network(16, 1024)

    def again():
        twin.train(X, y, 1e-4, 3)
        expected = network(16, 1024)
        expected.train(X, y, 1e-4, 3, backend="numpy")
        return close(twin.params.to_vector(), expected.params.to_vector(), 1e-9)
    return lambda: net.train(X, y, 1e-9, 10**9, record_every=10**9), again, lambda: [net.params.to_vector(), X, y]


def train_outputs():
    """A network of three outputs: its loop polls the stop token as the one-output loop does."""
    X, _ = data(256, 16)
    Y = np.sin(X[:, :3])
    net, twin = network(16, 1024, outputs=3), network(16, 1024, outputs=3)

    def again():
        twin.train(X, Y, 1e-4, 3)
        expected = network(16, 1024, outputs=3)
        expected.train(X, Y, 1e-4, 3, backend="numpy")
        return close(twin.params.to_vector(), expected.params.to_vector(), 1e-9)
    return lambda: net.train(X, Y, 1e-9, 10**9, record_every=10**9), again, lambda: [net.params.to_vector(), X, Y]


def ntk_blocks():
    """Every block of the kernel of four outputs: (m k) x (m k) rank updates, the width in chunks."""
    net = network(64, 4096, outputs=4)
    X, _ = data(1800, 64)  # a kernel of 7200 x 7200
    return (lambda: net.ntk(X, trace_outputs=False),
            lambda: close(net.ntk(X[:3], trace_outputs=False), net.ntk(X[:3], trace_outputs=False, backend="numpy")),
            lambda: [net.params.to_vector(), X])


def deep_ntk():
    net = widenet.network.deep.Network(64, [2048, 2048], "tanh", "ntk", seed=0)
    X, _ = data(4000, 64)
    return (lambda: net.ntk(X),
            lambda: close(net.ntk(X[:5]), net.ntk(X[:5], backend="numpy")),
            lambda: [net.params.to_vector(), X])


def deep_ntk_blocks():
    """Every block of a deep network's kernel of three outputs: k backward passes, k^2 Gram products."""
    net = widenet.network.deep.Network(64, [1024, 1024], "tanh", "ntk", seed=0, outputs=3)
    X, _ = data(2500, 64)
    return (lambda: net.ntk(X, trace_outputs=False),
            lambda: close(net.ntk(X[:3], trace_outputs=False), net.ntk(X[:3], trace_outputs=False, backend="numpy")),
            lambda: [net.params.to_vector(), X])


def deep_training(outputs=1):
    """A deep network's run (of ``outputs`` outputs): its loop polls the stop token at every step."""
    def make():
        return widenet.network.deep.Network(16, [256, 256], "tanh", seed=0, outputs=outputs)
    net, (X, y) = make(), data(256, 16)
    targets = y if outputs == 1 else np.sin(X[:, :outputs])

    def again():
        first, second = make(), make()
        first.train(X, targets, 1e-4, 3)
        second.train(X, targets, 1e-4, 3, backend="numpy")
        return close(first.params.to_vector(), second.params.to_vector(), 1e-9)
    return (lambda: net.train(X, targets, 1e-9, 10**9, record_every=10**9), again,
            lambda: [net.params.to_vector(), X, targets])


def train_ensemble():
    """Member 0 diverges at its first step and stops; member 1 runs on. With two threads it
    runs on the second one, where Ctrl-C used never to be looked for (the first thread,
    which did look, takes member 0 and is done)."""
    X, y = data(8, 2)
    ensemble = widenet.ShallowEnsemble(2, input_dim=2, width=256, activation="identity", seed=0)
    U, b, v, c = (np.array(field) for field in ensemble.params)
    v[0] *= 1e6
    ensemble = widenet.ShallowEnsemble.from_parameters(ensemble.config, widenet.StackedParameters(U, b, v, c),
                                                ensemble.initial_params)

    def again():
        small = widenet.ShallowEnsemble(2, input_dim=2, width=8, seed=3)
        member = small.member(1)
        small.train(X, y, 1e-3, 5)
        member.train(X, y, 1e-3, 5, backend="numpy")
        return close(small.params.U[1], member.params.U, 1e-9)
    return (lambda: ensemble.train(X, y, 1e-3, 10**8, record_every=10**6, on_divergence="return"), again,
            lambda: [*ensemble.params, X, y])


def deep_train_ensemble():
    """Member 0 diverges at its first step and stops; member 1 runs on, on the second thread
    with two threads (where Ctrl-C must reach it too)."""
    X, y = data(256, 16)
    ensemble = widenet.DeepEnsemble(2, 16, [256, 256], activation="tanh", seed=0)
    params = list(ensemble.params)
    weights = params[0].weights
    weights[-1] = weights[-1] * 1e6
    params[0] = widenet.DeepParameters(weights, params[0].biases)
    ensemble = widenet.DeepEnsemble.from_parameters(ensemble.config, params, ensemble.initial_params)

    def again():
        small = widenet.DeepEnsemble(2, 16, [32, 32], activation="tanh", seed=3)
        member = small.member(1)
        small.train(X, y, 1e-4, 3)
        member.train(X, y, 1e-4, 3, backend="numpy")
        return close(small.params[1].to_vector(), member.params.to_vector(), 1e-9)
    return (lambda: ensemble.train(X, y, 1e-9, 10**9, record_every=10**9, on_divergence="return"), again,
            lambda: [*(p.to_vector() for p in ensemble.params), X, y])


def linearized(method: str):
    def prepare():
        m = 1000 if method == "iterate" else 3000
        net = network(8, 64)
        X, y = data(m, 8)
        lin = widenet.linearize(net)
        lin.train(X[:20], y[:20], 1e-3, 1)  # away from w0: the interrupted run must not move it
        steps = 10**8 if method == "iterate" else 10

        def again():
            first, second = widenet.linearize(net), widenet.linearize(net)
            run = first.train(X[:20], y[:20], 1e-3, 4, method=method)
            expected = second.train(X[:20], y[:20], 1e-3, 4, method="iterate", backend="numpy")
            return close(run.losses, expected.losses)
        return lambda: lin.train(X, y, 1e-4, steps, method=method, record_every=10**8), again, \
            lambda: [lin.params.to_vector(), X, y]
    return prepare


def kernel_gram(cross: bool):
    def prepare():
        kernel = widenet.RBFKernel(1e-4)
        X1, _ = data(4000 if cross else 5000, 6000, seed=1)
        X2 = data(3000, 6000, seed=2)[0] if cross else None

        def again():
            A, B = X1[:3], (X1 if X2 is None else X2)[:4]
            squared = ((A[:, None, :] - B[None, :, :]) ** 2).sum(axis=-1)
            return close(kernel(A, B), np.exp(-1e-4 * squared))
        return lambda: kernel(X1, X2), again, lambda: [X1] + ([] if X2 is None else [X2])
    return prepare


def activation():
    # float32 runs in float at the machine's vector width: 1.5e8 entries take about 0.4 s on two cores
    z = np.random.default_rng(0).standard_normal(15 * 10**7, dtype=F32)

    def again():
        values, derivative = _core.activation(z[:5], "gelu")
        expected = widenet.reference.activation("gelu", z[:5].astype(np.float64))
        return close(values, expected, 1e-5)
    return lambda: _core.activation(z, "gelu"), again, lambda: [z]


def estimator(make, m: int, d: int, **fit):
    """A fit of an estimator fitted before on small data: an interrupted fit keeps the
    earlier fit's attributes."""
    def prepare():
        X, y = data(m, d)
        model = make().fit(X[:30], y[:30])

        def again():
            small = make().fit(X[30:60], y[30:60])
            return close(model.fit(X[30:60], y[30:60]).predict(X[:5]), small.predict(X[:5]))
        return lambda: model.fit(X, y), again, \
            lambda: [X, y, *(np.atleast_1d(value) for key, value in sorted(vars(model).items())
                              if key.endswith("_") and isinstance(value, (np.ndarray, float, int)))]
    return prepare


def min_norm_solution():
    A, y = data(3000, 3000)

    def again():
        return close(widenet.min_norm_solution(A[:5, :3], y[:5]), np.linalg.lstsq(A[:5, :3], y[:5], rcond=None)[0])
    return lambda: widenet.min_norm_solution(A, y), again, lambda: [A, y]


def cholesky_fit():
    """A well-posed fit: the Gram in C++, then a Cholesky factorization (LAPACK) of several seconds."""
    X, y = data(7000, 8)
    model = widenet.KernelLeastSquares("rbf", gamma=0.5, ridge=1.0).fit(X[:30], y[:30])

    def again():
        gram = widenet.RBFKernel(0.5)(X[30:90])
        return close(model.fit(X[30:90], y[30:90]).dual_coef_, np.linalg.solve(gram + np.eye(60), y[30:90]))
    return lambda: model.fit(X, y), again, lambda: [X, y, model.dual_coef_, model.X_fit_]


CALLS = {
    "forward": network_call("forward", 1024, 8192, 8000),
    "jacobian": network_call("jacobian", 64, 4096, 1000, F32),  # 1.1 GB
    "ntk": network_call("ntk", 64, 16384, 4000),
    "ntk_cross": ntk_cross,
    "ntk_diag": network_call("ntk_diag", 64, 8192, 100000),
    "loss_grad": loss_grad,
    "jvp": tangent_product("jvp"),
    "vjp": tangent_product("vjp"),
    "train": train,
    "train_ensemble": train_ensemble,
    "train_outputs": train_outputs,
    "ntk_blocks": ntk_blocks,
    "deep_ntk": deep_ntk,
    "deep_train": deep_training,
    "deep_train_ensemble": deep_train_ensemble,
    "deep_ntk_blocks": deep_ntk_blocks,
    "deep_train_outputs": lambda: deep_training(outputs=3),
    "linear_gd": linearized("iterate"),
    "linearized_closed_form": linearized("closed_form"),
    "kernel_gram": kernel_gram(cross=False),
    "kernel_gram_cross": kernel_gram(cross=True),
    "activation": activation,
    # LAPACK cannot be stopped: the fits wait for it on a worker thread
    "KernelLeastSquares.fit": estimator(lambda: widenet.KernelLeastSquares("rbf", gamma=0.5), 3000, 4),
    # at a finite time, so that the fit eigendecomposes (at the limit it is a Cholesky solve)
    "NTKRegressor.fit": estimator(lambda: widenet.NTKRegressor(activation="relu", ridge=1e-3, time=10.0), 3000, 4),
    "min_norm_solution": min_norm_solution,
    "KernelLeastSquares.fit[cholesky]": cholesky_fit,
}


def unchanged(before: list, after: list) -> bool:
    return len(before) == len(after) and all(np.array_equal(a, b) for a, b in zip(before, after))


def report(**fields) -> None:
    print(json.dumps(fields), flush=True)


def main(threads: int, names: list) -> None:
    widenet.set_num_threads(threads)
    for name in names:
        long_call, second_call, state = CALLS[name]()
        before = [np.array(array, copy=True) for array in state()]
        report(event="ready", call=name)
        start = time.perf_counter()
        try:
            long_call()
        except KeyboardInterrupt:
            report(event="interrupted", call=name, elapsed=time.perf_counter() - start)
            report(event="checked", call=name, unchanged=unchanged(before, state()), second_call=bool(second_call()))
            continue
        report(event="finished", call=name, elapsed=time.perf_counter() - start)
        try:
            time.sleep(60)  # the signal is on its way: take it here, not in the next call
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2:])
