"""Calls the memory guard missed: the constructors, the feature maps, the schedule of
linearized training, lazy-training sweeps and the kernel least-squares fits are refused
before they allocate; record counts never overflow, in C++ or in the numpy twin."""

import time
import tracemalloc

import numpy as np
import pytest

import widenet
from widenet import _core, _memory
from widenet import reference as ref
from widenet._memory import MemoryLimitError

from conftest import make_network

LIMIT = 50 * 10**6


pytestmark = pytest.mark.usefixtures("default_memory_limit")


def refused_without_allocating(call, where: str, budget: int = 2**20) -> MemoryLimitError:
    """``call()`` raises MemoryLimitError naming ``where`` within 0.5 s, having allocated at most
    ``budget`` bytes through numpy (traced) on the way. A first call, untraced, loads what
    is loaded once per process (modules imported on first use)."""
    with pytest.raises(MemoryLimitError):
        call()
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(MemoryLimitError, match=f"^{where}: would allocate") as raised:
            call()
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert elapsed < 0.5, f"{elapsed:.2f} s"
    assert peak < budget, f"allocated {peak} bytes before refusing"
    return raised.value


# --- what the guard missed, refused before it allocates --------------------------------------------


def test_a_network_too_large_to_draw_is_refused():
    """ShallowNetwork(10**5, 10**6): 10^11 parameters (800 GB of draws) went to numpy."""
    error = refused_without_allocating(lambda: widenet.ShallowNetwork(10**5, 10**6), "ShallowNetwork")
    assert "float64 draws" in str(error)


def test_network_and_ensemble_construction_count_their_draws():
    """Under a 50 MB limit a network of 4 x 10^6 parameters (64 MB of float64 draws) and an
    ensemble of 100 networks of 24,001 parameters each (58 MB: members, copies and stack)
    are refused before the first draw; they were built."""
    _memory.set_memory_limit(LIMIT)
    refused_without_allocating(lambda: widenet.ShallowNetwork(1000, 4000, seed=0), "ShallowNetwork")
    refused_without_allocating(lambda: widenet.ShallowEnsemble(100, 10, 2000, seed=0), "ShallowEnsemble")
    widenet.ShallowEnsemble(10, 10, 2000, seed=0)  # 5.8 MB: fine


def test_an_ensemble_of_a_million_networks_is_refused_before_the_first_member():
    refused_without_allocating(lambda: widenet.ShallowEnsemble(10**6, 100, 1000, seed=0), "ShallowEnsemble")


def test_linearized_training_counts_its_schedule_before_making_it():
    """linearize(net).train(..., steps=10**12) made np.arange of 10^12 steps (8 TB) first."""
    lin = widenet.linearize(make_network(2, 4, seed=0))
    X, y = np.ones((3, 2)), np.zeros(3)
    for method in ("closed_form", "iterate"):
        refused_without_allocating(lambda: lin.train(X, y, 1e-3, 10**12, method=method), "LinearizedModel.train")


@pytest.mark.parametrize("call, where", [
    (lambda X: widenet.polynomial_features(X, 6), "polynomial_features"),
    (lambda X: widenet.rbf_features(X, 0.5, 6), "rbf_features"),
    (lambda X: widenet.separating_features(X), "separating_features"),
    (lambda X: widenet.KernelLeastSquares().fit(X, X[:, 0]), "KernelLeastSquares.fit"),
    (lambda X: widenet.NTKRegressor().fit(X, X[:, 0]), "NTKRegressor.fit"),
])
def test_feature_maps_and_kernel_fits_are_refused_under_the_limit(call, where):
    """5000 points in d = 5: 462 features of degree <= 6 (18 MB per copy), an m x m Gram of
    200 MB; all were computed whatever the limit."""
    X = np.random.default_rng(0).standard_normal((5000, 5))
    _memory.set_memory_limit(10**7)
    refused_without_allocating(lambda: call(X), where)


def test_feature_maps_of_astronomical_degree_are_refused_at_once():
    """C(110, 10) = 4.7e13 features: counted without listing them (and without forming a
    binomial of a million digits for d = degree = 10^6)."""
    X, wide = np.ones((2, 10)), np.ones((2, 10**6))
    refused_without_allocating(lambda: widenet.polynomial_features(X, 100), "polynomial_features")
    # checking the 2 x 10^6 inputs for NaN takes a mask of their size
    refused_without_allocating(lambda: widenet.rbf_features(wide, 1.0, 10**6), "rbf_features", budget=wide.size + 2**20)


