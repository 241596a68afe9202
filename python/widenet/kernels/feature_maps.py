"""Explicit feature maps ``phi`` with ``K(x, z) = <phi(x), phi(z)>`` (docs/theory.md, section 2).

- :func:`quadratic_features`: the map ``(1, x1, x2, x1 x2, x1^2, x2^2)`` of Example 11.5
  (11.2.6), and :func:`example_11_5_datasets`, the two datasets of that example;
- :func:`polynomial_features`: the polynomial kernel ``(coef0 + x.z)^r`` as an inner
  product of weighted monomials (Exercise 11.35, multinomial formula);
- :func:`rbf_features`: the RBF kernel ``exp(-gamma |x - z|^2)`` truncated at a total
  degree (Exercise 11.34);
- :func:`separating_features`: a map into ``R^m`` that makes every labelling of ``m``
  distinct points linearly separable (Exercise 11.33).

Every map takes the points as the rows of a 2-D array and returns one row of features
per point, in float64.
"""

from __future__ import annotations

import itertools
import math
from typing import Callable, Optional

import numpy as np
from numpy.typing import ArrayLike, NDArray

from widenet import _memory
from widenet import _validation as check
from widenet._types import Seed

Dataset = tuple[NDArray[np.float64], NDArray[np.float64]]

_FLOAT64 = np.dtype(np.float64)


def _count_at_most(n: int, k: int, cap: int) -> int:
    """Return ``C(n, k)``, or ``cap + 1`` when it exceeds ``cap``.

    No huge number is formed: the partial products ``C(n - k + i, i)`` at least double at
    every step.
    """
    k, value = min(k, n - k), 1
    for i in range(1, k + 1):
        value = value * (n - k + i) // i
        if value > cap:
            return cap + 1
    return value


def feature_count(d: int, max_degree: int, min_degree: int = 0) -> int:
    """Return how many multi-indices ``a`` in ``N^d`` have ``min_degree <= |a| <= max_degree``.

    That is ``C(d + max_degree, d) - C(d + min_degree - 1, d)``, capped just above ``2**63``.
    """
    cap = 2**63
    below = _count_at_most(d + min_degree - 1, d, cap) if min_degree > 0 else 0
    return _count_at_most(d + max_degree, d, cap) - below


def _exponents(d: int, max_degree: int, min_degree: int = 0) -> NDArray[np.int64]:
    """Return all multi-indices ``a`` in ``N^d`` with ``min_degree <= |a| <= max_degree``.

    They come by increasing total degree; shape (count, d).
    """
    rows = np.zeros((feature_count(d, max_degree, min_degree), d), dtype=np.int64)
    row = 0
    for degree in range(min_degree, max_degree + 1):
        for combination in itertools.combinations_with_replacement(range(d), degree):
            for column in combination:
                rows[row, column] += 1
            row += 1
    return rows


def _monomials(X: NDArray[np.float64], exponents: NDArray[np.int64]) -> NDArray[np.float64]:
    """Return ``x^a = prod_i x_i^{a_i}`` for every row ``x`` of ``X`` and every row ``a``.

    One input column at a time (never an m x count x d array).
    """
    out = np.ones((X.shape[0], exponents.shape[0]))
    for column in range(X.shape[1]):
        out *= X[:, column, None] ** exponents[None, :, column]
    return out


# Rows of rbf_features recomputed by logarithms at once (each holds about five arrays of them).
_LOG_ROWS = 256


def _check_features(where: str, m: int, d: int, max_degree: int, min_degree: int, copies: int) -> None:
    """Guard the memory of a feature map with the exponents of ``_exponents``.

    It holds the multi-indices, and ``copies`` arrays of ``m x count`` while the features
    are formed.
    """
    count = feature_count(d, max_degree, min_degree)
    _memory.require(where, [("features and their factors", (m, count), np.float64, copies),
                            ("multi-indices", (count, d), np.int64, 1),
                            ("weights per feature", (count,), np.float64, 4)],
                    f"Pass a lower degree or fewer input columns: there are {count} features per point.")


