"""Assumption 11.12 and Theorem 11.13 (docs/theory.md, section 4): check_assumptions and
check_convergence.

Every reported number is recomputed here independently: the eigenvalues from numpy's
eigvalsh of ``J J^T`` with the numpy reference Jacobian, ``f(w0)`` as a direct sum, the
gradient norm and the secant ratio at the points the report keeps (with the numpy
backend), the Hessian of ``Phi(x_i, .)`` of a tanh network in closed form (one 2 x 2 block
per hidden unit), and the bound (11.4.6b) from its formula.

Measured (tanh, LeCun, the three points e1, e2, e3 of R^3, targets of size ~0.5; six seeds
each): condition (c) held on the estimates for no seed at n = 128, for one at n = 256, and
for all at n = 1024; at n = 1024 the estimates are U ~ 16, L ~ 1.4 (about |x_i|^2 + 1 times
max sigma', independent of n), lambda_min ~ 210, lambda_max ~ 230, and the right-hand side
of (c) is 2.3 to 4.9. With two points e1, e2 of R^2 the threshold is n ~ 256.
"""

import dataclasses
import math

import numpy as np
import pytest

import widenet
from conftest import assert_close, rtol_for
from widenet import Parameters
from widenet.dynamics.convergence import (
    AssumptionReport,
    ConvergenceCheck,
    check_assumptions,
    check_convergence,
)

X3 = np.eye(3)
Y3 = np.array([0.5, -0.5, 0.25])
FAST = dict(samples=8, path_steps=30, lanczos_steps=6, refinements=1)  # estimate settings for small tests


def network(n, activation="tanh", parametrization="lecun", seed=0, dtype=np.float64, **kwargs):
    return widenet.ShallowNetwork(3, n, activation, parametrization, seed=seed, dtype=dtype, **kwargs)


def gradient(net, w, X, i):
    """``grad_w Phi(x_i, w)`` from the numpy reference, on a copy of ``net``."""
    probe = widenet.ShallowNetwork(net.input_dim, net.width, net.activation, net.parametrization)
    probe.params = Parameters.from_vector(w, net.width, net.input_dim)
    return probe.jacobian(np.asarray(X, dtype=np.float64)[i:i + 1], backend="numpy")[0]


def tanh_hessian_norms(net, X, radius):
    """For a LeCun tanh network: ``|Hess_w Phi(x_i, w0)|`` maximized over i, and an upper
    bound of ``|Hess_w Phi(x_i, w)|`` over ``w`` in ``B_radius(w0)`` (hence of L).

    The Hessian is block diagonal over hidden units; unit j's block lives on the span of
    ``(x~, 0)`` and ``(0, 1)`` in ``(u_j, b_j; v_j)``, ``x~ = (x, 1)``, where it is
    ``[[v_j s''(z_j) |x~|^2, s'(z_j) |x~|], [s'(z_j) |x~|, 0]]``, of norm
    ``(|a| + sqrt(a^2 + 4 b^2)) / 2``. On the ball ``|v_j| <= |v_j(w0)| + radius``,
    ``|s'| <= 1`` and ``|s''| <= 4 / (3 sqrt 3)``.
    """
    U, b, v, _ = net.initial_params.arrays()
    at_w0, over_ball = 0.0, 0.0
    for x in np.asarray(X, dtype=np.float64):
        xt2 = x @ x + 1.0
        t = np.tanh(U @ x + b)
        a, c = v * (-2.0 * t * (1.0 - t * t)) * xt2, (1.0 - t * t) * math.sqrt(xt2)
        at_w0 = max(at_w0, float(np.max((np.abs(a) + np.sqrt(a * a + 4 * c * c)) / 2)))
        a_max, c_max = (np.abs(v) + radius) * 4.0 / (3.0 * math.sqrt(3.0)) * xt2, math.sqrt(xt2)
        over_ball = max(over_ball, float(np.max((a_max + np.sqrt(a_max ** 2 + 4 * c_max ** 2)) / 2)))
    return at_w0, over_ball


@pytest.fixture(scope="module")
def wide():
    """n = 1024: condition (c) holds on the estimates (measured, see the module docstring)."""
    net = network(1024)
    return net, check_assumptions(net, X3, Y3, seed=1)


