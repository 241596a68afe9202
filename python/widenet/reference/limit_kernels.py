"""Infinite-width kernels of the one-hidden-layer network (SPEC sections 5 and 6).

The numpy twin of the C++ infinite-width-kernel header. With the pre-activation
``h_x = u.x + b``, ``u_j ~ D(0, s_w^2/d)`` and ``b ~ D(0, s_b^2)``, a Gaussian ``D`` makes
``(h_x, h_z)`` centered Gaussian with covariance

    Sigma(x, z) = s_w^2 x.z / d + s_b^2                       (Theorem 11.16)

and everything below is built from the two expectations

    E_ss(x, z) = E[sigma(h_x) sigma(h_z)],    E_dd(x, z) = E[sigma'(h_x) sigma'(h_z)].

The kernels (``s_v^2 = output_var``, ``s_c^2 = output_bias_var``):

- LeCun, ``kind="ntk"``: ``K_LC = E_ss``, the limit of ``K_n / n`` (Theorem 11.16);
- NTK parametrization, ``kind="ntk"``:
  ``K_NTK = s_v^2 (x.z/d + 1) E_dd + E_ss + 1`` (Theorem 11.30);
- ``kind="nngp"``, either parametrization: ``s_v^2 E_ss + s_c^2``, the covariance of the
  Gaussian process the outputs converge to at initialization (Prop. 11.28).

The expectations come from closed forms (ReLU: Example 11.17, Example 11.31 and
Exercise 11.36; erf: the arcsine kernel; identity), from a two-dimensional quadrature
rule on composite Gauss-Legendre nodes (any activation), or from Monte Carlo over the
hidden units (any activation and any law ``D``). Every function computes in float64 and
is vectorised over pairs of points: ``X1`` is (m1, d), ``X2`` is (m2, d) and the results
are (m1, m2).
"""

from __future__ import annotations

import math

import numpy as np

from . import activations as _act

CLOSED_FORMS = ("relu", "erf", "identity")
PARAMETRIZATIONS = ("lecun", "ntk")
KINDS = ("ntk", "nngp")
METHODS = ("auto", "closed_form", "quadrature")
DISTRIBUTIONS = ("normal", "uniform", "rademacher")

# Floats held at once by the inner (pairs x q) block of the quadrature, and by a Monte
# Carlo chunk of hidden units (chunk * (m1 + m2)).
_BLOCK_FLOATS = 1 << 20


def _choice(value, name, options):
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name} must be one of {', '.join(options)}; got {value!r}")
    return value


def _points(X1, X2):
    X1 = np.asarray(X1, dtype=np.float64)
    X2 = np.asarray(X2, dtype=np.float64)
    if X1.ndim != 2 or X2.ndim != 2 or X1.shape[1] != X2.shape[1] or X1.shape[1] == 0:
        raise ValueError(f"X1 and X2 must be 2-D with the same number (>= 1) of columns; got shapes {X1.shape} "
                         f"and {X2.shape}")
    return X1, X2


def _variances(S11, S22, S12):
    S11 = np.asarray(S11, dtype=np.float64)
    S22 = np.asarray(S22, dtype=np.float64)
    S12 = np.asarray(S12, dtype=np.float64)
    if S11.ndim != 1 or S22.ndim != 1 or S12.shape != (S11.shape[0], S22.shape[0]):
        raise ValueError(f"S11 (m1,), S22 (m2,) and S12 (m1, m2) expected; got shapes {S11.shape}, "
                         f"{S22.shape} and {S12.shape}")
    return S11, S22, S12


def _correlations(S11, S22, S12):
    """``rho = S12 / sqrt(S11 S22)`` clipped to [-1, 1]; 0 where ``S11 S22 = 0`` (then one of
    the two pre-activations is 0 almost surely and the correlation does not matter)."""
    scale = np.sqrt(S11[:, None] * S22[None, :])
    positive = scale > 0
    rho = np.divide(S12, scale, out=np.zeros_like(S12), where=positive)
    return np.clip(rho, -1.0, 1.0), scale


