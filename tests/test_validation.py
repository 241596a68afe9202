"""Bad arguments raise ValueError (bad value or shape) or TypeError (bad type) with a
message naming the argument; inputs are never modified and read-only arrays work; the
raw ``_core`` functions refuse wrong dtypes (noconvert) and check shapes themselves."""

import numpy as np
import pytest

import widenet
from widenet import Parameters, ShallowEnsemble, ShallowNetwork, _core

from conftest import random_data

D, N, M = 3, 4, 5


@pytest.fixture
def net():
    return ShallowNetwork(D, N, "tanh", bias_var=0.5, output_bias_var=0.5, seed=0)


@pytest.fixture
def data():
    return random_data(0, M, D)


# Every public entry point that takes a batch of inputs, with the name it reports.
def _ensemble(size=2):
    return ShallowEnsemble(size, D, N, activation="tanh", seed=1)


X_TAKERS = {
    "forward": ("X", lambda net, X, y: net.forward(X)),
    "call": ("X", lambda net, X, y: net(X)),
    "forward-numpy": ("X", lambda net, X, y: net.forward(X, backend="numpy")),
    "jacobian": ("X", lambda net, X, y: net.jacobian(X)),
    "jacobian_chunks": ("X", lambda net, X, y: list(net.jacobian_chunks(X, 2))),
    "ntk": ("X1", lambda net, X, y: net.ntk(X)),
    "ntk-X2": ("X2", lambda net, X, y: net.ntk(np.ones((2, D)), X)),
    "ntk_diag": ("X", lambda net, X, y: net.ntk_diag(X)),
    "loss": ("X", lambda net, X, y: net.loss(X, y)),
    "loss_grad": ("X", lambda net, X, y: net.loss_grad(X, y)),
    "train": ("X", lambda net, X, y: net.train(X, y, 0.01, 2)),
    "train-X_test": ("X_test", lambda net, X, y: net.train(np.ones((2, D)), np.ones(2), 0.01, 2, X_test=X)),
    "ensemble-forward": ("X", lambda net, X, y: _ensemble().forward(X)),
    "ensemble-train": ("X", lambda net, X, y: _ensemble().train(X, y, 0.01, 2)),
    "ensemble-X_test": ("X_test", lambda net, X, y: _ensemble().train(np.ones((2, D)), np.ones(2), 0.01, 2,
                                                                      X_test=X)),
}

Y_TAKERS = {
    "loss": lambda net, X, y: net.loss(X, y),
    "loss_grad": lambda net, X, y: net.loss_grad(X, y),
    "train": lambda net, X, y: net.train(X, y, 0.01, 2),
    "train-numpy": lambda net, X, y: net.train(X, y, 0.01, 2, backend="numpy"),
    "ensemble-train": lambda net, X, y: _ensemble().train(X, y, 0.01, 2),
}


def bad_inputs():
    """(label, X, exception, message) for a network with input_dim D."""
    nan, inf = np.ones((M, D)), np.ones((M, D))
    nan[1, 2], inf[0, 0] = np.nan, -np.inf
    return [
        ("1-D", np.ones(D), ValueError, r"expected a 2-D array, got shape \(3,\)"),
        ("3-D", np.ones((2, M, D)), ValueError, "expected a 2-D array"),
        ("scalar", 1.0, ValueError, "expected a 2-D array"),
        ("columns", np.ones((M, D + 1)), ValueError, f"expected {D} columns"),
        ("empty", np.ones((0, D)), ValueError, "expected at least one row"),
        ("nan", nan, ValueError, "contains NaN or Inf"),
        ("inf", inf, ValueError, "contains NaN or Inf"),
        ("complex", np.ones((M, D), complex), TypeError, "expected a real numeric array.*complex"),
        ("object", np.ones((M, D), object), TypeError, "expected a real numeric array.*object"),
        ("string", "abc", TypeError, "expected a real numeric array"),
        ("strings", np.full((M, D), "1"), TypeError, "expected a real numeric array"),
        ("datetime", np.ones((M, D), "datetime64[s]"), TypeError, "expected a real numeric array"),
    ]


