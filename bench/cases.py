"""The benchmark cases and their implementations.

Adding an implementation (a peer such as torch) to a case is one function::

    @implements("ntk_gram", "torch", requires=("torch",))
    def _(p):
        ...  # untimed preparation from the problem p
        return lambda: ...  # the timed call; returns the answer as an array

It is skipped with a reason when a required package is missing, or when it raises
``Skip("why")`` for a case it does not support.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

import numpy as np

import widenet
from harness import Case, Target, implements
from widenet import reference

F64, F32 = np.dtype(np.float64), np.dtype(np.float32)
SEED = 20240601

FLOP_COUNT = ("Gram FLOPs = 2*m*n*d (pre-activations) + 2 * 2*m*m*n (two m x n Gram products, each "
              "counted as a full GEMM; a SYRK does half of that work); X X^T and elementwise work "
              "are not counted. The machine limit is numpy A @ B, A (m x n), B (n x m), 2*m*m*n FLOPs.")


def inputs(rows: int, cols: int, dtype, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((rows, cols)).astype(dtype)


# -- machine limit: numpy GEMM at the shapes of the Gram products -------------------------
def gemm_limit(m: int, n: int, dtype) -> Case:
    def setup():
        return SimpleNamespace(A=inputs(m, n, dtype, SEED), B=inputs(n, m, dtype, SEED + 1))

    return Case("gemm_limit", "", dtype, f"A {m}x{n} @ B {n}x{m}", setup, reference="numpy",
                flops=2.0 * m * m * n)


@implements("gemm_limit", "numpy")
def _(p):
    return lambda: p.A @ p.B


# -- ntk_gram: the tangent Gram K_n(X, X) by the structured formula ------------------------
def ntk_gram(activation: str, m: int, d: int, n: int, dtype) -> Case:
    def setup():
        net = widenet.ShallowNetwork(d, n, activation=activation, seed=SEED, dtype=dtype)
        return SimpleNamespace(net=net, X=inputs(m, d, dtype, SEED + 2))

    return Case("ntk_gram", activation, dtype, f"m={m} d={d} n={n}", setup, reference="numpy",
                targets=(Target("cpp", "numpy", 1.0, "cpp/numpy <= 1"),),
                flops=2.0 * m * n * d + 2 * 2.0 * m * m * n, limit=gemm_limit(m, n, dtype).id)


@implements("ntk_gram", "numpy")
def _(p):
    """The reference: the non-symmetric form with X1 = X2 (activations and products twice)."""
    net = p.net
    return lambda: reference.ntk_gram(net.state, p.X, p.X)


@implements("ntk_gram", "cpp")
def _(p):
    return lambda: p.net.ntk(p.X)


@implements("ntk_gram", "cpp_1thread")
def _(p):
    """The same call on one thread (widenet's loops and its BLAS): cpp / cpp_1thread is the
    speed-up of the second thread."""
    def call():
        before = widenet.get_num_threads()
        widenet.set_num_threads(1)
        try:
            return p.net.ntk(p.X)
        finally:
            widenet.set_num_threads(before)

    return call


def _erf_derivative(z):
    return (2 / np.sqrt(np.pi)) * np.exp(-z * z)


def _activation_pair(name: str) -> tuple:
    """sigma and sigma' of the reference, except erf, which uses scipy's vectorised erf when
    installed (the reference's goes through math.erf element by element)."""
    if name == "erf":
        try:
            from scipy.special import erf
            return erf, _erf_derivative
        except ImportError:
            pass
    return (functools.partial(reference.activation, name),
            functools.partial(reference.activation_derivative, name))


@implements("ntk_gram", "numpy_sym")
def _(p):
    """The structured formula in numpy using symmetry: one set of activations, and
    ``A @ A.T`` products, which numpy computes with SYRK."""
    net, X = p.net, p.X
    U, b, v, _ = net.params.arrays()
    n, d = U.shape
    a, s = (1.0, 1.0) if net.parametrization == "lecun" else (n ** -0.5, d ** -0.5)
    sigma, derivative = _activation_pair(net.activation)

    def call():
        Z = s * (X @ U.T) + b
        A, G = sigma(Z), derivative(Z) * v
        return a * a * ((s * s * (X @ X.T) + 1) * (G @ G.T) + A @ A.T) + 1

    return call


# -- gd_fig113: the 80 networks of Figure 11.3 --------------------------------------------
FIG113 = dict(activation="arctan", weight_var=3.0, output_var=3.0, bias_var=2.0, output_bias_var=2.0)


def _finite(losses: np.ndarray):
    return None if np.all(np.isfinite(losses)) else "non-finite loss"


def gd_fig113(steps: int, networks: int = 80, width: int = 250) -> Case:
    def setup():
        X = np.array([[-1.0], [0.5], [1.5]])
        fresh = functools.partial(widenet.ShallowEnsemble, networks, 1, width, seed=SEED, **FIG113)
        return SimpleNamespace(fresh=fresh, initial=fresh().initial_params, X=X, y=np.array([0.3, -0.4, 0.8]),
                               lr=1.0 / width, steps=steps)

    return Case("gd_fig113", "arctan", F64, f"R={networks} m=3 d=1 n={width} steps={steps}", setup,
                reference="numpy_loop", validate=_finite,
                targets=(Target("cpp", "numpy_loop", 1 / 20, "cpp >= 20x faster than numpy_loop"),))


# The answer is each network's loss at step 0 and at the last step. The final losses are
# ~1e-31 after 1000 steps (rounding noise: every network fits the 3 points), so the check's
# scale, the max magnitude, must come from the initial losses.
def _train_ensemble(p, backend: str):
    ensemble = p.fresh()  # the same initial parameters every repeat
    return lambda: ensemble.train(p.X, p.y, lr=p.lr, steps=p.steps, record_every=p.steps, loss="mean",
                                  backend=backend).losses


implements("gd_fig113", "numpy_loop")(functools.partial(_train_ensemble, backend="numpy"))
implements("gd_fig113", "cpp")(functools.partial(_train_ensemble, backend="cpp"))


@implements("gd_fig113", "numpy_batched")
def _(p):
    def call():
        networks = p.initial.networks(FIG113["activation"], "lecun")
        options = reference.TrainingOptions(p.lr, p.steps, p.steps, 1.0 / len(p.X),
                                            divergence_factor=widenet.DIVERGENCE_FACTOR)
        records = reference.train_ensemble_batched(networks, None, p.X, p.y, options)
        return records["losses"]

    return call


# -- gd_large: one wide softplus network, full-batch GD ------------------------------------
def decreasing(losses: np.ndarray):
    if not np.all(np.isfinite(losses)):
        return "non-finite loss"
    return None if np.all(np.diff(losses) <= 0) and losses[-1] < losses[0] else "loss not decreasing"


def gd_large(m: int, d: int, n: int, steps: int) -> Case:
    def setup():
        fresh = functools.partial(widenet.ShallowNetwork, d, n, activation="softplus", seed=SEED)
        X = inputs(m, d, F64, SEED + 3)
        y = np.sin(X[:, 0])
        # GD on the mean loss is stable below lr = m / lambda_max(K); trace(K) >= lambda_max
        # (LeCun softplus: lambda_max ~ 0.7 trace), so half of m / trace(K) is safe.
        trace = reference.ntk_diag(fresh().state, X).sum()
        return SimpleNamespace(fresh=fresh, X=X, y=y, lr=0.5 * m / trace, steps=steps,
                               record_every=max(1, steps // 10))

    return Case("gd_large", "softplus", F64, f"m={m} d={d} n={n} steps={steps}", setup, reference="numpy",
                validate=decreasing, targets=(Target("cpp", "numpy", 1.0, "cpp/numpy <= 1"),))


def train_network(p, backend: str):
    network = p.fresh()
    return lambda: network.train(p.X, p.y, lr=p.lr, steps=p.steps, record_every=p.record_every, loss="mean",
                                 backend=backend).losses


implements("gd_large", "numpy")(functools.partial(train_network, backend="numpy"))
implements("gd_large", "cpp")(functools.partial(train_network, backend="cpp"))


# -- kernel_gram: classic kernels K(X, X) (kernel least squares) ---------------------------
KERNEL_PARAMS = {"rbf": dict(gamma=1 / 64), "polynomial": dict(degree=3, coef0=1.0, gamma=1 / 64)}


def kernel_gram(kind: str, m: int, d: int) -> Case:
    def setup():
        params = dict(KERNEL_PARAMS[kind], gamma=1.0 / d)
        kernel = widenet.RBFKernel(**params) if kind == "rbf" else widenet.PolynomialKernel(**params)
        return SimpleNamespace(kernel=kernel, kind=kind, params=params, X=inputs(m, d, F64, SEED + 4))

    return Case("kernel_gram", kind, F64, f"m={m} d={d}", setup, reference="numpy",
                targets=(Target("cpp", "numpy", 1.0, "cpp/numpy <= 1"),
                         Target("cpp", "sklearn", 1.0, "cpp/sklearn <= 1")))


@implements("kernel_gram", "numpy")
def _(p):
    return lambda: p.kernel(p.X, backend="numpy")


@implements("kernel_gram", "cpp")
def _(p):
    return lambda: p.kernel(p.X)


@implements("kernel_gram", "sklearn", requires=("sklearn",))
def _(p):
    from sklearn.metrics.pairwise import polynomial_kernel, rbf_kernel

    if p.kind == "rbf":
        return lambda: rbf_kernel(p.X, gamma=p.params["gamma"])
    return lambda: polynomial_kernel(p.X, degree=p.params["degree"], gamma=p.params["gamma"],
                                     coef0=p.params["coef0"])


# -- limit_gram: infinite-width NTK Gram (sections 5 and 6 of docs/theory.md) -------------
def limit_gram(activation: str, m: int, d: int) -> Case:
    """K_NTK(X, X), NTK parametrization, by the default method: relu's closed form, arctan's expansion."""

    def setup():
        return SimpleNamespace(X=inputs(m, d, F64, SEED + 5), activation=activation)

    target = Target("cpp", "numpy", 1 / 5 if activation != "relu" else 1.0,
                    "cpp >= 5x faster than numpy" if activation != "relu" else "cpp/numpy <= 1")
    return Case("limit_gram", activation, F64, f"m={m} d={d}", setup, reference="numpy", targets=(target,))


def _limit_gram(p, backend: str):
    return lambda: widenet.limit_kernel(p.X, activation=p.activation, parametrization="ntk", backend=backend)


implements("limit_gram", "numpy")(functools.partial(_limit_gram, backend="numpy"))
implements("limit_gram", "cpp")(functools.partial(_limit_gram, backend="cpp"))


# -- width_sweep: Figure 11.3's 80 networks at every width ---------------------------------
# One cell per width: a ShallowEnsemble of 80 networks trained with h = 1/n on the mean
# loss (docs/theory.md, section 5, on Figure 11.3). The answer is every network's
# |w_k - w0| after the last step, shape (widths, networks); the timed call includes
# making the ensembles. "cpp" sweeps the widths one after the other (the ensemble's own
# loop is parallel over networks); "cpp_sweep_threads" runs the widths on a thread pool
# with widenet's loops on one thread each.
def _fig113_distances(width, seed, networks, steps, backend="cpp"):
    ensemble = widenet.ShallowEnsemble(networks, 1, width, seed=seed, **FIG113)
    result = ensemble.train(np.array([[-1.0], [0.5], [1.5]]), np.array([0.3, -0.4, 0.8]), lr=1.0 / width,
                            steps=steps, record_every=steps, loss="mean", backend=backend)
    return {f"network_{r}": distance for r, distance in enumerate(result.distances[:, -1])}


def _distance_exponent(widths):
    """A check of the sweep's physics: the mean distance falls like n^{-1/2} (Theorem 11.23)."""
    def validate(answer):
        if not np.all(np.isfinite(answer)) or np.any(answer <= 0):
            return "non-finite or zero distance"
        slope = np.polyfit(np.log(widths), np.log(answer.mean(axis=1)), 1)[0]
        return None if -0.75 <= slope <= -0.25 else f"distance exponent {slope:.2f} outside [-0.75, -0.25]"
    return validate


def width_sweep(name: str, widths: tuple, steps: int, networks: int = 80) -> Case:
    def setup():
        return SimpleNamespace(widths=widths, networks=networks, steps=steps)

    size = f"R={networks} m=3 d=1 n=2^{int(np.log2(widths[0]))}..2^{int(np.log2(widths[-1]))} steps={steps}"
    if name == "width_sweep":
        return Case(name, "fig113", F64, size, setup, reference="cpp", validate=_distance_exponent(widths))
    return Case(name, "fig113", F64, size, setup, reference="numpy", validate=_distance_exponent(widths),
                targets=(Target("cpp", "numpy", 1 / 10, "cpp >= 10x faster than numpy"),))


def _sweep_call(p, threads, backend="cpp"):
    from widenet.sweeps import sweep

    def call():
        result = sweep(_fig113_distances, p.widths, [SEED], threads=threads, progress=False, networks=p.networks,
                       steps=p.steps, backend=backend)
        return np.array([[record[name] for name in result.quantities] for record in result.records])

    return call


for _case in ("width_sweep", "width_sweep_vs_numpy"):
    implements(_case, "cpp")(functools.partial(_sweep_call, threads=1))
    implements(_case, "cpp_sweep_threads")(lambda p: _sweep_call(p, threads=widenet.get_num_threads()))
implements("width_sweep_vs_numpy", "numpy")(functools.partial(_sweep_call, threads=1, backend="numpy"))


def width_sweeps(quick: bool) -> list:
    """The Figure 11.3 sweep at its full size, cpp only (the numpy loop needs a few minutes
    per call, and the harness makes at least four calls), and a smaller one where cpp is
    timed against the numpy reference."""
    if quick:
        return [width_sweep("width_sweep", tuple(2 ** k for k in range(6, 10)), steps=100),
                width_sweep("width_sweep_vs_numpy", (64, 128), steps=20)]
    return [width_sweep("width_sweep", tuple(2 ** k for k in range(6, 13)), steps=1000),
            width_sweep("width_sweep_vs_numpy", (64, 128, 256, 512), steps=200)]


# -- linear_gd: the linearized network's GD (docs/theory.md, section 3) ------------------------
# GD on the linearized model for many steps: in closed form from one eigendecomposition of
# the tangent Gram, or iterated in function space (one symmetric matrix-vector product per
# step). The Gram itself (computed once, outside the timed call) is shared by both.
def linear_gd(m: int, steps: int, d: int = 16, n: int = 1024) -> Case:
    def setup():
        network = widenet.ShallowNetwork(d, n, activation="tanh", seed=SEED)
        X = inputs(m, d, F64, SEED + 6)
        lin = widenet.linearize(network)
        theta = lin.ntk(X)
        lr = 0.5 / np.linalg.eigvalsh(theta)[-1]
        return SimpleNamespace(network=network, X=X, y=np.sin(X[:, 0]), lr=lr, steps=steps,
                               record_every=max(1, steps // 10))

    return Case("linear_gd", "tanh", F64, f"m={m} d={d} n={n} steps={steps}", setup, reference="closed_form")


def _linear_gd(p, method: str, backend: str = "cpp"):
    def call():
        result = widenet.linearize(p.network).train(p.X, p.y, p.lr, p.steps, method=method,
                                                    record_every=p.record_every, backend=backend)
        return np.concatenate([result.losses, result.train_outputs[-1]])

    return call


implements("linear_gd", "closed_form")(functools.partial(_linear_gd, method="closed_form"))
implements("linear_gd", "iterate")(functools.partial(_linear_gd, method="iterate"))
implements("linear_gd", "numpy_iterate")(functools.partial(_linear_gd, method="iterate", backend="numpy"))


def build(quick: bool) -> list:
    """Every case, at their full sizes, or the quick ones."""
    m, d, n = (512, 32, 2048) if quick else (2048, 64, 8192)
    # The smooth activations against relu at one size: erf, tanh and gelu are meant to
    # stay within 1.15x of relu (their elementwise work fused and vectorised).
    grams = [ntk_gram(activation, m, d, n, dtype) for activation, dtype in (("relu", F64), ("relu", F32),
                                                                             ("erf", F64), ("tanh", F64),
                                                                             ("gelu", F64))]
    limits = [gemm_limit(m, n, dtype) for dtype in (F64, F32)]
    large = gd_large(256, 16, 1024, steps=20) if quick else gd_large(1024, 64, 4096, steps=100)
    kernels = [kernel_gram(kind, 1024 if quick else 4096, 64) for kind in ("rbf", "polynomial")]
    # The numpy twin of arctan's default needs seconds at m = 1024, so the arctan row stops
    # there (relu: closed form, m = 4096).
    limit = [limit_gram("relu", 1024 if quick else 4096, 64), limit_gram("arctan", 256 if quick else 1024, 64)]
    linear = [linear_gd(512, 1000)] if quick else [linear_gd(2048, 10**4)]
    return (grams + limits + [gd_fig113(steps=100 if quick else 1000), large] + kernels + limit + linear
            + limit_cases.build(quick) + width_sweeps(quick) + deep_cases.build(quick) + predict_cases.build(quick)
            + fit_cases.build(quick) + float32_cases.build(quick))

# The peer rows (PyTorch, JAX, neural-tangents), the deep networks', the limit kernels' expansion's
# the predictions', the fits' and the float32 activations' cases, registered on import.
import deep_cases  # noqa: E402
import fit_cases  # noqa: E402
import float32_cases  # noqa: E402
import limit_cases  # noqa: E402
import predict_cases  # noqa: E402
import peers  # noqa: E402,F401
