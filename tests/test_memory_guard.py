"""The memory guard: calls whose arrays would exceed widenet's memory limit raise
MemoryLimitError (a ValueError and a MemoryError) before allocating anything, with a
message naming the size, the shape, the limit and the chunked alternative; the limit comes
from set_memory_limit, the WIDENET_MEMORY_LIMIT environment variable or half the memory."""

import math
import os
import re
import time
import tracemalloc

import numpy as np
import pytest

import widenet
from widenet import Parameters, ShallowEnsemble, ShallowNetwork, _memory
from widenet._memory import MemoryLimitError

from conftest import make_network, random_data


pytestmark = pytest.mark.usefixtures("default_memory_limit")


def resident_bytes() -> int:
    """The resident set size of this process, now."""
    try:
        with open("/proc/self/statm") as file:
            return int(file.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        pytest.skip("/proc/self/statm is not available on this system")


def zero_stride_network(input_dim, width, dtype=np.float32) -> ShallowNetwork:
    """A network of the given size whose parameters are zero-stride views of one number.

    A network of 10^8 parameters would take the test itself 400 MB and seconds to draw;
    the guard needs only the shapes, so the call under test must refuse before it reads a
    single parameter. (White-box: the parameters are set past Parameters' copying setters.)
    """
    params = Parameters.__new__(Parameters)
    params._dtype = np.dtype(dtype)
    params._U = np.broadcast_to(np.zeros((), dtype), (width, input_dim))
    params._b = params._v = np.broadcast_to(np.zeros((), dtype), (width,))
    params._c = 0.0
    network = ShallowNetwork.__new__(ShallowNetwork)
    network._configure(input_dim, width, "tanh", "lecun", 1.0, 0.0, 1.0, 0.0, "normal", dtype)
    network._params = network._initial = params
    return network


# --- the Jacobian of 10^5 points and 10^8 parameters -------------------------------------------


def test_full_jacobian_of_1e5_by_1e8_is_refused_instantly():
    """10^5 x 10^8 float32 is 40 TB: refused in well under 0.1 s, with no growth of the
    resident memory, and (a second call, traced) no numpy allocation beyond the validated
    copy of X (400 kB)."""
    net = zero_stride_network(1, 33_333_333)
    assert net.num_params == 10**8
    X = np.linspace(-1, 1, 10**5, dtype=np.float32).reshape(-1, 1)
    before = resident_bytes()
    start = time.perf_counter()
    with pytest.raises(MemoryLimitError) as raised:
        net.jacobian(X)
    elapsed = time.perf_counter() - start
    grown = resident_bytes() - before
    assert elapsed < 0.1, f"{elapsed:.3f} s"
    assert grown < 16 * 2**20, f"resident memory grew by {grown} bytes"
    tracemalloc.start()
    with pytest.raises(MemoryLimitError):
        net.jacobian(X)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 2 * X.nbytes, f"numpy allocated {peak} bytes"
    message = str(raised.value)
    assert isinstance(raised.value, ValueError) and isinstance(raised.value, MemoryError)
    # the Jacobian and the m x n hidden layer (activations and derivatives) it is made from
    for part in ("ShallowNetwork.jacobian", "would allocate 66.7 TB", "Jacobian (100000, 100000000) float32 = 40.0 TB",
                 "hidden layer (100000, 33333333) float32 x2 = 26.7 TB",
                 "memory limit of", "jacobian_chunks(X, rows=", "ntk(X1, X2)", "set_memory_limit",
                 "WIDENET_MEMORY_LIMIT", "Nothing was allocated"):
        assert part in message, (part, message)


def test_jacobian_of_a_real_network_is_refused_and_the_suggested_chunks_fit():
    """A real network of 10^6 parameters on 10^5 points (an 800 GB Jacobian): refused
    fast; ``jacobian_chunks`` with the ``rows`` the message suggests passes the guard."""
    net = ShallowNetwork(1, 333_333, "tanh", seed=0)
    assert net.num_params == 10**6
    X = np.linspace(-1, 1, 10**5).reshape(-1, 1)
    before = resident_bytes()
    start = time.perf_counter()
    expected = r"would allocate 1\.3 TB \(Jacobian \(100000, 1000000\) float64 = 800\.0 GB"
    with pytest.raises(MemoryLimitError, match=expected) as raised:
        net.jacobian(X)
    assert time.perf_counter() - start < 0.1
    assert resident_bytes() - before < 16 * 2**20
    rows = int(re.search(r"rows=(\d+)", str(raised.value)).group(1))
    assert 1 <= rows < 10**5
    rows_bytes = (net.num_params + 2 * net.width) * 8
    assert rows * rows_bytes <= widenet._memory.get_memory_limit()
    net.jacobian_chunks(X, rows=rows)  # checked when called, computed lazily: passes the guard
    with pytest.raises(MemoryLimitError, match="ShallowNetwork.jacobian_chunks"):
        net.jacobian_chunks(X, rows=10**5)


# --- configuring the limit ----------------------------------------------------------------------


def test_lowered_limit_refuses_a_small_call_and_the_restored_limit_allows_it():
    net = make_network(3, 50, seed=1)
    X, _, _ = random_data(2, 10, 3)
    expected = net.jacobian(X)  # 10 x 251 float64: 20 kB
    _memory.set_memory_limit(10_000)
    assert _memory.get_memory_limit() == 10_000
    with pytest.raises(MemoryLimitError, match=r"would allocate 28\.1 kB .*memory limit of 10\.0 kB "
                                               r"\(set by widenet.set_memory_limit\)"):
        net.jacobian(X)
    _memory.set_memory_limit(None)
    np.testing.assert_array_equal(net.jacobian(X), expected)


def test_default_limit_is_half_the_physical_memory():
    total = _memory.physical_memory()
    assert 2**26 <= total < 2**52  # between 64 MB and 4 PB: something was read
    if hasattr(os, "sysconf"):
        assert total <= os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert _memory.get_memory_limit() == int(0.5 * total)


@pytest.mark.parametrize("text, expected", [
    ("123456", 123456), ("2GB", 2 * 10**9), ("2 gb", 2 * 10**9), ("1.5GiB", int(1.5 * 2**30)), ("750MB", 75 * 10**7),
    ("64KiB", 2**16), ("1e9", 10**9), ("3TB", 3 * 10**12),
])
def test_environment_variable(monkeypatch, text, expected):
    monkeypatch.setenv("WIDENET_MEMORY_LIMIT", text)
    assert _memory.get_memory_limit() == expected
    _memory.set_memory_limit(1000)  # set_memory_limit takes precedence
    assert _memory.get_memory_limit() == 1000
    _memory.set_memory_limit(None)
    assert _memory.get_memory_limit() == expected


def test_environment_variable_percentage_and_message(monkeypatch):
    monkeypatch.setenv("WIDENET_MEMORY_LIMIT", "25%")
    assert _memory.get_memory_limit() == int(_memory.physical_memory() * 0.25)
    monkeypatch.setenv("WIDENET_MEMORY_LIMIT", "1kB")
    with pytest.raises(MemoryLimitError, match="from the environment variable WIDENET_MEMORY_LIMIT"):
        widenet.RBFKernel()(np.ones((20, 2)))


@pytest.mark.parametrize("text", ["lots", "8 parsecs", "-1GB", "0", "0.1", "GB", "1e30"])
def test_bad_environment_variable_is_named(monkeypatch, text):
    monkeypatch.setenv("WIDENET_MEMORY_LIMIT", text)
    with pytest.raises(ValueError, match="WIDENET_MEMORY_LIMIT"):
        _memory.get_memory_limit()


@pytest.mark.parametrize("limit, error", [(0, ValueError), (-5, ValueError), (1.5e9, TypeError), ("1GB", TypeError),
                                          (True, TypeError)])
def test_bad_limits(limit, error):
    with pytest.raises(error, match="limit"):
        _memory.set_memory_limit(limit)
    assert _memory.get_memory_limit() == int(0.5 * _memory.physical_memory())


def test_numpy_integers_and_huge_limits_are_accepted():
    _memory.set_memory_limit(np.int64(2**40))
    assert _memory.get_memory_limit() == 2**40
    _memory.set_memory_limit(2**62)  # larger than any allocation: the guard is off
    _memory.require("test", [("block", (2**20, 2**20), np.float64, 1)], "")


@pytest.mark.parametrize("size, text", [(0, "0 B"), (999, "999 B"), (1000, "1.0 kB"), (80 * 10**9, "80.0 GB"),
                                        (4 * 10**13, "40.0 TB"), (12_345_678, "12.3 MB"), (3 * 10**18, "3000.0 PB")])
def test_format_bytes(size, text):
    assert _memory.format_bytes(size) == text


# --- every entry point ---------------------------------------------------------------------------


# built before the limit is lowered: their constructors are guarded too
ENSEMBLE = ShallowEnsemble(2, 3, 20, seed=0)
LINEAR_MODEL = widenet.linearize(make_network(3, 20, seed=3))


CALLS = {
    "ShallowNetwork.forward": lambda net, X, y: net.forward(X),
    "ShallowNetwork.forward-numpy": lambda net, X, y: net.forward(X, backend="numpy"),
    "ShallowNetwork.jacobian": lambda net, X, y: net.jacobian(X),
    "ShallowNetwork.jacobian_chunks": lambda net, X, y: net.jacobian_chunks(X, rows=5),
    "ShallowNetwork.ntk": lambda net, X, y: net.ntk(X),
    "ShallowNetwork.ntk-cross": lambda net, X, y: net.ntk(X, X[:3]),
    "ShallowNetwork.ntk-numpy": lambda net, X, y: net.ntk(X, backend="numpy"),
    "ShallowNetwork.ntk_diag": lambda net, X, y: net.ntk_diag(X),
    "ShallowNetwork.loss": lambda net, X, y: net.loss(X, y),
    "ShallowNetwork.loss_grad": lambda net, X, y: net.loss_grad(X, y),
    "ShallowNetwork.train": lambda net, X, y: net.train(X, y, 1e-3, 2, X_test=X),
    "ShallowNetwork.train-numpy": lambda net, X, y: net.train(X, y, 1e-3, 2, backend="numpy"),
    "ShallowEnsemble.forward": lambda net, X, y: ENSEMBLE.forward(X),
    "ShallowEnsemble.train": lambda net, X, y: ENSEMBLE.train(X, y, 1e-3, 2),
    "LinearizedModel.train": lambda net, X, y: LINEAR_MODEL.train(X, y, 1e-3, 5),
    "LinearizedModel.flow": lambda net, X, y: LINEAR_MODEL.flow(X, y, [0.1, 1.0]),
    "limit_kernel": lambda net, X, y: widenet.limit_kernel(X, activation="relu"),
    "limit_kernel-monte-carlo": lambda net, X, y: widenet.limit_kernel(X, activation="tanh", method="monte_carlo",
                                                                         samples=100, seed=0),
    "limit_kernel-network": lambda net, X, y: net.limit_kernel(X),
    "RBFKernel": lambda net, X, y: widenet.RBFKernel()(X),
    "PolynomialKernel": lambda net, X, y: widenet.PolynomialKernel()(X, X, backend="numpy"),
    "ShallowNetwork.ntk-tangent-kernel": lambda net, X, y: widenet.TangentKernel(net)(X),  # the network guards it
}


@pytest.mark.parametrize("name", list(CALLS))
def test_every_entry_point_is_guarded(name):
    net = make_network(3, 20, seed=2)
    X, y, _ = random_data(4, 30, 3)
    CALLS[name](net, X, y)  # allowed by the default limit
    _memory.set_memory_limit(64)
    expected = name.split("-")[0]
    with pytest.raises(MemoryLimitError, match=rf"^{re.escape(expected)}: would allocate .* memory limit of 64 B"):
        CALLS[name](net, X, y)


def test_callable_kernel_is_refused_before_the_callable_runs():
    calls = []

    def kernel(X1, X2):
        calls.append(1)
        return X1 @ X2.T

    _memory.set_memory_limit(1000)
    with pytest.raises(MemoryLimitError, match=r"^CallableKernel: .*\(40, 40\) float64"):
        widenet.CallableKernel(kernel)(np.ones((40, 2)))
    assert calls == []


def test_training_records_are_counted():
    """GD for 10^9 steps recording every step: 10^9 records of 100 test outputs (800 GB)."""
    net = make_network(3, 20, seed=5)
    X, y, X_test = random_data(6, 10, 3, m_test=100)
    with pytest.raises(MemoryLimitError, match=r"ShallowNetwork.train: would allocate 8\d\d\.\d GB .*"
                                               r"test-output records \(1, 1000000001, 100\) float64 = 800\.0 GB"
                                               r".*record_every"):
        net.train(X, y, 1e-3, 10**9, X_test=X_test)
    assert _memory.recorded_count(10**9, 1) == 10**9 + 1
    assert [_memory.recorded_count(steps, every) for steps, every in ((0, 1), (6, 3), (5, 2), (4, 10))] == [1, 3, 4, 2]


def test_ntk_message_names_tiles_and_width_chunk():
    net = make_network(2, 10, seed=6)
    _memory.set_memory_limit(10**6)
    with pytest.raises(MemoryLimitError) as raised:
        net.ntk(np.ones((1000, 2)))
    message = str(raised.value)
    # two 1000 x 1000 accumulators, a 256-row band of X1 X2^T, two 1000 x 10 width chunks
    for part in ("ShallowNetwork.ntk", "would allocate 18.2 MB", "(1000, 1000) float64 x2 = 16.0 MB",
                 "(256, 1000) float64 = 2.0 MB", "1.0 MB",
                 "tiles", "width_chunk="):
        assert part in message, (part, message)
    tile = int(re.search(r"t about (\d+)", message).group(1))
    net.ntk(np.ones((tile, 2)))  # a tile of the suggested size fits


def test_gram_message_and_size():
    _memory.set_memory_limit(10**9)
    X = np.zeros((100_000, 1))
    with pytest.raises(MemoryLimitError) as raised:
        widenet.RBFKernel()(X)
    message = str(raised.value)
    assert message.startswith("RBFKernel: would allocate 80.0 GB (Gram (100000, 100000) float64 = 80.0 GB)")
    assert "memory limit of 1.0 GB" in message and "K(X1[i:i + t], X2[j:j + t])" in message
    assert math.isqrt(int(0.25 * 10**9) // 8) == int(re.search(r"t about (\d+)", message).group(1))