@pytest.mark.parametrize("label, X, error, message", bad_inputs(), ids=[b[0] for b in bad_inputs()])
@pytest.mark.parametrize("method", list(X_TAKERS))
def test_bad_inputs(net, method, label, X, error, message):
    name, call = X_TAKERS[method]
    y = np.ones(len(X)) if isinstance(X, np.ndarray) and X.ndim == 2 else np.ones(M)
    with pytest.raises(error, match=rf"^{name}: {message}"):
        call(net, X, y)


def test_one_feature_hint():
    net = ShallowNetwork(1, 3, seed=0)
    with pytest.raises(ValueError, match=r"X: expected a 2-D array.*reshape\(-1, 1\)"):
        net.forward(np.ones(4))


@pytest.mark.parametrize("method", list(Y_TAKERS))
def test_bad_targets(net, data, method):
    X = data[0]
    call = Y_TAKERS[method]
    with pytest.raises(ValueError, match=rf"^y: expected shape \({M},\).*got \({M - 1},\)"):
        call(net, X, np.ones(M - 1))
    with pytest.raises(ValueError, match=rf"^y: expected shape \({M},\) or \({M}, 1\).*got \({M}, 2\); a model "
                                         "with one output takes one column"):
        call(net, X, np.ones((M, 2)))
    with pytest.raises(ValueError, match="^y: expected a 1-D array or a 2-D array"):
        call(net, X, np.ones((M, 1, 1)))
    for value in (np.nan, np.inf, -np.inf):
        y = np.ones(M)
        y[2] = value
        with pytest.raises(ValueError, match="^y: contains NaN or Inf"):
            call(net, X, y)
    with pytest.raises(TypeError, match="^y: expected a real numeric array"):
        call(net, X, np.ones(M, complex))


# --- constructor arguments ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["input_dim", "width"])
@pytest.mark.parametrize("value, error, message", [
    (0, ValueError, "expected an integer >= 1, got 0"),
    (-3, ValueError, "expected an integer >= 1, got -3"),
    (2.5, TypeError, "expected an integer, got 2.5"),
    (2.0, TypeError, "expected an integer"),
    (True, TypeError, "expected an integer, got True"),
    ("4", TypeError, "expected an integer"),
    (None, TypeError, "expected an integer"),
])
def test_bad_sizes(name, value, error, message):
    kwargs = {"input_dim": 2, "width": 3, name: value}
    with pytest.raises(error, match=f"^{name}: {message}"):
        ShallowNetwork(**kwargs)


def test_integer_like_sizes_are_accepted():
    net = ShallowNetwork(np.int32(2), np.int64(3), seed=0)
    assert (net.input_dim, net.width, net.num_params) == (2, 3, 13)


@pytest.mark.parametrize("name", ["activation", "parametrization", "distribution"])
def test_unknown_choices(name):
    with pytest.raises(ValueError, match=f"^{name}: expected one of .*got 'bogus'"):
        ShallowNetwork(2, 3, **{name: "bogus"})
    with pytest.raises(TypeError, match=f"^{name}: expected one of"):
        ShallowNetwork(2, 3, **{name: None})


def test_unknown_activation_lists_all_choices():
    with pytest.raises(ValueError, match="relu, tanh, erf, arctan, sigmoid, softplus, gelu, sin, identity"):
        ShallowNetwork(2, 3, activation="swish")


@pytest.mark.parametrize("dtype", [np.int32, np.int64, complex, np.complex64, np.float16, bool, "bogus", object])
def test_bad_dtype(dtype):
    with pytest.raises(TypeError, match="^dtype: expected numpy.float32 or numpy.float64"):
        ShallowNetwork(2, 3, dtype=dtype)


@pytest.mark.parametrize("name", ["weight_var", "bias_var", "output_var", "output_bias_var"])
@pytest.mark.parametrize("value, error", [(-1.0, ValueError), (-1e-300, ValueError), (np.nan, ValueError),
                                          (np.inf, ValueError), ("1", TypeError), (True, TypeError)])
def test_bad_variances(name, value, error):
    with pytest.raises(error, match=f"^{name}: expected a"):
        ShallowNetwork(2, 3, **{name: value})


