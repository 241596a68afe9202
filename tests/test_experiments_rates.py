"""The rate claims of ``widenet reproduce``: Theorems 11.23 and 11.13 (experiment ``training``)
and Figures 11.1 and 11.2 (``linearization-1d``).

Checked against independent computations: the tail fit and the linearized prediction on
exactly linear gradient descent, the certificate of Assumption 11.12 (c) against gradients and
secants measured at points of the ball, the one-dimensional constants against a dense grid,
third derivatives against finite differences. And the faults a reader could not see before:
Theorem 11.13 run on a degenerate problem where its hypotheses were not shown, rate claims a
factor-2 error could not break, the misprinted factor of Theorem 11.23, a loss figure
showing some of the runs only."""

import math

import numpy as np
import pytest

import widenet
from widenet.app import experiments
from widenet.app.experiments import run_experiment
from widenet.app.experiments import linearization_1d
from widenet.app.experiments import training
from widenet.network.parameters import Parameters


@pytest.fixture
def results(quick_results):
    """Each experiment run once in quick mode, seed 0 (shared with the other experiment tests)."""
    return quick_results


def exact_linear_gd(gram: np.ndarray, residual: np.ndarray, lr: float, steps: int) -> tuple:
    """Residuals and losses of GD on the sum loss of a linear model with tangent Gram ``gram``:
    ``r_{k+1} = (I - 2 h G) r_k``."""
    update = np.eye(gram.shape[0]) - 2.0 * lr * gram
    residuals = [residual]
    for _ in range(steps):
        residuals.append(update @ residuals[-1])
    residuals = np.array(residuals)
    return residuals, np.sum(residuals ** 2, axis=1)


# -- the tail fit and the linearized prediction ----------------------------------------------
@pytest.mark.parametrize("factor", [0.5, 0.9, 0.99])
def test_tail_fit_of_one_mode_is_exact(factor):
    steps = np.arange(301.0)
    fit = training.tail_fit(steps, 3.0 * factor ** (2 * steps))
    assert fit["factor"] == pytest.approx(factor, rel=1e-12)
    assert fit["error"] <= 1e-10


@pytest.mark.parametrize("spectrum, weights", [
    ((1.0, 1.5, 20.0), (1.0, 1.0, 1.0)),       # the slowest mode dominates the tail
    ((1.0, 1.02, 20.0), (1.0, 30.0, 1.0)),     # two slow modes, unresolved within 300 steps
    ((1.0, 1.3, 20.0), (1e-3, 1e3, 1.0)),      # a faster mode still dominates the window
])
def test_linearized_tail_factor_is_the_fit_of_exact_linear_gd(spectrum, weights):
    """On exactly linear GD the measured tail fit and the prediction agree to rounding, also
    where the fit is not the slowest mode's factor (so a tolerance from the fit alone could not
    cover the difference)."""
    rng = np.random.default_rng(5)
    basis, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    gram = basis @ np.diag(spectrum) @ basis.T
    lr = 0.4 / max(spectrum)  # slow factors near 0.96, as in the experiment
    residuals, losses = exact_linear_gd(gram, basis @ np.sqrt(weights), lr, 300)
    fit = training.tail_fit(np.arange(301), losses)
    start = int(fit["window"][0])
    predicted = training.linearized_tail_factor(fit["window"], residuals[start], lr, gram)
    assert fit["factor"] == pytest.approx(predicted, rel=1e-11)
    slowest = 1.0 - 2.0 * lr * min(spectrum)
    assert predicted <= slowest + 1e-12


def test_linearized_factor_is_the_slower_of_the_extreme_modes():
    assert training.linearized_factor(0.1, np.array([1.0, 3.0])) == pytest.approx(0.8)
    assert training.linearized_factor(0.1, np.array([1.0, 9.5])) == pytest.approx(0.9)  # |1 - 1.9|


# -- the certificate of Assumption 11.12 (c) ---------------------------------------------------
def gradient_rows(network: widenet.ShallowNetwork, X: np.ndarray, w: np.ndarray) -> np.ndarray:
    network.params = Parameters.from_vector(w, network.width, network.input_dim)
    return network.jacobian(X, backend="numpy")


def stressed_point(network: widenet.ShallowNetwork, w0: np.ndarray, radius: float) -> np.ndarray:
    """The ball's point that moves only the output weight of the unit with the largest |v0_j|,
    outwards: where the certificate's bound on |v_j| (hence on the curvature) is attained."""
    n, d = network.width, network.input_dim
    v0 = w0[n * d + n:n * d + 2 * n]
    j = int(np.argmax(np.abs(v0)))
    w = w0.copy()
    w[n * d + n + j] += radius * math.copysign(1.0, v0[j])
    return w


