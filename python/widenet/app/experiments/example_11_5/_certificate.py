"""The certificate that no line separates a dataset: a point inside a triangle of the other label."""

from __future__ import annotations

import itertools

import numpy as np

from widenet.app.experiments._rounding import gamma
from widenet.app.experiments._statistics import FloatArray


def _products(p: FloatArray, q: FloatArray, points: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Return ``(a d, c b)``, the two products of the cross product ``(q - p) x (points - p)``."""
    a, d = (q - p)[..., :1], (points[..., 1] - p[..., 1:])
    c, b = (q - p)[..., 1:], (points[..., 0] - p[..., :1])
    return a * d, c * b


def orientation(p: FloatArray, q: FloatArray, points: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Return ``((q - p) x (points - p), rounding bound)``.

    The cross product's sign says on which side of the line through ``p`` and ``q`` each
    point lies; computed as ``a d - c b`` from rounded differences, its error is at most
    ``gamma_4 (|a d| + |c b|)``.
    """
    first, second = _products(p, q, points)
    return first - second, gamma(4) * (np.abs(first) + np.abs(second))


def triangle_certificate(X: FloatArray, y: FloatArray, inside_label: float = 1.0) -> list[int]:
    """Find a point of label ``inside_label`` strictly inside a triangle of points of the other label.

    It is returned as ``[point, corner, corner, corner]`` (indices), or ``[]`` if there is none.

    Such a point proves that no line separates the two labels: a closed half-plane that
    contains the three corners contains their convex hull, so the point is on their side.
    Candidates found from the computed orientations count only once each of their three
    orientations is beyond its rounding bound, so the certificate is exact.
    """
    inner = np.flatnonzero(y == inside_label)
    outer = np.flatnonzero(y != inside_label)
    if inner.size == 0 or outer.size < 3:
        return []
    P = X[inner]
    corners = np.array(list(itertools.combinations(outer, 3)))  # (T, 3) indices
    A, B, C = (X[corners[:, j]] for j in range(3))  # (T, 2) each

    def side(p: FloatArray, q: FloatArray) -> FloatArray:  # the computed orientation's sign, shape (T, points)
        first, second = _products(p, q, P)
        return np.sign(first - second)

    s1, s2, s3 = side(A, B), side(B, C), side(C, A)
    for triangle, point in np.argwhere((s1 == s2) & (s2 == s3) & (s1 != 0)):
        certificate = [int(inner[point]), *(int(i) for i in corners[triangle])]
        if certificate_clearance(X, certificate) > 1.0:
            return certificate
    return []


def certificate_clearance(X: FloatArray, certificate: list[int]) -> float:
    """Return the smallest ``|orientation| / rounding bound`` of the certificate's three sides.

    Above 1: every side certain; 0 for no certificate.
    """
    if not certificate:
        return 0.0
    point, *corners = certificate
    ratios = []
    for i, j in ((0, 1), (1, 2), (2, 0)):
        value, bound = orientation(X[corners[i]][None], X[corners[j]][None], X[point][None, None])
        ratios.append(float(np.abs(value).item() / bound.item()))
    return min(ratios)