@pytest.mark.parametrize("seed, error", [(-1, ValueError), (1.5, TypeError), ("0", TypeError), (True, TypeError)])
def test_bad_seed(seed, error):
    with pytest.raises(error, match="^seed: expected"):
        ShallowNetwork(2, 3, seed=seed)


def test_bad_ensemble_arguments():
    with pytest.raises(ValueError, match="^size: expected an integer >= 1"):
        ShallowEnsemble(0, 2, 3)
    with pytest.raises(TypeError, match="^size: expected an integer"):
        ShallowEnsemble(2.0, 2, 3)
    with pytest.raises(ValueError, match="^width: expected an integer >= 1"):
        ShallowEnsemble(2, 2, 0)
    ensemble = ShallowEnsemble(2, 2, 3, seed=0)
    with pytest.raises(ValueError, match="^r: expected an index below 2, got 2"):
        ensemble.member(2)
    with pytest.raises(ValueError, match="^r: expected an integer >= 0"):
        ensemble.member(-1)


# --- method arguments -----------------------------------------------------------------------


@pytest.mark.parametrize("train", ["network", "ensemble"])
def test_bad_training_arguments(net, data, train):
    X, y, _ = data
    target = net if train == "network" else _ensemble()
    for lr in (0, 0.0, -0.1, np.nan, np.inf, -np.inf):
        with pytest.raises(ValueError, match="^lr: expected a finite positive number"):
            target.train(X, y, lr, 3)
    for lr in ("0.1", None, True, [0.1]):
        with pytest.raises(TypeError, match="^lr: expected a positive real number"):
            target.train(X, y, lr, 3)
    with pytest.raises(ValueError, match="^steps: expected an integer >= 0, got -1"):
        target.train(X, y, 0.1, -1)
    with pytest.raises(TypeError, match="^steps: expected an integer"):
        target.train(X, y, 0.1, 2.5)
    with pytest.raises(ValueError, match="^record_every: expected an integer >= 1, got 0"):
        target.train(X, y, 0.1, 3, record_every=0)
    with pytest.raises(ValueError, match="^loss: expected one of sum, mean, half_sum, got 'max'"):
        target.train(X, y, 0.1, 3, loss="max")
    with pytest.raises(ValueError, match="^backend: expected one of cpp, numpy, got 'torch'"):
        target.train(X, y, 0.1, 3, backend="torch")


def test_failed_training_leaves_the_network_untouched(net, data):
    X, y, _ = data
    before = net.params.to_vector()
    with pytest.raises(ValueError):
        net.train(X, y, 0.1, 3, X_test=np.ones((2, D + 1)))
    np.testing.assert_array_equal(net.params.to_vector(), before)


@pytest.mark.parametrize("call", [
    lambda net, X, y: net.forward(X, backend="torch"),
    lambda net, X, y: net.jacobian(X, backend="CPP"),
    lambda net, X, y: net.ntk(X, backend="jax"),
    lambda net, X, y: net.ntk_diag(X, backend=""),
    lambda net, X, y: net.loss(X, y, backend="numba"),
    lambda net, X, y: net.loss_grad(X, y, backend="torch"),
    lambda net, X, y: list(net.jacobian_chunks(X, 2, backend="torch")),
    lambda net, X, y: _ensemble().forward(X, backend="torch"),
])
def test_unknown_backend(net, data, call):
    with pytest.raises(ValueError, match="^backend: expected one of cpp, numpy"):
        call(net, data[0], data[1])


def test_unknown_loss(net, data):
    X, y, _ = data
    with pytest.raises(ValueError, match="^loss: expected one of sum, mean, half_sum"):
        net.loss(X, y, loss="l2")
    with pytest.raises(ValueError, match="^loss: expected one of"):
        net.loss_grad(X, y, loss="MEAN")


def test_bad_chunk_sizes(net, data):
    X = data[0]
    with pytest.raises(ValueError, match="^width_chunk: expected an integer >= 1, got 0"):
        net.ntk(X, width_chunk=0)
    with pytest.raises(TypeError, match="^width_chunk: expected an integer"):
        net.ntk(X, width_chunk=2.5)
    with pytest.raises(ValueError, match="^rows: expected an integer >= 1, got 0"):
        list(net.jacobian_chunks(X, 0))


