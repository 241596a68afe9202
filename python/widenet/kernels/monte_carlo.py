"""Monte Carlo estimates of the infinite-width kernels, for any initial law D.

The production path of ``limit_kernel(method="monte_carlo")``: hidden units drawn from D,
their activations and derivatives evaluated by the compiled core (one pass for both). The
numpy twin, :func:`widenet.reference.limit_kernels.monte_carlo_expectations`, draws the
same units from the same seed with its own activations; the tests compare the two.
"""

from __future__ import annotations

import math
from typing import Optional, Union

import numpy as np
from numpy.typing import NDArray

from widenet import _memory
from widenet import _validation as check
from widenet._laws import DISTRIBUTIONS, standard_draws
from widenet._native import _core
from widenet._types import Activation, Distribution, Kind, Parametrization
from widenet.reference import limit_kernels as reference

Float64Array = NDArray[np.float64]
# The kernel, or the kernel and its standard errors (Monte Carlo with ``return_std``).
KernelOrErrors = Union[Float64Array, tuple[Float64Array, Float64Array]]

# Floats held at once by a chunk of hidden units (chunk * (m1 + m2)).
_CHUNK_FLOATS = 1 << 20


def expectations(X1: Float64Array, X2: Float64Array, activation: Activation, weight_var: float, bias_var: float,
                 samples: int, distribution: Distribution,
                 rng: np.random.Generator) -> tuple[Float64Array, Float64Array, Float64Array, Float64Array]:
    """Return ``(E_ss, E_dd, se_ss, se_dd)``: sample means over ``samples`` hidden units, and their standard errors.

    The means are over hidden units ``u_j = sqrt(s_w^2/d) D``, ``b = sqrt(s_b^2) D`` of
    ``sigma(u.x + b) sigma(u.z + b)`` and ``sigma'(u.x + b) sigma'(u.z + b)``. Arguments
    are validated float64 arrays ``(m1, d)``, ``(m2, d)`` and checked options. Units are
    drawn in chunks, each its ``u`` (chunk, d) and then its ``b`` (chunk,).
    """
    (m1, d), m2 = X1.shape, X2.shape[0]
    w_scale = math.sqrt(float(weight_var) / d)
    b_scale = math.sqrt(float(bias_var))
    chunk = max(1, min(samples, _CHUNK_FLOATS // (m1 + m2)))
    # sigma(h) grows at most like |h|: the values are summed in units of each point's
    # spread of h (at least 1), so that their squares cannot overflow at large inputs.
    units = [np.maximum(1.0, w_scale * np.linalg.norm(X, axis=1) + b_scale) for X in (X1, X2)]
    sums = [np.zeros((m1, m2)) for _ in range(4)]  # sum ss, sum ss^2, sum dd, sum dd^2
    for start in range(0, samples, chunk):
        k = min(chunk, samples - start)
        U = w_scale * standard_draws(rng, distribution, (k, d))
        b = b_scale * standard_draws(rng, distribution, k)
        S1, D1 = _core.activation(np.ascontiguousarray(X1 @ U.T + b), activation)  # (m1, k)
        S2, D2 = _core.activation(np.ascontiguousarray(X2 @ U.T + b), activation)  # (m2, k)
        for offset, (A1, A2) in ((0, (S1 / units[0][:, None], S2 / units[1][:, None])), (2, (D1, D2))):
            sums[offset] += A1 @ A2.T
            sums[offset + 1] += (A1 * A1) @ (A2 * A2).T
    out = []
    for (total, squares), unit in zip((sums[0:2], sums[2:4]), (np.outer(*units), 1.0)):
        mean = total / samples
        variance = np.maximum(squares - samples * mean * mean, 0.0) / (samples - 1)
        out.append((mean * unit, np.sqrt(variance / samples) * unit))
    (E_ss, se_ss), (E_dd, se_dd) = out
    return E_ss, E_dd, se_ss, se_dd


def combine(E_ss: Float64Array, E_dd: Float64Array, X1: Float64Array, X2: Float64Array,
            parametrization: Parametrization, kind: Kind, output_var: float, output_bias_var: float) -> Float64Array:
    """Return the limit kernel from the two expectations (Theorems 11.16, 11.30; Prop. 11.28).

    That is ``s_v^2 E_ss + s_c^2`` (nngp), ``E_ss`` (LeCun, ntk) or
    ``s_v^2 (x.z/d + 1) E_dd + E_ss + 1`` (NTK parametrization, ntk).
    """
    if kind == "nngp":
        return float(output_var) * E_ss + float(output_bias_var)
    if parametrization == "lecun":
        return E_ss.copy()
    # (x.z/d + 1) E_dd first: finite where the kernel is (E_dd <= 1.3); s_v^2 = 0 gives 0.
    tangent = ((X1 @ X2.T) / X1.shape[1] + 1) * E_dd
    return (float(output_var) * tangent if output_var != 0 else np.zeros_like(tangent)) + E_ss + 1


def check_applies(deep: bool, X1: Float64Array, X2: Optional[Float64Array]) -> None:
    """Refuse Monte Carlo for a deep network, and where its sums would not fit in memory."""
    if deep:
        raise ValueError("method: 'monte_carlo' is for one hidden layer with biases; use a deterministic method")
    _memory.check_gram("limit_kernel", X1, X2, np.float64, copies=8)


def estimate(X1: Float64Array, X2: Optional[Float64Array], activation: Union[Activation, reference.ActivationFunctions],
             parametrization: Parametrization, kind: Kind, variances: tuple[float, float, float, float],
             samples: object, distribution: object, seed: object, return_std: bool) -> KernelOrErrors:
    """Return the kernel estimated by Monte Carlo (and its standard errors with ``return_std``).

    A built-in's activations come from the compiled core, a function's from itself (the
    numpy twin's sums).
    """
    count = check.integer(samples, "samples", 2)
    law = check.choice(distribution, "distribution", DISTRIBUTIONS)
    weight_var, bias_var, output_var, output_bias_var = variances
    X2 = X1 if X2 is None else X2
    rng = check.generator(seed)
    if isinstance(activation, str):
        e_ss, e_dd, se_ss, se_dd = expectations(X1, X2, activation, weight_var, bias_var, count, law, rng)
    else:
        e_ss, e_dd, se_ss, se_dd = reference.monte_carlo_expectations(X1, X2, activation, weight_var, bias_var, count,
                                                                      law, rng)
    kernel = combine(e_ss, e_dd, X1, X2, parametrization, kind, output_var, output_bias_var)
    if not return_std:
        return kernel
    if kind == "nngp":
        return kernel, output_var * se_ss
    if parametrization == "lecun":
        return kernel, se_ss
    # K_NTK mixes both expectations; the sum of their errors bounds its error.
    factor = output_var * np.abs(X1 @ X2.T / X1.shape[1] + 1.0)
    return kernel, factor * se_dd + se_ss
