"""Shared fixtures and helpers: tolerances by dtype, random data, small networks, and the
activation / parametrization / dtype axes most tests are parametrized over."""

import json
import os
import subprocess
import sys
import textwrap

# scikit-learn's estimator checks try array-API inputs only where scipy runs in that mode,
# which it reads from SCIPY_ARRAY_API when first imported: set before anything imports it, so
# that no check of the estimators is skipped.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import widenet  # noqa: E402
from widenet.reference import deep as reference_deep  # noqa: E402

ACTIVATIONS = widenet.ACTIVATIONS
PARAMETRIZATIONS = ("lecun", "ntk")
DTYPES = (np.float64, np.float32)
LOSSES = {"sum": lambda m: 1.0, "mean": lambda m: 1.0 / m, "half_sum": lambda m: 0.5}

# Nonzero bias variances everywhere, so the b and c code paths are never trivially zero.
BIAS_VAR, OUTPUT_BIAS_VAR = 0.5, 0.3


def rtol_for(dtype, size=1):
    """Relative tolerance for two computations of one quantity in ``dtype``.

    float64: 1e-12, widened linearly once a result sums more than ~100 terms (``size``);
    float32: 1e-4, widened once it sums more than ~1000.
    """
    if np.dtype(dtype) == np.float64:
        return 1e-12 * max(1.0, size / 100)
    return 1e-4 * max(1.0, size / 1000)


def assert_close(actual, expected, dtype, size=1, scale=None, err_msg=""):
    """``actual`` equals ``expected`` to the rounding of ``dtype``.

    ``atol`` is set on purpose: entries that can be zero (or that cancel) are compared
    with ``rtol * scale``, where ``scale`` is the typical magnitude of the terms; by
    default the largest entry of ``expected`` (at least 1e-300 so it is never zero).
    """
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"shape {actual.shape} != {expected.shape} {err_msg}"
    rtol = rtol_for(dtype, size)
    if scale is None:
        scale = float(np.max(np.abs(expected), initial=0.0))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * max(scale, 1e-300), err_msg=err_msg)