def test_bad_thread_counts(restore_threads):
    with pytest.raises(ValueError, match="^threads: expected an integer >= 1, got 0"):
        widenet.set_num_threads(0)
    with pytest.raises(TypeError, match="^threads: expected an integer"):
        widenet.set_num_threads(1.5)
    assert widenet.get_num_threads() == restore_threads


# --- parameters -----------------------------------------------------------------------------


def test_setting_parameters_checks_shapes_and_values(net):
    before = net.params.to_vector()
    with pytest.raises(ValueError, match=rf"^U: expected shape \({N}, {D}\), got \({D}, {N}\)"):
        net.params.U = np.ones((D, N))
    with pytest.raises(ValueError, match="^U: expected a 2-D array"):
        net.params.U = np.ones(N * D)
    with pytest.raises(ValueError, match=rf"^b: expected shape \({N},\)"):
        net.params.b = np.ones(N + 1)
    with pytest.raises(ValueError, match="^v: expected a 1-D array"):
        net.params.v = np.ones((N, 1))
    with pytest.raises(ValueError, match="^v: contains NaN or Inf"):
        net.params.v = np.full(N, np.inf)
    with pytest.raises(ValueError, match="^c: expected a finite number"):
        net.params.c = np.nan
    with pytest.raises(ValueError, match="^c: expected a finite number"):
        net.params.c = np.inf
    with pytest.raises(TypeError, match="^c: expected a real number"):
        net.params.c = np.ones(2)
    with pytest.raises(TypeError, match="^c: expected a real number"):
        net.params.c = 1j
    with pytest.raises(TypeError, match="^U: expected a real numeric array"):
        net.params.U = np.ones((N, D), complex)
    np.testing.assert_array_equal(net.params.to_vector(), before)  # nothing half-set


def test_setting_whole_parameters(net):
    with pytest.raises(ValueError, match=f"^params: expected width {N} and input_dim {D}, got 2 and {D}"):
        net.params = Parameters(np.ones((2, D)), np.ones(2), np.ones(2), 0.0)
    with pytest.raises(TypeError, match="^params: expected widenet.Parameters, got tuple"):
        net.params = net.params.arrays()
    with pytest.raises(ValueError, match="^initial_params: expected width"):
        net.initial_params = Parameters(np.ones((N, D + 1)), np.ones(N), np.ones(N), 0.0)


def test_bad_parameter_vectors():
    with pytest.raises(ValueError, match=r"^w: expected shape \(13,\), got \(12,\)"):
        Parameters.from_vector(np.ones(12), 3, 2)
    with pytest.raises(ValueError, match="^U: expected a non-empty"):
        Parameters(np.ones((0, 2)), np.ones(0), np.ones(0), 0.0)
    with pytest.raises(TypeError, match="^dtype: expected"):
        Parameters(np.ones((1, 1)), np.ones(1), np.ones(1), 0.0, dtype=np.int64)


# --- inputs are never modified; read-only inputs work ---------------------------------------


def every_public_call(net, X, y, X_test, backend):
    """Calls every public method with the given arrays; returns the results."""
    ensemble = ShallowEnsemble(2, D, N, activation="tanh", seed=3, dtype=net.dtype)
    start = net.params.copy()
    results = [
        net.forward(X, backend=backend), net(X), net.jacobian(X, backend=backend),
        np.vstack([block for _, block in net.jacobian_chunks(X, 2, backend=backend)]),
        net.ntk(X, backend=backend), net.ntk(X, X, backend=backend), net.ntk(X, X_test, backend=backend),
        net.ntk(X, X_test, backend=backend, width_chunk=1), net.ntk_diag(X, backend=backend),
        net.loss(X, y, backend=backend), net.loss_grad(X, y, backend=backend)[1].to_vector(),
        net.train(X, y, 0.01, 3, X_test=X_test, backend=backend).test_outputs,
        ensemble.forward(X, backend=backend),
        ensemble.train(X, y, 0.01, 3, X_test=X_test, backend=backend).test_outputs,
    ]
    net.params = start
    return results


