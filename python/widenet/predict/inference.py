"""Exact Gaussian-process inference with a kernel: neural-tangents' ``predict.gp_inference`` on Gram matrices.

Given ``f ~ GP(0, K)`` observed as ``y = f(X)`` (plus noise of variance ``ridge`` when
regularized), the posterior at test points is Gaussian with (docs/theory.md, section 9)

    mean = K_* (K + ridge I)^+ y,    cov = K_** - K_* (K + ridge I)^+ K_*^T,

the pseudo-inverse treating eigenvalues below the rank tolerance as zero. With the NNGP
kernel this is the Bayesian posterior of an infinitely wide network (Proposition 11.28).
When ``K + ridge I`` is well posed its Cholesky factorization gives the inverse (to
rounding) and no eigendecomposition is made (see :mod:`widenet.predict._flow`).
"""

from __future__ import annotations

from typing import Optional, Union

import numpy as np
from numpy.typing import ArrayLike, NDArray

from widenet import _memory
from widenet.predict import _inputs
from widenet.predict._flow import FlowSpectrum, limit_factorization

Posterior = Union[NDArray[np.float64], tuple[NDArray[np.float64], NDArray[np.float64]]]


class PosteriorPrediction:
    """The posterior of a Gaussian process given its training data (made by :func:`gp_inference`).

    Call it with the test kernels: ``posterior(k_test_train, k_test_test=None)``.

    Parameters
    ----------
    gram, y, ridge
        The training Gram, the targets and the noise, as :func:`gp_inference` passes them;
        made by it, not by hand.

    Examples
    --------
    >>> import numpy as np
    >>> from widenet import predict
    >>> posterior = predict.gp_inference(np.eye(2), np.array([1.0, -1.0]))
    >>> mean, cov = posterior(np.array([[0.5, 0.0]]), np.array([[1.0]]))
    >>> mean, cov
    (array([0.5]), array([[0.75]]))
    """

    def __init__(self, gram: NDArray[np.float64], y: NDArray[np.float64], ridge: float) -> None:
        self._y = y
        self._limit = limit_factorization(gram, ridge)
        if self._limit is not None:
            self._weights = self._limit.solve(y)  # (K + ridge I)^{-1} y
            return
        flow = FlowSpectrum(gram, ridge, 0.0, "k_train_train")
        flow.warn_if_ill_conditioned("k_train_train" + (" plus the ridge" if ridge else ""))
        self._vectors, self._reciprocals = flow.vectors, flow.pseudo_inverse
        self._weights = flow.apply(flow.pseudo_inverse, y)  # (K + ridge I)^+ y

    def __call__(self, k_test_train: ArrayLike, k_test_test: Optional[ArrayLike] = None) -> Posterior:
        """Return the posterior mean at the test points, and with ``k_test_test`` its covariance.

        Parameters
        ----------
        k_test_train : array (m_test, m)
            The kernel between the test and the training points.
        k_test_test : array (m_test, m_test), optional
            The kernel of the test points with themselves.

        Returns
        -------
        mean : array (m_test,) or (m_test, k), as ``y_train``
        cov : array (m_test, m_test), only with ``k_test_test``; one covariance for every
            output column (they share the kernel). Symmetric; its diagonal is clipped at 0.
        """
        cross = _inputs.cross_gram(k_test_train, self._y.shape[0])
        mean = cross @ self._weights
        if k_test_test is None:
            return mean
        prior = _inputs.train_gram(k_test_test, "k_test_test")
        if prior.shape[0] != cross.shape[0]:
            raise ValueError(f"k_test_test: expected shape ({cross.shape[0]}, {cross.shape[0]}) for the "
                             f"{cross.shape[0]} test points of k_test_train, got {prior.shape}")
        _memory.require("gp_inference", [("the test kernel projected on the eigenvectors", cross.shape, np.float64,
                                          2)], "Pass fewer test points at a time.")
        if self._limit is not None:
            cov = prior - cross @ self._limit.solve(cross.T)
        else:
            projected = cross @ self._vectors
            cov = prior - (projected * self._reciprocals) @ projected.T
        cov = 0.5 * (cov + cov.T)
        np.fill_diagonal(cov, np.maximum(np.diag(cov), 0.0))
        return mean, cov


def gp_inference(k_train_train: ArrayLike, y_train: ArrayLike, diag_reg: float = 0.0,
                 diag_reg_absolute_scale: bool = False) -> PosteriorPrediction:
    """Return the Gaussian-process posterior of a kernel given ``f(X) = y_train``.

    neural-tangents' ``nt.predict.gp_inference`` on Gram matrices: ``diag_reg`` adds that
    multiple of the mean of the Gram's diagonal (or ``diag_reg`` itself with
    ``diag_reg_absolute_scale``) as observation noise. Unlike neural-tangents', the result is
    called with the test kernels themselves (``posterior(k_test_train, k_test_test)``), so any
    kernel serves, the NNGP of any depth included.

    Parameters
    ----------
    k_train_train : array (m, m)
    y_train : array (m,) or (m, k)
    diag_reg : float
    diag_reg_absolute_scale : bool

    Returns
    -------
    PosteriorPrediction
        The (regularized) Gram is factorized here, once: by Cholesky when well posed, else
        eigendecomposed.

    Examples
    --------
    >>> import numpy as np, widenet
    >>> from widenet import predict
    >>> X = np.linspace(-1, 1, 5)[:, None]
    >>> K = widenet.limit_kernel(X, activation="erf", kind="nngp")
    >>> posterior = predict.gp_inference(K, np.sin(3 * X[:, 0]), diag_reg=1e-4)
    >>> X_test = np.array([[0.25]])
    >>> k_test = widenet.limit_kernel(X_test, X, activation="erf", kind="nngp")
    >>> mean, cov = posterior(k_test, widenet.limit_kernel(X_test, activation="erf", kind="nngp"))
    >>> mean.shape, cov.shape
    ((1,), (1, 1))
    """
    gram = _inputs.train_gram(k_train_train)
    y = _inputs.targets(y_train, gram.shape[0])
    ridge = _inputs.regularizer(gram, diag_reg, diag_reg_absolute_scale)
    _memory.require("gp_inference", [("Gram, eigenvectors and workspace", gram.shape, np.float64, 3)],
                    "Pass fewer training points.")
    return PosteriorPrediction(gram, y, ridge)
