"""The claims of the least-squares and Example 11.5 experiments can fail, and only for a reason:
Theorem 11.3 is run strictly inside its step interval, the measured per-step factor is the
sharp one, every tolerance is a rounding bound that holds against an independent
computation in extended precision or exact arithmetic, and each negative control moves the
checked quantity by what it says."""

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from widenet.app.experiments import EXPERIMENTS, Perturbation, run_experiment
from widenet.app.experiments import example_11_5
from widenet.app.experiments import least_squares
from widenet.regression.least_squares import gradient_descent, max_step

LONG = np.longdouble  # 64-bit mantissa: a reference 2^11 times finer than float64


def problem(seed: int, m: int, d: int, scale: float):
    rng = np.random.default_rng(seed)
    A = scale * rng.standard_normal((m, d))
    return A, scale * rng.standard_normal(m), rng.standard_normal(d)


def long_gd(A, y, w0, lr, steps):
    """GD (11.1.5) in extended precision from the same float64 data and step."""
    A, y, w = A.astype(LONG), y.astype(LONG), w0.astype(LONG)
    iterates = [w.copy()]
    for _ in range(steps):
        w = w - LONG(lr) * 2 * (A.T @ (A @ w - y))
        iterates.append(w.copy())
    return np.array(iterates)


def long_solve(G, b):
    """``G^-1 b`` by Gaussian elimination with partial pivoting in extended precision."""
    G, b = G.astype(LONG).copy(), b.astype(LONG).copy()
    n = G.shape[0]
    for k in range(n):
        pivot = k + int(np.argmax(np.abs(G[k:, k])))
        G[[k, pivot]], b[[k, pivot]] = G[[pivot, k]], b[[pivot, k]]
        for i in range(k + 1, n):
            factor = G[i, k] / G[k, k]
            G[i, k:] -= factor * G[k, k:]
            b[i] -= factor * b[k]
    x = np.zeros(n, dtype=LONG)
    for k in reversed(range(n)):
        x[k] = (b[k] - G[k, k + 1:] @ x[k + 1:]) / G[k, k]
    return x


def long_limit(A, y, w0):
    """``A^+ y + P_ker w0`` in extended precision, through the Gram of the rows or columns."""
    A, y, w0 = A.astype(LONG), y.astype(LONG), w0.astype(LONG)
    if A.shape[0] <= A.shape[1]:  # full row rank: A^+ = A^T (A A^T)^-1
        G = A @ A.T
        return A.T @ long_solve(G, y) + w0 - A.T @ long_solve(G, A @ w0)
    return long_solve(A.T @ A, A.T @ y)  # full column rank: the kernel is {0}


# -- the least-squares experiment ----------------------------------------------------------
def test_the_step_is_strictly_inside_the_interval_of_theorem_11_3(quick_results):
    """Theorem 11.3 needs h in the open interval (0, 1/(2 s_max^2)); the experiment used to
    run at its end."""
    result = quick_results["least-squares"]
    m, d = result.settings["linear_shapes"][0]
    rng = np.random.default_rng(0)
    A = rng.standard_normal((m, d)) / math.sqrt(d)
    numbers = result.numbers["linear"]
    assert numbers["lr"] == pytest.approx(0.9 * max_step(A), rel=1e-12)
    assert numbers["step_times_2_s_max_squared"] == pytest.approx(0.9, rel=1e-12)
    claims = {claim.key: claim for claim in result.claims}
    assert all(claims[key].hypothesis_holds for key in ("limit", "rate", "min-norm", "min-loss", "kernel-limit"))
    assert claims["step-range"].hypothesis_holds is False  # the endpoint and beyond: shown as outside