@pytest.fixture(scope="module")
def narrow():
    """n = 16: (c) fails by orders of magnitude."""
    net = network(16)
    return net, check_assumptions(net, X3, Y3, seed=1, **FAST)


# --- the measured constants against independent computations ------------------------------


@pytest.mark.parametrize("parametrization", ["lecun", "ntk"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_constants_against_numpy(parametrization, dtype):
    net = network(12, "erf", parametrization, seed=3, dtype=dtype, bias_var=0.5, output_bias_var=0.3)
    X = np.array([[1.0, 0.2, -0.3], [-0.4, 0.9, 0.1], [0.3, -0.5, 1.2]])
    report = check_assumptions(net, X, Y3, seed=0, **FAST)
    # the network's data and parameters (float32 for a float32 network), in float64
    X64 = X.astype(dtype).astype(np.float64)
    y64 = Y3.astype(dtype).astype(np.float64)
    reference = widenet.ShallowNetwork(3, 12, "erf", parametrization)
    reference.params = Parameters(*net.initial_params.arrays(), dtype=np.float64)
    J = reference.jacobian(X64, backend="numpy")
    eigenvalues = np.linalg.eigvalsh(J @ J.T)
    assert_close([report.lambda_min, report.lambda_max], eigenvalues[[0, -1]], np.float64, size=J.shape[1],
                 scale=eigenvalues[-1])
    residual = reference.forward(X64, backend="numpy") - y64
    assert_close(report.f0, np.sum(residual ** 2), np.float64, size=3)
    assert report.condition_a_held
    # U: at w0 it is the largest row norm of J; the estimate over the ball can only be larger
    assert_close(report.U_w0, np.max(np.linalg.norm(J, axis=1)), np.float64, size=J.shape[1])
    assert report.U_lower >= report.U_w0
    # r, (c) and the steps from their formulas
    m = 3
    r = 2 * math.sqrt(m) * report.U_lower * math.sqrt(report.f0) / report.lambda_min
    assert_close(report.r, r, np.float64)
    bound = report.lambda_min ** 2 / (12 * m ** 1.5 * report.U_lower ** 2 * math.sqrt(report.f0))
    assert_close(report.condition_c_bound, bound, np.float64)
    assert report.condition_c_held == (report.L_lower <= bound)
    assert_close(report.admissible_lr_sum, 1 / (eigenvalues[0] + eigenvalues[-1]), np.float64, size=J.shape[1])
    assert report.admissible_lr == report.admissible_lr_sum
    assert check_assumptions(net, X, Y3, loss="mean", seed=0, **FAST).admissible_lr == pytest.approx(
        3 * report.admissible_lr_sum, rel=1e-15)


def test_witnesses_are_attained(narrow):
    """U_lower and L_lower are the values at the kept points, recomputed with numpy, and the
    points lie in B_r(w0)."""
    net, report = narrow
    w0 = net.initial_params.to_vector()
    witness = report.U_witness
    assert np.linalg.norm(witness.w - w0) <= report.r * (1 + 1e-12)
    g = gradient(net, witness.w, X3, witness.point)
    assert_close(np.linalg.norm(g), report.U_lower, np.float64, size=g.size)

    pair = report.L_witness
    for w in (pair.w_a, pair.w_b):
        assert np.linalg.norm(w - w0) <= report.r * (1 + 1e-12)
    g_a, g_b = gradient(net, pair.w_a, X3, pair.point), gradient(net, pair.w_b, X3, pair.point)
    change = np.linalg.norm(g_a - g_b)
    ratio = change / np.linalg.norm(pair.w_a - pair.w_b)
    # a difference quotient: rounding of the gradients relative to their change
    conditioning = (np.linalg.norm(g_a) + np.linalg.norm(g_b)) / change
    np.testing.assert_allclose(report.L_lower, ratio, rtol=rtol_for(np.float64) * max(1.0, conditioning))
    assert pair.value == report.L_lower and witness.value == report.U_lower


def test_L_estimate_against_the_closed_form_hessian(wide, narrow):
    """The secant estimate lies between the Hessian norm at w0 (a lower bound of L it
    should nearly reach: the Lanczos steps find the top of a dense spectrum) and an upper
    bound of the Hessian norm over the ball (which no secant can exceed)."""
    for net, report in (wide, narrow):
        at_w0, over_ball = tanh_hessian_norms(net, X3, report.r)
        assert 0.95 * at_w0 <= report.L_lower <= over_ball
    # the wide network's L is O(1): |x~| max sigma' = sqrt(2) for the unit vectors
    assert wide[1].L_lower == pytest.approx(math.sqrt(2), rel=0.03)


def test_estimates_are_reproducible_and_do_not_touch_the_network():
    net = network(8, seed=5)
    net.train(X3, Y3, lr=0.01, steps=3)  # params != initial_params
    before = [p.to_vector() for p in (net.params, net.initial_params)]
    X, y = X3.copy(), Y3.copy()
    first = check_assumptions(net, X, y, seed=7, **FAST)
    second = check_assumptions(net, X, y, seed=7, **FAST)
    check_convergence(net, X, y, 5, assumptions=first)
    for p, expected in zip((net.params, net.initial_params), before):
        np.testing.assert_array_equal(p.to_vector(), expected)
    np.testing.assert_array_equal(X, X3)
    np.testing.assert_array_equal(y, Y3)
    assert (first.U_lower, first.L_lower, first.r) == (second.U_lower, second.L_lower, second.r)


# --- Theorem 11.13 along a run ------------------------------------------------------------


def test_wide_network_condition_c_holds_and_bounds_hold(wide):
    net, report = wide
    assert report.condition_a_held and report.condition_c_held and not report.lipschitz_infinite
    assert "holds on the estimates" in str(report) and "LOWER bounds" in str(report)
    check = check_convergence(net, X3, Y3, 300, assumptions=report)
    assert isinstance(check, ConvergenceCheck)
    assert check.lr == report.admissible_lr_sum and check.lr_admissible and check.assumption_c_held
    assert check.loss_bound_held and check.distance_bound_held
    assert check.loss_bound_holds.all() and check.distance_bound_holds.all()
    assert check.steps.tolist() == list(range(301))
    # (11.4.6b) from its formula, and the run from an independent start
    k = np.arange(301)
    expected = report.f0 * (1 - check.lr * report.lambda_min) ** (2 * k)
    np.testing.assert_allclose(check.loss_bounds, expected, rtol=rtol_for(np.float64, 600), atol=0)
    assert check.distance_bound == report.r
    assert np.max(check.distances) <= report.r
    run = network(1024).train(X3, Y3, check.lr, 300)
    assert_close(check.losses, run.losses, np.float64, size=1024)
    assert "consistent with Theorem 11.13" in check.summary()


def test_loss_scaling_is_a_step_scaling(wide):
    """GD with step h on f/m is GD with step h/m on f: same iterates, losses divided by m,
    and the same bound (11.4.6b) in that scaling."""
    net, report = wide
    total = check_convergence(net, X3, Y3, 40, assumptions=report)
    mean = check_convergence(net, X3, Y3, 40, loss="mean", assumptions=report)
    assert mean.lr == pytest.approx(3 * total.lr, rel=1e-15)
    assert mean.chapter_lr == pytest.approx(total.lr, rel=1e-15)
    assert mean.lr_admissible and mean.loss_bound_held and mean.distance_bound_held
    np.testing.assert_allclose(mean.loss_bounds * 3, total.loss_bounds, rtol=rtol_for(np.float64, 80))
    np.testing.assert_allclose(mean.distances, total.distances, rtol=1e-9, atol=1e-12 * report.r)
    late = total.losses > 1e-20  # before the losses reach rounding level
    np.testing.assert_allclose(mean.losses[late] * 3, total.losses[late], rtol=1e-6)


def test_narrow_network_c_fails_but_the_run_meets_the_bounds(narrow):
    net, report = narrow
    assert report.condition_a_held and not report.condition_c_held
    assert report.L_lower > 100 * report.condition_c_bound
    assert "VIOLATED (definite" in str(report)
    check = check_convergence(net, X3, Y3, 300, assumptions=report)
    assert check.loss_bound_held and check.distance_bound_held and not check.assumption_c_held
    assert "sufficient, not necessary" in check.reading()


def test_a_failed_bound_is_reported():
    """n = 4: (c) fails and the loss leaves the bound (11.4.6b) for a while (measured)."""
    net = network(4)
    check = check_convergence(net, X3, Y3, 100, seed=1)
    assert check.lr_admissible and not check.assumption_c_held
    assert not check.loss_bound_held and check.distance_bound_held
    failed = ~check.loss_bound_holds
    assert np.all(check.losses[failed] > check.loss_bounds[failed])
    assert "VIOLATED at" in check.summary() and "and a bound failed" in check.reading()


def test_float32_run_and_non_admissible_step():
    net = network(64, dtype=np.float32)
    report = check_assumptions(net, X3, Y3, seed=0, **FAST)
    check = check_convergence(net, X3, Y3, 100, assumptions=report)
    assert check.dtype == np.float32 and check.rounding == 1e-4
    assert check.loss_bound_held and check.distance_bound_held
    fast = check_convergence(net, X3, Y3, 20, lr=4 * report.admissible_lr, assumptions=report)
    assert not fast.lr_admissible and "makes no claim" in fast.reading()


# --- special cases -------------------------------------------------------------------------


def test_relu_report_says_L_is_infinite():
    net = network(64, "relu")
    report = check_assumptions(net, X3, Y3, seed=0, **FAST)
    U, b, _, _ = net.initial_params.arrays()
    Z = X3 @ U.T + b
    kink = np.min(np.abs(Z) / np.sqrt(np.sum(X3 ** 2, axis=1) + 1)[:, None])
    assert_close(report.kink_distance, kink, np.float64)
    assert kink < report.r and report.lipschitz_infinite and not report.condition_c_held
    assert "relu" in report.notes[0] and "relu" in str(report) and "L is infinite" in str(report)
    assert not any("relu" in note for note in check_assumptions(network(8), X3, Y3, seed=0, **FAST).notes)


def test_zero_initial_loss_and_singular_gram():
    net = network(8)
    report = check_assumptions(net, X3, net.forward(X3), seed=0, **FAST)
    assert report.f0 == 0 and report.r == 0 and report.L_lower == 0 and report.L_witness is None
    assert report.condition_c_held
    X = np.vstack([X3, X3[:1]])  # a repeated point: the tangent Gram is singular, (a) fails
    report = check_assumptions(net, X, np.r_[Y3, 1.0], seed=0, **FAST)
    assert not report.condition_a_held and report.r == math.inf and not report.condition_c_held
    assert "(a) fails" in str(report)


def test_report_is_frozen():
    report = check_assumptions(network(4), X3, Y3, seed=0, **FAST)
    assert isinstance(report, AssumptionReport)
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.L_lower = 0.0
    with pytest.raises(ValueError):
        report.U_witness.w[0] = 1.0


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize("call, error, name", [
    (lambda net: check_assumptions("net", X3, Y3), TypeError, "model"),
    (lambda net: check_assumptions(net, X3[:, :2], Y3), ValueError, "X"),
    (lambda net: check_assumptions(net, X3[0], Y3), ValueError, "X"),
    (lambda net: check_assumptions(net, X3, Y3[:2]), ValueError, "y"),
    (lambda net: check_assumptions(net, X3, Y3, loss="median"), ValueError, "loss"),
    (lambda net: check_assumptions(net, X3, Y3, samples=0), ValueError, "samples"),
    (lambda net: check_assumptions(net, X3, Y3, lanczos_steps=1.5), TypeError, "lanczos_steps"),
    (lambda net: check_assumptions(net, X3, Y3, seed="a"), TypeError, "seed"),
    (lambda net: check_convergence(object(), X3, Y3, 5), TypeError, "model"),
    (lambda net: check_convergence(net, X3, Y3, -1), ValueError, "steps"),
    (lambda net: check_convergence(net, X3, Y3, 5, lr=0.0), ValueError, "lr"),
    (lambda net: check_convergence(net, X3, Y3, 5, lr=-1.0), ValueError, "lr"),
    (lambda net: check_convergence(net, X3, Y3, 5, lr="big"), TypeError, "lr"),
    (lambda net: check_convergence(net, X3, Y3, 5, loss="l1"), ValueError, "loss"),
    (lambda net: check_convergence(net, X3, Y3, 5, record_every=0), ValueError, "record_every"),
    (lambda net: check_convergence(net, X3, Y3, 5, assumptions="report"), TypeError, "assumptions"),
    (lambda net: check_convergence(net, X3, -Y3, 5, assumptions=check_assumptions(net, X3, Y3, **FAST)),
     ValueError, "assumptions"),
])
def test_bad_input(call, error, name):
    with pytest.raises(error, match=rf"^{name}: "):
        call(network(4))
