"""Every block of the tangent kernel of the network with ``k`` outputs (docs/theory.md, section 5, "Several outputs").

The numpy twin of the C++ header of that kernel. For outputs ``i, i'`` at points ``x, z``,
with ``A = sigma(Z)`` and ``S = sigma'(Z)``::

    K_ii'(x, z) = a^2 [ (s^2 x.z + 1) sum_j V_ij V_i'j S_j(x) S_j(z) + [i = i'] A(x).A(z) ] + [i = i'].

Large inputs enter through the powers of two of :mod:`widenet.reference.tangent_gram`, and
entries whose intermediates overflow are recomputed in long double, as there.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from widenet.reference import activations as _act
from widenet.reference.activations import FloatArray
from widenet.reference.shallow import NetworkLike, _cast, _preactivations, _unpacked
from widenet.reference.tangent_gram import _input_scales, _wide_hidden


def _wide_blocks(X1: FloatArray, X2: FloatArray, U: FloatArray, b: FloatArray, V: FloatArray, pairs: tuple,
                 activation: str, parametrization: str, dtype: np.dtype) -> FloatArray:
    """Return the entries ``K_ii'(x, z)`` at the index arrays ``pairs = (x, i, z, i')``, in long double rounded once."""
    x, i, z, j = pairs
    n, d = U.shape
    a2, s2 = (np.longdouble(1) / n, np.longdouble(1) / d) if parametrization == "ntk" else (1, 1)
    ones = np.ones(n, dtype=U.dtype)  # then the second array of _wide_hidden is sigma' itself
    A1, S1 = _wide_hidden(X1[x], U, b, ones, activation, np.sqrt(s2))
    A2, S2 = _wide_hidden(X2[z], U, b, ones, activation, np.sqrt(s2))
    wide_V = V.astype(np.longdouble)
    inner = np.sum(X1[x].astype(np.longdouble) * X2[z].astype(np.longdouble), axis=1)
    same = (i == j).astype(np.longdouble)
    exact = a2 * ((s2 * inner + 1) * np.sum(S1 * S2 * wide_V[i] * wide_V[j], axis=1)
                  + same * np.sum(A1 * A2, axis=1)) + same
    with np.errstate(over="ignore"):
        return exact.astype(dtype)


def ntk_blocks(net: NetworkLike, X1: FloatArray, X2: Optional[FloatArray] = None, width_chunk: int = 0) -> FloatArray:
    """Return every block of the tangent kernel, ``K[x, i, z, i'] = K_ii'(x, z)``, shape (m1, k, m2, k).

    By the structured formula, never the Jacobian: the derivative part is the product of the
    factors ``F[x, i, j] = S_j(x) V_ij``, the rest is the one-output kernel's activation
    part, on the diagonal blocks only. A network of one output (``v`` of shape (n,)) gives
    its kernel as the single block, shape (m1, 1, m2, 1). ``width_chunk`` is accepted for
    the compiled twin's signature and ignored.
    """
    U, b, V, _, activation, parametrization = _unpacked(net)
    U, b, V = _cast(X1.dtype, U, b, V)
    V = V.reshape(-1, U.shape[0])  # one output: v as one row
    X2 = X1 if X2 is None else X2
    k = V.shape[0]
    up1, down1, scaled1 = _input_scales(X1)
    up2, down2, scaled2 = _input_scales(X2)
    with np.errstate(over="ignore", invalid="ignore"):  # overflowing entries are recomputed below
        Z1, a, s = _preactivations(X1, U, b, parametrization)
        Z2, _, _ = _preactivations(X2, U, b, parametrization)
        F1 = (_act.activation_derivative(activation, Z1) * up1[:, None])[:, None, :] * V
        F2 = (_act.activation_derivative(activation, Z2) * up2[:, None])[:, None, :] * V
        factor = s * s * (scaled1 @ scaled2.T) + np.outer(down1, down2)
        K = a * a * factor[:, None, :, None] * np.einsum("xin,zjn->xizj", F1, F2)
        shared = a * a * (_act.activation(activation, Z1) @ _act.activation(activation, Z2).T) + 1
        K += shared[:, None, :, None] * np.eye(k, dtype=X1.dtype)[None, :, None, :]
    pairs = np.nonzero(~np.isfinite(K))
    K[pairs] = _wide_blocks(X1, X2, U, b, V, pairs, activation, parametrization, K.dtype)
    return K
