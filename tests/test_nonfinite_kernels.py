"""Kernels at the edges of the floating-point range: finite wherever the answer is, inf of the
right sign where it lies beyond the dtype, never NaN, and within their stated bounds at every
scale of the inputs (1e-3 up to the overflow range).

The references are independent of the kernels' formulas: the tangent kernel is compared
with ``J J^T`` from the explicit Jacobian, summed in long double; the classic kernels with
their definitions evaluated in long double (inner products, and distances from ``x - z``).
"""

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import widenet  # noqa: E402
from widenet import reference  # noqa: E402
from widenet.kernels import LaplaceKernel, LinearKernel, PolynomialKernel, RBFKernel  # noqa: E402

from conftest import ACTIVATIONS, DTYPES, PARAMETRIZATIONS, rtol_for  # noqa: E402

PROPERTY = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
BACKENDS = ("cpp", "numpy")
# Entries within this factor of the dtype's largest number may round either way (finite or inf).
GUARD = 1e-3


def limits(dtype):
    """``(largest, eps, tiny)`` of ``dtype`` in long double, for comparisons that must not overflow."""
    info = np.finfo(dtype)
    return wide(info.max), wide(info.eps), wide(info.tiny)


def wide(array):
    return np.asarray(array, dtype=np.longdouble)


def largest_exponent(dtype):
    """The largest power of ten of an input entry: products of several such entries overflow."""
    return 300 if np.dtype(dtype) == np.float64 else 36


def scaled_rows(data, rows, d, dtype, low=-3.0):
    """``rows`` points of ``d`` coordinates, each row of its own size 10^k, k in [low, top]:
    coordinates equal in size and of both signs (whose products cancel exactly), zeros, and
    arbitrary directions."""
    sizes = 10.0 ** np.array(data.draw(st.lists(st.floats(low, largest_exponent(dtype)), min_size=rows,
                                                max_size=rows)))
    shape = st.sampled_from([-1.0, -0.5, 0.0, 0.5, 1.0]) | st.floats(-1.0, 1.0)
    directions = np.array(data.draw(st.lists(st.lists(shape, min_size=d, max_size=d), min_size=rows,
                                             max_size=rows)))
    return (sizes[:, None] * directions).astype(dtype)


def jacobian(net, X, backend):
    with np.errstate(over="ignore", invalid="ignore"):
        return net.jacobian(X, backend=backend)


def determined(net, X):
    """Rows whose Jacobian the rounding of the pre-activations determines: all but sin's
    beyond |z| ~ 1e-6 / eps, where one rounding of z moves sin(z) and cos(z) anywhere in
    [-1, 1] (every other activation is flat or linear out there)."""
    if net.activation != "sin":
        return np.ones(X.shape[0], dtype=bool)
    U, b, _, _ = (wide(p) for p in net.params.arrays())
    scale = 1 / np.sqrt(wide(net.input_dim)) if net.parametrization == "ntk" else 1
    Z = scale * (wide(X) @ U.T) + b
    return np.max(np.abs(Z), axis=1) < 1e-6 / np.finfo(net.dtype).eps


def assert_tangent_kernel(K, J1, J2, dtype, what, rows1=True, rows2=True):
    """``K`` against ``J1 J2^T`` summed in long double: never NaN; where both Jacobian rows are
    finite (and ``rows1``, ``rows2`` say they are determined), within ``rtol sqrt(K(x, x)
    K(z, z))`` where the value is within range and inf of its sign where it is beyond."""
    assert not np.isnan(K).any(), f"{what}: NaN at {np.argwhere(np.isnan(K)).tolist()}"
    with np.errstate(invalid="ignore", over="ignore"):  # rows with an infinite entry (monomial3's z^3) are masked
        exact = wide(J1) @ wide(J2).T
        scale = np.sqrt(np.sum(wide(J1) ** 2, axis=1)[:, None] * np.sum(wide(J2) ** 2, axis=1)[None, :])
    top, _, _ = limits(dtype)
    finite = ((np.isfinite(J1).all(axis=1) & rows1)[:, None] & (np.isfinite(J2).all(axis=1) & rows2)[None, :])
    inside = finite & (np.abs(exact) < top * (1 - GUARD))
    beyond = finite & (np.abs(exact) > top * (1 + GUARD))
    assert np.isfinite(K[inside]).all(), f"{what}: not finite where J J^T is {exact[inside]}: {K[inside]}"
    error = np.abs(wide(K[inside]) - exact[inside])
    bound = rtol_for(dtype) * scale[inside]
    assert (error <= bound).all(), f"{what}: {K[inside]} != J J^T {exact[inside]} (error {error}, bound {bound})"
    assert (K[beyond] == np.sign(exact[beyond]) * np.inf).all(), f"{what}: {K[beyond]} where J J^T is {exact[beyond]}"