def random_data(seed, m, d, dtype=np.float64, m_test=4):
    """Inputs ``X`` (m, d), targets ``y`` (m,) and test inputs ``X_test`` (m_test, d)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, d))
    y = np.sin(X.sum(axis=1)) + 0.1 * rng.standard_normal(m)
    X_test = rng.standard_normal((m_test, d))
    return X.astype(dtype), y.astype(dtype), X_test.astype(dtype)


def make_network(d, n, activation="tanh", parametrization="lecun", dtype=np.float64, seed=0, **kwargs):
    """A ShallowNetwork with nonzero bias variances unless told otherwise."""
    kwargs.setdefault("bias_var", BIAS_VAR)
    kwargs.setdefault("output_bias_var", OUTPUT_BIAS_VAR)
    return widenet.ShallowNetwork(d, n, activation, parametrization, seed=seed, dtype=dtype, **kwargs)


def make_deep(widths, d, activation, *, bias=True, scales="ntk", seed=0, dtype=np.float64):
    """A deep network with random weights; ``scales`` "lecun", "ntk" or "random" (multipliers)."""
    rng = np.random.default_rng(seed)
    fan_in = [d] + list(widths)
    shapes = list(zip(widths, fan_in[:-1])) + [(widths[-1],)]
    layers = []
    for shape in shapes:
        W = rng.standard_normal(shape).astype(dtype)
        b = rng.standard_normal(shape[0] if len(shape) == 2 else ()).astype(dtype) if bias else None
        layers.append((W, b))
    if scales == "lecun":
        pairs = [(1.0, 1.0)] * len(layers)
    elif scales == "ntk":
        pairs = [(n ** -0.5, 1.0) for n in fan_in]
    else:
        pairs = [(rng.uniform(0.5, 2) * n ** -0.5, rng.uniform(0.1, 1)) for n in fan_in]
    return reference_deep.DeepNetwork(layers, activation, pairs)


def core_network(U, b, v, c, activation="tanh", parametrization="lecun"):
    """The network object the kernels of both backends take, from its arrays (the compiled
    ``Network``: the reference twins take any object with its attributes)."""
    return widenet._core.Network(U, b, v, c, activation, parametrization)


def options(lr, steps, record_every=1, loss_scale=1.0, divergence_factor=widenet.DIVERGENCE_FACTOR):
    """The options of a gradient-descent run, for either backend."""
    return widenet._core.TrainingOptions(lr, steps, record_every, loss_scale, divergence_factor)


def layers(U, b, v, c):
    """Parameter blocks in the layout of ``Network.layers`` (directions, gradients)."""
    return (U, b), (v, c)


def flat(blocks):
    """Parameter blocks (``((U, b), (v, c))`` or ``(U, b, v, c)``) as one vector ``w``."""
    if len(blocks) == 2:
        (U, b), (v, c) = blocks
        blocks = (U, b, v, c)
    return np.concatenate([np.ravel(block) for block in blocks])


def stable_lr(net, X, loss_scale, fraction=0.2):
    """``fraction`` of the largest step for which linearized GD on ``loss_scale * |r|^2``
    is stable, ``1 / (loss_scale * lambda_max(J J^T))``, from the numpy reference Gram."""
    K = net.ntk(np.asarray(X, dtype=np.float64), backend="numpy")
    return fraction / (loss_scale * float(np.linalg.eigvalsh(K.astype(np.float64))[-1]))


def snapshot(*arrays):
    """Copies, to check later that the originals were not modified."""
    return [np.array(a, copy=True) for a in arrays]


@pytest.fixture(params=ACTIVATIONS)
def activation(request):
    return request.param


@pytest.fixture(params=PARAMETRIZATIONS)
def parametrization(request):
    return request.param


@pytest.fixture(params=DTYPES, ids=lambda t: np.dtype(t).name)
def dtype(request):
    return request.param


@pytest.fixture
def make_data():
    """Factory fixture: ``make_data(seed, m, d, dtype)`` -> ``(X, y, X_test)``."""
    return random_data


@pytest.fixture
def restore_threads():
    """Restores widenet's thread count (and so its BLAS's) after the test."""
    before = widenet.get_num_threads()
    yield before
    widenet.set_num_threads(before)
    assert widenet.get_num_threads() == before


class _QuickResults(dict):
    """Experiments of ``widenet reproduce``, each run once in quick mode (seed 0) on first use."""

    def __missing__(self, name):
        from widenet.app.experiments import EXPERIMENTS

        self[name] = EXPERIMENTS[name].run(quick=True, seed=0)
        return self[name]


@pytest.fixture(scope="session")
def quick_results():
    """``quick_results[name]``: the quick result of experiment ``name``, shared by the test files."""
    return _QuickResults()


def pytest_report_header(config):
    info = widenet.build_info()
    return (f"widenet {info['version']}: Eigen {info['eigen']}, SIMD {info['simd']}, "
            f"threads {info['threads']}, BLAS threads {info['blas_threads']}, openmp {info.get('openmp')}")



def sklearn_estimator_checks(estimators):
    """A decorator: scikit-learn's ``parametrize_with_checks`` over ``estimators``, or a skip
    without scikit-learn >= 1.6 (estimator tags)."""
    def decorate(test):
        try:
            import sklearn
            from sklearn.utils.estimator_checks import parametrize_with_checks
        except ImportError:
            return pytest.mark.skip(reason="scikit-learn is not installed")(test)
        if tuple(int(part) for part in sklearn.__version__.split(".")[:2]) < (1, 6):
            return pytest.mark.skip(reason=f"scikit-learn {sklearn.__version__} predates estimator tags")(test)
        checked = parametrize_with_checks(estimators)(test)
        # scikit-learn's checks fit interpolating kernels on random data whose Gram matrices are
        # ill-conditioned; the ConditioningWarning that says so is right, and not what they test.
        return pytest.mark.filterwarnings("ignore::widenet.ConditioningWarning")(checked)

    return decorate


# Hypothesis profiles for the property-based tests (tests/test_properties.py), chosen with
# HYPOTHESIS_PROFILE: "ci" (the default; derandomized, so a run is reproducible, and sized
# to take well under a minute on two busy cores) or "thorough" (ten times the examples,
# random, with the example database, for a local hunt).
try:
    from hypothesis import settings as _hypothesis_settings
except ImportError:  # hypothesis comes with the test extra; without it test_properties.py skips
    pass
else:
    import os as _os

    _hypothesis_settings.register_profile("ci", max_examples=80, deadline=None, derandomize=True,
                                          database=None, print_blob=True)
    _hypothesis_settings.register_profile("thorough", max_examples=800, deadline=None, print_blob=True)
    _hypothesis_settings.load_profile(_os.environ.get("HYPOTHESIS_PROFILE", "ci"))


class _RecordingProgressBar:
    """Stands in for ``tqdm.auto.tqdm``: records its total, its updates and whether it closed."""

    def __init__(self, instances: list, iterable=None, *, total=None, desc=None, unit=None):
        self.total, self.count, self.closed = total, 0, False
        instances.append(self)

    def update(self, count):
        self.count += count

    def close(self):
        self.closed = True


@pytest.fixture
def progress_bars(monkeypatch):
    """A fake tqdm installed for the test; the list of the bars it made."""
    import functools
    import types

    instances = []
    auto = types.SimpleNamespace(tqdm=functools.partial(_RecordingProgressBar, instances))
    monkeypatch.setitem(sys.modules, "tqdm", types.SimpleNamespace(auto=auto, tqdm=auto.tqdm))
    monkeypatch.setitem(sys.modules, "tqdm.auto", auto)
    return instances



@pytest.fixture
def default_memory_limit(monkeypatch):
    """The test starts from widenet's default memory limit (no explicit limit, no environment
    variable) and leaves it there."""
    from widenet import _memory

    monkeypatch.delenv(_memory.ENVIRONMENT_VARIABLE, raising=False)
    _memory.set_memory_limit(None)
    yield
    _memory.set_memory_limit(None)


# Runs `call` (after `setup`, and a small `warm` call) in a child and reports the guard's
# estimate for it and the peak resident memory it adds.
_PEAK_CHILD = textwrap.dedent(r"""
    import json, sys
    import numpy as np
    import widenet
    from widenet import _memory

    def resident():
        with open("/proc/self/status") as file:
            fields = dict(line.split(":", 1) for line in file)
        return int(fields["VmRSS"].split()[0]) * 1024, int(fields["VmHWM"].split()[0]) * 1024

    namespace = {"np": np, "widenet": widenet, "rng": np.random.default_rng(0)}
    setup, call, warm = sys.argv[1:]
    exec(setup, namespace)
    call, warm = (eval("lambda: " + text, namespace) for text in (call, warm))
    warm()
    try:
        where, estimate = _memory.estimate(call)
    except (LookupError, AttributeError):  # no guard on the way (or no estimate to read)
        where, estimate = None, None
    try:  # resets the peak to the current resident size
        with open("/proc/self/clear_refs", "w") as file:
            file.write("5")
        reset = True
    except OSError:
        reset = False
    before, peak_before = resident()
    try:
        result = call()
    except Exception as error:  # the measurement is the memory, whatever the call ends with
        result = error
    _, peak = resident()
    print(json.dumps({"where": where, "estimate": estimate, "added": peak - before, "reset": reset,
                      "grew": peak > peak_before, "ended": type(result).__name__}))
""")


def peak_in_child(setup: str, call: str, warm: str) -> dict:
    """The peak resident memory ``call`` adds (``added``) and the guard's estimate of it, in a
    fresh process; a call that raises is measured too (``ended`` names what it returned).

    The child fixes glibc's mmap threshold (MALLOC_MMAP_THRESHOLD_), so that every array above
    128 kB is returned to the system when freed: the peak then measures the arrays the call
    holds at once, not the allocator keeping freed blocks. ``warm`` (a small call) first
    allocates what is made once per process (BLAS buffers, thread pools). When the peak
    cannot be reset, ``added`` is only meaningful if ``grew``."""
    if not sys.platform.startswith("linux"):
        pytest.skip("reads /proc/self/status")
    environment = dict(os.environ, MALLOC_MMAP_THRESHOLD_="131072")
    run = subprocess.run([sys.executable, "-c", _PEAK_CHILD, setup, call, warm], capture_output=True, text=True,
                         env=environment, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    found = json.loads(run.stdout.strip().splitlines()[-1])
    if not (found["reset"] or found["grew"]):
        pytest.skip("the peak cannot be reset here and the call stayed below the setup's peak")
    return found
