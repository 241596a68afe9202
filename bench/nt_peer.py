"""neural-tangents as a peer: the harness's side of ``nt_runner.py``.

A case's neural-tangents row describes its network as a stax problem (:class:`Problem`,
see ``nt_runner.py``); the problem runs in this process when ``neural_tangents`` imports
here, else in one worker process started with the Python named by ``WIDENET_NT_PYTHON``
(kept for the whole run; each case loads its problem into it). The worker compiles
untimed; a timed call includes passing the ``m x m`` answer back through a ``.npy`` file
(about 1% of the call at the full sizes). With ``--isolate``, the row's peak RSS is the
harness process's plus the worker's (each row then has a worker of its own).
"""

from __future__ import annotations

import atexit
import importlib.util
import json
import math
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

import harness
from harness import Skip

HERE = Path(__file__).resolve().parent
NT_PYTHON = "WIDENET_NT_PYTHON"


@dataclass
class Problem:
    """A network in stax form at the points ``X`` (nt_runner.save's arguments)."""

    X: np.ndarray
    stds: list  # (W_std, b_std or nan) per layer, the readout last
    widths: tuple
    activation: str
    layers: Optional[list] = None  # widenet's [(W^1, b^1), ..., (v, c)], for empirical kernels
    prediction: Optional[dict] = None  # y, X_test, t, lr, diag_reg, get: for nt_runner.PREDICT


def network_problem(X, layers, scales, activation: str) -> Problem:
    """The stax form of a widenet network with layers ``(W^l, b^l)`` and scales ``(m_l, beta_l)``:
    ``W_std = m_l sqrt(n_(l-1))``, ``b_std = beta_l`` (nan without a bias)."""
    fans = [np.shape(W)[-1] for W, _ in layers]
    stds = [(m * math.sqrt(fan), math.nan if b is None else beta)
            for (_, b), (m, beta), fan in zip(layers, scales, fans)]
    return Problem(X, stds, tuple(np.shape(W)[0] for W, _ in layers[:-1]), activation, list(layers))


def limit_problem(X, activation: str, depth: int, variances, bias: bool) -> Problem:
    """The infinite-width network of ``limit_kernel(..., multipliers=True, parametrization="ntk")``."""
    weight_var, bias_var, output_var, output_bias_var = variances
    hidden = (math.sqrt(weight_var), math.sqrt(bias_var) if bias else math.nan)
    readout = (math.sqrt(output_var), math.sqrt(output_bias_var) if bias else math.nan)
    return Problem(X, [hidden] * depth + [readout], (1,) * depth, activation)


class _InProcess:
    """neural-tangents imported into the harness's own process."""

    def __init__(self):
        try:
            import neural_tangents  # noqa: F401
        except Exception as error:  # noqa: BLE001 -- e.g. a JAX too new for it
            raise Skip(f"neural_tangents does not import here ({_versions_here()}): {short(error)}; "
                       f"see {NT_PYTHON} in bench/peers.py") from None
        self.network = None

    def load(self, problem: Problem):
        import nt_runner

        self.network = nt_runner.StaxNetwork(problem.X, problem.stds, problem.widths, problem.activation,
                                             None if problem.layers is None else _stax_layers(problem.layers),
                                             problem.prediction)

    def setup(self, implementation):
        try:
            self.network.setup(implementation)
        except Exception as error:  # noqa: BLE001 -- this neural-tangents cannot do it here
            raise Skip(f"{implementation} fails with {_versions_here()}: {short(error)}") from None

    def run(self, implementation):
        return self.network(implementation)

    def peak_mb(self) -> float:
        return 0.0  # counted in the harness process's own

    def close(self):
        pass


def _stax_layers(layers) -> list:
    return [(np.ascontiguousarray(np.reshape(W, (1, -1)).T if np.ndim(W) == 1 else np.transpose(W)),
             None if b is None else np.reshape(b, (-1,))) for W, b in layers]


