"""The empirical tangent kernel of the one-hidden-layer network (docs/theory.md, sections 3, 5 and 6).

The numpy twin of the C++ tangent-Gram and tangent-entry headers: the structured formula,
never the Jacobian, with the same care for large inputs (powers of two) and the same
long-double repair of the entries whose intermediates overflow. The network is an object
as in :mod:`widenet.reference.shallow`.
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np
import numpy.typing as npt

from widenet.reference import activations as _act
from widenet.reference.activations import FloatArray
from widenet.reference.shallow import NetworkLike, _cast, _preactivations, _unpacked
from widenet.reference.shallow_outputs import traced_readout


def _kernel_parameters(net: NetworkLike, dtype: npt.DTypeLike) -> Tuple[Any, Any, Any, str, str]:
    """Return ``(U, b, v, activation, parametrization)`` of the kernel traced over the outputs.

    For one output, the network's own; for ``k`` outputs, ``v`` is :func:`traced_readout` of
    the readout, whose one-output kernel is the mean of the outputs' kernels.
    """
    U, b, v, _, activation, parametrization = _unpacked(net)
    U, b, v = _cast(dtype, U, b, v)
    return U, b, traced_readout(v) if v.ndim == 2 else v, activation, parametrization


def _input_scales(X: FloatArray) -> Tuple[FloatArray, FloatArray, FloatArray]:
    """Return per-row powers of two ``q >= 1``, their inverses, and ``X / q``.

    Rows whose largest entry reaches ``2^(maxexp/4)`` are scaled so that it lies in
    [1/2, 1). With them the derivative part
    ``(s^2 x.z + 1) (D1 v)(D2 v)^T`` is ``(s^2 x^.z^ + 1/(q q')) (q D1 v)(q' D2 v)^T``, whose
    factors stay finite where the Jacobian is (the compiled kernel does the same).
    """
    info = np.finfo(X.dtype)
    largest = np.max(np.abs(X), axis=1)
    exponents = np.where(largest >= 2.0 ** (info.maxexp // 4), np.minimum(np.frexp(largest)[1], info.maxexp - 1), 0)
    up = np.ldexp(np.ones(len(X), dtype=X.dtype), exponents)
    down = np.ldexp(np.ones(len(X), dtype=X.dtype), -exponents)
    return up, down, X * down[:, None]



def _wide_hidden(X: FloatArray, U: FloatArray, b: FloatArray, v: FloatArray, activation: str,
                 s: Any) -> Tuple[npt.NDArray[np.longdouble], npt.NDArray[np.longdouble]]:
    """Return ``sigma(Z)`` and ``sigma'(Z) v`` in long double.

    These are the float64 functions where ``Z`` fits a double, their limits beyond (bounded
    activations are flat there).
    """
    Z = s * (X.astype(np.longdouble) @ U.astype(np.longdouble).T) + b.astype(np.longdouble)
    if activation == "sin":
        return np.sin(Z), np.cos(Z) * v
    if activation in ("monomial2", "monomial3"):  # unbounded: their float64 values overflow first
        power = 2 if activation == "monomial2" else 3
        return Z ** power, power * Z ** (power - 1) * v.astype(np.longdouble)
    inside = np.abs(Z) <= np.finfo(np.float64).max
    clipped = np.where(inside, Z, 0).astype(np.float64)
    A = np.where(inside, _act.activation(activation, clipped), 0).astype(np.longdouble)
    D = np.where(inside, _act.activation_derivative(activation, clipped), 0).astype(np.longdouble)
    positive = Z > 0
    with np.errstate(divide="ignore"):
        limits = {"identity": (Z, 1), "relu": (np.where(positive, Z, 0), positive),
                  "softplus": (np.where(positive, Z, 0), positive), "gelu": (np.where(positive, Z, 0), positive),
                  "arctan": (np.copysign(np.longdouble(np.pi / 2), Z), 1 / Z / Z),
                  "sigmoid": (positive, 0), "tanh": (np.sign(Z), 0), "erf": (np.sign(Z), 0),
                  "silu": (np.where(positive, Z, 0), positive),
                  "elu": (np.where(positive, Z, -_act.ELU_ALPHA), positive),
                  "leaky_relu": (np.where(positive, Z, _act.LEAKY_RELU_SLOPE * Z),
                                 np.where(positive, 1, _act.LEAKY_RELU_SLOPE)),
                  "abs": (np.abs(Z), np.sign(Z))}[activation]
    A = np.where(inside, A, limits[0])
    D = np.where(inside, D, limits[1])
    return A, D * v.astype(np.longdouble)



def _wide_entries(X1: FloatArray, X2: FloatArray, U: FloatArray, b: FloatArray, v: FloatArray, activation: str,
                  parametrization: str, dtype: npt.DTypeLike) -> FloatArray:
    """Return ``K(x1_k, x2_k)`` for the paired rows of ``X1`` and ``X2``, in long double rounded once to ``dtype``.

    Computed from the definition, these are the entries the fast formula gives as inf or NaN when
    an intermediate overflows (the compiled kernel recomputes the same ones). Pairs are taken
    in blocks of about 2^20 hidden units, so memory stays bounded however many there are.
    """
    n, d = U.shape
    a2, s2 = (np.longdouble(1) / n, np.longdouble(1) / d) if parametrization == "ntk" else (1, 1)
    exact = np.empty(len(X1), dtype=np.longdouble)
    block = max(1, 2**20 // n)
    for start in range(0, len(X1), block):
        x1, x2 = X1[start:start + block], X2[start:start + block]
        A1, D1 = _wide_hidden(x1, U, b, v, activation, np.sqrt(s2))
        A2, D2 = _wide_hidden(x2, U, b, v, activation, np.sqrt(s2))
        inner = np.sum(x1.astype(np.longdouble) * x2.astype(np.longdouble), axis=1)
        exact[start:start + block] = a2 * ((s2 * inner + 1) * np.sum(D1 * D2, axis=1) + np.sum(A1 * A2, axis=1)) + 1
    with np.errstate(over="ignore"):
        return exact.astype(dtype)



def ntk_gram(net: NetworkLike, X1: FloatArray, X2: Optional[FloatArray] = None, width_chunk: int = 0) -> FloatArray:
    """Return the empirical tangent kernel ``K_n(x, z) = <grad Phi(x), grad Phi(z)>``.

    The kernel is defined in docs/theory.md, section 3: 11.3.4. Structured form
    (docs/theory.md, sections 5 and 6: proof of Theorem 11.16, with bias), never forming
    the Jacobian. With ``A = sigma(Z)``, ``D = sigma'(Z)`` at the pre-activations:

    - lecun: ``K = (X1 X2^T + 1) * ((D1 v)(D2 v)^T) + A1 A2^T + 1``
    - ntk:   ``K = (X1 X2^T / (n d) + 1/n) * ((D1 v)(D2 v)^T) + A1 A2^T / n + 1``

    where ``*`` is the elementwise product and ``D v`` scales column ``i`` by ``v_i``.
    Large rows enter through powers of two (:func:`_input_scales`), so that a derivative
    that underflows to 0 at a huge pre-activation gives a 0 term rather than ``inf * 0``;
    entries that still overflow an intermediate are recomputed in long double. Where the
    Jacobian is finite each entry is within ``c (n + d) eps sqrt(K(x, x) K(z, z))`` of
    ``J J^T``; beyond the dtype's range it is inf of its sign; never NaN.

    Parameters
    ----------
    net
        As in :func:`~widenet.reference.shallow.forward`.
    X1 : ndarray, shape (m1, d)
    X2 : ndarray, shape (m2, d), optional
        Default: ``X1`` (the symmetric Gram).
    width_chunk : int, default 0
        Accepted for the compiled twin's signature and ignored: this twin forms all hidden
        units at once (the compiled kernel processes ``width_chunk`` of them at a time, which
        changes its memory, not its result beyond rounding).

    Returns
    -------
    ndarray, shape (m1, m2)
        For a network of ``k`` outputs, the mean of the outputs' kernels (the kernel traced
        over the outputs; :func:`ntk_blocks` has every block).
    """
    U, b, v, activation, parametrization = _kernel_parameters(net, X1.dtype)
    X2 = X1 if X2 is None else X2
    up1, down1, scaled1 = _input_scales(X1)
    up2, down2, scaled2 = _input_scales(X2)
    with np.errstate(over="ignore", invalid="ignore"):  # overflowing entries are recomputed below
        Z1, a, s = _preactivations(X1, U, b, parametrization)
        Z2, _, _ = _preactivations(X2, U, b, parametrization)
        G1 = _act.activation_derivative(activation, Z1) * v * up1[:, None]
        G2 = _act.activation_derivative(activation, Z2) * v * up2[:, None]
        A1A2 = _act.activation(activation, Z1) @ _act.activation(activation, Z2).T
        K = a * a * ((s * s * (scaled1 @ scaled2.T) + np.outer(down1, down2)) * (G1 @ G2.T) + A1A2) + 1
    rows, cols = np.nonzero(~np.isfinite(K))
    K[rows, cols] = _wide_entries(X1[rows], X2[cols], U, b, v, activation, parametrization, K.dtype)
    return K



def ntk_diag(net: NetworkLike, X: FloatArray) -> FloatArray:
    """Return the diagonal ``K_n(x_i, x_i)`` of :func:`ntk_gram` ``(X, X)`` (docs/theory.md, section 3: 11.3.4).

    Parameters
    ----------
    net, X
        As in :func:`~widenet.reference.shallow.forward`.

    Returns
    -------
    ndarray, shape (m,)
        ``a^2 ((s^2 |x|^2 + 1) |D v|^2 + |A|^2) + 1`` row by row, scaled and repaired as in
        :func:`ntk_gram`.
    """
    U, b, v, activation, parametrization = _kernel_parameters(net, X.dtype)
    up, down, scaled = _input_scales(X)
    with np.errstate(over="ignore", invalid="ignore"):  # overflowing entries are recomputed below
        Z, a, s = _preactivations(X, U, b, parametrization)
        G = _act.activation_derivative(activation, Z) * v * up[:, None]
        A = _act.activation(activation, Z)
        K = a * a * ((s * s * np.sum(scaled * scaled, axis=1) + down * down) * np.sum(G * G, axis=1)
                     + np.sum(A * A, axis=1)) + 1
    bad = ~np.isfinite(K)
    K[bad] = _wide_entries(X[bad], X[bad], U, b, v, activation, parametrization, K.dtype)
    return K

