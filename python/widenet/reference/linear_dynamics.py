"""Gradient descent on the linearized model, iterated in function space (docs/theory.md, section 3: 11.3.1, 11.5.9).

The numpy twin of the C++ linear-dynamics header. The linearized model
``Phi_lin(x, p) = Phi(x, w0) + grad_w Phi(x, w0)^T (p - w0)`` trained by GD with step
``h`` on ``f = s |r|^2`` (``s = loss_scale``) moves only through the tangent Gram
``Theta = J0 J0^T`` (Remark 11.24, corrected; docs/theory.md, section 3)::

    r_{k+1} = r_k - 2 h s Theta r_k,        a_0 = 0,  a_{k+1} = a_k + 2 h s r_k,

so that ``p_k - w0 = -J0^T a_k``, the training outputs are ``y + r_k``,
``|p_k - w0|^2 = a_k . Theta a_k`` and the outputs at other points are
``Phi(X_test, w0) - K_n(X_test, X) a_k``.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

import numpy as np
import numpy.typing as npt

from widenet.reference.activations import FloatArray
from widenet.reference.training import OptionsLike, _Records


def linear_gd(theta: npt.ArrayLike, residual: npt.ArrayLike, options: OptionsLike,
              cross: Optional[npt.ArrayLike] = None, test_initial: Optional[npt.ArrayLike] = None,
              offset_outputs: Optional[FloatArray] = None, offset_squared_norm: float = 0.0) -> Dict[str, Any]:
    """Run GD on the linearized model in function space (docs/theory.md, section 3: 11.5.9, Remark 11.24 corrected).

    Parameters
    ----------
    theta : ndarray, shape (m, m)
        Tangent Gram ``Theta = K_n(X, X)`` at ``w0`` (symmetric); its dtype is the compute dtype.
    residual : ndarray, shape (m,)
        Initial residual ``r_0 = Phi(X, w0) - y``.
    options : TrainingOptions or an object with its attributes
        ``lr``, the step size ``h``; ``loss_scale``, ``s`` in ``f = s |r|^2`` (1 for the
        chapter's sum, ``1/m`` for the mean, 1/2 for half the sum); ``steps``, the number of
        GD steps (0 is allowed); ``record_every``, record at ``k = 0, record_every,
        2 record_every, ...`` and at ``k = steps``; ``divergence_factor``, stop at the first
        step whose loss is not finite or exceeds this factor times the initial loss (<= 0:
        only non-finite losses stop it); that step is recorded last and ``"stopped_at"``
        names it (-1 when the run reached ``steps``).
    cross : ndarray, shape (t, m), optional
        ``K_n(X_test, X)``; given together with ``test_initial``.
    test_initial : ndarray, shape (t,), optional
        ``Phi(X_test, w0)``.
    offset_outputs : ndarray, shape (m,), optional
        ``J0 delta`` for a run that starts at ``p_0 = w0 + delta`` (then ``residual`` and
        ``test_initial`` are taken at ``p_0``).
    offset_squared_norm : float
        ``|delta|^2``; the distances are ``|delta - J0^T a_k|``.

    Returns
    -------
    dict
        ``"steps"``: int64 recorded step indices; at those steps ``"losses"``
        (``s |r_k|^2``), ``"distances"`` (``|p_k - w0|``), ``"residuals"`` (records x m),
        ``"test_outputs"`` (records x t, or None); ``"coefficients"``: the final ``a``.
    """
    lr, loss_scale, steps, record_every = options.lr, options.loss_scale, options.steps, options.record_every
    divergence_factor = options.divergence_factor
    dtype = np.asarray(theta).dtype
    gram, r = np.asarray(theta, dtype=dtype), np.array(residual, dtype=dtype)
    if (cross is None) != (test_initial is None):
        raise ValueError("cross and test_initial: give both or neither")
    cross_gram: Optional[FloatArray] = None
    initial_outputs: Optional[FloatArray] = None
    if cross is not None:
        cross_gram, initial_outputs = np.asarray(cross, dtype=dtype), np.asarray(test_initial, dtype=dtype)
    step = 2 * float(lr) * float(loss_scale)
    records = _Records(steps, record_every, divergence_factor)
    count = len(records.steps)
    a = np.zeros_like(r)
    # preallocated like the C++ records: one row per recorded step
    losses, distances = np.empty(count, dtype=dtype), np.empty(count, dtype=dtype)
    residuals = np.empty((count, len(r)), dtype=dtype)
    outputs = None if cross_gram is None else np.empty((count, len(cross_gram)), dtype=dtype)
    reference: Optional[float] = None
    with np.errstate(over="ignore", invalid="ignore"):  # a diverging run: caught by the rule below
        for k in range(steps + 1):
            loss = float(loss_scale) * float(r @ r)
            reference = loss if reference is None else reference
            row = records.row(k, loss, reference)
            if row is not None:
                losses[row] = loss
                shifted = 0.0 if offset_outputs is None else 2 * (offset_outputs @ a)
                distances[row] = np.sqrt(max(0.0, offset_squared_norm - shifted + a @ (gram @ a)))
                residuals[row] = r
                if outputs is not None and cross_gram is not None:
                    outputs[row] = initial_outputs - cross_gram @ a
            if records.stopped:
                break
            if k < steps:
                a = a + step * r
                r = r - step * (gram @ r)
    return {
        "steps": records.steps,
        "stopped_at": records.stopped_at,
        "losses": losses[:records.rows],
        "distances": distances[:records.rows],
        "residuals": residuals[:records.rows],
        "test_outputs": None if outputs is None else outputs[:records.rows],
        "coefficients": a,
    }
