// What the methods of the limit kernels (limit_kernels.hpp) share: the constants, a pair of
// points with its correlation, the two expectations of a pair, the 1-D rules the caller
// passes in, and the graded panels on which the arctan rule and the quadrature place
// Gauss-Legendre nodes.
#pragma once

#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

#include "widenet/types.hpp"

namespace widenet {

// The 1-D rules (limit_rules.hpp): Gauss-Legendre on [-1, 1] (`order` nodes, for the graded
// panels) and the Gauss rule of the logistic mixing law (variances, weights).
struct LimitRules {
  Vector<double> legendre_nodes, legendre_weights;
  Vector<double> mixture_variances, mixture_weights;
};

namespace limit {

constexpr double kPi = 3.14159265358979323846;
constexpr double kSqrtPi = 1.77245385090551602730;
constexpr double kSqrtTwoPi = 2.50662827463100050242;

// One pair: variances, correlation and 1 - rho^2 = (1 - rho)(1 + rho).
struct Pair {
  double q1, q2, rho, one_minus_rho2;
};

struct Expectations {
  double ss, dd;
};

// sqrt(a b): a itself for a = b (a point's correlation with itself is then exactly 1),
// else sqrt(a) sqrt(b) where a b would overflow or fall below the normal range.
inline double root_product(double a, double b) {
  if (a == b) return a;
  const double product = a * b;
  if (std::isfinite(product) && product >= std::numeric_limits<double>::min()) {
    return std::sqrt(product);
  }
  return std::sqrt(a) * std::sqrt(b);
}

constexpr double kGrading = 3.0;  // ratio of successive graded panels (GRADING)

// start, start r, ... up to the first point >= stop, or to the first whose next step would
// be wider than `width` (nothing unless 0 < start < inf); appended.
inline void graded_points(double start, double stop, std::vector<double>& points,
                          double width = std::numeric_limits<double>::infinity()) {
  if (!(start > 0 && start < std::numeric_limits<double>::infinity())) return;
  for (double point = start;; point *= kGrading) {
    points.push_back(point);
    if (point >= stop || point * (kGrading - 1) >= width) return;
  }
}

// Gauss-Legendre nodes and weights on the panel [low, high], appended.
inline void panel_rule(double low, double high, const LimitRules& rules, std::vector<double>& nodes,
                       std::vector<double>& weights) {
  const double middle = 0.5 * (low + high), half = 0.5 * (high - low);
  const Index n = rules.legendre_nodes.size();
  const std::size_t start = nodes.size();
  nodes.resize(start + n);
  weights.resize(start + n);
  for (Index i = 0; i < n; ++i) {
    nodes[start + i] = middle + half * rules.legendre_nodes(i);
    weights[start + i] = half * rules.legendre_weights(i);
  }
}

}  // namespace limit

}  // namespace widenet
