"""Behaviour of ShallowNetwork and ShallowEnsemble through the compiled backend: derivatives
against finite differences, the tangent Gram against the Jacobian, gradient-descent
records, initialization statistics, seeds, dtypes, ensembles, threads, the GIL, and the
Figure 11.3 setting of docs/theory.md, section 5."""

import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import widenet
from widenet import Parameters, ShallowEnsemble, ShallowNetwork

from conftest import ACTIVATIONS, assert_close, main_thread_steps_during, make_network, random_data, stable_lr


def preactivations(net, X):
    """``s X U^T + b`` computed here from the parameters (s = 1 or d^{-1/2})."""
    s = 1.0 if net.parametrization == "lecun" else 1.0 / math.sqrt(net.input_dim)
    return s * X @ net.params.U.T + net.params.b


# --- derivatives and the tangent kernel -------------------------------------------------


def finite_difference_jacobian(net, X, h=1e-6):
    """Central differences of ``forward`` in every parameter (through the public API)."""
    w = net.params.to_vector()
    columns = []
    for p in range(w.size):
        e = np.zeros_like(w)
        e[p] = h
        outputs = []
        for shifted in (w + e, w - e):
            net.params = Parameters.from_vector(shifted, net.width, net.input_dim)
            outputs.append(net.forward(X))
        columns.append((outputs[0] - outputs[1]) / (2 * h))
    net.params = Parameters.from_vector(w, net.width, net.input_dim)
    return np.stack(columns, axis=1)


def test_jacobian_matches_finite_differences(activation, parametrization):
    net = make_network(3, 6, activation, parametrization, seed=11)
    X, _, _ = random_data(12, 12, 3)
    if activation == "relu":  # keep every pre-activation well away from the kink
        X = X[np.min(np.abs(preactivations(net, X)), axis=1) > 1e-3]
        assert len(X) >= 3
    J = net.jacobian(X)
    assert J.shape == (len(X), net.num_params) == (len(X), 6 * 5 + 1)
    np.testing.assert_allclose(J, finite_difference_jacobian(net, X), rtol=1e-6, atol=1e-8)


def test_jacobian_last_column_is_one_and_v_block_is_activations():
    # dPhi/dc = 1; dPhi/dv_i = a sigma(z_i) with a = n^{-1/2} (NTK parametrization)
    net = make_network(2, 5, "tanh", "ntk", seed=1)
    X, _, _ = random_data(2, 4, 2)
    J = net.jacobian(X)
    np.testing.assert_array_equal(J[:, -1], 1.0)
    np.testing.assert_allclose(J[:, 5 * 2 + 5:-1], np.tanh(preactivations(net, X)) / math.sqrt(5), rtol=1e-14)


def test_ntk_equals_jacobian_gram(activation, parametrization):
    net = make_network(3, 50, activation, parametrization, seed=2)
    X1, _, X2 = random_data(3, 9, 3, m_test=6)
    J1, J2 = net.jacobian(X1), net.jacobian(X2)
    assert_close(net.ntk(X1), J1 @ J1.T, np.float64, size=net.num_params)
    assert_close(net.ntk(X1, X2), J1 @ J2.T, np.float64, size=net.num_params)
    assert_close(net.ntk(X2, X1), J2 @ J1.T, np.float64, size=net.num_params)


@pytest.mark.parametrize("m, width", [(20, 40), (30, 3)])  # P > m, and P = 13 < m (singular Gram)
def test_ntk_symmetric_psd_and_same_object(activation, parametrization, m, width):
    net = make_network(2, width, activation, parametrization, seed=3)
    X, _, _ = random_data(4, m, 2)
    K = net.ntk(X)
    np.testing.assert_array_equal(net.ntk(X, X), K)  # X2 is X1: the symmetric route
    np.testing.assert_array_equal(K, K.T)
    assert_close(net.ntk(X, X.copy()), K, np.float64, size=net.num_params)  # the cross route
    eigenvalues = np.linalg.eigvalsh(K)
    assert eigenvalues[0] > -1e-10 * eigenvalues[-1]
    if width == 3:  # rank at most P = 13 < m: m - 13 eigenvalues vanish, to rounding
        assert net.num_params == 13
        assert eigenvalues[m - 13 - 1] < 1e-10 * eigenvalues[-1]


