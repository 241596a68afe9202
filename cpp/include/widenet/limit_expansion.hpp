// The limit kernels' expectations by the Hermite expansion (limit_kernels.hpp): Mehler's
// formula E[f(sqrt(q1) xi) g(sqrt(q2) eta)] = sum_k a_k(q1) b_k(q2) rho^k with
// a_k(q) = E[f(sqrt(q) xi) h_k(xi)], h_k the normalized probabilists' Hermite polynomials.
// Each point's coefficients (normalized by its scales) and the roots of their relative tails
// are computed once by a composite Gauss-Legendre rule graded toward 1/sqrt(q); a pair sums
// its two series until |rho|^(K+1) u_x(K) u_z(K) <= kExpansionTolerance, the Cauchy-Schwarz
// bound of the rest, or reports that the bound is not met by kExpansionDegree (the caller
// then falls back on the activation's other method). The derivation, the constants and the
// measurements are in the numpy twin, python/widenet/reference/limit_kernels/expansion.py.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

#include "widenet/activations.hpp"
#include "widenet/limit_common.hpp"
#include "widenet/limit_quadrature.hpp"
#include "widenet/limit_rules.hpp"
#include "widenet/types.hpp"

namespace widenet {

// The activations the expansion takes (EXPANSIONS in the twin).
inline constexpr Activation kExpansions[] = {Activation::tanh,   Activation::sigmoid,
                                             Activation::softplus, Activation::arctan,
                                             Activation::erf,    Activation::gelu,
                                             Activation::silu,   Activation::elu};

namespace limit {

constexpr double kExpansionTolerance = 1e-10;  // truncation bound of an entry, of its scale
constexpr Index kExpansionDegree = 64;         // the largest degree of the series
constexpr Index kExpansionOrder = 16;          // Gauss-Legendre nodes per panel of the rule
constexpr double kExpansionPanel = 1.0;        // width of the rule's plain panels
constexpr double kExpansionReach = 13.0;       // the rule covers |x| <= kExpansionReach
constexpr double kExpansionTailFloor = 1e-12;  // rounding of 1 - sum A_k^2 and the rule's error

using Coefficients = std::array<double, kExpansionDegree + 1>;

// One point's side: sqrt(E[s^2]), sqrt(E[s'^2]), E[s(u) s(-u)], E[s'(u) s'(-u)], the
// coefficients A_k = a_k / scale and B_k = b_k / slope_scale, and the tail roots u(k).
struct ExpansionSide {
  double scale = 0, slope_scale = 0, antipodal = 0, slope_antipodal = 0;
  Coefficients coefficients{}, slope_coefficients{}, tail_roots{};
};

// The panels on x >= 0 of the rule for a point of variance q (expansion_panels in the twin).
inline std::vector<Panel> expansion_panels(double q) {
  const double scale = q > 0 ? 1 / std::sqrt(q) : std::numeric_limits<double>::infinity();
  std::vector<double> ends{0.0}, graded;
  graded_points(scale, kExpansionPanel, graded);
  for (const double point : graded) {
    if (point < kExpansionPanel) ends.push_back(point);
  }
  const int pieces = static_cast<int>(std::ceil(kExpansionReach / kExpansionPanel));
  for (int j = 1; j <= pieces; ++j) ends.push_back(kExpansionPanel * j);
  std::vector<Panel> panels;
  for (std::size_t i = 0; i + 1 < ends.size(); ++i) panels.push_back({ends[i], ends[i + 1]});
  return panels;
}

// a.b and a.c, summed in vector lanes (the sums are latency-bound one term at a time).
inline void dot_two(const double* a, const double* b, const double* c, std::size_t n, double& ab,
                    double& ac) {
  double sum_b = 0, sum_c = 0;
#pragma omp simd reduction(+ : sum_b, sum_c)
  for (std::size_t i = 0; i < n; ++i) {
    sum_b += a[i] * b[i];
    sum_c += a[i] * c[i];
  }
  ab = sum_b;
  ac = sum_c;
}

// Gauss-Legendre nodes on `panels` and their weights times the standard normal density,
// appended.
inline void gaussian_panels(const std::vector<Panel>& panels, std::vector<double>& x,
                            std::vector<double>& weights) {
  const GaussRule& legendre = gauss_legendre(kExpansionOrder);
  const LimitRules rules{legendre.nodes, legendre.weights, {}, {}};
  const std::size_t start = x.size();
  for (const Panel& panel : panels) panel_rule(panel.low, panel.high, rules, x, weights);
  for (std::size_t i = start; i < x.size(); ++i) {
    weights[i] = weights[i] * std::exp(-0.5 * x[i] * x[i]) / kSqrtTwoPi;
  }
}

// The panels of a rule that end below kExpansionPanel (a point's own), or the others (shared).
inline std::vector<Panel> panels_below(std::vector<Panel> panels, bool below) {
  const auto other = [&](const Panel& panel) { return (panel.high <= kExpansionPanel) != below; };
  panels.erase(std::remove_if(panels.begin(), panels.end(), other), panels.end());
  return panels;
}

// The nodes of the plain panels beyond the first, [kExpansionPanel, kExpansionReach], which
// every point's rule shares, their weights, and h_k there (a row per degree): made once.
struct SharedNodes {
  std::vector<double> x, weights, basis;
};

inline const SharedNodes& shared_nodes() {
  static const SharedNodes shared = [] {
    SharedNodes out;
    gaussian_panels(panels_below(expansion_panels(0.0), false), out.x, out.weights);
    const std::size_t n = out.x.size();
    out.basis.resize(std::size_t(kExpansionDegree + 1) * n);
    std::vector<double> previous(n, 0.0), current(n, 1.0);
    for (Index k = 0; k <= kExpansionDegree; ++k) {
      std::copy(current.begin(), current.end(), out.basis.begin() + std::ptrdiff_t(std::size_t(k) * n));
      const double root = std::sqrt(double(k)), inverse = 1 / std::sqrt(double(k + 1));
      for (std::size_t i = 0; i < n; ++i) {  // h_(k+1) = (x h_k - sqrt(k) h_(k-1)) / sqrt(k + 1)
        const double next = (out.x[i] * current[i] - root * previous[i]) * inverse;
        previous[i] = current[i];
        current[i] = next;
      }
    }
    return out;
  }();
  return shared;
}

// The coefficients a_k = sum_i w_i f(x_i) h_k(x_i) of sigma and sigma' on the rule's half
// x > 0 (the point's own first `near` nodes, then the shared ones), from the values at +x and
// then at -x: against the even and odd parts f(x) +- f(-x), since h_k(-x) = (-1)^k h_k(x);
// h_k by its recurrence on the point's own nodes, from the shared table on the others.
inline void hermite_coefficients(const std::vector<double>& x, const std::vector<double>& weights,
                                 std::size_t near, const std::vector<double>& values,
                                 const std::vector<double>& slopes, Coefficients& value_coefficients,
                                 Coefficients& slope_coefficients) {
  const std::size_t n = x.size(), far = n - near;
  const SharedNodes& shared = shared_nodes();
  std::vector<double> parts(4 * n), previous(near, 0.0), current(near, 1.0);  // even, odd of s, s'
  for (std::size_t i = 0; i < n; ++i) {
    parts[i] = weights[i] * (values[i] + values[n + i]);
    parts[n + i] = weights[i] * (values[i] - values[n + i]);
    parts[2 * n + i] = weights[i] * (slopes[i] + slopes[n + i]);
    parts[3 * n + i] = weights[i] * (slopes[i] - slopes[n + i]);
  }
  for (Index k = 0; k <= kExpansionDegree; ++k) {
    const double* value_part = parts.data() + std::size_t(k % 2) * n;
    const double* slope_part = parts.data() + std::size_t(2 + k % 2) * n;
    double value_near, slope_near, value_far, slope_far;
    dot_two(current.data(), value_part, slope_part, near, value_near, slope_near);
    dot_two(shared.basis.data() + std::size_t(k) * far, value_part + near, slope_part + near, far,
            value_far, slope_far);
    value_coefficients[std::size_t(k)] = value_near + value_far;
    slope_coefficients[std::size_t(k)] = slope_near + slope_far;
    const double root = std::sqrt(double(k)), inverse = 1 / std::sqrt(double(k + 1));
    for (std::size_t i = 0; i < near; ++i) {  // h_(k+1) = (x h_k - sqrt(k) h_(k-1)) / sqrt(k + 1)
      const double next = (x[i] * current[i] - root * previous[i]) * inverse;
      previous[i] = current[i];
      current[i] = next;
    }
  }
}

// sqrt(moment), the coefficients divided by it, and their relative tails
// 1 - sum_(j<=k) A_j^2 (all 0 where the scale is: sigma = 0 almost surely).
inline double normalize(double moment, Coefficients& coefficients, Coefficients& tail) {
  const double scale = std::sqrt(moment);
  double sum = 0;
  for (std::size_t k = 0; k < coefficients.size(); ++k) {
    coefficients[k] = scale > 0 ? coefficients[k] / scale : 0.0;
    sum += coefficients[k] * coefficients[k];
    tail[k] = scale > 0 ? std::max(1 - sum, 0.0) : 0.0;
  }
  return scale;
}

// The largest |v| of `values` (0 if none), and the values divided by it.
inline double divide_by_largest(std::vector<double>& values) {
  double size = 0;
  for (const double v : values) size = std::max(size, std::abs(v));
  if (size > 0) {
    for (double& v : values) v /= size;
  }
  return size;
}

// A point's side at variance q >= 0 (expansion_side in the twin). The values of sigma and
// sigma' are divided by their largest magnitude M before they are squared (sigma^2 overflows
// near the float64 limit where E[sigma^2] does not); the scales are M times theirs.
inline ExpansionSide expansion_side(Activation activation, double q) {
  std::vector<double> x, weights;  // the point's own nodes, then the shared ones
  gaussian_panels(panels_below(expansion_panels(q), true), x, weights);
  const std::size_t near = x.size();
  x.insert(x.end(), shared_nodes().x.begin(), shared_nodes().x.end());
  weights.insert(weights.end(), shared_nodes().weights.begin(), shared_nodes().weights.end());
  const std::size_t n = x.size();
  const double root = std::sqrt(q);
  std::vector<double> values(2 * n), slopes;  // at +root x, then at -root x
  for (std::size_t i = 0; i < n; ++i) {
    values[i] = root * x[i];
    values[n + i] = -root * x[i];
  }
  evaluate(activation, values, slopes);  // values now holds sigma
  const double size = divide_by_largest(values), slope_size = divide_by_largest(slopes);
  double moment = 0, slope_moment = 0, product = 0, slope_product = 0;
  for (std::size_t i = 0; i < n; ++i) {
    moment += weights[i] * (values[i] * values[i] + values[n + i] * values[n + i]);
    slope_moment += weights[i] * (slopes[i] * slopes[i] + slopes[n + i] * slopes[n + i]);
    product += weights[i] * (values[i] * values[n + i]);
    slope_product += weights[i] * (slopes[i] * slopes[n + i]);
  }
  ExpansionSide side;
  hermite_coefficients(x, weights, near, values, slopes, side.coefficients, side.slope_coefficients);
  Coefficients tail, slope_tail;
  side.scale = size * normalize(moment, side.coefficients, tail);
  side.slope_scale = slope_size * normalize(slope_moment, side.slope_coefficients, slope_tail);
  side.antipodal = size * (size * (2 * product));
  side.slope_antipodal = slope_size * (slope_size * (2 * slope_product));
  for (std::size_t k = 0; k < tail.size(); ++k) {
    side.tail_roots[k] = std::sqrt(std::max(tail[k], slope_tail[k]) + kExpansionTailFloor);
  }
  return side;
}

// |rho|^(kExpansionDegree + 1), by squaring (last_power in the twin).
inline double last_power(double rho) {
  double result = 1, base = std::abs(rho);
  for (Index exponent = kExpansionDegree + 1; exponent > 0; exponent /= 2) {
    if (exponent % 2 == 1) result *= base;
    base *= base;
  }
  return result;
}

// The pair's E_ss, E_dd by the two series, summed to the first degree whose bound is met;
// false (out untouched) if none is met by kExpansionDegree: both factors of the bound fall
// with the degree, so that is known from the last one before any term is summed. A point
// with itself or its opposite (equal variances, rho = +-1) takes its own moments.
inline bool expansion_expectations(const ExpansionSide& one, const ExpansionSide& two, const Pair& p,
                                   Expectations& out) {
  if (p.q1 == p.q2 && std::abs(p.rho) == 1) {
    out = p.rho > 0 ? Expectations{one.scale * one.scale, one.slope_scale * one.slope_scale}
                    : Expectations{one.antipodal, one.slope_antipodal};
    return true;
  }
  // (below |rho| = 1/2 the last bound, under 2^-65 (1 + 1e-12), is always met: not computed)
  if (std::abs(p.rho) > 0.5 &&
      last_power(p.rho) * (one.tail_roots.back() * two.tail_roots.back()) > kExpansionTolerance) {
    return false;
  }
  double power = 1, ss = 0, dd = 0;
  for (std::size_t k = 0; k < one.coefficients.size(); ++k) {
    ss += one.coefficients[k] * two.coefficients[k] * power;
    dd += one.slope_coefficients[k] * two.slope_coefficients[k] * power;
    power *= p.rho;
    if (std::abs(power) * (one.tail_roots[k] * two.tail_roots[k]) <= kExpansionTolerance) {
      out = {one.scale * two.scale * ss, one.slope_scale * two.slope_scale * dd};
      return true;
    }
  }
  return false;
}

}  // namespace limit

}  // namespace widenet