@pytest.mark.parametrize("width", [256, 2048])
def test_certified_constants_bound_gradients_and_secants_in_the_ball(width):
    """U and L of the certificate are not exceeded by gradient norms at random points of
    B_r(w0) (inside and on the sphere, and where |v_j| is largest), nor by secant ratios of the
    gradients over random pairs and over short secants along random and stressed directions;
    check_assumptions' estimates (lower bounds) stay below them too."""
    X, y = training.CHECK_POINTS, training.CHECK_TARGETS
    network = widenet.ShallowNetwork(3, width, "tanh", "lecun", seed=7)
    certificate = training.certified_constants(network, X, y)
    r, U, L = certificate["r"], certificate["U"], certificate["L"]
    assert r == pytest.approx(2.0 * math.sqrt(3) * U * math.sqrt(certificate["f0"]) / certificate["lambda_min"],
                              rel=1e-9)
    assert certificate["bound"] == pytest.approx(
        certificate["lambda_min"] ** 2 / (12.0 * 3 ** 1.5 * U ** 2 * math.sqrt(certificate["f0"])), rel=1e-9)
    assert certificate["consistent"]
    w0 = network.initial_params.to_vector()
    probe = widenet.ShallowNetwork(3, width, "tanh", "lecun", seed=7)
    rng = np.random.default_rng(width)
    points = [stressed_point(network, w0, r)]
    for _ in range(12):
        direction = rng.standard_normal(w0.size)
        points.append(w0 + r * rng.uniform() ** (1.0 / w0.size) * direction / np.linalg.norm(direction))
        points.append(w0 + r * direction / np.linalg.norm(direction))
    rows = [gradient_rows(probe, X, w) for w in points]
    assert max(float(np.max(np.linalg.norm(J, axis=1))) for J in rows) <= U
    for a in range(len(points)):
        for b in range(a):
            ratio = np.linalg.norm(rows[a] - rows[b], axis=1) / np.linalg.norm(points[a] - points[b])
            assert np.max(ratio) <= L
    eps = 1e-4 * r
    for base in points[:5]:
        base = w0 + (1.0 - 2e-4) * (base - w0)  # keep base +- eps inside the ball
        for direction in (rng.standard_normal(w0.size), stressed_point(network, w0, 1.0) - w0):
            u = direction / np.linalg.norm(direction)
            change = gradient_rows(probe, X, base + eps * u) - gradient_rows(probe, X, base - eps * u)
            assert np.max(np.linalg.norm(change, axis=1)) / (2.0 * eps) <= L
    report = widenet.check_assumptions(network, X, y, seed=1, samples=4, path_steps=10, lanczos_steps=3)
    assert report.U_lower <= U and report.L_lower <= L


def test_no_certificate_where_no_radius_is_consistent():
    """Narrow networks: U(r(U)) outgrows U, so no ball fits (11.4.3) and nothing is certified."""
    network = widenet.ShallowNetwork(3, 4, "tanh", "lecun", seed=7)
    certificate = training.certified_constants(network, training.CHECK_POINTS, training.CHECK_TARGETS)
    assert not certificate["consistent"] and not certificate["held"] and certificate["ratio"] == math.inf


def test_certified_constants_refuse_another_network():
    network = widenet.ShallowNetwork(3, 8, "relu", "lecun", seed=0)
    with pytest.raises(ValueError, match="network"):
        training.certified_constants(network, training.CHECK_POINTS, training.CHECK_TARGETS)


# -- Theorem 11.13 on a well-posed problem ------------------------------------------------------
def test_theorem_11_13_problem_is_well_posed_and_its_hypotheses_hold(results):
    """The Theorem 11.13 run is not degenerate (the tangent Gram's lambda_max / lambda_min,
    from the numpy Jacobian, between 5 and 50), Assumption 11.12 (c) holds with certified
    upper bounds, and the run ends with the loss far above rounding, so the bound is tested
    where it means something."""
    check = results["training"].numbers["convergence_check"]
    network = training.check_network(0)
    J = network.jacobian(training.CHECK_POINTS, backend="numpy")
    eigenvalues = np.linalg.eigvalsh(J @ J.T)
    assert 5.0 <= eigenvalues[-1] / eigenvalues[0] <= 50.0
    assert check["certificate"]["held"] and check["certificate"]["ratio"] < 1.0
    claim = results["training"].claim("theorem-11-13-bounds")
    assert claim.hypothesis_holds and "certified" in claim.hypothesis
    assert check["final_loss"] >= 1e-20 * check["f0"]
    assert check["rate_held"] and results["training"].claim("theorem-11-13-rate").holds


