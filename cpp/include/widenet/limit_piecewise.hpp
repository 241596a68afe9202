// Closed forms of the limit kernels' expectations E_ss, E_dd (limit_kernels.hpp) for the
// activations made of relu and powers: leaky_relu and abs, s(z) = a z below 0 and b z above,
// are a z + (b - a) relu(z), so their expectations are sums of relu's arc-cosine kernels and
// the covariance; the monomials' follow from Isserlis' theorem. The derivations are in the
// numpy twin, python/widenet/reference/limit_kernels/piecewise.py.
#pragma once

#include <cmath>

#include "widenet/activations.hpp"
#include "widenet/limit_closed_forms.hpp"
#include "widenet/limit_common.hpp"

namespace widenet::limit {

// s(z) = a z (z < 0), b z (z > 0), s'(0) = at_zero: with c = rho sqrt(q1 q2),
// E_ss = a b c + (b - a)^2 K_relu and E_dd = a b + (b - a)^2 D_relu. A point of variance 0
// sits at 0, independent of the other: there E_dd = E[s'(u)] E[s'(v)].
inline Expectations two_slope_expectations(const Pair& p, double a, double b, double at_zero) {
  const Expectations relu = relu_expectations(p);
  const double root = std::sqrt(p.q1) * std::sqrt(p.q2), jump = (b - a) * (b - a);
  const double ss = a * b * (p.rho * root) + jump * relu.ss;
  if (root > 0) return {ss, a * b + jump * relu.dd};
  const auto mean_slope = [&](double q) { return q > 0 ? 0.5 * (a + b) : at_zero; };
  return {ss, mean_slope(p.q1) * mean_slope(p.q2)};
}

// z^2: E_ss = q1 q2 + 2 c^2, E_dd = 4 c; z^3: E_ss = 9 q1 q2 c + 6 c^3, E_dd = 9 (q1 q2 + 2 c^2).
// Written with r = sqrt(q1 q2) and c = rho r, c first, so that nothing overflows before the
// result does.
inline Expectations monomial_expectations(const Pair& p, int degree) {
  const double r = std::sqrt(p.q1) * std::sqrt(p.q2), c = p.rho * r, even = 1 + 2 * p.rho * p.rho;
  if (degree == 2) return {r * r * even, 4 * c};
  return {(c * r) * r * (9 + 6 * p.rho * p.rho), 9 * (r * r * even)};
}

// The expectations of the activations of this header (has_piecewise_form).
inline Expectations piecewise_expectations(Activation activation, const Pair& p) {
  switch (activation) {
    case Activation::leaky_relu: return two_slope_expectations(p, kLeakyReluSlope, 1.0, kLeakyReluSlope);
    case Activation::abs: return two_slope_expectations(p, -1.0, 1.0, 0.0);
    case Activation::monomial2: return monomial_expectations(p, 2);
    default: return monomial_expectations(p, 3);
  }
}

inline bool has_piecewise_form(Activation activation) {
  return activation == Activation::leaky_relu || activation == Activation::abs ||
         activation == Activation::monomial2 || activation == Activation::monomial3;
}

}  // namespace widenet::limit
