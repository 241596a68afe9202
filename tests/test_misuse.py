"""Misuse that used to pass silently: parameters spoiled in place, and user scalars that
round to 0 or inf in the compute dtype (a float32 step of 1e-46, a gamma of 1e-50)."""

import copy
import pickle

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import widenet  # noqa: E402
from widenet import reference  # noqa: E402

from conftest import DTYPES, make_network, random_data  # noqa: E402

PROPERTY = settings(deadline=None)
BACKENDS = ("cpp", "numpy")


def in_place_writes(array):
    """Ways of writing into an array obtained from a network, each a callable."""
    index = (0,) * array.ndim
    yield lambda: array.__setitem__(index, np.nan)
    yield lambda: array.__iadd__(1.0)
    yield lambda: np.copyto(array, np.inf)
    yield lambda: array.setflags(write=True)
    yield lambda: array.base.setflags(write=True)


@pytest.mark.parametrize("dtype", DTYPES)
def test_parameter_arrays_are_read_only(dtype):
    """``net.params.U[0, 0] = nan`` used to work, and forward, ntk and loss then returned NaN,
    loss_grad blamed X and train reported a divergence at step 0. Every array a network hands
    out is read-only, also through its base, and the network computes as before."""
    net = make_network(3, 4, "tanh", dtype=dtype, seed=1)
    X, y, _ = random_data(1, 5, 3, dtype)
    before = net.forward(X), net.ntk(X), net.loss(X, y)
    params = net.params
    for array in (params.U, params.b, params.v, *params.arrays()[:3], net.initial_params.U):
        for write in in_place_writes(array):
            with pytest.raises(ValueError):
                write()
    after = net.forward(X), net.ntk(X), net.loss(X, y)
    for b, a in zip(before, after):
        np.testing.assert_array_equal(a, b)
    net.train(X, y, 0.01, 2)  # and it still trains
    assert np.isfinite(net.params.to_vector()).all()


@pytest.mark.parametrize("field, shape", [("U", (4, 3)), ("b", (4,)), ("v", (4,)), ("c", ())])
def test_setting_a_field_checks_it_by_name(field, shape):
    """Setting a field goes through its setter: NaN and Inf are refused naming the field,
    a valid value is taken (a copy) and used by the next computation."""
    net = make_network(3, 4, "tanh", seed=2)
    X, _, _ = random_data(2, 5, 3)
    for bad in (np.nan, np.inf, -np.inf):
        with pytest.raises(ValueError, match=f"^{field}: contains NaN or Inf" if shape else f"^{field}: expected a "
                                                                                          f"finite number"):
            setattr(net.params, field, np.full(shape, bad))
    value = np.random.default_rng(0).standard_normal(shape)
    setattr(net.params, field, value)
    value_before = np.array(value)
    if shape:
        value[...] = np.nan  # the caller's array does not leak in
    U, b, v, c = net.params.arrays()
    np.testing.assert_array_equal(getattr(net.params, field), value_before)
    np.testing.assert_allclose(net.forward(X), reference.forward(reference.Network(U, b, v, c, "tanh", "lecun"), X),
                               rtol=1e-13)


def test_copies_and_pickles_of_parameters_stay_read_only():
    params = make_network(2, 3, seed=3).params
    for clone in (copy.copy(params), copy.deepcopy(params), pickle.loads(pickle.dumps(params)), params.copy()):
        np.testing.assert_array_equal(clone.to_vector(), params.to_vector())
        for array in clone.arrays()[:3]:
            with pytest.raises(ValueError):
                array[0] = np.nan