@PROPERTY
@given(data=st.data())
def test_tangent_kernel_is_jacobian_gram_at_every_scale(data):
    """Wherever the Jacobian is finite, ntk (symmetric and cross) and ntk_diag are finite and
    equal to J J^T (each backend's own Jacobian), or inf where J J^T is beyond the dtype: every
    activation, both parametrizations, both dtypes and both backends, inputs from 1e-3 to the
    overflow range
    (a derivative that underflows to 0 at a huge pre-activation must give a 0 term, not
    |x|^2 * 0 = inf * 0)."""
    dtype = data.draw(st.sampled_from(DTYPES))
    activation = data.draw(st.sampled_from(ACTIVATIONS))
    parametrization = data.draw(st.sampled_from(PARAMETRIZATIONS))
    d, n = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 5))
    net = widenet.ShallowNetwork(d, n, activation, parametrization, bias_var=0.5, output_bias_var=0.3,
                                 weight_var=10.0 ** data.draw(st.floats(-2, 2)),
                                 seed=data.draw(st.integers(0, 2**16)), dtype=dtype)
    X1 = scaled_rows(data, data.draw(st.integers(1, 3)), d, dtype)
    X2 = scaled_rows(data, data.draw(st.integers(1, 3)), d, dtype)
    rows1, rows2 = determined(net, X1), determined(net, X2)
    for backend in BACKENDS:
        J1, J2 = jacobian(net, X1, backend), jacobian(net, X2, backend)
        assert_tangent_kernel(net.ntk(X1, backend=backend), J1, J1, dtype, f"{backend} ntk(X1)", rows1, rows1)
        assert_tangent_kernel(net.ntk(X1, X2, backend=backend), J1, J2, dtype, f"{backend} ntk(X1, X2)", rows1,
                              rows2)
        diagonal = net.ntk_diag(X1, backend=backend)
        for k in range(X1.shape[0]):
            assert_tangent_kernel(diagonal[k:k + 1, None], J1[k:k + 1], J1[k:k + 1], dtype,
                                  f"{backend} ntk_diag(X1)[{k}]", rows1[k], rows1[k])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "erf"])