@pytest.mark.parametrize("backend", ["cpp", "numpy"])
@pytest.mark.parametrize("input_dtype", [np.float64, np.float32, np.int64])
def test_inputs_are_never_modified(dtype, input_dtype, backend):
    net = ShallowNetwork(D, N, "softplus", bias_var=0.5, seed=2, dtype=dtype)
    X, y, X_test = (np.round(4 * a).astype(input_dtype) for a in random_data(4, M, D))
    saved = [a.copy() for a in (X, y, X_test)]
    every_public_call(net, X, y, X_test, backend)
    for original, now in zip(saved, (X, y, X_test)):
        np.testing.assert_array_equal(now, original)
        assert now.dtype == original.dtype


@pytest.mark.parametrize("backend", ["cpp", "numpy"])
def test_read_only_inputs_work(dtype, backend):
    net = ShallowNetwork(D, N, "gelu", bias_var=0.5, seed=2, dtype=dtype)
    arrays = [a.astype(dtype) for a in random_data(5, M, D)]
    expected = every_public_call(net, *[a.copy() for a in arrays], backend)
    for a in arrays:
        a.flags.writeable = False
    got = every_public_call(net, *arrays, backend)
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(np.asarray(g), np.asarray(e))


def test_parameters_copy_the_callers_arrays(net):
    U, b, v = np.ones((N, D)), np.zeros(N), np.ones(N)
    for a in (U, b, v):
        a.flags.writeable = False  # read-only parameter arrays are accepted too
    params = Parameters(U, b, v, 0.5)
    net.params = params
    writable = np.ones((N, D))
    net.params.U = writable
    writable[0, 0] = 7.0  # a later change to the caller's array does not leak in
    assert net.params.U[0, 0] == 1.0
    saved_initial = net.initial_params.to_vector()
    X, y, _ = random_data(6, M, D)
    net.train(X, y, 0.01, 2)
    np.testing.assert_array_equal(params.U, 1.0)  # the Parameters the caller passed in are untouched
    np.testing.assert_array_equal(net.initial_params.to_vector(), saved_initial)
    w = np.arange(N * (D + 2) + 1, dtype=np.float64)
    from_w = Parameters.from_vector(w, N, D)
    w[:] = -1.0  # the parameters do not alias the vector they came from
    np.testing.assert_array_equal(from_w.to_vector(), np.arange(N * (D + 2) + 1))


# --- the raw compiled functions ---------------------------------------------------------------


def core_arrays(dtype=np.float64):
    rng = np.random.default_rng(8)
    X, y = rng.standard_normal((M, D)).astype(dtype), rng.standard_normal(M).astype(dtype)
    U, b, v = (rng.standard_normal(s).astype(dtype) for s in ((N, D), (N,), (N,)))
    return X, y, U, b, v


def core_calls(X, y, U, b, v, c=0.1, U0=None, b0=None, v0=None, X2=None, X_test=None):
    """One call of each _core kernel, with the given arrays (the network objects are made in
    the call, so that their checks are part of it)."""
    U0 = U if U0 is None else U0
    b0 = b if b0 is None else b0
    v0 = v if v0 is None else v0

    def net():
        return _core.Network(U, b, v, c, "tanh", "lecun")

    def initial():
        return _core.Network(U0, b0, v0, c, "tanh", "lecun")

    run = _core.TrainingOptions(0.01, 2, 1, 1.0)
    return {
        "forward": lambda: _core.forward(net(), X),
        "jacobian": lambda: _core.jacobian(net(), X),
        "ntk_gram": lambda: _core.ntk_gram(net(), X, X2, 0),
        "ntk_diag": lambda: _core.ntk_diag(net(), X),
        "loss_grad": lambda: _core.loss_grad(net(), X, y, 1.0),
        "train": lambda: _core.train(net(), initial(), X, y, run, X_test),
        "train_ensemble": lambda: _core.train_ensemble([net()], [initial()], X, y, run, X_test),
    }


KERNELS = list(core_calls(*core_arrays()))


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_core_accepts_matching_c_arrays(kernel, dtype):
    X, y, U, b, v = core_arrays(dtype)
    for a in (X, y, U, b, v):
        a.flags.writeable = False  # read-only is fine: the kernels only read
    core_calls(X, y, U, b, v)[kernel]()


