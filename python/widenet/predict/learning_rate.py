"""The largest stable step of gradient descent on the square loss of a model with a fixed tangent kernel."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
from numpy.typing import ArrayLike

from widenet import _validation as check
from widenet._types import Loss
from widenet.kernels.tangent import TangentKernel
from widenet.predict import _inputs

_FLOAT64 = np.dtype(np.float64)


def max_learning_rate(kernel: Any, X: Optional[ArrayLike] = None, loss: Loss = "sum", outputs: int = 1) -> float:
    """Return ``1 / (s lambda_max)``: gradient descent with a smaller step converges, with a larger one diverges.

    On ``s sum_i (f(x_i) - y_i)^2`` (``s`` as ``loss`` says: 1, 1/m or 1/2, as in
    :meth:`widenet.ShallowNetwork.train`) a model whose outputs move by the Gram ``K`` has
    residuals multiplied by ``I - 2 h s K`` at each step (docs/theory.md, section 3), whose
    eigenvalues lie in (-1, 1) exactly when ``h < 1 / (s lambda_max(K))``. For a network
    this is the bound at its current parameters (its tangent kernel moves in training).

    The step is in the units of ``train`` (and of :class:`widenet.NTKRegressor`'s ``lr``),
    not of neural-tangents' ``learning_rate``: for :func:`gradient_descent_mse`'s flow on
    ``|f - Y|^2 / (2N)``, gradient descent with that learning rate is stable below
    ``2N / lambda_max``, which is ``max_learning_rate(K, loss="half_sum") * N``.

    Parameters
    ----------
    kernel : array (m, m), kernel object or network
        The training Gram itself (with ``X=None``), a kernel object called as ``kernel(X)``
        (a :class:`widenet.LimitKernel`), or a network or linearized model with ``ntk(X)``
        (a :class:`widenet.TangentKernel` stands for its model). For a model of ``k > 1``
        outputs the residuals move by the ``(m k) x (m k)`` Gram of every output pair
        (``ntk(X, trace_outputs=False)``), not by the kernel traced over the outputs, so
        that Gram sets the bound. An ensemble has one bound per member: pass a member.
    X : array (m, d), optional
        The training points, when ``kernel`` is not a Gram.
    loss : {"sum", "mean", "half_sum"}
    outputs : int
        With a Gram of every output pair, ``(m k) x (m k)`` ordered point by point, its ``k``:
        ``loss="mean"`` divides by the ``m`` points, not by the ``m k`` rows. A model knows
        its own outputs, so with ``X`` this must stay 1.

    Examples
    --------
    >>> import numpy as np
    >>> from widenet import predict
    >>> predict.max_learning_rate(np.array([[4.0, 0.0], [0.0, 1.0]]))  # 1 / lambda_max
    0.25
    """
    outputs = check.integer(outputs, "outputs", 1)
    if X is None or isinstance(kernel, np.ndarray):
        if X is not None:
            raise TypeError("X: a Gram matrix is the kernel at the training points already; pass X=None with it")
        gram = _inputs.train_gram(kernel, "kernel")
        if gram.shape[0] % outputs:
            raise ValueError(f"outputs: a Gram of {gram.shape[0]} rows cannot hold {outputs} outputs per point")
        rows = gram.shape[0] // outputs
    else:
        if outputs != 1:
            raise ValueError("outputs: a model's Gram has its own outputs; pass outputs with a Gram matrix only")
        points = check.as_points(X, "X", dtype=_FLOAT64)
        rows = points.shape[0]
        if isinstance(kernel, TangentKernel):
            kernel = kernel.model
        if hasattr(kernel, "member"):
            raise TypeError(f"kernel: a {type(kernel).__name__} has one Gram, and one bound, per member; "
                            f"pass one of them, kernel.member(r)")
        if callable(getattr(kernel, "ntk", None)):
            gram = _inputs.train_gram(_residual_gram(kernel, points), "the tangent Gram of X")
        elif callable(kernel):
            gram = _inputs.train_gram(kernel(points), "the Gram of X")
        else:
            raise TypeError(f"kernel: expected a Gram matrix, a kernel object or a network with ntk(), got "
                            f"{type(kernel).__name__}")
    scale = check.loss_scale(loss, rows)
    largest = float(np.linalg.eigvalsh(gram)[-1])
    if largest <= 0:
        raise ValueError("kernel: its Gram has no positive eigenvalue, so every step is stable (the outputs do not "
                         "move); expected a nonzero Gram")
    return 1.0 / (scale * largest)


def _residual_gram(network: Any, points: np.ndarray) -> np.ndarray:
    """Return the Gram the network's residuals move by: ``(m k) x (m k)`` for ``k > 1`` outputs."""
    outputs = getattr(network, "outputs", 1)
    if outputs == 1:
        return np.asarray(network.ntk(points))
    return np.asarray(network.ntk(points, trace_outputs=False)).reshape(points.shape[0] * outputs, -1)