def test_ntk_diag_equals_gram_diagonal(activation, parametrization, dtype):
    net = make_network(3, 40, activation, parametrization, dtype, seed=5)
    X, _, _ = random_data(6, 11, 3, dtype)
    assert_close(net.ntk_diag(X), np.diag(net.ntk(X)), dtype, size=net.num_params)


def test_ntk_diag_is_squared_jacobian_row_norm():
    net = make_network(4, 30, "gelu", "lecun", seed=6)
    X, _, _ = random_data(7, 8, 4)
    J = net.jacobian(X)
    assert_close(net.ntk_diag(X), np.sum(J * J, axis=1), np.float64, size=net.num_params)


@pytest.mark.parametrize("rows", [1, 3, 10, 25])
def test_jacobian_chunks_concatenate_to_jacobian(rows):
    net = make_network(3, 8, "sigmoid", "ntk", seed=7)
    X, _, _ = random_data(8, 10, 3)
    chunks = list(net.jacobian_chunks(X, rows))
    assert [start for start, _ in chunks] == list(range(0, 10, rows))
    assert all(len(block) == min(rows, 10 - start) for start, block in chunks)
    assert_close(np.vstack([block for _, block in chunks]), net.jacobian(X), np.float64)


def test_loss_grad_is_twice_jacobian_transpose_residual(activation, parametrization):
    net = make_network(3, 9, activation, parametrization, seed=8)
    X, y, _ = random_data(9, 6, 3)
    r = net.forward(X) - y
    expected_grad = 2 * net.jacobian(X).T @ r
    for loss, scale in (("sum", 1.0), ("mean", 1 / 6), ("half_sum", 0.5)):
        value, grad = net.loss_grad(X, y, loss=loss)
        assert value == pytest.approx(scale * np.dot(r, r), rel=1e-13)
        assert net.loss(X, y, loss=loss) == pytest.approx(value, rel=1e-13)
        assert_close(grad.to_vector(), scale * expected_grad, np.float64, size=60)


# --- gradient descent ---------------------------------------------------------------------


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_loss_decreases_monotonically_for_a_small_step(activation, parametrization):
    net = make_network(3, 30, activation, parametrization, seed=9)
    X, y, _ = random_data(10, 8, 3)
    lam_max = np.linalg.eigvalsh(net.ntk(X))[-1]
    result = net.train(X, y, lr=0.1 / lam_max, steps=60, loss="sum")
    assert np.all(np.diff(result.losses) < 0)
    assert result.losses[-1] < result.losses[0]


def test_training_records(parametrization, dtype):
    X, y, X_test = random_data(11, 6, 2, dtype)
    net = make_network(2, 20, "tanh", parametrization, dtype, seed=12)
    lr = stable_lr(net, X, 1.0, fraction=0.3)
    result = net.train(X, y, lr, steps=7, record_every=3, X_test=X_test)
    np.testing.assert_array_equal(result.steps, [0, 3, 6, 7])
    assert result.steps.dtype == np.int64
    assert result.distances[0] == 0
    assert result.losses.shape == result.distances.shape == (4,)
    assert result.test_outputs.shape == (4, len(X_test))
    for i, k in enumerate(result.steps):
        twin = make_network(2, 20, "tanh", parametrization, dtype, seed=12)
        twin.train(X, y, lr, steps=int(k), record_every=5)
        assert_close(result.losses[i], twin.loss(X, y), dtype, size=20, err_msg=f"loss at step {k}")
        moved = np.linalg.norm(twin.params.to_vector().astype(np.float64) - twin.initial_params.to_vector())
        assert_close(result.distances[i], moved, dtype, size=60, scale=max(moved, 1e-3), err_msg=f"step {k}")
        np.testing.assert_array_equal(result.test_outputs[i], twin.forward(X_test))


@pytest.mark.parametrize("steps, record_every, expected",
                         [(0, 1, [0]), (1, 1, [0, 1]), (6, 3, [0, 3, 6]), (4, 10, [0, 4]), (5, 2, [0, 2, 4, 5])])
