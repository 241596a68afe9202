"""Infinite-width kernels of the one-hidden-layer network (docs/theory.md, sections 5 and 6).

The numpy twin of the C++ infinite-width-kernel header. With the pre-activation
``h_x = u.x + b``, ``u_j ~ D(0, s_w^2/d)`` and ``b ~ D(0, s_b^2)``, a Gaussian ``D`` makes
``(h_x, h_z)`` centered Gaussian with covariance

    Sigma(x, z) = s_w^2 x.z / d + s_b^2                       (Theorem 11.16)

and everything below is built from the two expectations

    E_ss(x, z) = E[sigma(h_x) sigma(h_z)],    E_dd(x, z) = E[sigma'(h_x) sigma'(h_z)]

over a pair ``(u, v)`` with variances ``q1 = Sigma(x, x)``, ``q2 = Sigma(z, z)`` and
correlation ``rho = Sigma(x, z) / (sqrt(q1) sqrt(q2))``. The kernels (``s_v^2 = output_var``,
``s_c^2 = output_bias_var``):

- LeCun, ``kind="ntk"``: ``K_LC = E_ss``, the limit of ``K_n / n`` (Theorem 11.16);
- NTK parametrization, ``kind="ntk"``:
  ``K_NTK = s_v^2 (x.z/d + 1) E_dd + E_ss + 1`` (Theorem 11.30);
- ``kind="nngp"``, either parametrization: ``s_v^2 E_ss + s_c^2``, the covariance of the
  Gaussian process the outputs converge to at initialization (Prop. 11.28).

How the expectations are computed
---------------------------------
The pre-activation variances reach from ~0 to the largest float: an activation then changes
over a width ``1/sqrt(q)`` of the standardized variable, which no fixed set of nodes
resolves. Every method below is accurate at every variance:

- closed forms (:func:`closed_form_expectations`): relu (arc-cosine kernels), erf (arcsine
  kernel), identity, sin (``E[sin u sin v] = e^{-(q1+q2)/2} sinh(c)``, written through
  ``Var(u -+ v)``) and gelu (derived in :func:`closed_form_expectations`), each written in
  variables that neither overflow nor cancel; leaky_relu and abs (``a z + (b - a) relu(z)``:
  relu's arc-cosine kernels plus the covariance) and the monomials (Isserlis' theorem), in
  :func:`piecewise_expectations`;
- scale mixtures (:func:`scale_mixture_expectations`): the logistic density (``sigmoid'``,
  hence ``tanh'``) is a mixture of centred normal densities over the variance ``V``, with
  ``P(V <= v) = 1 + 2 sum_k (-1)^k e^{-k^2 v / 2}``. So sigmoid and tanh are mixtures of
  ``erf(t / sqrt(2V))``, softplus (whose derivative is the sigmoid) a mixture of
  Gaussian-smoothed relus, and their expectations are mixtures of the closed arcsine and
  arc-cosine kernels at ``(q1 + V1, q2 + V2, c)``. Those are smooth in ``log V`` whatever
  the variances, so one Gauss rule of :data:`LOGISTIC_NODES` nodes for the mixing law
  (:func:`logistic_mixing_rule`) serves every pair. The Cauchy density (``arctan' / pi``)
  is the normal mixture with ``1/V ~ chi^2_1``; for arctan the inner mixture integral has
  a closed form (through ``erfcx``), which leaves one integral per pair, taken by a Gauss-
  Legendre rule graded geometrically toward the scale ``1 / sqrt(2 q)`` of the point with
  the smaller variance (:func:`arctan_rule`);
- the graded quadrature (:func:`graded_quadrature_expectations`), for every activation:
  a tensor Gauss-Legendre rule in the standardized variables whose panels are graded
  geometrically (ratio :data:`GRADING`) toward the points where the activation, and the
  Gaussian smoothing of it that the inner integral makes, change; the grading stops where
  the activation has reached its asymptote (:data:`FEATURES`). It is independent of the
  two other methods and checks them. Its cost per pair is bounded for the other
  activations but grows like ``log(q)^2`` for arctan (no asymptote: panels over every
  scale) and like ``q`` for sin (oscillations), whose variances it therefore limits
  (:data:`QUADRATURE_MAX_VARIANCE`);
- the Hermite expansion (:func:`expansion_expectations`), for tanh, sigmoid, softplus,
  arctan, erf, gelu, silu and elu: Mehler's formula makes each expectation a power series in ``rho``
  whose coefficients are products of the two points' Hermite coefficients, computed once per
  point by a one-dimensional graded rule; a pair sums the series to the degree its
  Cauchy-Schwarz tail bound asks for, and the pairs it cannot bound (near ``|rho| = 1`` at
  large variances) fall back on the closed form or the scale mixture (on the graded
  quadrature for silu and elu, which have neither). ``"auto"`` takes it
  for tanh, sigmoid, softplus, arctan, silu and elu (:func:`auto_method`); the derivation is in
  :mod:`~widenet.reference.limit_kernels.expansion`.

The expansion, the quadrature and Monte Carlo also take an activation given as its two
functions (:class:`ActivationFunctions`, :mod:`~widenet.reference.limit_kernels.functions`):
the expansion then falls back on the quadrature.

The accuracy guarantee
----------------------
For the covariances as given (float64), every method computes each expectation within
:data:`TOLERANCE` ``= 1e-9`` of its scale,

    |E_ss - exact| <= 1e-9 sqrt(E[sigma(u)^2] E[sigma(v)^2]),
    |E_dd - exact| <= 1e-9 sqrt(E[sigma'(u)^2] E[sigma'(v)^2]),

(the closed forms to rounding; the scale mixtures to 1e-13; the expansion to its bound
1e-10; the quadrature to 6e-12 at its default order: measured over variances from 1e-300
to 1e300 and correlations in [-1, 1], tests/test_limit_accuracy.py and
tests/test_limit_expansion.py), and hence (Cauchy-Schwarz) every kernel entry within
``1e-9 sqrt(K(x, x) K(z, z))`` plus the rounding of the final sums. The covariances are
themselves rounded to float64: where the kernel is steep in them -- relu's ``E_dd`` and
every saturating activation at a large variance near ``|rho| = 1``, sin at a large
variance, whose kernel depends on ``q1 + q2 - 2c`` -- that rounding, not the method,
limits the accuracy (by ``|dE/drho| 2^-52`` and ``|dE/dc| 2^-52 q``). Values beyond the
float64 range come out as its IEEE limit (inf, or 0 below the subnormals).

Derivatives
-----------
:func:`expectation_partials` gives the partial derivatives of both expectations in the
covariance (Price's theorem, in closed form for :data:`GRADIENT_ACTIVATIONS`) and
:func:`deep_limit_kernel_gradient` the kernels' gradient in the log-variances through the
layer recursion (docs/theory.md, section 10). They have no compiled twin: they serve the
Gaussian-process kernel :class:`widenet.GPKernel`.

Every function computes in float64 and is vectorised over pairs of points: ``X1`` is
(m1, d), ``X2`` is (m2, d) and the results are (m1, m2).
"""