def _factorial(exponents: NDArray[np.int64]) -> NDArray[np.float64]:
    """Return ``a! = prod_i a_i!`` for every multi-index, as exact integers turned into floats."""
    return np.array([math.prod(math.factorial(int(k)) for k in a) for a in exponents], dtype=np.float64)


def quadratic_features(X: ArrayLike) -> NDArray[np.float64]:
    """Return the feature map ``phi(x) = (1, x1, x2, x1 x2, x1^2, x2^2)`` of Example 11.5 (11.2.6).

    With it, ``w^T phi(x)`` is an arbitrary polynomial of degree 2 in ``x``: a linear
    classifier in ``R^6`` has conic sections as decision boundaries in ``R^2``.

    Parameters
    ----------
    X : array_like, shape (m, 2)

    Returns
    -------
    ndarray of float64, shape (m, 6)

    Examples
    --------
    >>> import numpy as np, widenet
    >>> widenet.quadratic_features(np.array([[1.0, 2.0]])).shape
    (1, 6)
    """
    points = check.as_points(X, dtype=_FLOAT64, columns=2)
    x1, x2 = points[:, 0], points[:, 1]
    return np.column_stack([np.ones_like(x1), x1, x2, x1 * x2, x1**2, x2**2])


def example_11_5_datasets(m: int = 40, seed: Seed = None, margin: float = 0.3) -> tuple[Dataset, Dataset]:
    """Return the two labelled datasets of Example 11.5, points in ``[-1, 1]^2``, labels ``+-1``.

    1. Linearly separable: ``y = sign(l(x))``, ``l(x) = x2 - 0.5 x1 - 0.1``, an affine
       boundary, with ``|l(x)| > margin``.
    2. Not linearly separable: with ``q(x) = (x1 / 0.7)^2 + (x2 / 0.5)^2``, ``y = +1``
       inside the ellipse (``q < 1 - margin``) and ``y = -1`` on a ring around it
       (``1 + margin < q < 2.2``). The ``-1`` points surround the ``+1`` points, so no
       line separates them, while in the features ``x1^2, x2^2`` of (11.2.6) the
       boundary ``q = 1`` is a hyperplane.

    Each dataset has ``m // 2`` points of label ``-1`` and ``m - m // 2`` of label ``+1``
    in random order, drawn uniformly (by rejection) from these regions. With the default
    margin, the sign of the least-squares fit (the linear one for the first dataset, the
    one on the features (11.2.6) for the second) classifies every point correctly, as in
    the example; a much smaller margin lets least squares on ``+-1`` labels misclassify
    points near the boundary although the data stay separable.

    Parameters
    ----------
    m : int
        Points per dataset, >= 2.
    seed : None, int or numpy.random.Generator
    margin : float
        Gap around the decision boundary, in ``[0, 1)``, measured in ``l`` and ``1 - q``.

    Returns
    -------
    ((X1, y1), (X2, y2)) : X of shape (m, 2), y of shape (m,) with entries +-1 (float64)

    Examples
    --------
    >>> import widenet
    >>> (X, y), (X_ring, y_ring) = widenet.example_11_5_datasets(m=40, seed=0)
    >>> X.shape, sorted(set(y.tolist()))
    ((40, 2), [-1.0, 1.0])
    """
    m = check.integer(m, "m", 2)
    margin = check.non_negative_real(margin, "margin")
    if margin >= 1:
        raise ValueError(f"margin: expected a number in [0, 1), got {margin!r}")
    # per batch of 4m candidates: the points, their levels and the chosen ones; then both datasets
    _memory.require("example_11_5_datasets", [("candidate points and their levels", (4 * m, 3), np.float64, 2),
                                              ("datasets", (m, 3), np.float64, 2)], "Pass a smaller m.")
    rng = check.generator(seed)
    line = _labelled_points(lambda X: X[:, 1] - 0.5 * X[:, 0] - 0.1, np.inf, m, margin, rng)
    ellipse = _labelled_points(lambda X: 1.0 - (X[:, 0] / 0.7) ** 2 - (X[:, 1] / 0.5) ** 2, 1.2, m, margin, rng)
    return line, ellipse


