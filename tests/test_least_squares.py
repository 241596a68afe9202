"""Linear least squares (docs/theory.md, section 1): the minimum-norm solution of Proposition 11.2,
the bias augmentation of Remark 11.1 and gradient descent (Theorem 11.3), checked against
numpy's pinv, lstsq and SVD."""

import numpy as np
import pytest

from conftest import snapshot
from widenet.regression.least_squares import (augment, gradient_descent, kernel_projector, max_step, min_norm_solution,
                                   predicted_limit, row_space_projector)


def low_rank(rng, m, d, rank):
    """An m x d matrix of the given rank (singular values well away from zero)."""
    return rng.standard_normal((m, rank)) @ rng.standard_normal((rank, d))


SHAPES = {  # name: (m, d, rank)
    "tall": (8, 3, 3),
    "wide": (3, 8, 3),
    "square": (5, 5, 5),
    "tall-deficient": (9, 6, 2),
    "wide-deficient": (4, 10, 2),
    "one-row": (1, 4, 1),
    "one-column": (5, 1, 1),
}


@pytest.fixture(params=sorted(SHAPES))
def problem(request):
    m, d, rank = SHAPES[request.param]
    rng = np.random.default_rng(sum(map(ord, request.param)))
    return low_rank(rng, m, d, rank), rng.standard_normal(m), rng


def pinv_row_projector(A):
    return np.linalg.pinv(A) @ A


# -- Proposition 11.2 -----------------------------------------------------------------------

def test_min_norm_solution_is_pinv_times_y(problem):
    A, y, _ = problem
    w = min_norm_solution(A, y)
    expected = np.linalg.pinv(A) @ y
    np.testing.assert_allclose(w, expected, rtol=1e-10, atol=1e-12 * np.abs(expected).max())
    lstsq = np.linalg.lstsq(A, y, rcond=None)[0]  # also the minimum-norm solution
    np.testing.assert_allclose(w, lstsq, rtol=1e-10, atol=1e-12 * np.abs(expected).max())


def test_min_norm_solution_lies_in_the_row_space_and_solves_the_normal_equations(problem):
    A, y, _ = problem
    w = min_norm_solution(A, y)
    scale = np.abs(w).max()
    np.testing.assert_allclose(pinv_row_projector(A) @ w, w, atol=1e-11 * scale)
    np.testing.assert_allclose(A.T @ (A @ w - y), 0, atol=1e-10 * np.linalg.norm(A, 2) ** 2 * scale)


def test_min_norm_solution_is_shortest_among_minimizers(problem):
    A, y, rng = problem
    w = min_norm_solution(A, y)
    null_part = (np.eye(A.shape[1]) - pinv_row_projector(A)) @ rng.standard_normal(A.shape[1])
    other = w + null_part  # another minimizer
    assert np.sum((A @ other - y) ** 2) == pytest.approx(np.sum((A @ w - y) ** 2), rel=1e-9, abs=1e-12)
    assert np.linalg.norm(other) ** 2 == pytest.approx(np.linalg.norm(w) ** 2 + np.linalg.norm(null_part) ** 2)


def test_min_norm_solution_with_several_targets(problem):
    A, _, rng = problem
    Y = rng.standard_normal((A.shape[0], 3))
    W = min_norm_solution(A, Y)
    assert W.shape == (A.shape[1], 3)
    expected = np.linalg.pinv(A) @ Y
    np.testing.assert_allclose(W, expected, rtol=1e-10, atol=1e-12 * np.abs(expected).max())


def test_rcond_sets_the_rank_tolerance():
    rng = np.random.default_rng(1)
    U, _ = np.linalg.qr(rng.standard_normal((6, 4)))
    V, _ = np.linalg.qr(rng.standard_normal((5, 4)))
    A = U @ np.diag([3.0, 1.0, 0.5, 1e-9]) @ V.T
    y = rng.standard_normal(6)
    kept = min_norm_solution(A, y)  # default tolerance ~1e-15 relative keeps 1e-9
    np.testing.assert_allclose(kept, np.linalg.pinv(A, rcond=1e-14) @ y, rtol=1e-6)
    dropped = min_norm_solution(A, y, rcond=1e-6)
    np.testing.assert_allclose(dropped, np.linalg.pinv(A, rcond=1e-6) @ y, rtol=1e-10, atol=1e-12)
    assert np.linalg.norm(kept) > 1e6 > np.linalg.norm(dropped)


def test_zero_matrix_gives_zero_solution():
    assert np.array_equal(min_norm_solution(np.zeros((3, 2)), np.ones(3)), np.zeros(2))


# -- Remark 11.1 ---------------------------------------------------------------------------