def test_recorded_step_indices(steps, record_every, expected):
    net = make_network(2, 4, seed=0)
    X, y, _ = random_data(1, 3, 2)
    result = net.train(X, y, 1e-3, steps, record_every)
    np.testing.assert_array_equal(result.steps, expected)
    assert result.losses.shape == result.distances.shape == (len(expected),)
    assert result.test_outputs is None


def test_training_leaves_trained_params_and_reset_restores(dtype):
    X, y, _ = random_data(13, 5, 2, dtype)
    net = make_network(2, 10, "erf", "lecun", dtype, seed=14)
    initial = net.params.to_vector()
    result = net.train(X, y, stable_lr(net, X, 1.0), steps=10, X_test=X)
    assert not np.array_equal(net.params.to_vector(), initial)
    np.testing.assert_array_equal(net.initial_params.to_vector(), initial)
    np.testing.assert_array_equal(net.forward(X), result.test_outputs[-1])  # Phi at the final params
    assert net.loss(X, y) < result.losses[0]
    assert net.reset() is net
    np.testing.assert_array_equal(net.params.to_vector(), initial)
    np.testing.assert_array_equal(net.forward(X), result.test_outputs[0])
    net.params.b = net.params.b + 1  # the current parameters are a copy of w0, not w0 itself
    np.testing.assert_array_equal(net.initial_params.to_vector(), initial)


def test_training_in_two_pieces_is_bitwise_one_run(parametrization, dtype):
    X, y, X_test = random_data(15, 6, 3, dtype)
    whole = make_network(3, 16, "softplus", parametrization, dtype, seed=16)
    pieces = make_network(3, 16, "softplus", parametrization, dtype, seed=16)
    lr = stable_lr(whole, X, 1 / 6)
    ten = whole.train(X, y, lr, 10, X_test=X_test, loss="mean")
    first = pieces.train(X, y, lr, 5, X_test=X_test, loss="mean")
    second = pieces.train(X, y, lr, 5, X_test=X_test, loss="mean")
    np.testing.assert_array_equal(pieces.params.to_vector(), whole.params.to_vector())
    for key in ("losses", "distances", "test_outputs"):
        np.testing.assert_array_equal(getattr(first, key), getattr(ten, key)[:6], err_msg=key)
        # distances keep being measured from initial_params, not from the second start
        np.testing.assert_array_equal(getattr(second, key), getattr(ten, key)[5:], err_msg=key)
    assert second.distances[0] > 0


# --- initialization -------------------------------------------------------------------------

KURTOSIS = {"normal": 3.0, "uniform": 9 / 5, "rademacher": 1.0}  # E[x^4] / E[x^2]^2 of the law D


def assert_second_moment(x, variance, kurtosis, name):
    """The sample second moment about 0 (the mean is known to be 0) equals ``variance``
    within 5 standard errors, ``variance * sqrt((kurtosis - 1) / N)``; the mean is 0
    within 5 standard errors."""
    x = np.ravel(x).astype(np.float64)
    N = x.size
    assert abs(np.mean(x)) < 5 * math.sqrt(variance / N), name
    standard_error = variance * math.sqrt((kurtosis - 1) / N)
    assert abs(np.mean(x * x) - variance) <= 5 * standard_error + 1e-14 * variance, name