# Which kernels take which optional argument (the others take X, U, b, v).
TAKES = {"y": ("loss_grad", "train", "train_ensemble"), "X2": ("ntk_gram",),
         "X_test": ("train", "train_ensemble"), "U0": ("train", "train_ensemble"),
         "b0": ("train", "train_ensemble")}


def takes(kernel, argument):
    return argument not in TAKES or kernel in TAKES[argument]


CONVERSIONS = ["X-float32", "X-int", "X-fortran", "X-strided", "y-float32", "U-float32", "U-fortran",
               "b-strided", "v-int", "X2-float32", "X_test-fortran"]


@pytest.mark.parametrize("kernel, bad", [(k, bad) for k in KERNELS for bad in CONVERSIONS
                                         if takes(k, bad.split("-")[0])])
def test_core_refuses_conversions(kernel, bad):
    arrays = dict(zip(("X", "y", "U", "b", "v"), core_arrays()))
    arrays["X2"] = arrays["X_test"] = np.ones((2, D))
    name, how = bad.split("-")
    a = arrays[name]
    arrays[name] = {"float32": a.astype(np.float32), "int": a.astype(np.int64), "fortran": np.asfortranarray(a),
                    "strided": np.repeat(a, 2, axis=0)[::2]}[how]
    # the parameters go to the network object's constructor, the other arrays to the function;
    # inputs of the other dtype than the network's are named
    with pytest.raises(TypeError, match="incompatible (function|constructor) arguments|the network's dtype"):
        core_calls(**arrays)[kernel]()


SHAPE_ERRORS = [
    ("X-columns", dict(X=np.ones((M, D + 1))), "^X1?: expected 3 columns"),  # ntk_gram's X is X1
    ("X-rows", dict(X=np.ones((0, D))), "^X1?: expected at least one row"),
    ("b-length", dict(b=np.ones(N + 1)), f"^b: expected (length {N}|shape)"),
    ("v-length", dict(v=np.ones(N - 1)), f"^v: expected (length {N}|shape)"),
    ("U-empty", dict(U=np.ones((0, D)), b=np.ones(0), v=np.ones(0)), "^U: expected a non-empty"),
    ("y-length", dict(y=np.ones(M + 1)), f"^y: expected length {M}"),
    ("X2-columns", dict(X2=np.ones((2, D + 1))), "^X2: expected 3 columns"),
    ("X_test-columns", dict(X_test=np.ones((2, D - 1))), "^X_test: expected 3 columns"),
    ("U0-shape", dict(U0=np.ones((N + 1, D)), b0=np.ones(N + 1), v0=np.ones(N + 1)), r"^initial(\[0\])?: expected the shape"),
    ("U0-columns", dict(U0=np.ones((N, D + 1))), r"^initial(\[0\])?: expected the shape"),
]


@pytest.mark.parametrize("kernel, change, message", [
    pytest.param(k, change, message, id=f"{k}-{label}")
    for k in KERNELS for label, change, message in SHAPE_ERRORS if takes(k, label.split("-")[0])])
def test_core_checks_shapes(kernel, change, message):
    arrays = dict(zip(("X", "y", "U", "b", "v"), core_arrays()))
    arrays.update(change)
    with pytest.raises(ValueError, match=message):
        core_calls(**arrays)[kernel]()


@pytest.mark.parametrize("kernel", ["train", "train_ensemble"])
@pytest.mark.parametrize("name", ["b0", "v0"])
def test_core_train_names_the_initial_parameters(kernel, name):
    arrays = dict(zip(("X", "y", "U", "b", "v"), core_arrays()))
    arrays[name] = np.ones(N + 2)
    # the initial parameters are a network object too: its constructor names the array
    with pytest.raises(ValueError, match=f"^{name[0]}: expected length {N}"):
        core_calls(**arrays)[kernel]()