def test_the_measured_factor_is_the_sharp_rate_from_numpy(quick_results):
    """The component of w_k - w_lim along the singular vector of s_min, iterated with numpy
    alone, shrinks by 1 - 2 h s_min^2 per step; the experiment measures that factor."""
    result = quick_results["least-squares"]
    m, d = result.settings["linear_shapes"][0]
    rng = np.random.default_rng(0)
    A = rng.standard_normal((m, d)) / math.sqrt(d)
    y, w0 = rng.standard_normal(m), rng.standard_normal(d)
    _, s, Vt = np.linalg.svd(A, full_matrices=False)
    h = 0.9 / (2.0 * s[0] ** 2)
    limit = np.linalg.lstsq(A, y, rcond=None)[0] + w0 - Vt.T @ (Vt @ w0)
    w, components = w0.copy(), []
    for _ in range(20):
        components.append(Vt[-1] @ (w - limit))
        w = w - 2.0 * h * A.T @ (A @ w - y)
    ratios = np.array(components[1:]) / np.array(components[:-1])
    np.testing.assert_allclose(ratios, 1.0 - 2.0 * h * s[-1] ** 2, rtol=1e-9)
    assert result.numbers["linear"]["measured_factor"] == pytest.approx(1.0 - 2.0 * h * s[-1] ** 2, rel=1e-10)


def test_the_overdetermined_limit_and_its_loss_from_numpy(quick_results):
    """For the d x m problem the limit is A^+ y (lstsq) and f tends to its residual, > 0."""
    result = quick_results["least-squares"]
    numbers = result.numbers["overdetermined"]
    rows, columns = numbers["shape"]
    rng = np.random.default_rng(0)
    m, d = result.settings["linear_shapes"][0]
    rng.standard_normal((m, d)), rng.standard_normal(m), rng.standard_normal(d)  # the underdetermined problem
    rng.standard_normal(len(least_squares.KERNEL_X) + 3)  # the kernel case's w0 (7 features)
    A = rng.standard_normal((rows, columns)) / math.sqrt(columns)
    y = rng.standard_normal(rows)
    solution, residual = np.linalg.lstsq(A, y, rcond=None)[:2]
    assert numbers["min_loss"] == pytest.approx(float(residual[0]), rel=1e-10)
    assert numbers["final_loss"] == pytest.approx(float(residual[0]), rel=1e-10)
    assert numbers["norm_min_norm"] == pytest.approx(np.linalg.norm(solution), rel=1e-10)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), m=st.integers(1, 5), extra=st.integers(-3, 4),
       scale=st.sampled_from([1e-3, 1.0, 1e3, 1e6]), multiple=st.sampled_from([0.9, 1.0, 1.9, 2.04]))
def test_the_step_rounding_bound_holds_against_extended_precision(seed, m, extra, scale, multiple):
    """Float64 GD (the library's, or the experiment's own loop at steps the library refuses)
    stays within the propagated per-step bound of the same iteration in extended
    precision, over shapes, scales and steps inside, at and beyond the interval."""
    d = max(1, m + extra)
    A, y, w0 = problem(seed, m, d, scale)
    lr = multiple * max_step(A)
    steps = 40
    prob = least_squares._Problem(A, y, w0)
    iterates, residuals = least_squares._iterate(prob, lr, steps)
    if multiple < 2.0:  # the library runs it too, with the same operations
        with pytest.warns(UserWarning) if multiple > 1.0 else _no_warning():
            run = gradient_descent(A, y, w0, lr, steps)
        np.testing.assert_array_equal(run.iterates, iterates)
    growth = max(1.0, float(np.max(least_squares.contraction(lr, prob.singular))))
    bounds = least_squares.propagated(
        least_squares.step_rounding(A, y, lr, np.linalg.norm(iterates, axis=1), residuals), growth)
    errors = np.linalg.norm((iterates - long_gd(A, y, w0, lr, steps)).astype(float), axis=1)
    assert np.all(errors <= bounds), (errors / np.maximum(bounds, 1e-300)).max()


class _no_warning:
    def __enter__(self):
        import warnings
        self._catch = warnings.catch_warnings()
        self._catch.__enter__()
        warnings.simplefilter("error")

    def __exit__(self, *exc):
        return self._catch.__exit__(*exc)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), m=st.integers(1, 5), extra=st.integers(-3, 4),
       scale=st.sampled_from([1e-3, 1.0, 1e3, 1e6]))
