"""The experiments of ``widenet reproduce`` for training (Theorems 11.13, 11.23): key numbers
agree with independent computations (closed forms written out here, numpy-backend training,
numpy.polyfit of the recorded data). The kernel at initialization is in
test_experiments_kernel_*.py, lazy training and the per-block movement of Section 11.6 in
test_experiments_lazy.py."""

import math

import numpy as np
import pytest

import widenet
from widenet.app.experiments import EXPERIMENTS
from widenet.app.experiments import training


@pytest.fixture
def results(quick_results):
    """Each experiment run once in quick mode, seed 0 (shared with the other experiment tests)."""
    return quick_results


def polyfit_slope(widths, values) -> float:
    return float(np.polyfit(np.log(np.asarray(widths, dtype=float)), np.log(np.asarray(values, dtype=float)), 1)[0])


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
    """The recorded loss bound is (1 - h lambda_min)^(2k) f(w0) with the step h = 0.9/(lambda_min
    + lambda_max) (sum loss, admissible by (11.4.4)), lambda_min, lambda_max and f(w0) recomputed
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
    h = training.CHECK_STEP_FRACTION / (eigenvalues[0] + eigenvalues[-1])
    assert check["lr"] == pytest.approx(h, rel=1e-10)
    k = np.asarray(data["check_steps"], dtype=float)
    np.testing.assert_allclose(data["check_loss_bounds"], f0 * (1.0 - h * eigenvalues[0]) ** (2 * k), rtol=1e-8)
    assert np.max(data["check_distances"]) <= data["check_distance_bound"]
    assert check["condition_c_held"] and check["loss_bound_held"] and check["distance_bound_held"]