def test_vanishing_derivative_at_a_huge_input_gives_the_finite_kernel(activation, backend):
    """The example of the report: at x = (1e155, -1e155) every pre-activation is huge, sigma'
    underflows to 0 and |x|^2 overflows; J J^T is |sigma(Z)|^2 + 1, finite (5 for tanh with
    four units and no biases)."""
    net = widenet.ShallowNetwork(2, 4, activation, seed=0)
    X = np.array([[1e155, -1e155]])
    J = net.jacobian(X)
    expected = J @ J.T
    for chunk in (None, 1, 3):  # the width in one chunk or several
        np.testing.assert_allclose(net.ntk(X, backend=backend, width_chunk=chunk), expected, rtol=1e-15)
    np.testing.assert_allclose(net.ntk_diag(X, backend=backend), np.diag(expected), rtol=1e-15)
    net32 = widenet.ShallowNetwork(2, 4, activation, seed=0, dtype=np.float32)
    X32 = np.array([[1e20, -1e20]], dtype=np.float32)
    J32 = net32.jacobian(X32).astype(np.float64)
    np.testing.assert_allclose(net32.ntk(X32, backend=backend), J32 @ J32.T, rtol=1e-6)
    np.testing.assert_allclose(net32.ntk_diag(X32, backend=backend), np.sum(J32 ** 2, axis=1), rtol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_overflowing_relu_kernel_is_inf_not_nan(backend):
    """ReLU at inputs of 1e155: every entry of J J^T is beyond float64 (about 3e310 and 6e309
    off the diagonal), so every entry is +inf, the off-diagonal ones too."""
    net = widenet.ShallowNetwork(2, 4, "relu", seed=0)
    X = np.array([[1e155, -1e155], [1e155, 1e155]])
    exact = wide(net.jacobian(X)) @ wide(net.jacobian(X)).T
    assert (exact > np.finfo(np.float64).max).all()
    for K in (net.ntk(X, backend=backend), net.ntk(X, X.copy(), backend=backend)):
        np.testing.assert_array_equal(K, np.inf)
    np.testing.assert_array_equal(net.ntk_diag(X, backend=backend), np.inf)


# -- classic kernels -----------------------------------------------------------------------

def assert_inner_products(K, X1, X2, factor, dtype):
    """``K`` is ``factor x.z`` within ``(d + 2) eps factor |x| |z|`` where that is in range, and
    inf of its sign beyond."""
    top, eps, tiny = limits(dtype)
    assert not np.isnan(K).any()
    exact = factor * (wide(X1) @ wide(X2).T)
    size = factor * np.sqrt(np.sum(wide(X1) ** 2, axis=1))[:, None] * np.sqrt(np.sum(wide(X2) ** 2, axis=1))[None, :]
    inside, beyond = np.abs(exact) < top * (1 - GUARD), np.abs(exact) > top * (1 + GUARD)
    assert np.isfinite(K[inside]).all(), f"{K[inside]} != {exact[inside]}"
    bound = (X1.shape[1] + 2) * eps * size[inside] + 4 * tiny
    assert (np.abs(wide(K[inside]) - exact[inside]) <= bound).all(), f"{K[inside]} != {exact[inside]}"
    assert (K[beyond] == np.sign(exact[beyond]) * np.inf).all(), f"{K[beyond]} where x.z is {exact[beyond]}"


@PROPERTY
@given(data=st.data())
def test_linear_kernel_overflows_only_where_the_value_does(data):
    """x.z at every scale: orthogonal points of size 1e155 give 0, not inf - inf."""
    dtype, backend = data.draw(st.sampled_from(DTYPES)), data.draw(st.sampled_from(BACKENDS))
    d = data.draw(st.integers(1, 4))
    X1 = scaled_rows(data, data.draw(st.integers(1, 4)), d, dtype)
    X2 = scaled_rows(data, data.draw(st.integers(1, 4)), d, dtype)
    kernel = LinearKernel()
    assert_inner_products(kernel(X1, X2, backend=backend), X1, X2, 1.0, dtype)
    assert_inner_products(kernel(X1, backend=backend), X1, X1, 1.0, dtype)
    diagonal = kernel.diag(X1, backend=backend)
    for k in range(X1.shape[0]):
        assert_inner_products(diagonal[k:k + 1, None], X1[k:k + 1], X1[k:k + 1], 1.0, dtype)


def polynomial_range(exact_inner, size, gamma, coef0, degree, d, eps):
    """The interval of ``(b + delta)^degree`` over ``|delta| <= (d + 3) eps (gamma |x| |z| +
    coef0)`` around the exact base ``b = gamma x.z + coef0``, widened by the power's own
    rounding ``2 degree eps``."""
    base = gamma * exact_inner + coef0
    delta = (d + 3) * eps * (gamma * size + coef0)
    ends = np.stack([(base - delta) ** degree, (base + delta) ** degree])
    low, high = ends.min(axis=0), ends.max(axis=0)
    if degree % 2 == 0:
        low = np.where((base - delta < 0) & (base + delta > 0), 0, low)
    widen = 2 * degree * eps
    return low - widen * np.abs(low), high + widen * np.abs(high)


@PROPERTY
@given(data=st.data())
def test_polynomial_kernel_is_finite_wherever_its_value_is(data):
    """(gamma x.z + coef0)^degree at every scale and gamma: within the power of the base's
    rounding interval, and inf of its sign only where that whole interval is beyond the
    dtype (orthogonal points of size 1e155 give coef0^degree, not inf)."""
    dtype, backend = data.draw(st.sampled_from(DTYPES)), data.draw(st.sampled_from(BACKENDS))
    d, degree = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 4))
    tiny_gamma = -300 if dtype == np.float64 else -36
    gamma = 10.0 ** data.draw(st.floats(tiny_gamma, 3))
    coef0 = data.draw(st.sampled_from([0.0, 1.0, 2.5]))
    X1 = scaled_rows(data, data.draw(st.integers(1, 3)), d, dtype)
    X2 = scaled_rows(data, data.draw(st.integers(1, 3)), d, dtype)
    kernel = PolynomialKernel(degree=degree, coef0=coef0, gamma=gamma)
    check = dict(gamma=wide(dtype(gamma)), coef0=coef0, degree=degree, dtype=dtype)
    assert_polynomial(kernel(X1, X2, backend=backend), X1, X2, **check)
    assert_polynomial(kernel(X1, backend=backend), X1, X1, **check)
    diagonal = kernel.diag(X1, backend=backend)
    for k in range(X1.shape[0]):
        assert_polynomial(diagonal[k:k + 1, None], X1[k:k + 1], X1[k:k + 1], **check)