from widenet.reference.limit_kernels.arctan import (
    ARCTAN_BREAKS,
    ARCTAN_DD_START,
    ARCTAN_REACH,
    ARCTAN_SS_REACH,
    arctan_rule,
    erfcx,
)
from widenet.reference.limit_kernels.closed_forms import (
    arcsine_terms,
    closed_form_expectations,
)
from widenet.reference.limit_kernels.common import (
    CLOSED_FORMS,
    DISTRIBUTIONS,
    EXPANSIONS,
    GRADING,
    KINDS,
    LOGISTIC_NODES,
    MAX_ORDER,
    METHODS,
    ORDER,
    PARAMETRIZATIONS,
    SCALE_MIXTURES,
    TOLERANCE,
    Array,
    Distribution,
    Kind,
    Method,
    Pair,
    Panels,
    Parametrization,
    auto_method,
    covariances,
    gauss_legendre,
    graded_points,
    panel_rule,
)
from widenet.reference.limit_kernels.deep import deep_limit_kernel, deep_limit_kernel_pair
from widenet.reference.limit_kernels.derivatives import (
    GRADIENT_ACTIVATIONS,
    ArcPartials,
    Partials,
    arc_partials,
    expectation_partials,
)
from widenet.reference.limit_kernels.expansion import (
    EXPANSION_DEGREE,
    EXPANSION_ORDER,
    EXPANSION_PANEL,
    EXPANSION_REACH,
    EXPANSION_TAIL_FLOOR,
    EXPANSION_TOLERANCE,
    ExpansionSide,
    expansion_expectations,
    expansion_panels,
    expansion_side,
    series_expectations,
)
from widenet.reference.limit_kernels.fixed_rule import (
    gaussian_rule,
    legendre_rule,
    quadrature_expectations,
)
from widenet.reference.limit_kernels.functions import (
    DIFFERENCE_STEP,
    ActivationFunctions,
    CentralDifference,
    activation_functions,
)
from widenet.reference.limit_kernels.gradient import VARIANCES, deep_limit_kernel_gradient
from widenet.reference.limit_kernels.kernel import (
    combine,
    expectations,
    limit_kernel,
    limit_kernel_pair,
)
from widenet.reference.limit_kernels.mixtures import (
    logistic_mixing_density,
    logistic_mixing_rule,
    scale_mixture_expectations,
)
from widenet.reference.limit_kernels.monte_carlo import (
    monte_carlo_expectations,
)
from widenet.reference.limit_kernels.piecewise import PIECEWISE_FORMS, piecewise_expectations
from widenet.reference.limit_kernels.quadrature import (
    ASYMPTOTE_GAP,
    FEATURES,
    FUNCTION_FEATURES,
    HALF_WIDTH,
    PANEL_WIDTH_PER_NODE,
    QUADRATURE_MAX_VARIANCE,
    asymptote_radius,
    feature_grid,
    fine_reach,
    graded_quadrature_expectations,
    plain_panels,
    window_panels,
)

