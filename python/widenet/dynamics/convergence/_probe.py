"""Measurement for :func:`check_assumptions`: gradients and secants at points of the ball around ``w0``."""

from __future__ import annotations

import math
from typing import Any, List, Optional, Tuple, Union

import numpy as np
import numpy.typing as npt

from widenet import _validation as check
from widenet.dynamics.convergence._reports import NormWitness, SecantWitness
from widenet.network._kinds import NETWORK_CLASSES, AnyNetwork

# Secants over pairs of measured points: at most this many float64 numbers are stored for them
# (pairs of random points of the ball see the average curvature, far below L: few are needed).
_PAIR_STORE = 2 ** 18

# Hessian products by secants ``w +- eps u`` with ``eps = _SECANT_FRACTION * r`` around base
# points at distance at most ``(1 - _SECANT_FRACTION) r`` from ``w0`` (so both points lie in the ball).
_SECANT_FRACTION = 1e-2

# A secant ratio is kept only when the difference of the two gradients exceeds this fraction of
# their norms: the computed ratio is then exact to about 1e-11 relative (the gradients carry a
# few ulps of rounding each). Below it, say between two points of a converged gradient-descent
# path, the "difference" is rounding and the ratio is meaningless.
_SECANT_RESOLUTION = 1e-8

# Base points of the Lanczos iterations drawn at random from the ball (beside ``w0``, the
# gradient-ascent points and the gradient-descent path).
_RANDOM_BASE_POINTS = 4

# At most this many points of the gradient-descent path are used (log-spaced in k).
_PATH_POINTS = 8


def _network(model: object, name: str = "model") -> AnyNetwork:
    if not isinstance(model, NETWORK_CLASSES):
        raise TypeError(f"{name}: expected a widenet.ShallowNetwork or widenet.Network, got {type(model).__name__}")
    check.one_output(model.outputs, "check_assumptions (and check_convergence)",
                     "Assumption 11.12 and Theorem 11.13 are stated for one output")
    return model


def _clone(model: AnyNetwork, dtype: npt.DTypeLike) -> AnyNetwork:
    """Return a network of the same configuration in ``dtype``, at (and starting from) ``model``'s w0."""
    config = {**model.config, "dtype": np.dtype(dtype).name}
    return type(model).from_parameters(config, model.initial_params, model.initial_params)


def _norm(array: np.ndarray, axis: Union[None, int, Tuple[int, ...]] = None) -> Any:
    """Euclidean norm by a pairwise sum (no BLAS call: cheap for one vector on a busy machine)."""
    return np.sqrt(np.sum(array * array, axis=axis))


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(_norm(vector))
    return vector / norm if norm > 0 else vector