def assert_polynomial(K, A, B, gamma, coef0, degree, dtype):
    """``K`` within :func:`polynomial_range` where that interval is in range, inf of its sign
    where it is entirely beyond, never NaN."""
    top, eps, tiny = limits(dtype)
    exact = wide(A) @ wide(B).T
    size = np.sqrt(np.sum(wide(A) ** 2, axis=1))[:, None] * np.sqrt(np.sum(wide(B) ** 2, axis=1))[None, :]
    low, high = polynomial_range(exact, size, gamma, coef0, degree, A.shape[1], eps)
    assert not np.isnan(K).any(), f"NaN in {K}"
    inside = (np.abs(low) < top * (1 - GUARD)) & (np.abs(high) < top * (1 - GUARD))
    beyond = (low > top * (1 + GUARD)) | (high < -top * (1 + GUARD))
    assert np.isfinite(K[inside]).all(), f"{K[inside]} not in [{low[inside]}, {high[inside]}]"
    value = wide(K[inside])
    assert ((value >= low[inside] - 4 * tiny) & (value <= high[inside] + 4 * tiny)).all(), \
        f"{K[inside]} not in [{low[inside]}, {high[inside]}]"
    assert (K[beyond] == np.sign(high[beyond]) * np.inf).all(), f"{K[beyond]} beyond the range"


def distance_reference(A, B, gamma, kind):
    """The kernel of the stored inputs from ``x - z`` in long double."""
    difference = wide(A)[:, None, :] - wide(B)[None, :, :]
    squared = np.sum(difference * difference, axis=2)
    return np.exp(-wide(gamma) * (squared if kind == "rbf" else np.sqrt(squared)))