def test_feature_count_is_the_binomial():
    from widenet.kernels.feature_maps import feature_count

    for d in range(1, 6):
        for degree in range(0, 7):
            exhaustive = sum(1 for a in np.ndindex(*(degree + 1,) * d) if sum(a) <= degree)
            assert feature_count(d, degree) == exhaustive
            exact = sum(1 for a in np.ndindex(*(degree + 1,) * d) if sum(a) == degree)
            assert feature_count(d, degree, degree) == exact
    assert feature_count(10**6, 10**6) == 2**63 + 1  # capped, in well under a second


def test_a_lazy_training_sweep_of_impossible_width_is_refused_before_it_starts():
    """lazy_training_sweep(widths=[2**40]): its cell asked numpy for 35 TB of draws."""
    refused_without_allocating(lambda: widenet.lazy_training_sweep([2**40], [0], threads=1, progress=False),
                               "lazy_training_sweep")


def test_kernel_least_squares_counts_eigh():
    """KernelLeastSquares.fit counted one Gram; G + ridge I and eigh's copy, workspace and
    eigenvectors took 6 Grams at once (77 GB at the default limit went through). A well-posed
    fit holds the Gram and its Cholesky factor; one whose factorization is refused (a
    singular Gram) is refused before eigh allocates, with only the Gram and the factor made."""
    X = np.random.default_rng(0).standard_normal((1000, 3))
    gram = 1000 * 1000 * 8
    where, estimate = _memory.estimate(lambda: widenet.KernelLeastSquares(ridge=0.1).fit(X, X[:, 0]))
    assert where == "KernelLeastSquares.fit" and estimate >= 2 * gram
    _memory.set_memory_limit(3 * gram)  # above the Gram and its factor, below what eigh needs besides
    refused_without_allocating(lambda: widenet.KernelLeastSquares("linear").fit(X, X[:, 0]),
                               "KernelLeastSquares.fit", budget=2 * gram + 2**20)


@pytest.mark.parametrize("estimator", ["KernelLeastSquares", "NTKRegressor"])
def test_a_float32_gram_counts_the_float64_copy_its_factorization_takes(estimator):
    """A float32 Gram is factorized in float64: the fit holds it, its float64 copy and the factor
    at once, a quarter more than the two float64 Grams the guard counted. The estimate now covers
    the peak of the fit's allocations, and the fit is refused below it. tracemalloc sees numpy's
    allocations; the kernel's Gram, made in C++, is added by its size. A precomputed Gram is the
    caller's (allocated before tracing); checking its symmetry made three float64 copies of it,
    and now works on blocks of rows. The systems are conditioned well enough for a float32
    Gram's factorization to be taken."""
    m = 600
    X = np.random.default_rng(2).standard_normal((m, 3)).astype(np.float32)
    if estimator == "KernelLeastSquares":
        data, model, untraced = X, widenet.KernelLeastSquares(kernel="rbf", ridge=100.0), 4 * m * m
    else:  # a precomputed float32 Gram keeps its dtype (the limit kernels are float64)
        data = (widenet.limit_kernel(X, activation="relu") + 100 * np.eye(m)).astype(np.float32)
        model, untraced = widenet.NTKRegressor(kernel="precomputed"), 0
    fit = lambda: model.fit(data, X[:, 0])  # noqa: E731
    fit()  # loads what is loaded once
    _, estimate = _memory.estimate(fit)
    tracemalloc.start()
    try:
        fit()
        peak = tracemalloc.get_traced_memory()[1] + untraced
    finally:
        tracemalloc.stop()
    # the float64 copy and the factor are held at once; the data and the answer add a few kB
    assert estimate >= 0.99 * peak and peak >= 0.99 * m * m * (8 + 8)
    _memory.set_memory_limit(int(0.99 * peak))
    with pytest.raises(MemoryLimitError, match=f"^{type(model).__name__}.fit: would allocate"):
        fit()


