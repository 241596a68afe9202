// The limit kernels' expectations for tanh, sigmoid and softplus (limit_kernels.hpp): the
// logistic law is a scale mixture of Gaussians, so E_ss and E_dd are sums of closed arcsine
// and arc-cosine kernels over a Gauss rule for the mixing law.
#pragma once

#include <cmath>
#include <vector>

#include "widenet/activations.hpp"
#include "widenet/limit_common.hpp"
#include "widenet/types.hpp"

namespace widenet::limit {

// sigmoid, tanh and softplus as mixtures over the variance V of the logistic law:
// P = q + scale V per node, and E_ss = a + b A + c C, E_dd = d + e B + f A with the sums
// over node pairs (weights w_k w_l) A = arcsin(x), B = 1/(sqrt(P1 P2) sqrt(1 - x^2)),
// C = sqrt(P1 P2) (sqrt(1 - x^2) + (pi/2 + arcsin x) x).
struct LogisticMixture {
  double scale;
  double a, b, c, d, e, f;
};

inline LogisticMixture logistic_mixture(Activation activation) {
  const double over_two_pi = 1 / (2 * kPi);
  if (activation == Activation::sigmoid) return {1.0, 0.25, over_two_pi, 0, 0, over_two_pi, 0};
  if (activation == Activation::tanh) return {0.25, 0, 2 / kPi, 0, 0, 2 / kPi, 0};
  return {1.0, 0, 0, over_two_pi, 0.25, 0, over_two_pi};  // softplus
}

// A point's side of the mixture sums, per node: r = q / P, e = scale V / P, sqrt(r), sqrt(P).
struct MixtureSide {
  std::vector<double> r, e, root_r, root_P;
};

inline MixtureSide mixture_side(double q, double scale, const Vector<double>& variances) {
  const Index n = variances.size();
  MixtureSide side{std::vector<double>(n), std::vector<double>(n), std::vector<double>(n),
                   std::vector<double>(n)};
  for (Index k = 0; k < n; ++k) {
    const double v = scale * variances(k), P = q + v;
    side.r[k] = q / P;
    side.e[k] = v / P;
    side.root_r[k] = std::sqrt(side.r[k]);
    side.root_P[k] = std::sqrt(P);
  }
  return side;
}

inline Expectations mixture_expectations(const LogisticMixture& mix, const MixtureSide& one,
                                         const MixtureSide& two, double rho, double one_minus_rho2,
                                         const Vector<double>& weights) {
  const Index n = weights.size();
  const bool needs_C = mix.c != 0;
  double A = 0, B = 0, C = 0;
  for (Index k = 0; k < n; ++k) {
    double row_A = 0, row_B = 0, row_C = 0;
    const double rho_k = rho * one.root_r[k], om_k = one_minus_rho2 * one.r[k];
    for (Index l = 0; l < n; ++l) {
      const double x = rho_k * two.root_r[l];
      const double sine = std::sqrt(om_k * two.r[l] + one.e[k] + one.r[k] * two.e[l]);
      const double angle = scalar::arctan(x / sine);  // arcsin(x); sine >= sqrt(e) > 0
      const double root = one.root_P[k] * two.root_P[l];
      row_A += weights(l) * angle;
      if (needs_C) {
        row_C += weights(l) * root * (sine + (0.5 * kPi + angle) * x);
      } else {
        row_B += weights(l) / (root * sine);
      }
    }
    A += weights(k) * row_A;
    B += weights(k) * row_B;
    C += weights(k) * row_C;
  }
  return {mix.a + mix.b * A + mix.c * C, mix.d + mix.e * B + mix.f * A};
}

}  // namespace widenet::limit