@pytest.mark.parametrize("distribution", ["normal", "uniform", "rademacher"])
def test_initialization_variances(distribution, parametrization):
    d, n = 40, 5000
    wv, bv, ov = 2.5, 1.3, 0.7
    net = ShallowNetwork(d, n, "relu", parametrization, weight_var=wv, bias_var=bv, output_var=ov,
                         output_bias_var=0.4, distribution=distribution, seed=17)
    U, b, v = net.params.U, net.params.b, net.params.v
    assert U.shape == (n, d) and b.shape == v.shape == (n,)
    u_var, v_var = (wv / d, ov / n) if parametrization == "lecun" else (wv, ov)
    kurtosis = KURTOSIS[distribution]
    for name, x, variance in (("U", U, u_var), ("b", b, bv), ("v", v, v_var)):
        assert_second_moment(x, variance, kurtosis, name)
        scale = math.sqrt(variance)
        if distribution == "rademacher":
            np.testing.assert_array_equal(np.abs(x), scale, err_msg=name)  # every entry is +-scale
        elif distribution == "uniform":
            assert np.max(np.abs(x)) <= math.sqrt(3) * scale * (1 + 1e-15), name
        else:
            assert np.max(np.abs(x)) > math.sqrt(3) * scale, name  # not bounded like the uniform
    # the law itself, through the fourth moment of the 200 000 entries of U
    z = U.ravel() / math.sqrt(u_var)
    kurtosis_se = {"normal": math.sqrt(96), "uniform": math.sqrt(9 - 81 / 25), "rademacher": 0.0}[distribution]
    assert abs(np.mean(z**4) - kurtosis) <= 5 * kurtosis_se / math.sqrt(z.size) + 1e-12


@pytest.mark.parametrize("distribution", ["normal", "uniform", "rademacher"])
def test_output_bias_variance_across_networks(distribution):
    # c is one number per network: its variance is seen over many networks
    c = np.array([ShallowNetwork(1, 1, output_bias_var=0.4, distribution=distribution, seed=s).params.c
                  for s in range(3000)])
    assert_second_moment(c, 0.4, KURTOSIS[distribution], "c")


def test_zero_bias_variance_gives_exact_zeros():
    net = ShallowNetwork(3, 50, bias_var=0.0, output_bias_var=0.0, seed=18)
    np.testing.assert_array_equal(net.params.b, 0.0)
    assert net.params.c == 0.0
    defaults = ShallowNetwork(3, 50, seed=18)  # the defaults s_b^2 = s_c^2 = 0 (docs/theory.md, section 5)
    np.testing.assert_array_equal(defaults.params.b, 0.0)
    assert defaults.params.c == 0.0


def test_seeds():
    def vector(seed, **kwargs):
        return make_network(3, 20, seed=seed, **kwargs).params.to_vector()

    np.testing.assert_array_equal(vector(5), vector(5))
    assert not np.any(vector(5) == vector(6))  # continuous draws: no entry in common
    np.testing.assert_array_equal(vector(np.random.default_rng(5)), vector(5))
    np.testing.assert_array_equal(vector(np.random.SeedSequence(5)), vector(5))
    np.testing.assert_array_equal(vector(np.int64(5)), vector(5))
    assert not np.array_equal(vector(None), vector(None))
    # a Generator is consumed: two networks from one generator differ
    rng = np.random.default_rng(5)
    assert not np.array_equal(vector(rng), vector(rng))


def test_float32_network_is_float64_network_rounded(activation, parametrization):
    net64 = make_network(3, 30, activation, parametrization, np.float64, seed=19)
    net32 = make_network(3, 30, activation, parametrization, np.float32, seed=19)
    for name in ("U", "b", "v"):
        got = getattr(net32.params, name)
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, getattr(net64.params, name).astype(np.float32), err_msg=name)
    assert net32.params.c == float(np.float32(net64.params.c))
    X, _, _ = random_data(20, 7, 3)
    out32 = net32.forward(X)
    assert out32.dtype == np.float32
    assert_close(out32, net64.forward(X), np.float32)
    assert_close(net32.ntk(X), net64.ntk(X), np.float32, size=30 * 3)


# --- ensembles ------------------------------------------------------------------------------


def make_ensemble(dtype=np.float64, size=4, seed=21):
    return ShallowEnsemble(size, 2, 12, activation="tanh", parametrization="ntk", bias_var=0.5,
                           output_bias_var=0.3, seed=seed, dtype=dtype)


def test_ensemble_members_are_independently_seeded_networks(dtype):
    ensemble = make_ensemble(dtype)
    generators = [np.random.default_rng(s) for s in np.random.SeedSequence(21).spawn(4)]
    vectors = []
    for r in range(4):
        member = ensemble.member(r)
        assert isinstance(member, ShallowNetwork)
        for name, stacked in zip("Ubvc", ensemble.params):
            np.testing.assert_array_equal(getattr(member.params, name), stacked[r], err_msg=name)
        alone = ShallowNetwork(2, 12, "tanh", "ntk", bias_var=0.5, output_bias_var=0.3, seed=generators[r],
                               dtype=dtype)
        np.testing.assert_array_equal(member.params.to_vector(), alone.params.to_vector())
        vectors.append(member.params.to_vector())
    assert len({v.tobytes() for v in vectors}) == 4


