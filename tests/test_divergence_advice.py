"""A diverged run always ends in its DivergenceError, whose admissible step comes from a
matrix-free Lanczos estimate of lambda_max (no m x m Gram, bounded time), and
on_divergence="return" returns the records even when the parameters overflowed."""

import time

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import widenet
from widenet import _memory

from conftest import make_network, peak_in_child

M = 4000  # an m x m Gram of 128 MB


pytestmark = pytest.mark.usefixtures("default_memory_limit")


def many_points(m=M):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((m, 2))
    return X, np.sin(X[:, 0])


# --- the advice is matrix-free, bounded, and never replaces the error ----------------------------


ADVISED = {
    "network": "model = widenet.ShallowNetwork(2, 8, seed=0)",
    "ensemble": "model = widenet.ShallowEnsemble(2, 2, 8, seed=0)",
    "iterate": "model = widenet.linearize(widenet.ShallowNetwork(2, 8, seed=0)); options['method'] = 'iterate'",
}


@pytest.mark.skipif(bool(widenet.build_info()["sanitizers"]), reason="measures resident memory")
@pytest.mark.parametrize("kind", ["network", "ensemble"])
def test_the_advice_forms_no_gram(kind):
    """m = 4000: the advice built the 128 MB Gram and ran eigvalsh on it (3 s, over 110 s at
    m = 12,000). Now raising costs no more memory than returning the records, up to a small
    fraction of one m x m Gram (peak resident memory in a child process)."""
    setup = (f"X = rng.standard_normal(({M}, 2)); y = np.sin(X[:, 0]); options = {{}}; " + ADVISED[kind])
    warm = "model.train(X[:3], y[:3], 1e-3, 1, **options)"
    raised = peak_in_child(setup, "model.train(X, y, 1.0, 50, record_every=50, **options)", warm)
    returned = peak_in_child(setup, "model.train(X, y, 1.0, 50, record_every=50, on_divergence='return', **options)",
                             warm)
    assert raised["ended"] == "DivergenceError" and returned["ended"].endswith("TrainingResult")
    gram = M * M * 8
    assert raised["added"] - returned["added"] < gram / 4, (raised, returned)


@pytest.mark.parametrize("kind", list(ADVISED))
def test_the_advice_decomposes_no_m_by_m_matrix(kind, monkeypatch):
    """No O(m^3) eigendecomposition on the way to the error: numpy's eigen solvers refuse any
    matrix beyond Lanczos's small tridiagonal one while the diverged run raises."""
    namespace = {"np": np, "widenet": widenet, "rng": np.random.default_rng(0)}
    exec(f"X = rng.standard_normal((500, 2)); y = np.sin(X[:, 0]); options = {{}}; " + ADVISED[kind], namespace)
    model, X, y, options = (namespace[name] for name in ("model", "X", "y", "options"))

    def small_only(solver):
        def solve(matrix, *args, **kwargs):
            assert np.shape(matrix)[-1] <= 100, f"{solver.__name__} of a {np.shape(matrix)} matrix"
            return solver(matrix, *args, **kwargs)
        return solve

    for name in ("eigh", "eigvalsh"):
        monkeypatch.setattr(np.linalg, name, small_only(getattr(np.linalg, name)))
    with pytest.raises(widenet.DivergenceError) as raised:
        model.train(X, y, 1.0, 50, record_every=50, **options)
    assert raised.value.admissible_lr is not None


def test_the_error_is_raised_whatever_the_memory_limit():
    """Under a limit the run fits in but its Gram does not, the caller got MemoryLimitError
    from the advice's ntk instead of the DivergenceError."""
    X, y = many_points()
    net = make_network(2, 8, seed=0)
    _memory.set_memory_limit(40 * 10**6)  # the run needs a few MB, its Gram 128 MB
    with pytest.raises(widenet.DivergenceError) as raised:
        net.train(X, y, 1.0, 50)
    assert raised.value.admissible_lr is not None


def test_the_advice_fails_soft():
    """An advice that cannot be computed is left out with a note; the error stays."""
    from widenet.errors import divergence_error

    net = make_network(2, 8, seed=0)
    X, y = many_points(50)
    result = net.train(X, y, 1.0, 50, on_divergence="return")

    def exhausted(_):
        def product(v):
            raise MemoryError("no room")
        return product

    error = divergence_error(result, exhausted, 50, 1.0)
    assert isinstance(error, widenet.DivergenceError) and error.admissible_lr is None
    assert "not estimated" in error.note and "no room" in str(error)


def test_lanczos_stops_within_its_time_budget():
    from widenet.errors import LANCZOS_STEPS, largest_eigenvalue

    calls = []

    def slow(v):
        calls.append(1)
        time.sleep(0.05)
        return 2.0 * v

    start = time.perf_counter()
    value, residual, steps = largest_eigenvalue(slow, 10**5, steps=LANCZOS_STEPS, seconds=0.3)
    elapsed = time.perf_counter() - start
    assert steps == len(calls) < LANCZOS_STEPS and elapsed < 3.0
    assert value == pytest.approx(2.0, rel=1e-12)  # 2 I: every Ritz value is 2


# --- the advice is right --------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(activation=st.sampled_from(widenet.ACTIVATIONS), parametrization=st.sampled_from(["lecun", "ntk"]),
       m=st.integers(2, 150), width=st.integers(1, 64), seed=st.integers(0, 2**16),
       dtype=st.sampled_from([np.float64, np.float32]))