__all__ = [
    "Array",
    "CLOSED_FORMS",
    "PIECEWISE_FORMS",
    "DISTRIBUTIONS",
    "Distribution",
    "EXPANSIONS",
    "GRADING",
    "KINDS",
    "Kind",
    "LOGISTIC_NODES",
    "MAX_ORDER",
    "METHODS",
    "Method",
    "ORDER",
    "PARAMETRIZATIONS",
    "Pair",
    "Panels",
    "Parametrization",
    "SCALE_MIXTURES",
    "TOLERANCE",
    "auto_method",
    "covariances",
    "gauss_legendre",
    "graded_points",
    "panel_rule",
    "arcsine_terms",
    "closed_form_expectations",
    "piecewise_expectations",
    "logistic_mixing_density",
    "logistic_mixing_rule",
    "scale_mixture_expectations",
    "ARCTAN_BREAKS",
    "ARCTAN_DD_START",
    "ARCTAN_REACH",
    "ARCTAN_SS_REACH",
    "arctan_rule",
    "erfcx",
    "ASYMPTOTE_GAP",
    "FEATURES",
    "FUNCTION_FEATURES",
    "HALF_WIDTH",
    "PANEL_WIDTH_PER_NODE",
    "QUADRATURE_MAX_VARIANCE",
    "asymptote_radius",
    "feature_grid",
    "fine_reach",
    "graded_quadrature_expectations",
    "plain_panels",
    "window_panels",
    "gaussian_rule",
    "legendre_rule",
    "quadrature_expectations",
    "monte_carlo_expectations",
    "EXPANSION_DEGREE",
    "EXPANSION_ORDER",
    "EXPANSION_PANEL",
    "EXPANSION_REACH",
    "EXPANSION_TAIL_FLOOR",
    "EXPANSION_TOLERANCE",
    "ExpansionSide",
    "expansion_expectations",
    "expansion_panels",
    "expansion_side",
    "series_expectations",
    "DIFFERENCE_STEP",
    "ActivationFunctions",
    "CentralDifference",
    "activation_functions",
    "combine",
    "expectations",
    "limit_kernel",
    "limit_kernel_pair",
    "deep_limit_kernel",
    "deep_limit_kernel_pair",
    "GRADIENT_ACTIVATIONS",
    "ArcPartials",
    "Partials",
    "arc_partials",
    "expectation_partials",
    "VARIANCES",
    "deep_limit_kernel_gradient",
]