def test_ensemble_forward_shape_and_rows(dtype):
    ensemble = make_ensemble(dtype)
    X, _, _ = random_data(22, 5, 2, dtype)
    out = ensemble.forward(X)
    assert out.shape == (4, 5) and out.dtype == np.dtype(dtype)
    for r in range(4):
        np.testing.assert_array_equal(out[r], ensemble.member(r).forward(X))


def test_ensemble_train_equals_training_members_alone(dtype):
    ensemble = make_ensemble(dtype)
    X, y, X_test = random_data(23, 5, 2, dtype)
    members = [ensemble.member(r) for r in range(4)]
    lr = 0.05
    result = ensemble.train(X, y, lr, 6, record_every=2, X_test=X_test, loss="mean")
    np.testing.assert_array_equal(result.steps, [0, 2, 4, 6])
    for r, member in enumerate(members):
        alone = member.train(X, y, lr, 6, record_every=2, X_test=X_test, loss="mean")
        for key in ("losses", "distances", "test_outputs"):
            assert_close(getattr(result, key)[r], getattr(alone, key), dtype, size=100, err_msg=key)
        trained = ensemble.member(r)
        assert_close(trained.params.to_vector(), member.params.to_vector(), dtype, size=100)
        np.testing.assert_array_equal(trained.initial_params.to_vector(), member.initial_params.to_vector())


def test_ensemble_member_is_a_copy():
    ensemble = make_ensemble()
    before = ensemble.params.U.copy()
    member = ensemble.member(0)
    X, y, _ = random_data(24, 3, 2)
    member.train(X, y, 0.05, 3)
    np.testing.assert_array_equal(ensemble.params.U, before)


# --- runtime: build information, threads ----------------------------------------------------


def test_build_info():
    info = widenet.build_info()
    for key in ("version", "eigen", "simd", "blas", "threads", "blas_threads"):
        assert key in info, key
    assert info["version"] == widenet.__version__
    assert info["eigen"].count(".") == 2
    assert info["threads"] == widenet.get_num_threads() >= 1
    assert isinstance(info["blas_threads"], int) and info["blas_threads"] >= 1


def test_set_num_threads_round_trip(restore_threads):
    widenet.set_num_threads(1)
    assert widenet.get_num_threads() == 1
    assert widenet.build_info()["threads"] == 1
    assert widenet.build_info()["blas_threads"] == 1
    widenet.set_num_threads(restore_threads)
    expected = restore_threads if widenet.build_info().get("openmp", True) else 1
    assert widenet.get_num_threads() == expected


def test_results_do_not_depend_on_thread_count(restore_threads):
    net = make_network(8, 600, "tanh", "lecun", seed=25)
    X, y, _ = random_data(26, 64, 8)
    runs = []
    for threads in (1, 2):
        widenet.set_num_threads(threads)
        runs.append((net.forward(X), net.ntk(X), net.ntk_diag(X), net.loss_grad(X, y)[1].to_vector()))
    for got, want in zip(*runs):
        assert_close(got, want, np.float64, size=600 * 8)


# --- the GIL and concurrent use -------------------------------------------------------------


def test_long_cpp_call_releases_the_gil(restore_threads):
    """While one thread is inside a long C++ call, another Python thread keeps running
    (conftest.main_thread_steps_during: the main thread's timestamps in the middle of a
    training run on a worker)."""
    widenet.set_num_threads(1)  # leave a core free for the counting thread
    net = make_network(8, 1000, "tanh", "lecun", seed=27)
    X, y, _ = random_data(28, 100, 8)
    inside, duration = main_thread_steps_during(lambda steps: net.train(X, y, 1e-5, steps),
                                                lambda steps: 20 if steps is None else 2 * steps)
    assert len(inside) >= 3, f"{len(inside)} main-thread steps during the middle of a {duration:.3f} s C++ call"