class _Probe:
    """Gradients ``grad_w Phi(x_i, w)`` at parameter vectors ``w`` (float64).

    With the running maxima of the gradient norms and of the secant ratios, and their
    witnesses.
    """

    def __init__(self, network: AnyNetwork, X: np.ndarray, w0: np.ndarray):
        self.network, self.X, self.w0 = network, X, w0
        self.U = NormWitness(0, w0, -math.inf)
        self.L: Optional[SecantWitness] = None
        self.evaluated = 0
        m, P = X.shape[0], w0.size
        capacity = max(1, _PAIR_STORE // ((m + 1) * P))
        self._stored_w = np.empty((capacity, P))
        self._stored_rows = np.empty((capacity, m, P))
        self._stored_norms = np.empty((capacity, m))
        self._stored = 0

    def _set(self, w: np.ndarray) -> None:
        self.network.params = self.network.parameters_from_vector(w)

    def rows(self, w: np.ndarray) -> np.ndarray:
        """Return the m x P Jacobian at ``w``; update ``U`` and the pair secants."""
        self._set(w)
        J = self.network.jacobian(self.X)
        self.evaluated += 1
        norms = _norm(J, axis=1)
        i = int(np.argmax(norms))
        if norms[i] > self.U.value:
            self.U = NormWitness(i, w.copy(), float(norms[i]))
        self._pairs(w, J, norms)
        return J

    def row(self, w: np.ndarray, i: int) -> np.ndarray:
        self._set(w)
        self.evaluated += 1
        return self.network.jacobian(self.X[i:i + 1])[0]

    def secant(self, i: int, w_a: np.ndarray, w_b: np.ndarray, g_a: np.ndarray, g_b: np.ndarray) -> np.ndarray:
        """Record ``|g_a - g_b| / |w_a - w_b|`` and return ``g_a - g_b``."""
        difference = g_a - g_b
        distance = float(_norm(w_a - w_b))
        change = float(_norm(difference))
        if distance > 0 and change > _SECANT_RESOLUTION * float(_norm(g_a) + _norm(g_b)):
            ratio = change / distance
            if self.L is None or ratio > self.L.value:
                self.L = SecantWitness(i, w_a.copy(), w_b.copy(), ratio)
        return difference

    def _pairs(self, w: np.ndarray, J: np.ndarray, norms: np.ndarray) -> None:
        """Record the secants between ``w`` and every stored point, for every training point.

        ``w`` is stored while there is room (the first points: ``w0``, then the path).
        """
        if self._stored:
            W = self._stored_w[:self._stored]
            distances = _norm(W - w, axis=1)
            changes = _norm(self._stored_rows[:self._stored] - J, axis=2)  # (stored, m)
            resolved = changes > _SECANT_RESOLUTION * (self._stored_norms[:self._stored] + norms)
            ratios = np.divide(changes, distances[:, None], out=np.zeros_like(changes),
                               where=resolved & (distances[:, None] > 0))
            a, i = np.unravel_index(int(np.argmax(ratios)), ratios.shape)
            if self.L is None or ratios[a, i] > self.L.value:
                self.L = SecantWitness(int(i), W[a].copy(), w.copy(), float(ratios[a, i]))
        if self._stored < len(self._stored_w):
            self._stored_w[self._stored] = w
            self._stored_rows[self._stored] = J
            self._stored_norms[self._stored] = norms
            self._stored += 1

    def hessian_direction(self, w: np.ndarray, i: int, u: np.ndarray, eps: float) -> np.ndarray:
        """Return ``grad Phi(x_i, w + eps u) - grad Phi(x_i, w - eps u)`` (about ``2 eps H_i(w) u``).

        The difference is recorded as a secant.
        """
        w_a, w_b = w + eps * u, w - eps * u
        return self.secant(i, w_a, w_b, self.row(w_a, i), self.row(w_b, i))


def _lanczos(probe: _Probe, w: np.ndarray, i: int, start: np.ndarray, eps: float, steps: int) -> None:
    """Run Lanczos on the Hessian ``H_i(w)`` of ``Phi(x_i, .)``, products by secants.

    Then one secant is taken along the Ritz vector of the largest ``|Ritz value|``.

    Every product ``grad Phi(x_i, w + eps q) - grad Phi(x_i, w - eps q)`` is a secant over two
    points of the ball and is recorded; the last one, along the Ritz vector ``u``, is about
    ``2 eps |H_i(w) u| >= 2 eps |u^T H_i(w) u|``. For the dense top of the spectrum of a
    wide network's Hessian (one small block per hidden unit) a few Lanczos steps come much
    closer to ``|H_i(w)|`` than as many power-iteration steps.
    """
    basis = [start]
    alphas: List[float] = []
    betas: List[float] = []
    for _ in range(steps):
        q = basis[-1]
        z = probe.hessian_direction(w, i, q, eps) / (2.0 * eps)
        alphas.append(float(np.sum(q * z)))
        Q = np.stack(basis)
        for _ in range(2):  # full reorthogonalization (twice is enough); no BLAS for these small products
            z = z - np.sum(Q * np.sum(Q * z, axis=1)[:, None], axis=0)
        beta = float(_norm(z))
        if beta <= 1e-8 * max(abs(alphas[-1]), 1e-300):
            break
        betas.append(beta)
        basis.append(z / beta)
    k = len(alphas)
    T = np.diag(alphas) + np.diag(betas[:k - 1], 1) + np.diag(betas[:k - 1], -1)
    values, vectors = np.linalg.eigh(T)
    top = int(np.argmax(np.abs(values)))
    ritz = _unit(np.sum(np.stack(basis[:k]) * vectors[:, top][:, None], axis=0))
    probe.hessian_direction(w, i, ritz, eps)


def _ball_point(w0: np.ndarray, direction: np.ndarray, radius: float) -> np.ndarray:
    return w0 + radius * _unit(direction)


def _into_ball(w0: np.ndarray, w: np.ndarray, radius: float) -> np.ndarray:
    """``w`` if it lies in ``B_radius(w0)``, else its projection onto the sphere."""
    offset = w - w0
    distance = float(_norm(offset))
    return w if distance <= radius else w0 + (radius / distance) * offset


def _gd_path(network: AnyNetwork, X: np.ndarray, y: np.ndarray, lr: float, steps: int) -> List[np.ndarray]:
    """Parameter vectors of GD on the sum loss at log-spaced steps ``1 <= k <= steps``."""
    if steps == 0:
        return []
    checkpoints = np.unique(np.round(np.geomspace(1, steps, min(steps, _PATH_POINTS))).astype(int))
    path, done = [], 0
    for k in checkpoints:
        network.train(X, y, lr, int(k - done), record_every=int(k - done), loss="sum")
        done = int(k)
        w = network.params.to_vector()
        if not np.all(np.isfinite(w)):
            break
        path.append(w)
    return path


def _kink_distance(network: AnyNetwork, X: np.ndarray) -> float:
    """Distance from w0 to the nearest point where a first-layer pre-activation of a training point is 0.

    ``z_ij = s u_j . x_i + beta b_j`` is linear in ``(u_j, b_j)`` with gradient
    ``(s x_i, beta)``, so the distance to its zero set is ``|z_ij| / sqrt(s^2 |x_i|^2 + beta^2)``
    (``beta = 0`` without biases). With one hidden layer these are all the kinks; deeper
    layers add theirs, so for a deep network this is an upper bound of the distance to the
    nearest kink.
    """
    U, b = network.initial_params.layers[0]
    s, beta = network.scales[0]
    beta = beta if b is not None else 0.0
    Z = s * (X @ U.T) + (0.0 if b is None else beta * b)
    gradient_norms = np.sqrt(s * s * np.sum(X * X, axis=1) + beta * beta)[:, None]
    # a point whose pre-activations do not depend on the weights (x = 0, no bias) sits on the kink
    distances = np.divide(np.abs(Z), gradient_norms, out=np.zeros_like(Z), where=gradient_norms > 0)
    return float(np.min(distances))


def _radius(m: int, U: float, f0: float, lambda_min: float, regular: bool) -> float:
    """``r = 2 sqrt(m) U sqrt(f0) / lambda_min`` (11.4.3)."""
    if f0 == 0:
        return 0.0
    return 2.0 * math.sqrt(m) * U * math.sqrt(f0) / lambda_min if regular else math.inf