def test_the_limit_rounding_bound_holds_against_extended_precision(seed, m, extra, scale):
    d = max(1, m + extra)
    A, y, w0 = problem(seed, m, d, scale)
    prob = least_squares._Problem(A, y, w0)
    if prob.kappa > 1e3:  # the extended-precision reference loses kappa^2 of its 2^-64
        return
    error = np.linalg.norm((prob.limit() - long_limit(A, y, w0)).astype(float))
    assert error <= prob.limit_rounding()


def test_measured_factor_recovers_a_geometric_sequence_within_its_tolerance():
    rng = np.random.default_rng(1)
    steps = np.arange(200)
    exact = 3.0 * 0.97**steps
    bounds = 1e-9 * (1.0 + steps)
    noisy = exact + bounds * rng.uniform(-1.0, 1.0, steps.size)
    measured = least_squares.measured_factor(noisy, bounds, steps)
    assert abs(math.log(measured["factor"]) - math.log(0.97)) <= measured["log_tolerance"]
    assert measured["log_tolerance"] < 1e-9
    nothing = least_squares.measured_factor(np.full(5, 1e-12), np.ones(5), np.arange(5))
    assert nothing["factor"] is None and least_squares.factor_agrees(nothing, 0.5, 0.0) == (False, math.inf)


@pytest.mark.parametrize("quantity, factor", [("step", 2.0), ("kernel_part", 0.0), ("gram", 1.01),
                                              ("min_loss", 1.01)])
def test_each_control_moves_its_quantity_by_what_it_says(quick_results, quantity, factor):
    """Each least-squares control changes the prediction by exactly the stated error, and
    the checked gap exceeds its tolerance by orders of magnitude."""
    base = quick_results["least-squares"].numbers
    perturbed = run_experiment("least-squares", quick=True, perturbation=Perturbation(quantity, factor)).numbers
    if quantity == "step":
        s = base["linear"]["singular_values"]
        assert perturbed["linear"]["predicted_rate"] == pytest.approx(
            np.max(np.abs(1.0 - 2.0 * factor * base["linear"]["lr"] * s**2)), rel=1e-12)
        assert perturbed["linear"]["factor_deviation_over_tolerance"] > 1e6
    elif quantity == "kernel_part":
        assert perturbed["linear"]["distance_to_predicted_limit"] == pytest.approx(
            base["linear"]["kernel_part_norm"], rel=1e-9)
        assert perturbed["kernel"]["final_gap_to_remark_11_4"] > 1e6 * perturbed["kernel"]["tolerance"]
    elif quantity == "gram":  # KLS / 1.01 instead of KLS
        result = quick_results["least-squares"]
        kls = np.asarray(result.data["kernel_estimator"])
        assert perturbed["kernel"]["gap_from_zero_to_kernel_estimator"] == pytest.approx(
            np.max(np.abs(kls - kls / factor)), rel=1e-6)
        assert perturbed["kernel"]["final_gap_to_remark_11_4"] > 1e6 * perturbed["kernel"]["tolerance"]
    else:
        over = base["overdetermined"]
        assert abs(over["final_loss"] - factor * over["min_loss"]) > 1e6 * over["loss_tolerance"]


def test_the_chapters_corrections_carry_this_runs_numbers(quick_results):
    result = quick_results["least-squares"]
    corrections = {c.reference: c for c in result.corrections}
    assert set(corrections) == {"(11.1.3)", "Theorem 11.3 (proof sketch)", "Theorem 11.7 (proof)", "Exercise 11.35"}
    kernel = result.numbers["kernel"]
    assert kernel["norm_limit_squared"] == pytest.approx(
        kernel["norm_min_norm_squared"] + kernel["kernel_part_norm_squared"], rel=1e-12)
    assert result.numbers["overdetermined"]["min_loss"] > 1.0  # f(w_k) does not tend to 0