@PROPERTY
@given(data=st.data())
def test_distance_kernels_are_accurate_at_every_scale(data):
    """RBF and Laplace entries within 16 (d + 2) eps of the exact kernel, for clusters from
    1e-3 to 1e300 away from the origin and distances from 0 to huge: no cancellation in
    |x|^2 + |z|^2 - 2 x.z (the report's (1e8, 0), (1e8, 1) gave 1.0, not 0.6065), no NaN."""
    dtype, backend = data.draw(st.sampled_from(DTYPES)), data.draw(st.sampled_from(BACKENDS))
    kind = data.draw(st.sampled_from(["rbf", "laplace"]))
    d = data.draw(st.integers(1, 3))
    top = largest_exponent(dtype)
    center = scaled_rows(data, 1, d, dtype)[0].astype(np.float64)
    # gamma is chosen so that the typical exponent is interesting: gamma spread^2 (rbf) or
    # gamma spread (laplace) about 10^g; the spread stays where such a gamma is a normal number.
    spread_top = top // 2 - 1 if kind == "rbf" else top - 2
    spread = 10.0 ** data.draw(st.floats(-3, spread_top))
    gamma = 10.0 ** data.draw(st.floats(-2, 1.5)) / (spread ** 2 if kind == "rbf" else spread)

    def cluster(rows):
        """Points around the center at distances from 0 (a multiplier of 0) up to ``spread``."""
        sizes = 10.0 ** np.array(data.draw(st.lists(st.floats(-8, 0), min_size=rows, max_size=rows)))
        directions = np.array(data.draw(st.lists(st.lists(st.floats(-1, 1), min_size=d, max_size=d), min_size=rows,
                                                 max_size=rows)))
        return (center + spread * sizes[:, None] * directions * data.draw(st.sampled_from([0.0, 1.0]))).astype(dtype)

    X1, X2 = cluster(data.draw(st.integers(1, 3))), cluster(data.draw(st.integers(1, 3)))
    X2 = np.concatenate([X2, X1[:1]])  # a point of X1 again: distance 0
    kernel = (RBFKernel if kind == "rbf" else LaplaceKernel)(gamma=gamma)
    bound = 16 * (d + 2) * np.finfo(dtype).eps
    for A, B, K in ((X1, X2, kernel(X1, X2, backend=backend)), (X1, X1, kernel(X1, backend=backend))):
        assert not np.isnan(K).any()
        error = np.abs(wide(K) - distance_reference(A, B, dtype(gamma), kind))
        assert (error <= bound).all(), f"{K} (error {error}, bound {bound})"
    np.testing.assert_array_equal(kernel.diag(X1, backend=backend), 1.0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_reported_examples_of_classic_kernels(backend, dtype):
    """The report's examples: orthogonal points of size 1e155 (1e20 in float32) give x.z = 0
    and (x.z + 1)^3 = 1, not +-inf; RBF(0.5) between (1e8, 0) and (1e8, 1) is e^-0.5."""
    size = 1e155 if dtype == np.float64 else 1e20
    P = np.array([[size, size], [size, -size]], dtype=dtype)
    for K in (LinearKernel()(P, backend=backend), LinearKernel()(P, P.copy(), backend=backend)):
        assert K[0, 1] == K[1, 0] == 0.0
    assert PolynomialKernel()(P, backend=backend)[0, 1] == 1.0
    near = np.array([[1e8, 0.0], [1e8, 1.0]], dtype=dtype)
    for K in (RBFKernel(gamma=0.5)(near, backend=backend), RBFKernel(gamma=0.5)(near[:1], near[1:], backend=backend)):
        np.testing.assert_allclose(K[0, -1], np.exp(-0.5), rtol=8 * np.finfo(dtype).eps)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind, gamma", [("rbf", 3e-308), ("laplace", 1e-154)])
def test_squared_distance_beyond_float64_with_finite_norms(backend, kind, gamma):
    """x = (8e153, 0) and z = -x: |x|^2 + |z|^2 = 1.3e308 is finite but |x - z|^2 = 2.6e308 is
    not; with a gamma that small the kernel is not small (0.46, 0.20), and it must not come
    out as exp(-inf) = 0."""
    X = np.array([[8e153, 0.0], [-8e153, 0.0]])
    kernel = (RBFKernel if kind == "rbf" else LaplaceKernel)(gamma=gamma)
    exact = distance_reference(X, X, gamma, kind)
    for K in (kernel(X, backend=backend), kernel(X[:1], X[1:], backend=backend)):
        error = np.abs(wide(K) - exact[:K.shape[0], -K.shape[1]:])
        assert (error <= 16 * 4 * np.finfo(np.float64).eps).all(), K