@PROPERTY
@given(exponent=st.floats(-60, -38.1), backend=st.sampled_from(BACKENDS))
def test_a_step_below_float32_is_refused_by_name(exponent, backend):
    """lr = 1e-46 on a float32 network was 0 in float32, and training silently did nothing:
    every lr below float32's smallest normal number (or above its largest) raises ValueError
    naming lr, before anything changes."""
    net = make_network(2, 3, "tanh", dtype=np.float32, seed=4)
    X, y, _ = random_data(4, 6, 2, np.float32)
    start = net.params.to_vector()
    for lr in (10.0 ** exponent, 10.0 ** (1 - exponent)):
        with pytest.raises(ValueError, match=r"^lr: .*float32"):
            net.train(X, y, lr, 3, backend=backend)
    np.testing.assert_array_equal(net.params.to_vector(), start)
    net.train(X, y, 1e-3, 3, backend=backend)  # a step float32 holds is taken
    assert not np.array_equal(net.params.to_vector(), start)


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_ensemble_step_below_float32_is_refused_by_name(backend):
    """The ensemble's run takes its step in float32 as one network's does: the same refusal,
    the members unchanged."""
    ensemble = widenet.ShallowEnsemble(3, 2, 3, activation="tanh", dtype=np.float32, seed=4)
    X, y, _ = random_data(4, 6, 2, np.float32)
    start = [ensemble.member(r).params.to_vector() for r in range(ensemble.size)]
    with pytest.raises(ValueError, match=r"^lr: .*float32"):
        ensemble.train(X, y, 1e-46, 3, backend=backend)
    for r, before in enumerate(start):
        np.testing.assert_array_equal(ensemble.member(r).params.to_vector(), before)
    ensemble.train(X, y, 1e-3, 3, backend=backend)
    assert not np.array_equal(ensemble.member(0).params.to_vector(), start[0])


@pytest.mark.parametrize("method", ["closed_form", "iterate"])
def test_a_linearized_step_below_the_dtype_is_refused_by_name(method):
    model = widenet.linearize(make_network(2, 3, "tanh", dtype=np.float32, seed=5))
    X, y, _ = random_data(5, 6, 2, np.float32)
    with pytest.raises(ValueError, match=r"^lr: .*float32"):
        model.train(X, y, 1e-46, 3, method=method)
    widenet.linearize(make_network(2, 3, "tanh", seed=5)).train(X.astype(np.float64), y, 1e-300, 3, method=method)


@PROPERTY
@given(name=st.sampled_from(["weight_var", "bias_var", "output_var", "output_bias_var"]),
       exponent=st.floats(-320, -80), parametrization=st.sampled_from(["lecun", "ntk"]))
def test_initial_variances_that_underflow_float32_are_refused_by_name(name, exponent, parametrization):
    """A variance whose draws are 0 in float32 gave a network of zeros; now it is refused
    naming the variance. The same variance in float64 (where it is representable) works."""
    with pytest.raises(ValueError, match=f"^{name}: .*underflow float32"):
        widenet.ShallowNetwork(3, 5, "tanh", parametrization, seed=6, dtype=np.float32, **{name: 10.0 ** exponent})
    if exponent > -300:
        net = widenet.ShallowNetwork(3, 5, "tanh", parametrization, seed=6, **{name: 10.0 ** exponent})
        assert np.isfinite(net.params.to_vector()).all()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kernel", [widenet.RBFKernel(gamma=1e-50), widenet.LaplaceKernel(gamma=1e-50),
                                    widenet.PolynomialKernel(gamma=1e-50), widenet.RBFKernel(gamma=1e50),
                                    widenet.PolynomialKernel(coef0=1e50)])
def test_kernel_parameters_beyond_float32_are_refused_by_name(kernel, backend):
    """gamma = 1e-50 is 0 in float32 (an RBF Gram of ones); such hyper-parameters are refused
    for float32 inputs, naming them, and work for float64 inputs."""
    X = np.random.default_rng(7).standard_normal((4, 2))
    name = "coef0" if kernel.coef0 == 1e50 else "gamma"
    for call in (lambda: kernel(X.astype(np.float32), backend=backend),
                 lambda: kernel(X.astype(np.float32), X[:2].astype(np.float32), backend=backend),
                 lambda: kernel.diag(X.astype(np.float32), backend=backend)):
        with pytest.raises(ValueError, match=f"^{name}: .*float32"):
            call()
    assert np.isfinite(kernel(X, backend=backend)).all()


def test_the_compiled_kernels_check_their_dtype_too():
    from widenet._native import _core

    X = np.ones((3, 2), dtype=np.float32)
    with pytest.raises(ValueError, match="^gamma: .*float32"):
        _core.kernel_gram(X, None, "rbf", 1e-50, 3, 1.0)
    with pytest.raises(ValueError, match="^coef0: .*float32"):
        _core.kernel_diag(X, "polynomial", 1.0, 3, 1e50)