def test_augment_prepends_ones():
    X = np.arange(6.0).reshape(3, 2)
    np.testing.assert_array_equal(augment(X), [[1, 0, 1], [1, 2, 3], [1, 4, 5]])


def test_augmented_least_squares_recovers_an_affine_function():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((10, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 4.0
    b_w = min_norm_solution(augment(X), y)
    np.testing.assert_allclose(b_w, [4.0, 1.0, -2.0, 0.5], rtol=1e-12)


# -- projectors and Theorem 11.3 ---------------------------------------------------------

def test_projectors_match_pinv(problem):
    A, _, _ = problem
    P = row_space_projector(A)
    np.testing.assert_allclose(P, pinv_row_projector(A), atol=1e-12)
    np.testing.assert_allclose(kernel_projector(A), np.eye(A.shape[1]) - P, atol=1e-15)
    np.testing.assert_allclose(A @ kernel_projector(A), 0, atol=1e-12 * np.abs(A).max())


def test_max_step_is_half_inverse_squared_largest_singular_value(problem):
    A, _, _ = problem
    s_max = np.linalg.svd(A, compute_uv=False)[0]
    assert max_step(A) == pytest.approx(1 / (2 * s_max**2), rel=1e-13)
    assert max_step(np.zeros((2, 3))) == np.inf


def test_predicted_limit_is_min_norm_plus_kernel_part(problem):
    A, y, rng = problem
    w0 = rng.standard_normal(A.shape[1])
    P = pinv_row_projector(A)
    expected = np.linalg.pinv(A) @ y + (np.eye(A.shape[1]) - P) @ w0
    np.testing.assert_allclose(predicted_limit(A, y, w0), expected, atol=1e-11 * np.abs(expected).max())


def independent_rate(A, h):
    s = np.linalg.svd(A, compute_uv=False)
    s = s[s > 1e-10 * s[0]]
    return np.max(np.abs(1 - 2 * h * s**2))


def well_conditioned(rng, m, d, rank):
    """Rank ``rank`` with nonzero singular values in [1, 2], so GD converges in a few
    hundred steps."""
    U, _ = np.linalg.qr(rng.standard_normal((m, rank)))
    V, _ = np.linalg.qr(rng.standard_normal((d, rank)))
    return U @ np.diag(np.linspace(1.0, 2.0, rank)) @ V.T


@pytest.mark.parametrize("m, d, rank", [(4, 9, 4), (9, 5, 3), (6, 6, 6)])
def test_gradient_descent_converges_to_the_predicted_limit(m, d, rank):
    rng = np.random.default_rng(m * d + rank)
    A, y, w0 = well_conditioned(rng, m, d, rank), rng.standard_normal(m), rng.standard_normal(d)
    h = max_step(A)
    result = gradient_descent(A, y, w0, h, steps=400, record_every=50)
    P = pinv_row_projector(A)
    limit = np.linalg.pinv(A) @ y + (np.eye(d) - P) @ w0
    np.testing.assert_allclose(result.w, limit, atol=1e-10)
    np.testing.assert_allclose(result.limit, limit, atol=1e-12)
    # distances fall geometrically with the factor max |1 - 2 h s_i^2|
    rate = independent_rate(A, h)
    assert result.rate == pytest.approx(rate, rel=1e-12)
    direct = np.linalg.norm(result.iterates - limit, axis=1)
    np.testing.assert_allclose(result.distances, direct, atol=1e-12)
    assert np.all(direct <= rate ** result.steps * direct[0] * (1 + 1e-9) + 1e-12)
    assert direct[-1] < 1e-10 < direct[0]
    # the loss decreases to the least-squares minimum
    assert np.all(np.diff(result.losses) <= 1e-12)
    assert result.losses[-1] == pytest.approx(np.sum((A @ limit - y) ** 2), abs=1e-12)


def test_gradient_descent_from_the_row_space_finds_the_min_norm_solution():
    rng = np.random.default_rng(3)
    A = well_conditioned(rng, 3, 7, 3)
    y = rng.standard_normal(3)
    w0 = A.T @ rng.standard_normal(3)  # in span{x_1, ..., x_m}
    result = gradient_descent(A, y, w0, 0.9 * max_step(A), steps=300)
    np.testing.assert_allclose(result.w, np.linalg.pinv(A) @ y, atol=1e-10)


def test_gradient_descent_iterates_follow_the_update_rule():
    rng = np.random.default_rng(4)
    A, y, w0 = rng.standard_normal((5, 3)), rng.standard_normal(5), rng.standard_normal(3)
    h = 0.5 * max_step(A)
    result = gradient_descent(A, y, w0, h, steps=10, record_every=4)
    np.testing.assert_array_equal(result.steps, [0, 4, 8, 10])
    w = w0.copy()
    expected = {0: w.copy()}
    for k in range(1, 11):
        w = w - h * 2 * A.T @ (A @ w - y)
        expected[k] = w.copy()
    for step, iterate, loss in zip(result.steps, result.iterates, result.losses):
        np.testing.assert_allclose(iterate, expected[step], rtol=1e-13, atol=1e-14)
        assert loss == pytest.approx(np.sum((A @ expected[step] - y) ** 2), rel=1e-12)
    assert result.lr == h and result.max_step == pytest.approx(max_step(A))


def test_gradient_descent_with_several_targets():
    rng = np.random.default_rng(5)
    A = well_conditioned(rng, 4, 6, 4)
    Y, W0 = rng.standard_normal((4, 2)), rng.standard_normal((6, 2))
    result = gradient_descent(A, Y, W0, max_step(A), steps=300, record_every=300)
    assert result.iterates.shape == (2, 6, 2)
    P = pinv_row_projector(A)
    np.testing.assert_allclose(result.w, np.linalg.pinv(A) @ Y + (np.eye(6) - P) @ W0, atol=1e-10)


def test_zero_steps_records_the_start():
    A, y, w0 = np.eye(2), np.ones(2), np.zeros(2)
    result = gradient_descent(A, y, w0, 0.1, steps=0)
    np.testing.assert_array_equal(result.steps, [0])
    np.testing.assert_array_equal(result.w, w0)


def test_step_size_policy():
    A = np.diag([2.0, 1.0])  # s_max = 2: max_step = 1/8, divergence from 1/4 on
    y, w0 = np.ones(2), np.zeros(2)
    gradient_descent(A, y, w0, 1 / 8, steps=5)  # the theorem's bound itself: silent
    with pytest.warns(UserWarning, match="Theorem 11.3"):
        result = gradient_descent(A, y, w0, 0.2, steps=200)
    np.testing.assert_allclose(result.w, [0.5, 1.0], atol=1e-10)  # still converges
    for lr in (0.25, 1.0):
        with pytest.raises(ValueError, match="lr"):
            gradient_descent(A, y, w0, lr, steps=5)
    for lr in (0.0, -0.1):
        with pytest.raises(ValueError, match="lr"):
            gradient_descent(A, y, w0, lr, steps=5)


# -- validation ------------------------------------------------------------------------------

def test_bad_inputs_name_the_argument():
    A, y, w0 = np.ones((3, 2)), np.ones(3), np.zeros(2)
    with pytest.raises(ValueError, match="A"):
        min_norm_solution(np.ones(3), y)
    with pytest.raises(ValueError, match="A"):
        min_norm_solution(np.ones((0, 2)), np.ones(0))
    with pytest.raises(ValueError, match="y"):
        min_norm_solution(A, np.ones(4))
    with pytest.raises(ValueError, match="y"):
        min_norm_solution(A, np.ones((3, 2, 1)))
    with pytest.raises(ValueError, match="A"):
        min_norm_solution(np.array([[1.0, np.nan]] * 3), y)
    with pytest.raises(TypeError, match="A"):
        min_norm_solution(np.array([["a", "b"]] * 3), y)
    with pytest.raises(ValueError, match="rcond"):
        min_norm_solution(A, y, rcond=-1.0)
    with pytest.raises(ValueError, match="w0"):
        gradient_descent(A, y, np.zeros(3), 0.01, 5)
    with pytest.raises(ValueError, match="w0"):
        predicted_limit(A, y, np.zeros((2, 1)))
    with pytest.raises(ValueError, match="steps"):
        gradient_descent(A, y, w0, 0.01, -1)
    with pytest.raises(ValueError, match="record_every"):
        gradient_descent(A, y, w0, 0.01, 5, record_every=0)
    with pytest.raises(TypeError, match="steps"):
        gradient_descent(A, y, w0, 0.01, 2.5)
    with pytest.raises(ValueError, match="X"):
        augment(np.ones(3))


def test_inputs_are_not_modified():
    rng = np.random.default_rng(6)
    A, y, w0 = rng.standard_normal((4, 5)), rng.standard_normal(4), rng.standard_normal(5)
    before = snapshot(A, y, w0)
    min_norm_solution(A, y)
    predicted_limit(A, y, w0)
    gradient_descent(A, y, w0, max_step(A), steps=3)
    for original, copy in zip((A, y, w0), before):
        np.testing.assert_array_equal(original, copy)


def test_integer_and_float32_inputs_compute_in_float64():
    A = np.array([[1, 2], [3, 4], [5, 6]])
    y = np.array([1, 0, 1])
    w = min_norm_solution(A, y)
    assert w.dtype == np.float64
    # float32 data: the same float64 solve, rounded once to float32
    np.testing.assert_array_equal(min_norm_solution(A.astype(np.float32), y), w.astype(np.float32))