def _labelled_points(level: Callable[[NDArray[np.float64]], NDArray[np.float64]], reach: float, m: int,
                     margin: float, rng: np.random.Generator) -> Dataset:
    """Return ``m`` points of ``[-1, 1]^2`` labelled ``sign(level(x))`` with ``margin < |level(x)| < reach``.

    There are ``m // 2`` negative and ``m - m // 2`` positive ones, in random order.
    """
    wanted = {-1.0: m // 2, 1.0: m - m // 2}
    chosen = {-1.0: np.empty((0, 2)), 1.0: np.empty((0, 2))}
    while any(len(chosen[label]) < count for label, count in wanted.items()):
        candidates = rng.uniform(-1.0, 1.0, size=(4 * m, 2))
        values = level(candidates)
        for label in chosen:
            fresh = candidates[(label * values > margin) & (np.abs(values) < reach)]
            chosen[label] = np.vstack([chosen[label], fresh])[:wanted[label]]
    X = np.vstack([chosen[-1.0], chosen[1.0]])
    y = np.concatenate([-np.ones(wanted[-1.0]), np.ones(wanted[1.0])])
    order = rng.permutation(m)
    return X[order], y[order]


def polynomial_features(X: ArrayLike, degree: int, coef0: float = 1.0) -> NDArray[np.float64]:
    """Return the explicit feature map of the polynomial kernel (Exercise 11.35).

    By the multinomial formula, with ``a_0 = r - |a|``::

        (coef0 + x.z)^r = sum_{|a| <= r} r! / (a_0! a!) coef0^{a_0} x^a z^a,

    so ``phi_a(x) = sqrt(r! coef0^{r - |a|} / ((r - |a|)! a!)) x^a`` over all multi-indices
    ``a`` of total degree ``|a| <= r`` (only ``|a| = r`` when ``coef0 = 0``) gives
    ``<phi(x), phi(z)> = (coef0 + x.z)^r`` up to rounding. There are ``C(d + r, r)``
    features, ordered by increasing total degree. For ``d = 2, r = 2, coef0 = 1`` they are
    those of (11.2.6) with ``x1, x2, x1 x2`` scaled by ``sqrt 2``.

    Parameters
    ----------
    X : array_like, shape (m, d)
    degree : int
        ``r >= 1``.
    coef0 : float
        ``c >= 0`` in ``(x.z + c)^r`` (Example 11.10).

    Returns
    -------
    ndarray of float64, shape (m, C(d + r, r)) (``(m, C(d + r - 1, r))`` if ``coef0 = 0``)

    Examples
    --------
    >>> import numpy as np, widenet
    >>> x, z = np.array([[1.0, 2.0]]), np.array([[0.5, -1.0]])
    >>> phi_x, phi_z = widenet.polynomial_features(x, 3), widenet.polynomial_features(z, 3)
    >>> bool(np.isclose(phi_x @ phi_z.T, (1.0 + x @ z.T) ** 3))
    True
    """
    points = check.as_points(X, dtype=_FLOAT64)
    degree = check.integer(degree, "degree", 1)
    coef0 = check.non_negative_real(coef0, "coef0")
    _check_features("polynomial_features", points.shape[0], points.shape[1], degree, degree if coef0 == 0 else 0,
                    copies=2)
    exponents = _exponents(points.shape[1], degree, degree if coef0 == 0 else 0)
    rest = degree - exponents.sum(axis=1)
    multinomial = np.array([math.factorial(degree) // (math.factorial(int(k)) * math.prod(map(math.factorial, a)))
                            for k, a in zip(rest, exponents.tolist())], dtype=np.float64)
    return np.sqrt(multinomial * coef0**rest) * _monomials(points, exponents)


def rbf_features(X: ArrayLike, gamma: float, order: int) -> NDArray[np.float64]:
    """Return the RBF kernel's feature map truncated at total degree ``order`` (Exercise 11.34).

    ``exp(-gamma |x - z|^2) = exp(-gamma |x|^2) exp(-gamma |z|^2) exp(2 gamma x.z)`` and
    ``exp(2 gamma x.z) = sum_a (2 gamma)^{|a|} / a! x^a z^a``, so::

        phi_a(x) = exp(-gamma |x|^2) sqrt((2 gamma)^{|a|} / a!) x^a,   a in N^d,

    is a feature map into ``l^2``. Keeping ``|a| <= order`` gives an inner product that
    falls short of the kernel by the tail
    ``exp(-gamma (|x|^2 + |z|^2)) sum_{k > order} (2 gamma x.z)^k / k!``, which tends to 0
    as ``order`` grows (super-exponentially once ``order > 2 gamma |x| |z|``).

    Parameters
    ----------
    X : array_like, shape (m, d)
    gamma : float
        ``c > 0`` in ``exp(-c |x - z|^2)`` (Example 11.10).
    order : int
        The largest total degree kept, >= 0.

    Returns
    -------
    ndarray of float64, shape (m, C(d + order, order))

    Examples
    --------
    >>> import numpy as np, widenet
    >>> x, z = np.array([[0.3, 0.1]]), np.array([[-0.2, 0.4]])
    >>> phi = widenet.rbf_features(np.vstack([x, z]), gamma=0.5, order=8)
    >>> bool(np.isclose(phi[0] @ phi[1], np.exp(-0.5 * np.sum((x - z) ** 2)), rtol=1e-8))
    True
    """
    points = check.as_points(X, dtype=_FLOAT64)
    gamma = check.positive_real(gamma, "gamma")
    order = check.integer(order, "order", 0)
    _check_features("rbf_features", points.shape[0], points.shape[1], order, 0, copies=3)
    exponents = _exponents(points.shape[1], order)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        weights = (2.0 * gamma) ** exponents.sum(axis=1) / _factorial(exponents)
        envelope = np.exp(-gamma * np.sum(points * points, axis=1))[:, None]
        features = envelope * np.sqrt(weights) * _monomials(points, exponents)
    overflowed = ~np.isfinite(features)
    # huge gamma or |x|: inf * 0 in the direct product; those rows again, by logarithms, a block at a time
    rows = np.flatnonzero(overflowed.any(axis=1))
    for start in range(0, len(rows), _LOG_ROWS):
        block = rows[start:start + _LOG_ROWS]
        fixed, bad = features[block], overflowed[block]
        fixed[bad] = _rbf_features_by_logs(points[block], gamma, exponents)[bad]
        features[block] = fixed
    return features


def _rbf_features_by_logs(X: NDArray[np.float64], gamma: float, exponents: NDArray[np.int64]) -> NDArray[np.float64]:
    """Return the features of :func:`rbf_features` as ``sign * exp(log |feature|)``.

    Each factor's logarithm is finite where the direct product overflows or underflows to
    ``inf * 0``.
    """
    log_weights = 0.5 * (exponents.sum(axis=1) * math.log(2.0 * gamma)
                         - np.array([sum(math.lgamma(k + 1) for k in a) for a in exponents]))
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        log_abs_x = np.log(np.abs(X))  # -inf at 0, used only with a positive exponent
        log_norm = 2.0 * np.log(np.linalg.norm(X, axis=1))  # log |x|^2 without squaring
        # one input column at a time: m x count arrays, never m x count x d
        powers, signs = np.zeros((X.shape[0], len(exponents))), np.ones((X.shape[0], len(exponents)))
        for column, powers_of_column in enumerate(exponents.T):
            powers += np.where(powers_of_column > 0, powers_of_column * log_abs_x[:, column, None], 0.0)
            signs *= np.where(powers_of_column % 2 == 1, np.sign(X[:, column, None]), 1.0)
        log_features = -np.exp(math.log(gamma) + log_norm)[:, None] + log_weights[None] + powers
        return signs * np.exp(log_features)


def separating_features(X_train: ArrayLike, X: Optional[ArrayLike] = None,
                        gamma: Optional[float] = None) -> NDArray[np.float64]:
    """Return a feature map into ``R^m`` that makes every labelling of the training points linearly separable.

    The ``m`` training points are distinct (Exercise 11.33).

    ``phi(x) = (exp(-gamma |x - x_j|^2))_{j=1..m}``, the RBF kernel against the training
    points. At the training points ``phi(x_i)`` is the ``i``-th row of the RBF Gram ``G``.
    With the default ``gamma = 2 ln(m) / delta^2``, ``delta`` the smallest distance
    between two training points, every off-diagonal entry of ``G`` is at most ``1/m^2``,
    so for any labels ``y in {-1, 1}^m``

        y_i <phi(x_i), y> = 1 + y_i sum_{j != i} G_ij y_j >= 1 - (m - 1)/m^2 > 0:

    the hyperplane through 0 with normal ``y`` itself separates the two classes (and ``G``
    is invertible, by Gershgorin, so ``<phi(x_i), G^{-1} y> = y_i`` also interpolates the
    labels). Any ``gamma > 0`` gives an invertible ``G`` in exact arithmetic (the RBF
    kernel is strictly positive definite), but a small one makes it ill-conditioned.

    Parameters
    ----------
    X_train : array_like, shape (m, d)
        Distinct points ``x_1, ..., x_m``.
    X : array_like, shape (n, d), optional
        Where to evaluate ``phi``; default ``X_train``.
    gamma : float, optional
        RBF width; default ``2 ln(m) / delta^2`` (``1`` when ``m = 1``).

    Returns
    -------
    ndarray of float64, shape (n, m)
        ``phi(X)``; the rows are the feature vectors.

    Examples
    --------
    >>> import numpy as np, widenet
    >>> X = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.0]])
    >>> y = np.array([1.0, -1.0, 1.0])  # any labels
    >>> bool(np.all(np.sign(widenet.separating_features(X) @ y) == y))
    True
    """
    train = check.as_points(X_train, "X_train", dtype=_FLOAT64)
    points = train if X is None else check.as_points(X, "X", dtype=_FLOAT64, columns=train.shape[1])
    m = train.shape[0]
    # the squared distances (an accumulator and a temporary), first among the training points
    # when gamma is to be found, then the features
    _memory.require("separating_features", _memory.peak([("squared distances", (m, m), np.float64,
                                                           2 if gamma is None else 0)],
                                                         [("squared distances and features", (points.shape[0], m),
                                                           np.float64, 2)]),
                    "Pass fewer points (the features of n points are n x m).")
    if gamma is None:
        squared = _squared_distances(train, train)
        np.fill_diagonal(squared, np.inf)  # the distances between two different points
        delta2 = float(np.min(squared, initial=np.inf))
        del squared
        if delta2 == 0:
            raise ValueError("X_train: expected distinct points, got two equal rows")
        gamma = 1.0 if m == 1 else 2.0 * math.log(m) / delta2
    gamma = check.positive_real(gamma, "gamma")
    return np.exp(-gamma * _squared_distances(points, train))


def _squared_distances(X1: NDArray[np.float64], X2: NDArray[np.float64]) -> NDArray[np.float64]:
    """Return ``|x - z|^2`` from the differences (exact for close points, unlike inner products).

    One input column at a time (never an n x m x d array).
    """
    squared = np.zeros((X1.shape[0], X2.shape[0]))
    for column in range(X1.shape[1]):
        squared += (X1[:, column, None] - X2[None, :, column]) ** 2
    return squared