def test_core_train_ensemble_checks_its_networks():
    X, y, U, b, v = core_arrays()
    R = 2
    nets = [_core.Network(U, b, v, 0.0, "tanh", "lecun") for _ in range(R)]
    narrow = _core.Network(np.ones((N - 1, D)), np.ones(N - 1), np.ones(N - 1), 0.0, "tanh", "lecun")

    def call(networks=nets, initial=nets, X=X, y=y):
        return _core.train_ensemble(networks, initial, X, y, _core.TrainingOptions(0.01, 2), None)

    assert call()["losses"].shape == (R, 3)
    with pytest.raises(ValueError, match="^networks: expected at least one network"):
        call(networks=[])
    with pytest.raises(ValueError, match=rf"^networks\[1\]: expected the shape of the network, \({N}, {D}\)"):
        call(networks=[nets[0], narrow])
    with pytest.raises(ValueError, match=r"^networks\[1\]: expected the architecture of networks\[0\]"):
        call(networks=[nets[0], _core.Network(U, b, v, 0.0, "erf", "lecun")])
    with pytest.raises(TypeError, match="^networks: expected a sequence of Network, got a ndarray at index 0"):
        call(networks=[U])
    with pytest.raises(ValueError, match=rf"^initial: expected {R} networks \(one per network trained\), got 1"):
        call(initial=nets[:1])
    with pytest.raises(ValueError, match=rf"^initial\[0\]: expected the shape of the network, \({N}, {D}\)"):
        call(initial=[narrow, nets[1]])
    with pytest.raises(TypeError, match=r"^initial\[1\]: expected a float64 network \(the dtype of X\)"):
        call(initial=[nets[0], _core.Network(*(a.astype(np.float32) for a in (U, b, v)), 0.0, "tanh", "lecun")])
    with pytest.raises(TypeError, match=r"^X: expected float64 \(the network's dtype\), got float32"):
        call(X=X.astype(np.float32), y=y.astype(np.float32))


def test_core_bad_values():
    X, y, U, b, v = core_arrays()
    kernel = (U, b, v, 0.0)
    with pytest.raises(ValueError, match="^activation: expected one of relu.*got 'swish'"):
        _core.Network(*kernel, "swish", "lecun")
    with pytest.raises(ValueError, match="^activation: expected one of"):
        _core.activation(np.ones(3), "swish")
    with pytest.raises(ValueError, match="^parametrization: expected 'lecun' or 'ntk'"):
        _core.Network(*kernel, "tanh", "mup")
    net = _core.Network(*kernel, "tanh", "lecun")
    with pytest.raises(ValueError, match="^width_chunk: expected a non-negative integer"):
        _core.ntk_gram(net, X, None, -1)

    def train(lr=0.01, steps=2, record_every=1, loss_scale=1.0):
        # the options are checked when made
        return _core.train(net, net, X, y, _core.TrainingOptions(lr, steps, record_every, loss_scale), None)

    for lr in (0.0, -1.0, np.nan, np.inf):
        with pytest.raises(ValueError, match="^lr: expected a finite positive step size"):
            train(lr=lr)
    with pytest.raises(ValueError, match="^steps: expected a non-negative integer"):
        train(steps=-1)
    with pytest.raises(ValueError, match="^record_every: expected a positive integer"):
        train(record_every=0)
    for scale in (0.0, -1.0, np.nan):
        with pytest.raises(ValueError, match="^loss_scale: expected a finite positive number"):
            train(loss_scale=scale)
    with pytest.raises(ValueError, match="^threads: expected a positive integer"):
        _core.set_num_threads(0)


@pytest.mark.parametrize("z", [np.ones(3, np.int64), np.ones(6)[::2], np.ones((3, 2), order="F"), [1.0, 2.0]],
                         ids=["int", "strided", "fortran", "list"])
def test_core_activation_refuses_conversions(z):
    with pytest.raises(TypeError, match="incompatible function arguments"):
        _core.activation(z, "tanh")


def test_a_scalar_array_stays_a_scalar_and_its_nan_is_refused_by_name():
    """0-d input: kept 0-d (numpy's ascontiguousarray makes it 1-d), and a 0-d NaN is a
    ValueError naming the argument (the finiteness mask of a 0-d array is not an array)."""
    from widenet import _validation

    value = _validation.as_array(np.array(1.5), "c", np.dtype(np.float32), 0)
    assert value.shape == () and value.dtype == np.float32 and value == 1.5
    with pytest.raises(ValueError, match="^c: contains NaN or Inf"):
        _validation.as_array(np.array(np.nan), "c", np.dtype(np.float64), 0)