def covariances(X1, X2, weight_var=1.0, bias_var=0.0):
    """Covariances of the pre-activations ``h_x = u.x + b`` (Theorem 11.16, Exercise 11.37).

    ``Sigma(x, z) = s_w^2 x.z / d + s_b^2``.

    Parameters
    ----------
    X1 : ndarray, shape (m1, d)
    X2 : ndarray, shape (m2, d)
    weight_var, bias_var : float
        ``s_w^2`` and ``s_b^2``.

    Returns
    -------
    S11 : ndarray, shape (m1,)
        ``Sigma(x, x)`` for the rows of ``X1``.
    S22 : ndarray, shape (m2,)
        ``Sigma(z, z)`` for the rows of ``X2``.
    S12 : ndarray, shape (m1, m2)
        ``Sigma(x, z)``.
    """
    X1, X2 = _points(X1, X2)
    scale = float(weight_var) / X1.shape[1]
    bias_var = float(bias_var)
    S11 = scale * np.sum(X1 * X1, axis=1) + bias_var
    S22 = scale * np.sum(X2 * X2, axis=1) + bias_var
    S12 = scale * (X1 @ X2.T) + bias_var
    return S11, S22, S12


def closed_form_expectations(S11, S22, S12, activation):
    """``E_ss = E[sigma(h_x) sigma(h_z)]`` and ``E_dd = E[sigma'(h_x) sigma'(h_z)]`` in closed form.

    ``(h_x, h_z)`` is centered Gaussian with variances ``S11, S22`` and covariance ``S12``.

    - relu (Example 11.17, Example 11.31, Exercise 11.36): with
      ``t = arccos(S12 / sqrt(S11 S22))``,
      ``E_ss = sqrt(S11 S22) / (2 pi) (sin t + (pi - t) cos t)``,
      ``E_dd = (pi - t) / (2 pi)``; both are 0 where ``S11 S22 = 0`` (then ``h = 0``
      almost surely and ``relu(0) = relu'(0) = 0``).
    - erf (the arcsine kernel):
      ``E_ss = (2/pi) asin(2 S12 / sqrt((1 + 2 S11)(1 + 2 S22)))``; from
      ``erf'(u) = (2/sqrt(pi)) e^{-u^2}`` and ``E[e^{-h_x^2 - h_z^2}] = det(I + 2 Sigma)^{-1/2}``,
      ``E_dd = (4/pi) / sqrt((1 + 2 S11)(1 + 2 S22) - 4 S12^2)``.
    - identity: ``E_ss = S12``, ``E_dd = 1``.

    Parameters
    ----------
    S11 : ndarray, shape (m1,)
    S22 : ndarray, shape (m2,)
    S12 : ndarray, shape (m1, m2)
        As returned by :func:`covariances`.
    activation : {"relu", "erf", "identity"}

    Returns
    -------
    E_ss, E_dd : ndarray, shape (m1, m2)

    Raises
    ------
    ValueError
        For an activation without a closed form.
    """
    S11, S22, S12 = _variances(S11, S22, S12)
    if activation == "relu":
        rho, scale = _correlations(S11, S22, S12)
        t = np.arccos(rho)
        E_ss = scale / (2 * math.pi) * (np.sin(t) + (math.pi - t) * np.cos(t))
        E_dd = np.where(scale > 0, (math.pi - t) / (2 * math.pi), 0.0)
        return E_ss, E_dd
    if activation == "erf":
        a = 1 + 2 * S11[:, None]
        c = 1 + 2 * S22[None, :]
        E_ss = (2 / math.pi) * np.arcsin(np.clip(2 * S12 / np.sqrt(a * c), -1.0, 1.0))
        E_dd = (4 / math.pi) / np.sqrt(a * c - 4 * S12 * S12)
        return E_ss, E_dd
    if activation == "identity":
        return S12.copy(), np.ones_like(S12)
    raise ValueError(f"activation: closed forms exist for {', '.join(CLOSED_FORMS)} only; got {activation!r} "
                     f"(use the quadrature)")