def test_same_network_from_four_threads():
    net = make_network(8, 512, "gelu", "ntk", seed=29)
    X, y, X2 = random_data(30, 64, 8, m_test=40)
    before = net.params.to_vector()
    tasks = {
        "forward": lambda: net.forward(X),
        "jacobian": lambda: net.jacobian(X),
        "ntk": lambda: net.ntk(X),
        "ntk_cross": lambda: net.ntk(X, X2),
        "ntk_chunked": lambda: net.ntk(X, X2, width_chunk=100),
        "ntk_diag": lambda: net.ntk_diag(X),
        "loss_grad": lambda: net.loss_grad(X, y)[1].to_vector(),
        "loss": lambda: np.array(net.loss(X, y)),
        # training mutates its network: each call trains its own copy
        "train": lambda: ShallowEnsemble(3, 8, 64, seed=31).train(X, y, 1e-3, 5).losses,
        "member_train": lambda: make_network(8, 64, seed=32).train(X, y, 1e-3, 5).losses,
    }
    serial = {name: task() for name, task in tasks.items()}
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [(name, pool.submit(task)) for _ in range(4) for name, task in tasks.items()]
        for name, future in futures:
            np.testing.assert_array_equal(future.result(), serial[name], err_msg=name)
    np.testing.assert_array_equal(net.params.to_vector(), before)


# --- Figure 11.3 (docs/theory.md, section 5) -------------------------------------------------


def figure_11_3_network(seed):
    """arctan, d = 1, n = 250, U ~ N(0, 3/d), v ~ N(0, 3/n), b, c ~ N(0, 2) (11.5.11)."""
    return ShallowNetwork(1, 250, "arctan", "lecun", weight_var=3.0, bias_var=2.0, output_var=3.0,
                          output_bias_var=2.0, seed=seed)


def test_figure_11_3_trains_with_the_mean_loss_and_not_the_sum():
    """GD on ``scale * |r|^2`` moves the residual by ``r <- (I - 2 h scale Theta) r`` to first
    order, stable iff ``h scale lambda_max(Theta) < 1``. With h = 1/n, m = 3 and Theta's
    lambda_max between n and 3n at this initialization, "mean" (scale 1/3) is stable
    and "sum" (scale 1) is not."""
    X = np.array([[-1.0], [0.25], [1.5]])
    y = np.array([0.5, -0.5, 1.0])
    m, h = 3, 1 / 250
    for seed in range(4):
        net = figure_11_3_network(seed)
        eigenvalues = np.linalg.eigvalsh(net.ntk(X))
        assert eigenvalues[0] > 0
        assert h * eigenvalues[-1] > 1  # the chapter's sum: above the stable limit
        assert h * eigenvalues[-1] / m < 1  # the mean: below it
        # linear prediction of the slowest contraction per step of the residual
        rate = np.max(np.abs(1 - 2 * h * eigenvalues / m))
        assert rate < 1

        mean_run = net.train(X, y, h, 1000, record_every=100, loss="mean")
        assert mean_run.losses[-1] <= max(1e-20, 1e3 * rate ** 2000 * mean_run.losses[0])
        assert np.max(np.abs(net.forward(X) - y)) < 1e-9  # interpolates the three points

        net.reset()
        with pytest.raises(widenet.DivergenceError):  # it grows until it passes 1e10 f(w0)
            net.train(X, y, h, 1000, record_every=20, loss="sum")
        sum_run = net.train(X, y, h, 20, record_every=20, loss="sum", on_divergence="return")
        # the unstable mode grows by |1 - 2 h lambda_max| > 1 per step
        assert 2 * h * eigenvalues[-1] - 1 > 1.2
        assert sum_run.losses[-1] > 1e6 * sum_run.losses[0]

        # and the two losses differ only by the factor m: the sum with step h/m is the mean with step h
        net.reset()
        rescaled = net.train(X, y, h / m, 1000, record_every=100, loss="sum")
        np.testing.assert_allclose(rescaled.distances, mean_run.distances, rtol=1e-8)