def test_admissible_step_is_a_lanczos_lower_bound_of_lambda_max(activation, parametrization, m, width, seed, dtype):
    """Against eigvalsh of the Gram: never above lambda_max (a Ritz value), equal to rounding
    up to LANCZOS_STEPS points (the Krylov space is everything), within 1e-3 beyond; the
    note's residual bounds the distance to an eigenvalue."""
    from widenet.errors import LANCZOS_STEPS, largest_eigenvalue

    net = make_network(3, width, activation, parametrization, dtype=dtype, seed=seed)
    X = np.random.default_rng(seed).standard_normal((m, 3)).astype(dtype)
    exact = float(np.linalg.eigvalsh(net.ntk(X).astype(np.float64))[-1])
    estimate, residual, steps = largest_eigenvalue(net.gram_product(X, "cpp"), m)
    rounding = (1e-12 if dtype == np.float64 else 1e-5) * m
    assert estimate <= exact * (1 + rounding)
    assert estimate >= exact * (1 - (rounding if m <= LANCZOS_STEPS else 1e-3))
    assert steps <= LANCZOS_STEPS
    spectrum = np.linalg.eigvalsh(net.ntk(X).astype(np.float64))
    assert np.min(np.abs(spectrum - estimate)) <= residual * estimate + rounding * exact


def test_the_error_gives_the_lanczos_step():
    net = make_network(2, 16, seed=3)
    X, y = many_points(200)
    with pytest.raises(widenet.DivergenceError) as raised:
        net.train(X, y, 1.0, 100)
    exact = float(np.linalg.eigvalsh(net.ntk(X))[-1])
    assert raised.value.admissible_lr == pytest.approx(1 / exact, rel=1e-3)
    assert raised.value.admissible_lr >= 1 / exact * (1 - 1e-12)  # lambda_max is never overestimated
    assert "lambda_max from" in raised.value.note


# --- on_divergence="return" when the parameters overflow -------------------------------------------


X_SMALL = np.random.default_rng(0).standard_normal((5, 2))
Y_SMALL = X_SMALL[:, 0].copy()


@pytest.mark.parametrize("backend", ["cpp", "numpy"])
def test_a_network_whose_parameters_overflow_returns_its_records(backend):
    """lr = 1e308: the parameters overflow to inf; "return" raised ValueError("U: contains NaN
    or Inf") re-validating them as input."""
    net = make_network(2, 16, seed=0)
    before = net.params.to_vector().copy()
    result = net.train(X_SMALL, Y_SMALL, 1e308, 10, on_divergence="return", backend=backend)
    assert result.diverged_at == 1 and result.steps.tolist() == [0, 1]
    assert result.parameters_overflowed is True
    assert not np.isfinite(result.losses[-1]) or result.losses[-1] > 1e10 * result.losses[0]
    np.testing.assert_array_equal(net.params.to_vector(), before)  # Inf parameters are no network


@pytest.mark.parametrize("backend", ["cpp", "numpy"])
def test_an_ensemble_keeps_only_its_finite_members(backend):
    ensemble = widenet.ShallowEnsemble(3, 2, 16, seed=0)
    before = tuple(field.copy() for field in ensemble.params)
    result = ensemble.train(X_SMALL, Y_SMALL, 1e308, 10, on_divergence="return", backend=backend)
    assert result.parameters_overflowed.tolist() == [True] * 3 and result.diverged_at.tolist() == [1] * 3
    for field, old in zip(ensemble.params, before):
        np.testing.assert_array_equal(field, old)
    assert all(np.isfinite(field).all() for field in ensemble.params)


def test_an_ensemble_member_that_does_not_overflow_moves():
    """Members are judged one by one: a member whose run stays finite is left where it ended."""
    ensemble = widenet.ShallowEnsemble(2, 2, 16, seed=0)
    before = ensemble.params.U.copy()
    result = ensemble.train(X_SMALL, Y_SMALL, 1e-3, 3, on_divergence="return")
    assert result.parameters_overflowed.tolist() == [False, False]
    assert not np.array_equal(ensemble.params.U, before)


@pytest.mark.parametrize("backend", ["cpp", "numpy"])
@pytest.mark.parametrize("method", ["closed_form", "iterate"])
def test_a_linearized_model_whose_parameters_overflow_returns_its_records(method, backend):
    lin = widenet.linearize(make_network(2, 16, seed=0))
    before = lin.params.to_vector().copy()
    result = lin.train(X_SMALL, Y_SMALL, 1e308, 10, method=method, on_divergence="return", backend=backend)
    assert result.diverged_at is not None and result.steps[-1] == result.diverged_at
    assert result.parameters_overflowed is True
    np.testing.assert_array_equal(lin.params.to_vector(), before)
    with pytest.raises(widenet.DivergenceError) as raised:  # and "raise" raises, with the records
        lin.train(X_SMALL, Y_SMALL, 1e308, 10, method=method, backend=backend)
    assert raised.value.result.parameters_overflowed is True


def test_gradient_flow_whose_parameters_overflow_returns_its_records():
    """10 points and 4 parameters: the tangent Gram has a null space, where flow accumulates
    2 t of the residual; at t = 1e300 that overflows, and J0^T of it was NaN, refused by
    flow as ValueError("U: contains NaN or Inf")."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((10, 1)), 1e10 * rng.standard_normal(10)
    lin = widenet.linearize(widenet.ShallowNetwork(1, 1, seed=0))
    before = lin.params.to_vector().copy()
    result = lin.flow(X, y, [0.0, 1e300])
    assert result.parameters_overflowed is True
    np.testing.assert_array_equal(lin.params.to_vector(), before)
    assert np.all(np.isfinite(result.losses))


def test_runs_that_stay_finite_say_so():
    net = make_network(2, 8, seed=0)
    assert net.train(X_SMALL, Y_SMALL, 1e-3, 3).parameters_overflowed is False
    assert widenet.linearize(net).flow(X_SMALL, Y_SMALL, [1.0]).parameters_overflowed is False
