"""The experiments of ``widenet reproduce`` for the kernel at initialization (Theorems 11.16,
11.30), training (Theorems 11.13, 11.23), lazy training (Propositions 11.25, 11.26) and
the per-block movement of Section 11.6: key numbers agree
with independent computations (closed forms written out here, numpy-backend training, the
linearized dynamics iterated here, numpy.polyfit of the recorded data), the results are
JSON-serialisable, and the figures are drawn (also from a result read back from JSON)."""

import math

import numpy as np
import pytest

import widenet
from widenet.experiments import EXPERIMENTS, kernel_convergence, lazy_training, parameter_movement, training
from widenet.lazy_training import lazy_training_data


@pytest.fixture
def results(quick_results):
    """Each experiment run once in quick mode, seed 0 (shared with the other experiment tests)."""
    return quick_results


def polyfit_slope(widths, values) -> float:
    return float(np.polyfit(np.log(np.asarray(widths, dtype=float)), np.log(np.asarray(values, dtype=float)), 1)[0])


# -- kernel convergence (Theorems 11.16 and 11.30) ------------------------------------------
def erf_expectations(X):
    """``E[erf(h_x) erf(h_z)]`` (arcsine kernel) and ``E[erf'(h_x) erf'(h_z)]`` for
    ``(h_x, h_z) ~ N(0, Sigma)``, ``Sigma = X X^T / d``: the latter is
    ``(4/pi) E[exp(-h_x^2 - h_z^2)] = (4/pi) det(I + 2 Sigma_2x2)^{-1/2}``."""
    S = X @ X.T / X.shape[1]
    diagonal = 1.0 + 2.0 * np.diag(S)
    E_ss = 2.0 / math.pi * np.arcsin(2.0 * S / np.sqrt(np.outer(diagonal, diagonal)))
    E_dd = 4.0 / math.pi / np.sqrt(np.outer(diagonal, diagonal) - 4.0 * S ** 2)
    return E_ss, E_dd


@pytest.mark.parametrize("parametrization", ["lecun", "ntk"])
def test_kernel_error_of_one_network_recomputed(results, parametrization):
    """The first cell (width 64, network 0): the Gram from J J^T of the numpy Jacobian, the
    limit from the erf closed forms above (K_LC = E_ss; K_NTK = (1 + x.z/d) E_dd + E_ss + 1)."""
    result = results["kernel-convergence"]
    X = np.asarray(result.data["points"])
    width = int(result.data[parametrization]["widths"][0])
    network = widenet.ShallowNetwork(X.shape[1], width, "erf", parametrization,
                                     seed=kernel_convergence.cell_seed(0, width, 0))
    J = network.jacobian(X, backend="numpy")
    gram = J @ J.T / (width if parametrization == "lecun" else 1)
    E_ss, E_dd = erf_expectations(X)
    limit = E_ss if parametrization == "lecun" else (1.0 + X @ X.T / X.shape[1]) * E_dd + E_ss + 1.0
    assert result.data[parametrization]["error"][0] == pytest.approx(np.max(np.abs(gram - limit)), rel=1e-9)


@pytest.mark.parametrize("parametrization", ["lecun", "ntk"])
def test_kernel_slope_is_the_polyfit_of_the_recorded_errors(results, parametrization):
    result = results["kernel-convergence"]
    data, fit = result.data[parametrization], result.numbers[parametrization]["fit"]
    assert fit["slope"] == pytest.approx(polyfit_slope(data["widths"], data["error"]), rel=1e-10)
    assert fit["points"] == len(data["error"])
    # the wrong limit is an O(1) error: no decay
    assert polyfit_slope(data["widths"], data["wrong_error"]) > -0.1


