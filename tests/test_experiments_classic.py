"""The experiments of ``widenet reproduce`` for Figure 11.3, Figures 11.1/11.2, Example 11.5
and Theorem 11.3 / Remark 11.4: a key number of each agrees with an
independent computation (test_experiments.py checks what every experiment must do)."""

import math

import numpy as np
import pytest

import widenet
from widenet.app.experiments import example_11_5
from widenet.app.experiments import figure_11_3
from widenet.app.experiments import least_squares
from widenet.app.experiments import linearization_1d


@pytest.fixture
def results(quick_results):
    """Each experiment run once in quick mode, seed 0 (shared with the other experiment tests)."""
    return quick_results


# -- Figure 11.3 -------------------------------------------------------------------------
def test_figure_11_3_gp_mean_and_band_at_one_point(results):
    """The GP mean and standard deviation after training at one grid point, from
    limit_kernel and the closed form of GD on the linear model, with numpy only."""
    result = results["figure-11-3"]
    settings, data = result.settings, result.data
    config = {key: settings[key] for key in ("activation", "parametrization", "weight_var", "bias_var",
                                             "output_var", "output_bias_var")}
    X = np.array(settings["X"])[:, None]
    y = np.array(settings["y"])
    i = 37
    x = np.asarray(data["grid"])[i:i + 1, None]
    n, h, k, m = settings["width"], settings["lr"], settings["steps"], X.shape[0]
    K = n * widenet.limit_kernel(X, kind="ntk", **config)  # the tangent Gram of infinite width
    Kx = n * widenet.limit_kernel(x, X, kind="ntk", **config)
    C, Cx, Cxx = (widenet.limit_kernel(a, b, kind="nngp", **config) for a, b in ((X, None), (x, X), (x, None)))
    B = np.eye(m) - 2.0 * h / m * K  # the mean loss: gradient (2/m) J^T r
    accumulated = sum(np.linalg.matrix_power(B, j) for j in range(k)) * (2.0 * h / m)
    A = Kx @ accumulated  # (1, m)
    mean = float((A @ y)[0])
    variance = float((Cxx - 2.0 * A @ Cx.T + A @ C @ A.T)[0, 0])
    assert data["gp_mean_after"][i] == pytest.approx(mean, rel=1e-9, abs=1e-12)
    assert data["gp_sd_after"][i] == pytest.approx(math.sqrt(variance), rel=1e-7)
    assert data["gp_sd_before"][i] == pytest.approx(math.sqrt(float(Cxx[0, 0])), rel=1e-12)


def test_figure_11_3_outputs_are_the_ensemble_members(results):
    result = results["figure-11-3"]
    settings = result.settings
    config = {key: settings[key] for key in ("activation", "parametrization", "weight_var", "bias_var",
                                             "output_var", "output_bias_var")}
    ensemble = widenet.ShallowEnsemble(settings["networks"], 1, settings["width"], seed=settings["seed"], **config)
    grid = np.asarray(result.data["grid"])[:, None]
    member = ensemble.member(5)
    np.testing.assert_allclose(result.data["outputs_before"][5], member.forward(grid), rtol=1e-12, atol=1e-12)
    assert np.asarray(result.data["outputs_before"]).shape == (80, grid.shape[0])
    assert result.settings["loss"] == "mean"


def test_normal_quantile():
    for p, z in ((0.5, 0.0), (0.975, 1.959963984540054), (1 - 2.5e-5, 4.055626981)):
        assert figure_11_3.normal_quantile(p) == pytest.approx(z, abs=1e-8)
    with pytest.raises(ValueError):
        figure_11_3.normal_quantile(1.0)


