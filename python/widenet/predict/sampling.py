"""Samples of Gaussian outputs: the prior of wide networks, and the posterior or trained ensemble.

A covariance from a kernel is positive semi-definite in exact arithmetic but often singular
(the posterior at the training points) or ill-conditioned, where a Cholesky factorization
fails. Samples here come from the eigendecomposition ``cov = Q diag(l) Q^T`` of the
covariance scaled to unit size, with eigenvalues below rounding clipped to zero:
``x = mean + Q diag(sqrt(l)) z`` with ``z`` standard normal. They are finite for every
finite covariance, and a :class:`widenet.ConditioningWarning` says when the covariance was
singular, not positive semi-definite beyond rounding, or ill-conditioned.
"""

from __future__ import annotations

import warnings
from typing import Any, Optional

import numpy as np
from numpy.typing import ArrayLike, NDArray

from widenet import _memory
from widenet import _validation as check
from widenet._conditioning import warn_if_ill_conditioned
from widenet._types import Seed
from widenet.errors import ConditioningWarning
from widenet.predict import _inputs
from widenet.predict.ensemble import EnsemblePrediction

_FLOAT64 = np.dtype(np.float64)


def _square_root(cov: NDArray[np.float64]) -> NDArray[np.float64]:
    """Return ``S`` with ``S S^T = cov`` (columns ``sqrt(l) q``), warning about a singular or indefinite ``cov``."""
    scale = float(np.max(np.abs(cov)))
    if scale == 0.0:
        return np.zeros_like(cov)
    values, vectors = np.linalg.eigh(cov / scale)  # unit size: no overflow for a covariance near the float limit
    tolerance = cov.shape[0] * np.finfo(np.float64).eps * float(np.max(np.abs(values)))
    kept = values > tolerance
    if values[0] < -tolerance:
        warnings.warn(ConditioningWarning(
            f"cov is not positive semi-definite: its smallest eigenvalue is {values[0] * scale:.3g} (largest "
            f"{values[-1] * scale:.3g}); the negative directions were set to zero"), stacklevel=3)
    elif not kept.all():
        warnings.warn(ConditioningWarning(
            f"cov is singular: {int(np.count_nonzero(~kept))} of its {cov.shape[0]} eigenvalues are zero to "
            f"rounding; the samples lie in the span of the other {int(np.count_nonzero(kept))}"), stacklevel=3)
    else:
        warn_if_ill_conditioned(values, 0, "cov", "; the samples are exact to that error in the weak directions",
                                stacklevel=4)
    roots = np.sqrt(np.where(kept, values, 0.0) * scale)
    result: NDArray[np.float64] = vectors * roots
    return result


def sample_gaussian(mean: ArrayLike, cov: ArrayLike, n_samples: int = 1, seed: Seed = None) -> NDArray[np.float64]:
    """Return ``n_samples`` draws of ``N(mean, cov)``, shape ``(n_samples,) + mean.shape``.

    ``mean`` has shape (m,), or (m, k) for k independent output columns that share ``cov``
    (m x m). Finite for every finite ``cov`` (see the module's notes).

    Parameters
    ----------
    mean : array_like, shape (m,) or (m, k)
    cov : array_like, shape (m, m)
        Symmetric positive semi-definite.
    n_samples : int, default 1
    seed : None, int or numpy.random.Generator

    Examples
    --------
    >>> import numpy as np
    >>> from widenet import predict
    >>> draws = predict.sample_gaussian(np.zeros(3), np.eye(3), n_samples=1000, seed=0)
    >>> draws.shape, bool(abs(draws.std() - 1) < 0.1)
    ((1000, 3), True)
    """
    average = check.as_array(mean, "mean", _FLOAT64, (1, 2))
    covariance = _inputs.train_gram(cov, "cov")
    if covariance.shape[0] != average.shape[0]:
        raise ValueError(f"cov: expected shape ({average.shape[0]}, {average.shape[0]}) for a mean of "
                         f"{average.shape[0]} points, got {covariance.shape}")
    count = check.integer(n_samples, "n_samples", 1)
    rng = check.generator(seed)
    _memory.require("sample_gaussian", [("samples and their normal draws", (count, *average.shape), np.float64, 2),
                                        ("eigenvectors and workspace", covariance.shape, np.float64, 3)],
                    "Draw fewer samples at a time.")
    root = _square_root(covariance)
    columns = average.shape[1:]
    z = rng.standard_normal((count, *columns, average.shape[0]))  # one draw per sample and output column
    draws = np.moveaxis(z @ root.T, -1, 1)  # (count, m, *columns)
    return average + draws