# -- training (Theorems 11.23 and 11.13) -------------------------------------------------------
def test_training_rate_constants_and_bound(results):
    """lmin_LC, lmax_LC from the numpy quadrature of the limit kernel, the step and the bound
    factor from their formulas, and the bound checked on the recorded losses."""
    result = results["training"]
    numbers, data = result.numbers, result.data
    X, _ = training.training_data(0)
    K = widenet.limit_kernel(X, activation="tanh", parametrization="lecun", backend="numpy", method="quadrature")
    lmin, lmax = np.linalg.eigvalsh(K)[[0, -1]]
    assert numbers["lmin_LC"] == pytest.approx(lmin, rel=1e-7)
    assert numbers["lmax_LC"] == pytest.approx(lmax, rel=1e-7)
    constant = 0.9 * 2.0 / (lmin + 4.0 * lmax)
    assert numbers["step_constant"] == pytest.approx(constant, rel=1e-7)
    factor = 1.0 - constant * lmin / 2.0
    assert data["bound_factor"] == pytest.approx(factor, rel=1e-9)
    losses, steps = np.asarray(data["losses"]), np.asarray(data["steps"], dtype=float)
    assert np.all(losses <= losses[:, :1] * factor ** (2 * steps) * (1 + 1e-9))
    # the tail factor against a two-point estimate over the second half of each run
    half = len(steps) // 2
    two_point = (losses[:, -1] / losses[:, half]) ** (1.0 / (2.0 * (steps[-1] - steps[half])))
    np.testing.assert_allclose(numbers["tail_factor"], two_point, rtol=2e-3)
    assert np.all(np.asarray(numbers["tail_factor"]) <= factor)


def test_training_loss_curve_recomputed_with_numpy(results):
    """The first run (width 64, network 0) trained again by the numpy backend."""
    result = results["training"]
    X, y = training.training_data(0)
    width = int(result.data["widths"][0])
    network = widenet.ShallowNetwork(X.shape[1], width, "tanh", "lecun", seed=training.cell_seed(0, width, 0))
    run = network.train(X, y, lr=result.numbers["step_constant"] / width, steps=result.settings["steps"],
                        loss="sum", backend="numpy")
    recorded = np.asarray(result.data["losses"][0])
    np.testing.assert_allclose(recorded[:100], run.losses[:100], rtol=1e-8)
    np.testing.assert_allclose(recorded, run.losses, rtol=1e-5, atol=1e-25)


def test_theorem_11_13_run_against_its_formulas(results):
    """The recorded loss bound is (1 - h lambda_min)^(2k) f(w0) with the admissible step
    h = 1/(lambda_min + lambda_max) (sum loss), lambda_min, lambda_max and f(w0) recomputed
    from the numpy Jacobian and forward pass of the same network."""
    result = results["training"]
    check, data = result.numbers["convergence_check"], result.data
    network = training.check_network(0)
    X, y = training.CHECK_POINTS, training.CHECK_TARGETS
    J = network.jacobian(X, backend="numpy")
    eigenvalues = np.linalg.eigvalsh(J @ J.T)
    f0 = float(np.sum((network.forward(X, backend="numpy") - y) ** 2))
    assert check["lambda_min"] == pytest.approx(eigenvalues[0], rel=1e-10)
    assert check["lambda_max"] == pytest.approx(eigenvalues[-1], rel=1e-10)
    assert check["f0"] == pytest.approx(f0, rel=1e-10)
    h = 1.0 / (eigenvalues[0] + eigenvalues[-1])
    assert check["lr"] == pytest.approx(h, rel=1e-10)
    k = np.asarray(data["check_steps"], dtype=float)
    np.testing.assert_allclose(data["check_loss_bounds"], f0 * (1.0 - h * eigenvalues[0]) ** (2 * k), rtol=1e-8)
    assert np.max(data["check_distances"]) <= data["check_distance_bound"]
    assert check["condition_c_held"] and check["loss_bound_held"] and check["distance_bound_held"]


# -- lazy training (Theorem 11.23, Propositions 11.25 and 11.26) -------------------------------
@pytest.mark.parametrize("parametrization", ["lecun", "ntk"])
def test_lazy_training_slopes_are_the_polyfit_of_the_recorded_data(results, parametrization):
    result = results["lazy-training"]
    data = result.data[parametrization]
    for quantity in lazy_training.QUANTITIES:
        fit = result.numbers[parametrization]["fits"][quantity]
        assert fit["slope"] == pytest.approx(polyfit_slope(data["widths"], data[quantity]), rel=1e-10), quantity