class _Worker:
    """neural-tangents in a worker process started with ``WIDENET_NT_PYTHON`` (nt_runner.py)."""

    def __init__(self, python: str):
        self.scratch = tempfile.mkdtemp(prefix="widenet-nt-")
        self.log = open(os.path.join(self.scratch, "worker.log"), "w")
        self.peak = 0.0
        try:
            self.process = subprocess.Popen([python, str(HERE / "nt_runner.py")], stdin=subprocess.PIPE,
                                            stdout=subprocess.PIPE, stderr=self.log, text=True)
        except OSError as error:
            self.close()
            raise Skip(f"{NT_PYTHON}={python} does not start: {error}") from None
        hello = self._receive()
        if not hello.get("ok"):
            self.close()
            raise Skip(f"{hello['skip']} ({describe_versions(hello.get('versions', {}))})")
        self.versions = describe_versions(hello["versions"])
        self.skips: dict = {}

    def _receive(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            status = self.process.wait()
            self.log.flush()
            with open(self.log.name) as log:
                tail = " | ".join(log.read().strip().splitlines()[-3:])
            raise RuntimeError(f"neural-tangents worker exited with status {status}: {tail[-400:]}")
        answer = json.loads(line)
        self.peak = max(self.peak, answer.get("peak_mb", 0.0))
        return answer

    def _request(self, **message) -> dict:
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()
        return self._receive()

    def load(self, problem: Problem):
        import nt_runner

        inputs = os.path.join(self.scratch, "inputs.npz")
        nt_runner.save(inputs, problem.X, problem.stds, problem.widths, problem.activation, problem.layers,
                       problem.prediction)
        answer = self._request(op="load", inputs=inputs)
        self.skips = {}
        if not answer.get("ok"):
            raise Skip(f"{answer['skip']} ({self.versions})")

    def setup(self, implementation):
        if implementation not in self.skips:
            answer = self._request(op="setup", implementation=implementation)
            self.skips[implementation] = None if answer.get("ok") else answer["skip"]
        if self.skips[implementation]:
            raise Skip(f"{implementation} fails with {self.versions}: {self.skips[implementation]}")

    def run(self, implementation):
        path = os.path.join(self.scratch, "answer.npy")
        answer = self._request(op="run", implementation=implementation, answer=path)
        if not answer.get("ok"):
            raise RuntimeError(answer["error"])
        return np.load(path)

    def peak_mb(self) -> float:
        return self.peak

    def close(self):
        process = getattr(self, "process", None)
        if process is not None and process.poll() is None:
            process.stdin.close()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.log.close()
        shutil.rmtree(self.scratch, ignore_errors=True)


def short(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text[:300]}{'...' if len(text) > 300 else ''}"


def _versions_here() -> str:
    import nt_runner

    versions = nt_runner.versions()
    return describe_versions({name: versions[name] for name in ("neural-tangents", "jax", "tf2jax")})


def describe_versions(versions: dict) -> str:
    return ", ".join(f"{name} {version}" for name, version in versions.items() if version and name != "python")


# One neural-tangents session for the run, with one problem loaded at a time: the
# compilations of a problem are reused by the timed calls of a row and by the other nt
# rows of the case.
_SESSION: dict = {}


def session(key, problem) -> object:
    """The session with the problem of case problem ``key`` loaded (``problem()`` makes it)."""
    current = _SESSION.get("session")
    if current is None:
        python = os.environ.get(NT_PYTHON)
        if python:
            current = _Worker(python)
        elif importlib.util.find_spec("neural_tangents") is not None:
            current = _InProcess()
        else:
            raise Skip(f"neural_tangents not installed here; set {NT_PYTHON} to a Python with neural-tangents "
                       f"0.6.5, jax 0.4.25 and numpy < 2 (see bench/peers.py)")
        _SESSION["session"] = current
    if _SESSION.get("key") is not key:
        _SESSION.pop("key", None)
        current.load(problem())
        _SESSION["key"] = key
    return current


def run_row(key, problem, implementation: str):
    """A row's timed call: ``implementation`` of the problem, compiled untimed first."""
    current = session(key, problem)
    current.setup(implementation)
    return lambda: current.run(implementation)


@atexit.register
def close_session():
    current = _SESSION.pop("session", None)
    _SESSION.pop("key", None)
    if current is not None:
        current.close()


def _worker_peak() -> float:
    current = _SESSION.get("session")
    return 0.0 if current is None else current.peak_mb()


def _nt_worker_versions() -> dict:
    """What the neural-tangents worker runs on, for the results' header."""
    python = os.environ.get(NT_PYTHON)
    if not python:
        return {}
    try:
        found = json.loads(subprocess.run([python, str(HERE / "nt_runner.py"), "--versions"], capture_output=True,
                                          text=True, timeout=120).stdout)
        return {f"neural-tangents worker ({NT_PYTHON})": describe_versions(found)}
    except (OSError, ValueError, subprocess.SubprocessError) as error:
        return {f"neural-tangents worker ({NT_PYTHON})": f"unavailable: {error}"}


harness.VERSION_PROBES.append(_nt_worker_versions)
harness.RSS_PROBES.append(_worker_peak)
