// The limit kernels' expectations for arctan (limit_kernels.hpp): one integral per pair
// on a Gauss-Legendre rule graded toward the scale of the point of smaller variance, with
// the rule and its weights built once per point.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <utility>
#include <vector>

#include "widenet/limit_common.hpp"

namespace widenet::limit {

constexpr double kArctanReach = 6.5, kArctanSsReach = 1e13, kArctanDdStart = 1e-7;
constexpr double kArctanBreaks[] = {1.0, 2.5, 4.5};

// e^{z^2} erfc(z) for z >= 0: z^2 split exactly (fma) below 26, the asymptotic series above.
inline double erfcx(double z) {
  if (z < 26.0) {
    const double square = z * z;
    return std::exp(square) * (1.0 + std::fma(z, z, -square)) * std::erfc(z);
  }
  const double inverse = (0.5 / z) / z;  // 1 / (2 z^2) without overflow
  double series = 1.0, term = 1.0;
  for (int k = 1; k <= 10; ++k) {
    term = -term * (2 * k - 1) * inverse;
    series += term;
  }
  return series / (z * kSqrtPi);
}

inline void sort_unique(std::vector<double>& points) {
  std::sort(points.begin(), points.end());
  points.erase(std::unique(points.begin(), points.end()), points.end());
}

// The rule of arctan's two integrals for a point of variance q (arctan_rule in the twin),
// with the per-node weights of E_ss and E_dd: t, w erfc(eta)/(1 + t^2), (w delta) eta e^{-eta^2}.
struct ArctanSide {
  double q = 0;
  std::vector<double> t, ss_weights, dd_weights;
};

// The panels (low, high) in t of arctan's rule for a point of variance q > 0.
inline std::vector<std::pair<double, double>> arctan_panels(double q) {
  const double delta = 1 / std::sqrt(2 * q);
  std::vector<double> breaks{0.0}, graded;
  graded_points(1.0, 1.0 / delta, graded);
  for (const double point : graded) {
    if (point * delta < 1.0) breaks.push_back(point);
  }
  for (const double eta : kArctanBreaks) breaks.push_back(eta / delta);
  breaks.push_back(kArctanReach / delta);
  sort_unique(breaks);
  std::vector<std::pair<double, double>> panels;
  for (std::size_t i = 0; i + 1 < breaks.size(); ++i) {
    const double low = breaks[i], high = breaks[i + 1];
    if (low < kArctanSsReach || high * delta > kArctanDdStart) panels.emplace_back(low, high);
  }
  return panels;
}

inline ArctanSide arctan_side(double q, const LimitRules& rules) {
  ArctanSide side;
  side.q = q;
  if (q == 0) return side;
  const double delta = 1 / std::sqrt(2 * q);
  std::vector<double> weights;
  for (const auto& [low, high] : arctan_panels(q)) panel_rule(low, high, rules, side.t, weights);
  for (std::size_t k = 0; k < side.t.size(); ++k) {
    const double t = side.t[k], eta = delta * t, inverse = 1 / t;
    const double lorentz = t <= 1 ? 1 / (1 + t * t) : inverse * inverse / (1 + inverse * inverse);
    side.ss_weights.push_back(weights[k] * std::erfc(eta) * lorentz);
    side.dd_weights.push_back((weights[k] * delta) * eta * std::exp(-eta * eta));
  }
  return side;
}

// arctan's E_ss, E_dd of a pair on the rule of its point of smaller variance (`first`);
// q2 >= first.q is the other point's variance.
inline Expectations arctan_expectations(const ArctanSide& first, double q2, double rho,
                                        double one_minus_rho2) {
  const double delta2 = 1 / std::sqrt(2 * q2);
  if (first.q == 0) return {0.0, q2 > 0 ? kSqrtPi * delta2 * erfcx(delta2) : 1.0};
  double S = 0, D = 0;
  for (std::size_t k = 0; k < first.t.size(); ++k) {
    const double t = first.t[k], inverse = 1 / t;
    double inverse_h, g;
    if (t <= 1) {
      inverse_h = 1 / std::sqrt(1 + one_minus_rho2 * (t * t));
      g = std::sqrt(1 + t * t) * inverse_h;
    } else {
      const double denominator = std::sqrt(one_minus_rho2 + inverse * inverse);
      inverse_h = inverse / denominator;
      g = std::sqrt(1 + inverse * inverse) / denominator;
    }
    const double X = erfcx(delta2 * g) * inverse_h;
    S += first.ss_weights[k] * X;
    D += first.dd_weights[k] * X;
  }
  return {0.5 * kPi * rho * S, 2 * kSqrtPi * delta2 * D};
}

}  // namespace widenet::limit