def sample_prior(kernel: Any, X: ArrayLike, n_samples: int = 1, seed: Seed = None) -> NDArray[np.float64]:
    """Return draws of the centered Gaussian process with covariance ``kernel`` at the points ``X``.

    ``kernel`` is a kernel object (``kernel(X)`` gives its Gram: a :class:`widenet.LimitKernel`
    with ``kind="nngp"`` is the prior of wide networks' outputs, Proposition 11.28) or a
    network with an ``nngp`` method (its empirical NNGP). Shape ``(n_samples, m)``.

    Parameters
    ----------
    kernel : kernel object or network
        ``kernel(X)`` gives the covariance, or a network's ``nngp(X)`` does.
    X : array_like, shape (m, d)
    n_samples : int, default 1
    seed : None, int or numpy.random.Generator

    Examples
    --------
    >>> import numpy as np, widenet
    >>> from widenet import predict
    >>> X = np.linspace(-2, 2, 5)[:, None]
    >>> predict.sample_prior(widenet.LimitKernel("erf", kind="nngp", bias_var=0.5), X, n_samples=3, seed=0).shape
    (3, 5)
    """
    points = check.as_points(X, "X", dtype=_FLOAT64)
    if callable(getattr(kernel, "nngp", None)):
        gram = kernel.nngp(points)
    elif callable(kernel):
        gram = kernel(points)
    else:
        raise TypeError(f"kernel: expected a kernel object (kernel(X) gives its Gram) or a network with nngp(), got "
                        f"{type(kernel).__name__}")
    return sample_gaussian(np.zeros(points.shape[0]), gram, n_samples, seed)


def sample_posterior(prediction: EnsemblePrediction, X_test: Optional[ArrayLike] = None, t: Optional[float] = None,
                     n_samples: int = 1, seed: Seed = None, get: str = "ntk") -> NDArray[np.float64]:
    """Return draws of the outputs of the trained infinite ensemble (or of the NNGP posterior).

    ``prediction`` comes from :func:`gradient_descent_mse_ensemble`; the draws are of its
    Gaussian at time ``t`` (None: infinity) on ``X_test`` (None: the training points).
    ``get="nngp"`` with ``t=None`` is the Bayesian posterior of the NNGP.
    Shape ``(n_samples,) + mean.shape``.

    Parameters
    ----------
    prediction : EnsemblePrediction
    X_test : array_like, shape (m_test, d), optional
        Default: the training points.
    t : float, optional
        The training time (as in ``prediction``); None for infinity.
    n_samples : int, default 1
    seed : None, int or numpy.random.Generator
    get : {"ntk", "nngp"}, default "ntk"
        The whole network trained, or only its readout.

    Examples
    --------
    >>> import numpy as np, widenet
    >>> from widenet import predict
    >>> X = np.linspace(-1, 1, 6)[:, None]
    >>> kernel = widenet.LimitKernel("erf", "ntk", bias_var=0.5)
    >>> trained = predict.gradient_descent_mse_ensemble(kernel, X, np.sin(3 * X[:, 0]))
    >>> predict.sample_posterior(trained, np.array([[-0.5], [0.3], [1.5]]), t=10.0, n_samples=4, seed=0).shape
    (4, 3)
    """
    if not isinstance(prediction, EnsemblePrediction):
        raise TypeError(f"prediction: expected the result of gradient_descent_mse_ensemble, got "
                        f"{type(prediction).__name__}")
    if t is not None and np.ndim(t) != 0:
        raise ValueError(f"t: expected one time (or None for infinity), got shape {np.shape(t)}")
    if not isinstance(get, str):
        raise TypeError(f"get: expected one kind, 'ntk' or 'nngp', got {get!r}")
    mean, cov = prediction(t, X_test, get=get, compute_cov=True)
    return sample_gaussian(mean, cov, n_samples, seed)
