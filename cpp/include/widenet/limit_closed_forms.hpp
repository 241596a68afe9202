// The closed forms of the limit kernels' expectations E_ss and E_dd (limit_kernels.hpp):
// relu (arc-cosine kernels), erf and gelu (arcsine kernels), sin and identity.
#pragma once

#include <cmath>

#include "widenet/activations.hpp"
#include "widenet/limit_common.hpp"

namespace widenet::limit {

// x = c / sqrt(P1 P2), 1 - x^2 = (1 - rho^2) r1 r2 + e1 + r1 e2 (no cancellation) and
// sqrt(P1) sqrt(P2), for the variances P = q + v, r = q / P, e = v / P.
struct ArcsineTerms {
  double x, one_minus_x2, root;
};

inline ArcsineTerms arcsine_terms(const Pair& p, double v1, double v2) {
  const double P1 = p.q1 + v1, P2 = p.q2 + v2;
  const double r1 = p.q1 / P1, r2 = p.q2 / P2;
  return {p.rho * std::sqrt(r1) * std::sqrt(r2),
          p.one_minus_rho2 * r1 * r2 + v1 / P1 + r1 * (v2 / P2), std::sqrt(P1) * std::sqrt(P2)};
}

inline Expectations relu_expectations(const Pair& p) {
  const double root = std::sqrt(p.q1) * std::sqrt(p.q2), sine = std::sqrt(p.one_minus_rho2);
  const double angle = 0.5 * kPi + std::atan2(p.rho, sine);  // pi - arccos(rho)
  return {root / (2 * kPi) * (sine + angle * p.rho), root > 0 ? angle / (2 * kPi) : 0.0};
}

inline Expectations erf_expectations(const Pair& p) {
  const ArcsineTerms a = arcsine_terms(p, 0.5, 0.5);
  return {(2 / kPi) * std::atan2(a.x, std::sqrt(a.one_minus_x2)),
          (2 / kPi) / (a.root * std::sqrt(a.one_minus_x2))};
}

// (E cos(u - v) -+ E cos(u + v)) / 2 with the smaller half variance g written without
// cancellation.
inline Expectations sin_expectations(const Pair& p) {
  const double r1 = std::sqrt(p.q1), r2 = std::sqrt(p.q2), size = std::abs(p.rho) * r1 * r2;
  const double near = std::exp(-(0.5 * (r1 - r2) * (r1 - r2) + (1 - std::abs(p.rho)) * r1 * r2));
  const double sign = p.rho > 0 ? 1.0 : (p.rho < 0 ? -1.0 : 0.0);
  return {sign * near * (-std::expm1(-2 * size)) / 2, near * (1 + std::exp(-2 * size)) / 2};
}

inline Expectations gelu_expectations(const Pair& p) {
  const ArcsineTerms a = arcsine_terms(p, 1.0, 1.0);
  const double e1 = 1 / (p.q1 + 1), e2 = 1 / (p.q2 + 1);
  const double bracket = (p.q1 * e1) * (p.q2 * e2) * (p.one_minus_rho2 + p.rho * p.rho * (e1 + e2));
  const double sine = std::sqrt(a.one_minus_x2), angle = std::atan2(a.x, sine);
  return {a.root * (a.x / 4 + a.x * angle / (2 * kPi) + bracket / (2 * kPi * sine)),
          0.25 + angle / (2 * kPi) +
              a.x * (e1 + e2 + e2 * (e1 / a.one_minus_x2)) / (2 * kPi * sine)};
}

inline Expectations closed_form_expectations(Activation activation, const Pair& p,
                                             double covariance) {
  switch (activation) {
    case Activation::relu: return relu_expectations(p);
    case Activation::erf: return erf_expectations(p);
    case Activation::sin: return sin_expectations(p);
    case Activation::gelu: return gelu_expectations(p);
    default: return {covariance, 1.0};  // identity
  }
}

}  // namespace widenet::limit