def test_lazy_training_cell_recomputed(results):
    """The first LeCun cell (width 64, network 0): the network trained again by the numpy
    backend, its linearization iterated here in parameter space (p_{k+1} = p_k - h (2/m)
    J0^T (Phi(X, w0) + J0 (p_k - w0) - y), the mean loss), and the distance and the
    training-point gap taken over every step."""
    result = results["lazy-training"]
    X, y, _ = lazy_training_data(seed=0)
    width = int(result.data["lecun"]["widths"][0])
    m = X.shape[0]
    # the library draws each cell from (seed, width)
    seed = np.random.default_rng([lazy_training.cell_seed(0, width, 0), width])
    network = widenet.ShallowNetwork(X.shape[1], width, "tanh", "lecun", seed=seed)
    J0 = network.jacobian(X, backend="numpy")
    outputs0 = network.forward(X, backend="numpy")
    h, steps = 0.5 / width, result.settings["steps"]
    run = network.train(X, y, lr=h, steps=steps, X_test=X, loss="mean", backend="numpy")
    delta = np.zeros(J0.shape[1])
    linear = [outputs0.copy()]
    for _ in range(steps):
        delta -= h * 2.0 / m * J0.T @ (outputs0 + J0 @ delta - y)
        linear.append(outputs0 + J0 @ delta)
    gap = np.max(np.abs(run.test_outputs - np.array(linear)))
    assert result.data["lecun"]["distance"][0] == pytest.approx(np.max(run.distances), rel=1e-9)
    assert result.data["lecun"]["gap_train"][0] == pytest.approx(gap, rel=1e-6)


# -- parameter movement (Section 11.6) ----------------------------------------------------------
def test_parameter_movement_slopes_are_the_polyfit_of_the_recorded_data(results):
    result = results["parameter-movement"]
    data, fits = result.data, result.numbers["fits"]
    for name in ("lecun_ratio", "ntk_ratio", "lecun_gradient_v", "lecun_gradient_U", "ntk_gradient_v"):
        assert fits[name]["slope"] == pytest.approx(polyfit_slope(data["widths"], np.abs(data[name])), rel=1e-10)


@pytest.mark.parametrize("parametrization", ["lecun", "ntk"])
def test_parameter_movement_cell_recomputed(results, parametrization):
    """The first cell (width 64, network 0): E abs(grad_v Phi) = mean_i abs(sigma(pre-activation)),
    scaled by n^-1/2 under the NTK parametrization (11.5.2, 11.6.3), from numpy; the movement of
    v and U relative to their initial scales after numpy-backend training."""
    result = results["parameter-movement"]
    X, y, _ = lazy_training_data(seed=0)
    width = int(result.data["widths"][0])
    d = X.shape[1]
    network = widenet.ShallowNetwork(d, width, "tanh", parametrization, bias_var=1.0, output_bias_var=1.0,
                                     seed=parameter_movement.cell_seed(0, width, 0))
    U, b, v, c = network.params.arrays()
    if parametrization == "lecun":
        features, lr, scale_U, scale_v = np.tanh(X @ U.T + b), 0.5 / width, math.sqrt(width), 1.0
    else:
        features = np.tanh(X @ U.T / math.sqrt(d) + b) / math.sqrt(width)
        lr, scale_U, scale_v = 0.25, math.sqrt(width * d), math.sqrt(width)
    gradient_v = float(np.mean(np.linalg.norm(features, axis=1)))
    assert result.data[f"{parametrization}_gradient_v"][0] == pytest.approx(gradient_v, rel=1e-10)
    network.train(X, y, lr=lr, steps=result.settings["steps"], loss="mean", backend="numpy")
    U_k, _, v_k, _ = network.params.arrays()
    moved_v = np.linalg.norm(v_k - v) / scale_v
    moved_U = np.linalg.norm(U_k - U) / scale_U
    assert result.data[f"{parametrization}_relative_v"][0] == pytest.approx(moved_v, rel=1e-7)
    assert result.data[f"{parametrization}_relative_U"][0] == pytest.approx(moved_U, rel=1e-7)
    assert result.data[f"{parametrization}_ratio"][0] == pytest.approx(moved_v / moved_U, rel=1e-6)