def test_condition_c_table_against_certificates_and_closed_forms(results):
    """Each row's ratio is L/bound; the estimated rows of the tanh runs stay below the
    certificate's upper bounds (so they are lower bounds indeed, and their ratio above 1 a
    definite violation); the rows of Figures 11.1 and 11.2 match the closed forms."""
    rows = results["training"].numbers["condition_c"]
    for row in rows:
        assert row["ratio"] == pytest.approx(row["L"] / row["bound"], rel=1e-12)
    X, y = training.training_data(0)
    training_rows = [row for row in rows if row["setting"] == "Theorem 11.23 runs"]
    assert [row["width"] for row in training_rows] == [n for n in training.QUICK_WIDTHS
                                                       if n <= training.TABLE_LARGEST_WIDTH]
    for row in training_rows:
        network = widenet.ShallowNetwork(X.shape[1], row["width"], "tanh", "lecun",
                                         seed=training.cell_seed(0, row["width"], 0))
        certificate = training.certified_constants(network, X, y)
        assert row["L"] <= certificate["L"] and row["U"] <= certificate["U"]
        assert row["ratio"] > 1.0  # (c) fails on this data at these widths, by at least the factor
    x1, c, w0 = linearization_1d.X1, linearization_1d.SKIP, linearization_1d.W0
    slope0 = x1 / math.cosh(x1 * w0) ** 2 - c * x1
    for setting, y1 in (("Figure 11.1", 0.4), ("Figure 11.2", 1.0)):
        row = next(row for row in rows if row["setting"] == setting)
        f0 = (math.tanh(x1 * w0) - c * x1 * w0 - y1) ** 2
        # both balls contain w = 0 (max of Phi' = x1 (1 - c)) and the inflection of Phi'' (max 4 sqrt 3)
        assert row["U"] == pytest.approx(x1 * (1.0 - c), rel=1e-12)
        assert row["L"] == pytest.approx(4.0 * math.sqrt(3.0), rel=1e-12)
        assert row["bound"] == pytest.approx(slope0 ** 4 / (12.0 * (x1 * (1.0 - c)) ** 2 * math.sqrt(f0)), rel=1e-12)
        assert row["r"] == pytest.approx(2.0 * x1 * (1.0 - c) * math.sqrt(f0) / slope0 ** 2, rel=1e-12)


# -- the rate claims can fail ------------------------------------------------------------------
@pytest.mark.parametrize("quantity, factor", [("gradient", 2.0), ("gradient", 0.5), ("step", 2.0)])
def test_a_factor_2_breaks_the_sharp_rate_of_every_run(quantity, factor):
    """Not only one run: every run's fitted factor leaves the tolerance by ten times or more
    (hundreds to millions, measured), and Theorem 11.13's sharp rate fails too."""
    result = run_experiment("training", quick=True, perturbation=experiments.Perturbation(quantity, factor))
    deviations = np.asarray(result.numbers["rate_deviation_over_tolerance"])
    assert np.all(deviations > 10.0), deviations
    assert result.numbers["convergence_check"]["rate_deviation"] > 10.0
    assert not result.claim("theorem-11-23-rate").holds and not result.claim("theorem-11-13-rate").holds


def test_the_sharp_rate_is_within_its_tolerance_on_every_run(results):
    """The unperturbed deviations are below the tolerance, and the tolerance is far below the
    2 h lambda_min(Theta) a factor-2 error moves the rate by."""
    numbers = results["training"].numbers
    assert np.all(np.asarray(numbers["rate_deviation_over_tolerance"]) <= 1.0)
    shift = 1.0 - np.asarray(numbers["linearized_factor_end"])  # 2 h lambda_min(Theta)
    assert np.all(np.asarray(numbers["rate_tolerance"]) < 1e-3 * shift)


# -- the chapter's misprint and the figure ---------------------------------------------------
def test_theorem_11_23_correction_states_both_factors(results):
    result = results["training"]
    numbers = result.numbers
    X, _ = training.training_data(0)
    K = widenet.limit_kernel(X, activation="tanh", parametrization="lecun", backend="numpy", method="quadrature",
                             order=24)
    lmin, lmax = np.linalg.eigvalsh(K)[[0, -1]]
    constant = 0.9 * 2.0 / (lmin + 4.0 * lmax)
    assert numbers["printed_bound_factor"] == pytest.approx(1.0 - constant / (2.0 * lmin), rel=1e-7)
    correction = next(c for c in result.corrections if c.reference == "Theorem 11.23")
    assert "h n / (2 lmin_LC)" in correction.printed and "h n lmin_LC / 2" in correction.corrected
    assert f"{numbers['printed_bound_factor']:.4g}" in correction.evidence
    assert f"{numbers['bound_factor']:.5f}" in correction.evidence