def gaussian_rule(order=64, half_width=8.0, panels=None):
    """Nodes and weights for ``E[f(a)]``, ``a ~ N(0, 1)``: composite Gauss-Legendre.

    ``[-half_width, half_width]`` is cut into ``panels`` equal panels (an even number, so
    that 0 is a panel boundary: kinks of ReLU-like activations at 0 fall between panels),
    each carrying ``order / panels`` Gauss-Legendre nodes; the weights are multiplied by
    the standard normal density. Unlike Gauss-Hermite, the accuracy does not collapse
    when the integrand ``f(sqrt(S) a)`` saturates for a large variance ``S`` (SPEC
    section 5).

    The defaults were chosen by measurement (erf against its closed form, arctan against
    order 1024): one Gauss-Legendre panel per half-line beats more, smaller panels of the
    same total order (polynomial degree wins over locality for these smooth integrands),
    and a range of 8 standard deviations beats 10 at order 64 because fewer nodes sit in
    the negligible tails. The mass dropped outside, ``2 P(a > 8) = 1.2e-15``, is at the
    rounding of ``sum(weights) = 1``; for an integrand growing like ``a^2`` it costs a
    relative ``8e-14``.

    Parameters
    ----------
    order : int, default 64
        Total number of nodes ``Q``.
    half_width : float, default 8.0
        Truncation of the real line, in standard deviations.
    panels : int, optional
        Number of equal panels: even, at least 2, dividing ``order``. Default: 2 (one
        Gauss-Legendre panel of ``order / 2`` nodes on each half-line), so ``order`` must
        then be even.

    Returns
    -------
    nodes, weights : ndarray, shape (order,)
        Increasing nodes, symmetric about 0; ``E[f(a)] ~= sum_p weights[p] f(nodes[p])``.
    """
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 2:
        raise ValueError(f"order must be an integer >= 2; got {order!r}")
    if panels is None:
        panels = 2
    if isinstance(panels, bool) or not isinstance(panels, (int, np.integer)) or panels < 2 or panels % 2:
        raise ValueError(f"panels must be an even integer >= 2; got {panels!r}")
    order, panels = int(order), int(panels)
    if order % panels:
        raise ValueError(f"order must be a multiple of panels (the same number of nodes in each panel); "
                         f"got order={order}, panels={panels}")
    half_width = float(half_width)
    if not (half_width > 0 and math.isfinite(half_width)):
        raise ValueError(f"half_width must be a positive finite number; got {half_width!r}")
    x, w = np.polynomial.legendre.leggauss(order // panels)
    edges = half_width * (np.arange(panels + 1) - panels // 2) / (panels // 2)  # exact 0 in the middle
    centres = 0.5 * (edges[:-1] + edges[1:])
    halves = 0.5 * (edges[1:] - edges[:-1])
    nodes = (centres[:, None] + halves[:, None] * x[None, :]).ravel()
    weights = (halves[:, None] * w[None, :]).ravel() * np.exp(-0.5 * nodes * nodes) / math.sqrt(2 * math.pi)
    return nodes, weights


def quadrature_expectations(S11, S22, S12, activation, nodes, weights, legendre=None, half_width=8.0):
    """``E_ss`` and ``E_dd`` by a two-dimensional tensor rule (SPEC section 5).

    With independent standard normals ``(a, b)`` and ``rho`` as in
    :func:`closed_form_expectations` (0 where ``S11 S22 = 0``):
    ``h_x = sqrt(S11) a``, ``h_z = sqrt(S22) (rho a + sqrt(1 - rho^2) b)`` and, in this
    order of terms,

        E[f(h_x) g(h_z)] ~= sum_p w_p f(h_x(a_p)) (sum_q w_q g(h_z(a_p, b_q)))

    with ``(f, g) = (sigma, sigma)`` for ``E_ss`` and ``(sigma', sigma')`` for ``E_dd``;
    as in the C++ kernel, ``h_z = along a_p + across b_q`` with ``along = sqrt(S22) rho``
    and ``across = sqrt(S22) sqrt(1 - rho^2)``, and the outer term is
    ``(w_p f) * inner``. The ``f`` values depend on the point ``x`` only and are computed
    once per point; the sum runs over ``p`` in a loop, vectorised over pairs and blocks of
    ``q``, so memory stays ``O(m1 m2 + m1 Q)`` beyond a fixed block. The rule is not
    exactly symmetric in ``(x, z)``: swapping the points changes the result by about its
    error.

    Parameters
    ----------
    S11, S22, S12
        As returned by :func:`covariances`.
    activation : str
        Any of :data:`~widenet.reference.ACTIVATIONS`.
    nodes, weights : ndarray, shape (Q,)
        A rule for ``E[f(a)]``, ``a ~ N(0, 1)``, e.g. from :func:`gaussian_rule`.
    legendre : (ndarray, ndarray), optional
        The Gauss-Legendre rule on ``[-1, 1]`` behind ``nodes`` (:func:`legendre_rule`).
        For relu, whose ``relu(h_z)`` bends at ``b = -along a_p / across``, the inner sum
        is then taken over two Gauss-Legendre panels, ``[-half_width, kink]`` and
        ``[kink, half_width]``, where the integrand is smooth (as the C++ kernel does).
    half_width : float
        The truncation of ``nodes`` (8, as in :func:`gaussian_rule`).

    Returns
    -------
    E_ss, E_dd : ndarray, shape (m1, m2)
    """
    S11, S22, S12 = _variances(S11, S22, S12)
    nodes = np.asarray(nodes, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    if nodes.ndim != 1 or nodes.shape != weights.shape:
        raise ValueError(f"nodes and weights must be 1-D of one length; got shapes {nodes.shape} and "
                         f"{weights.shape}")
    _act.activation(activation, np.zeros(1))  # unknown names fail before any work
    rho, _ = _correlations(S11, S22, S12)
    m1, m2 = S12.shape
    Q = nodes.shape[0]
    hx = np.sqrt(S11)[:, None] * nodes[None, :]  # (m1, Q)
    F_s = _act.activation(activation, hx)
    F_d = _act.activation_derivative(activation, hx)
    root = np.sqrt(S22)[None, :]
    along = root * rho  # (m1, m2): coefficient of a
    across = root * np.sqrt(1 - rho * rho)  # (m1, m2): coefficient of b
    block = max(1, min(Q, _BLOCK_FLOATS // max(1, m1 * m2)))
    E_ss = np.zeros((m1, m2))
    E_dd = np.zeros((m1, m2))
    split = legendre is not None and activation == "relu"
    for p in range(Q):
        shift = along * nodes[p]
        inner_s = np.zeros((m1, m2))
        inner_d = np.zeros((m1, m2))
        if split:
            inner_s, inner_d, done = _split_relu_inner(shift, across, legendre, half_width)
        else:
            done = np.zeros((m1, m2), dtype=bool)
        for q0 in range(0, Q, block):
            hz = shift[:, :, None] + across[:, :, None] * nodes[None, None, q0:q0 + block]
            w = weights[q0:q0 + block]
            inner_s += np.where(done, 0.0, _act.activation(activation, hz) @ w)
            inner_d += np.where(done, 0.0, _act.activation_derivative(activation, hz) @ w)
        E_ss += (weights[p] * F_s[:, p])[:, None] * inner_s
        E_dd += (weights[p] * F_d[:, p])[:, None] * inner_d
    return E_ss, E_dd


def legendre_rule(order=64):
    """The Gauss-Legendre rule on ``[-1, 1]`` with ``order / 2`` nodes: the one each half-line
    panel of :func:`gaussian_rule` (default panels) is built from."""
    return np.polynomial.legendre.leggauss(int(order) // 2)


def _split_relu_inner(shift, across, legendre, half_width):
    """``E_b[relu(shift + across b)]`` and ``E_b[relu'(...)]`` with the range cut at the kink
    ``b = -shift / across``, for the pairs whose kink lies inside the range (``done``)."""
    t, w = legendre
    inside = across > 0
    kink = np.where(inside, -shift / np.where(inside, across, 1.0), 0.0)
    done = inside & (np.abs(kink) < half_width)
    inner_s = np.zeros(shift.shape)
    inner_d = np.zeros(shift.shape)
    for low, high in ((-half_width, kink), (kink, half_width)):
        middle, half = 0.5 * (low + high), 0.5 * (high - low)
        b = middle[..., None] + half[..., None] * t if np.ndim(middle) else middle + half * t
        b = np.broadcast_to(b, shift.shape + t.shape)
        weight = (np.broadcast_to(half, shift.shape)[..., None] * w) * np.exp(-0.5 * b * b) * (
            0.5 * (2 / math.sqrt(math.pi)) * math.sqrt(0.5))
        h = shift[..., None] + across[..., None] * b
        inner_s += np.where(done, np.sum(np.where(h > 0, weight * h, 0.0), axis=-1), 0.0)
        inner_d += np.where(done, np.sum(np.where(h > 0, weight, 0.0), axis=-1), 0.0)
    return inner_s, inner_d, done


def _standard_draws(rng, distribution, size):
    """Zero-mean, unit-variance draws from ``D`` (Assumption 11.14, Example 11.15)."""
    if distribution == "normal":
        return rng.standard_normal(size)
    if distribution == "uniform":
        return rng.uniform(-math.sqrt(3.0), math.sqrt(3.0), size)
    return 2.0 * rng.integers(0, 2, size).astype(np.float64) - 1.0


def _generator(seed):
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def monte_carlo_expectations(X1, X2, activation, weight_var=1.0, bias_var=0.0, samples=10000,
                             distribution="normal", seed=None):
    """``E_ss`` and ``E_dd`` by Monte Carlo over hidden units, for any law ``D`` (SPEC section 5).

    Draws ``samples`` independent hidden units ``u_j = sqrt(s_w^2/d) D``,
    ``b = sqrt(s_b^2) D`` (11.5.3) and averages ``sigma(u.x + b) sigma(u.z + b)`` and
    ``sigma'(u.x + b) sigma'(u.z + b)``. For a non-Gaussian ``D`` this is the limit
    expectation under that law, which differs from the Gaussian one when ``d`` is small.
    Units are processed in chunks (``chunk * (m1 + m2)`` floats at once); each chunk draws
    its ``u`` (chunk, d) and then its ``b`` (chunk,).

    Parameters
    ----------
    X1 : ndarray, shape (m1, d)
    X2 : ndarray, shape (m2, d)
    activation : str
        Any of :data:`~widenet.reference.ACTIVATIONS`.
    weight_var, bias_var : float
        ``s_w^2`` and ``s_b^2``.
    samples : int, default 10000
        Number of hidden units, at least 2.
    distribution : {"normal", "uniform", "rademacher"}
        ``D``: standard normal, uniform on ``[-sqrt 3, sqrt 3]`` or ``+-1``.
    seed : None, int or numpy.random.Generator

    Returns
    -------
    E_ss, E_dd : ndarray, shape (m1, m2)
        The sample means.
    se_ss, se_dd : ndarray, shape (m1, m2)
        Their standard errors, sample standard deviation over ``sqrt(samples)``.
    """
    X1, X2 = _points(X1, X2)
    _choice(distribution, "distribution", DISTRIBUTIONS)
    _act.activation(activation, np.zeros(1))
    if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or samples < 2:
        raise ValueError(f"samples must be an integer >= 2; got {samples!r}")
    samples = int(samples)
    rng = _generator(seed)
    (m1, d), m2 = X1.shape, X2.shape[0]
    w_scale = math.sqrt(float(weight_var) / d)
    b_scale = math.sqrt(float(bias_var))
    chunk = max(1, min(samples, _BLOCK_FLOATS // (m1 + m2)))
    sums = [np.zeros((m1, m2)) for _ in range(4)]  # sum ss, sum ss^2, sum dd, sum dd^2
    for start in range(0, samples, chunk):
        k = min(chunk, samples - start)
        U = w_scale * _standard_draws(rng, distribution, (k, d))
        b = b_scale * _standard_draws(rng, distribution, k)
        H1 = X1 @ U.T + b  # (m1, k)
        H2 = X2 @ U.T + b  # (m2, k)
        for offset, fn in ((0, _act.activation), (2, _act.activation_derivative)):
            A1, A2 = fn(activation, H1), fn(activation, H2)
            sums[offset] += A1 @ A2.T
            sums[offset + 1] += (A1 * A1) @ (A2 * A2).T
    out = []
    for total, squares in (sums[0:2], sums[2:4]):
        mean = total / samples
        variance = np.maximum(squares - samples * mean * mean, 0.0) / (samples - 1)
        out.append((mean, np.sqrt(variance / samples)))
    (E_ss, se_ss), (E_dd, se_dd) = out
    return E_ss, E_dd, se_ss, se_dd


def combine(E_ss, E_dd, X1, X2, parametrization, kind, output_var=1.0, output_bias_var=0.0):
    """The limit kernel from the two expectations (Theorems 11.16, 11.30; Prop. 11.28).

    - ``kind="ntk"``, ``parametrization="lecun"``: ``K_LC = E_ss`` (limit of ``K_n / n``);
    - ``kind="ntk"``, ``parametrization="ntk"``: ``s_v^2 (x.z/d + 1) E_dd + E_ss + 1``;
    - ``kind="nngp"``: ``s_v^2 E_ss + s_c^2``.

    Parameters
    ----------
    E_ss, E_dd : ndarray, shape (m1, m2)
    X1 : ndarray, shape (m1, d)
    X2 : ndarray, shape (m2, d)
    parametrization : {"lecun", "ntk"}
    kind : {"ntk", "nngp"}
    output_var, output_bias_var : float
        ``s_v^2`` and ``s_c^2``.

    Returns
    -------
    ndarray, shape (m1, m2)
    """
    _choice(parametrization, "parametrization", PARAMETRIZATIONS)
    _choice(kind, "kind", KINDS)
    E_ss = np.asarray(E_ss, dtype=np.float64)
    E_dd = np.asarray(E_dd, dtype=np.float64)
    if kind == "nngp":
        return float(output_var) * E_ss + float(output_bias_var)
    if parametrization == "lecun":
        return E_ss.copy()
    X1, X2 = _points(X1, X2)
    return float(output_var) * ((X1 @ X2.T) / X1.shape[1] + 1) * E_dd + E_ss + 1


def limit_kernel(X1, X2, activation, parametrization="lecun", kind="ntk", weight_var=1.0, bias_var=0.0,
                 output_var=1.0, output_bias_var=0.0, method="auto", order=64):
    """Infinite-width kernel Gram ``K(X1, X2)`` (Theorems 11.16, 11.30; Prop. 11.28).

    Parameters
    ----------
    X1 : ndarray, shape (m1, d)
    X2 : ndarray, shape (m2, d)
    activation : str
        Any of :data:`~widenet.reference.ACTIVATIONS`.
    parametrization : {"lecun", "ntk"}
    kind : {"ntk", "nngp"}
        The tangent-kernel limit or the output covariance at initialization.
    weight_var, bias_var, output_var, output_bias_var : float
        ``s_w^2, s_b^2, s_v^2, s_c^2``.
    method : {"auto", "closed_form", "quadrature"}
        "auto" uses the closed form for relu, erf and identity and the quadrature
        otherwise.
    order : int, default 64
        Nodes per dimension of the quadrature (:func:`gaussian_rule`).

    Returns
    -------
    ndarray, shape (m1, m2)
        With ``X2 is X1`` the lower triangle (``x`` = row point, the one integrated on
        the outer node ``a``) is mirrored to the upper one, as the C++ kernel does: the
        quadrature is not exactly symmetric in ``(x, z)`` (the difference is its error).
    """
    _choice(method, "method", METHODS)
    _choice(parametrization, "parametrization", PARAMETRIZATIONS)
    _choice(kind, "kind", KINDS)
    S11, S22, S12 = covariances(X1, X2, weight_var, bias_var)
    if X2 is X1:
        # A point's variance as its own covariance: its correlation with itself is then
        # exactly 1, where arccos is steep (as in the C++ kernel).
        S11 = S22 = np.diag(S12).copy()
    if method == "closed_form" or (method == "auto" and activation in CLOSED_FORMS):
        E_ss, E_dd = closed_form_expectations(S11, S22, S12, activation)
    else:
        E_ss, E_dd = quadrature_expectations(S11, S22, S12, activation, *gaussian_rule(order),
                                             legendre=legendre_rule(order))
    kernel = combine(E_ss, E_dd, X1, X2, parametrization, kind, output_var, output_bias_var)
    if X2 is X1:
        lower = np.tril(kernel)
        kernel = lower + np.tril(kernel, -1).T
    return kernel