# -- Figures 11.1 and 11.2 -------------------------------------------------------------------
def test_linearization_1d_limits_match_closed_forms(results):
    """Good case: the GD limit solves Phi(w) = y (Newton from w0); bad case: it is the peak
    of Phi, where sech^2(x1 w) = c, i.e. w = artanh(sqrt(1 - c)) / x1."""
    numbers = results["linearization-1d"].numbers
    x1, c, w0 = linearization_1d.X1, linearization_1d.SKIP, linearization_1d.W0
    y = numbers["good"]["target"]
    w = w0
    for _ in range(50):
        w -= (math.tanh(x1 * w) - c * x1 * w - y) / (x1 / math.cosh(x1 * w) ** 2 - c * x1)
    assert numbers["good"]["w_gd"] == pytest.approx(w, abs=1e-12)
    peak = math.atanh(math.sqrt(1.0 - c)) / x1
    assert numbers["bad"]["w_gd"] == pytest.approx(peak, abs=1e-7)
    assert numbers["bad"]["loss_at_w_gd"] == pytest.approx((math.tanh(x1 * peak) - c * x1 * peak - 1.0) ** 2,
                                                           rel=1e-10)
    assert numbers["bad"]["nearest_global_minimizer"] == pytest.approx(-1.0 / (c * x1) * (1.0 + 1.0), abs=1e-6)


# -- Example 11.5 ---------------------------------------------------------------------------
def test_example_11_5_accuracies_from_numpy_lstsq(results):
    result = results["example-11-5"]
    for name in ("separable", "ring"):
        X, y = np.asarray(result.data[f"X_{name}"]), np.asarray(result.data[f"y_{name}"])
        x1, x2 = X[:, 0], X[:, 1]
        one = np.ones_like(x1)
        for kind, F in (("linear", np.column_stack([one, x1, x2])),
                        ("quadratic", np.column_stack([one, x1, x2, x1 * x2, x1**2, x2**2]))):
            w = np.linalg.lstsq(F, y, rcond=None)[0]
            assert result.numbers["accuracy"][f"{kind}_{name}"] == np.mean(np.sign(F @ w) == y)


def test_example_11_5_certificate_is_a_triangle_around_a_point(results):
    result = results["example-11-5"]
    X, y = np.asarray(result.data["X_ring"]), np.asarray(result.data["y_ring"])
    point, *corners = result.numbers["ring_certificate"]
    assert y[point] == 1 and all(y[c] == -1 for c in corners)
    # barycentric coordinates of the point in the triangle: all positive
    a, b, c = X[corners]
    weights = np.linalg.solve(np.vstack([np.column_stack([a, b, c]), np.ones(3)]), np.append(X[point], 1.0))
    assert np.all(weights > 0)
    assert example_11_5.triangle_certificate(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]),
                                             np.array([-1.0, -1.0, -1.0])) == []


# -- Theorem 11.3 and Remark 11.4 ---------------------------------------------------------
def test_least_squares_rate_and_kernel_part_from_the_singular_values(results):
    """The same A, y, w0 drawn again: the rate 1 - 0.9 s_min^2 / s_max^2 (h = 0.9/(2 s_max^2))
    and |P_ker w0| from a projection with numpy only."""
    numbers = results["least-squares"].numbers["linear"]
    m, d = results["least-squares"].settings["linear_shapes"][0]
    rng = np.random.default_rng(0)
    A = rng.standard_normal((m, d)) / math.sqrt(d)
    rng.standard_normal(m)  # y
    w0 = rng.standard_normal(d)
    s = np.linalg.svd(A, compute_uv=False)
    rate = 1.0 - 0.9 * (s[-1] / s[0]) ** 2
    assert numbers["predicted_rate"] == pytest.approx(rate, rel=1e-12)
    assert numbers["measured_factor"] == pytest.approx(rate, rel=1e-10)
    kernel_part = w0 - A.T @ np.linalg.solve(A @ A.T, A @ w0)
    assert numbers["kernel_part_norm"] == pytest.approx(np.linalg.norm(kernel_part), rel=1e-10)


def test_least_squares_kernel_case_matches_explicit_gd():
    """The parameters of explicit GD on the feature matrix and the linearized model's
    predictions agree, and the w0 term vanishes on the training points."""
    numbers = least_squares.run(quick=True, seed=3).numbers["kernel"]
    assert numbers["gd_predictions_vs_parameter_gd"] < 1e-10
    assert numbers["parameters_gap_to_predicted_limit"] < 1e-10
    assert numbers["initial_part_max_on_training_points"] < 1e-10 < numbers["initial_part_max_on_grid"]