def test_training_loss_figure_draws_every_run(results, monkeypatch, tmp_path):
    pytest.importorskip("matplotlib")
    from widenet.app.experiments import _plotting

    figures = []
    monkeypatch.setattr(_plotting, "save", lambda fig, directory, name: figures.append(fig) or f"{name}.png")
    result = results["training"]
    training.plot(result, tmp_path)
    curves = [line for line in figures[0].axes[0].get_lines() if line.get_linestyle() == "-"]
    assert len(curves) == len(result.data["losses"])


# -- Figures 11.1 and 11.2 -----------------------------------------------------------------------
@pytest.mark.parametrize("case", ["good", "bad"])
def test_assumption_11_12_in_one_dimension_against_a_dense_grid(case):
    y = linearization_1d.TARGETS[case]
    constants = linearization_1d.assumption_11_12(y)
    r = constants["r"]
    grid = np.linspace(linearization_1d.W0 - r, linearization_1d.W0 + r, 400001)
    assert constants["U"] == pytest.approx(np.max(np.abs(linearization_1d.model_derivative(grid))), abs=1e-9)
    assert constants["L"] == pytest.approx(np.max(np.abs(linearization_1d.model_second_derivative(grid))), abs=1e-9)
    assert r == pytest.approx(2.0 * constants["U"] * math.sqrt(constants["f0"]) / constants["lambda"], rel=1e-12)
    assert not constants["held"]  # (c) fails in both figures


def test_third_derivatives_against_finite_differences():
    w = np.linspace(-1.0, 1.0, 41)
    step = 1e-5
    fd = (linearization_1d.model_second_derivative(w + step) - linearization_1d.model_second_derivative(w - step)) \
        / (2.0 * step)
    np.testing.assert_allclose(linearization_1d.model_third_derivative(w), fd, rtol=1e-6, atol=1e-6)
    for y in linearization_1d.TARGETS.values():
        fd = (linearization_1d.loss_second_derivative(w + step, y)
              - linearization_1d.loss_second_derivative(w - step, y)) / (2.0 * step)
        np.testing.assert_allclose(linearization_1d.loss_third_derivative(w, y), fd, rtol=1e-6, atol=1e-6)


def test_linearization_1d_rates_and_hypotheses_from_closed_forms(results):
    """The predicted local rates 1 - h f''(w*) from the closed forms (f'' = 2 Phi'^2 at a root of
    Phi = y_1, 2 (Phi - y_1) Phi'' at the peak), the step ratios recomputed from the iterates,
    and the hypotheses marked as not satisfied with the exact L/bound."""
    result = results["linearization-1d"]
    numbers, data = result.numbers, result.data
    x1, c, w0 = linearization_1d.X1, linearization_1d.SKIP, linearization_1d.W0
    slope = lambda w: x1 / math.cosh(x1 * w) ** 2 - c * x1  # noqa: E731
    h = 1.0 / (2.0 * slope(w0) ** 2)
    root = numbers["good"]["limit"]
    assert numbers["good"]["predicted_rate"] == pytest.approx(1.0 - 2.0 * h * slope(root) ** 2, rel=1e-12)
    peak = math.atanh(math.sqrt(1.0 - c)) / x1
    t = math.tanh(x1 * peak)
    curvature = 2.0 * (t - c * x1 * peak - 1.0) * (-2.0 * x1 ** 2 * t * (1.0 - t ** 2))
    assert numbers["bad"]["predicted_rate"] == pytest.approx(1.0 - h * curvature, rel=1e-10)
    for case, limit in (("good", root), ("bad", peak)):
        iterates = np.asarray(data[f"iterates_{case}"])
        steps = np.asarray(numbers[case]["rate_steps"])
        ratios = (iterates[steps + 1] - limit) / (iterates[steps] - limit)
        np.testing.assert_allclose(numbers[case]["rate_ratios"], ratios, rtol=1e-9)
        assert steps.size >= 10
    for claim in result.claims:
        assert claim.hypothesis_holds is False and "(c)" in claim.hypothesis
    assert "L/bound = 3.81" in result.claim("figure-11-1").hypothesis