# -- Example 11.5 ---------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), exponent=st.integers(-3, 6), collinear=st.booleans())
def test_the_orientation_bound_holds_against_exact_arithmetic(seed, exponent, collinear):
    """The computed orientation determinant is within its bound of the exact one (rational
    arithmetic on the same floats), also for nearly collinear points."""
    rng = np.random.default_rng(seed)
    p, q = rng.uniform(-1.0, 1.0, (2, 2)) * 10.0**exponent
    points = rng.uniform(-1.0, 1.0, (6, 2)) * 10.0**exponent
    if collinear:
        points = p + rng.uniform(-2.0, 2.0, (6, 1)) * (q - p) + 1e-15 * points
    value, bound = example_11_5.orientation(p[None], q[None], points[None])
    for i, point in enumerate(points):
        P, Q, R = ([Fraction(float(c)) for c in v] for v in (p, q, point))
        exact = (Q[0] - P[0]) * (R[1] - P[1]) - (Q[1] - P[1]) * (R[0] - P[0])
        assert abs(Fraction(float(value[0, i])) - exact) <= Fraction(float(bound[0, i]))


def test_a_point_on_an_edge_is_no_certificate():
    X = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.5, 0.0], [0.2, 0.2]])
    on_edge, inside = np.array([-1.0, -1.0, -1.0, 1.0, -1.0]), np.array([-1.0, -1.0, -1.0, -1.0, 1.0])
    assert example_11_5.triangle_certificate(X, on_edge) == []
    certificate = example_11_5.triangle_certificate(X, inside)
    assert certificate == [4, 0, 1, 2] and example_11_5.certificate_clearance(X, certificate) > 1.0


@pytest.mark.parametrize("seed", range(3))
def test_the_output_rounding_bound_holds_against_extended_precision(seed):
    """Phi(x_i) = <phi(x_i), F^+ y> is within its bound of the same least squares solved in
    extended precision (normal equations), for every feature map, also with a feature
    dropped (a zero column, handled through the rank)."""
    for X, y in example_11_5.example_11_5_datasets(m=40, seed=seed):
        for kind, scales in [(kind, None) for kind in example_11_5.FEATURES] + [("quadratic", {"quadratic": {5: 0.0}})]:
            F = example_11_5.features(kind, X, scales)
            w = example_11_5.fit(F, y)
            used = F[:, np.any(F != 0.0, axis=0)].astype(LONG)
            reference = used @ long_solve(used.T @ used, used.T @ y.astype(LONG))
            error = np.abs(F @ w - reference.astype(float))
            assert np.all(error <= example_11_5.output_rounding(F, w, y))


@pytest.mark.parametrize("control", list(EXPERIMENTS["example-11-5"].controls))
def test_each_example_control_makes_points_certainly_wrong(control):
    """Under each control the broken claims fail because points are certainly misclassified
    (or no certificate exists), not because of rounding."""
    spec = EXPERIMENTS["example-11-5"].controls[control]
    numbers = run_experiment("example-11-5", quick=True, perturbation=spec.perturbation).numbers
    classification = numbers["classification"]
    if control == "missing-feature":
        assert classification["quadratic_ring"]["certainly_wrong"] > 0
        assert classification["squares_ring"]["certainly_wrong"] > 0
    elif control == "missing-linear-feature":
        assert classification["linear_separable"]["certainly_wrong"] > 0
    else:  # (x1^2, x2^2) in place of (x1, x2): dataset 2 becomes separable by a line
        assert numbers["ring_certificate"] == [] and classification["linear_ring"]["certainly_wrong"] == 0
        assert classification["linear_separable"]["certainly_wrong"] > 0


def test_an_unusable_coordinate_power_is_refused():
    with pytest.raises(ValueError, match="perturbation"):
        run_experiment("example-11-5", quick=True, perturbation=Perturbation("coordinate_power", 1.5))