def test_kernel_least_squares_with_ridge_solves_the_shifted_system():
    """Shifting the eigenvalues of G by the ridge (no m x m G + ridge I any more) solves
    (G + ridge I) alpha = y, checked against a direct solve."""
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((60, 3)), rng.standard_normal(60)
    fitted = widenet.KernelLeastSquares(kernel="rbf", gamma=0.5, ridge=0.1).fit(X, y)
    G = widenet.RBFKernel(0.5)(X)
    np.testing.assert_allclose(fitted.dual_coef_, np.linalg.solve(G + 0.1 * np.eye(60), y), rtol=1e-10)


# --- record counts ------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["cpp", "numpy"])
def test_huge_step_counts_with_huge_record_periods(backend):
    """train(..., 2**63 - 1, record_every=2**62 + 1): the C++ schedule added record_every to the
    step index until it wrapped negative, and grew its vector until bad_alloc. Now the three
    recorded steps are computed by division; a step of 1e300 diverges at step 1, so the run
    ends there with its two records."""
    net = widenet.ShallowNetwork(1, 4, seed=0)
    X, y = np.ones((2, 1)), np.ones(2)
    result = net.train(X, y, 1e300, 2**63 - 1, record_every=2**62 + 1, on_divergence="return", backend=backend)
    assert result.steps.tolist() == [0, 1] and result.diverged_at == 1
    run = widenet.ShallowEnsemble(2, 1, 4, seed=0).train(X, y, 1e300, 2**63 - 1, record_every=2**62 + 1,
                                                         on_divergence="return", backend=backend)
    assert run.steps.tolist() == [0, 2**62 + 1, 2**63 - 1] and run.diverged_at.tolist() == [1, 1]
    lin = widenet.linearize(widenet.ShallowNetwork(1, 4, seed=0)).train(
        X, y, 1e300, 2**63 - 1, record_every=2**62 + 1, method="iterate", on_divergence="return", backend=backend)
    assert lin.steps.tolist() == [0, 1]


@pytest.mark.parametrize("recorded_steps", [_core.recorded_steps, ref.training.recorded_steps], ids=["cpp", "twin"])
def test_recorded_steps_never_pass_the_last_step(recorded_steps):
    """The schedule against the definition (every multiple of record_every below steps,
    then steps), up to the largest int64 step count; the count the memory guard uses agrees."""
    for steps, every in ((0, 1), (1, 1), (9, 3), (10, 3), (10, 20), (2**63 - 1, 2**62 + 1), (2**63 - 1, 2**63 - 1),
                         (2**63 - 2, 2**62), (2**62, 2**61)):
        expected = list(range(0, steps, every)) + [steps] if steps < 100 else None
        got = recorded_steps(steps, every)
        assert got.dtype == np.int64 and got[0] == 0 and got[-1] == steps
        assert np.all(np.diff(got) > 0) and np.all(np.diff(got)[:-1] == every)
        assert len(got) == _memory.recorded_count(steps, every) == steps // every + 1 + (steps % every != 0)
        if expected is not None:
            assert got.tolist() == expected


@pytest.mark.parametrize("call", [
    lambda X, y, p: _core.train(p, p, X, y, _core.TrainingOptions(1e-3, 2**63 - 1, 1, 1.0)),
    lambda X, y, p: _core.train(p, p, X, y, _core.TrainingOptions(1e-3, 2**63 - 1, 3, 1.0)),
    lambda X, y, p: _core.linear_gd(np.eye(2), y, _core.TrainingOptions(1e-3, 2**63 - 1, 2, 1.0)),
    lambda X, y, p: _core.recorded_steps(2**63 - 1, 1),
    lambda X, y, p: ref.training.recorded_steps(2**63 - 1, 1),
], ids=["cpp-every-step", "cpp-every-third", "cpp-linear", "cpp-schedule", "twin"])
def test_record_counts_that_cannot_be_allocated_are_refused_by_name(call):
    """Counts whose arrays cannot be addressed: ValueError naming record_every, never an
    overflowed size (steps / record_every + 1 wrapped for record_every = 1)."""
    X, y = np.ones((2, 1)), np.ones(2)
    params = widenet.ShallowNetwork(1, 2, seed=0).state
    with pytest.raises(ValueError, match="^record_every: about .* cannot be allocated"):
        call(X, y, params)
