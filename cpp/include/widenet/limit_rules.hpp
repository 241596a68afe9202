// The one-dimensional rules of the infinite-width kernels (limit_kernels.hpp), built once
// per process: Gauss-Legendre rules on [-1, 1], for the graded panels, and the Gauss rule
// of the logistic mixing law, for the scale mixtures of tanh, sigmoid and softplus. The
// numpy twin builds the same rules its own way (python/widenet/reference/limit_kernels/,
// whose docstring derives them); the tests compare the two.
#pragma once

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include <Eigen/Eigenvalues>

#include "widenet/types.hpp"

namespace widenet {

// Every method of the limit kernels computes each expectation within this much of its
// scale (the guarantee the numpy twin derives and the accuracy tests measure).
constexpr double kLimitTolerance = 1e-9;
constexpr Index kLimitOrder = 12;     // Gauss-Legendre nodes per graded panel, by default
constexpr Index kLimitMaxOrder = 64;  // more nodes per panel gain nothing in float64
constexpr Index kLogisticNodes = 12;  // nodes of the logistic mixing rule (error 1e-13)

struct GaussRule {
  Vector<double> nodes, weights;
};

namespace limit {

// P_n(x) and P_n'(x) by the three-term recurrence (|x| < 1).
inline void legendre(Index n, double x, double& value, double& slope) {
  double previous = 1.0, current = x;
  for (Index k = 2; k <= n; ++k) {
    const double next = (double(2 * k - 1) * x * current - double(k - 1) * previous) / double(k);
    previous = current;
    current = next;
  }
  value = n == 0 ? 1.0 : current;
  slope = double(n) * (x * current - previous) / (x * x - 1.0);
}

// The Gauss-Legendre rule of n >= 1 nodes: the roots of P_n by Newton's iteration from
// cos(pi (i - 1/4) / (n + 1/2)), weights 2 / ((1 - x^2) P_n'(x)^2), nodes in increasing
// order and mirrored exactly, weights scaled to sum to 2.
inline GaussRule build_gauss_legendre(Index n) {
  GaussRule rule{Vector<double>(n), Vector<double>(n)};
  constexpr double kPi = 3.14159265358979323846;
  for (Index i = 0; i < (n + 1) / 2; ++i) {
    double x = std::cos(kPi * (double(i) + 0.75) / (double(n) + 0.5));
    double value = 0, slope = 1;
    if (2 * i + 1 == n) {
      x = 0.0;  // the middle node of an odd rule
      legendre(n, x, value, slope);
    } else {
      for (int iteration = 0; iteration < 100; ++iteration) {
        legendre(n, x, value, slope);
        const double step = value / slope;
        x -= step;
        if (std::abs(step) < 1e-14) break;  // quadratic convergence: the error is now below eps
      }
      legendre(n, x, value, slope);
    }
    const double weight = 2.0 / ((1.0 - x * x) * slope * slope);
    rule.nodes(n - 1 - i) = x;
    rule.nodes(i) = -x;
    rule.weights(n - 1 - i) = rule.weights(i) = weight;
  }
  rule.weights *= 2.0 / rule.weights.sum();
  return rule;
}

// Density of the variance V that makes N(0, V) logistic (logistic_mixing_density in the
// twin): Jacobi's dual series below pi, the alternating series above.
inline double logistic_mixing_density(double v) {
  constexpr double kPi = 3.14159265358979323846;
  double density = 0;
  if (v < kPi) {
    for (int n = 0; n < 4; ++n) {
      const double a = 0.5 * (kPi * (2 * n + 1)) * (kPi * (2 * n + 1));
      density += 2 * std::sqrt(2 * kPi) * std::exp(-a / v) *
                 (a * std::pow(v, -2.5) - 0.5 * std::pow(v, -1.5));
    }
  } else {
    for (int k = 1; k <= 8; ++k) {
      density += double(k % 2 == 1 ? 1 : -1) * k * k * std::exp(-0.5 * k * k * v);
    }
  }
  return density;
}

// The Gauss rule of `nodes` nodes for the logistic mixing law, Gaussian in t = log V: the
// Stieltjes procedure on a trapezoid discretization of the law in t (step 0.05 on [-6, 8]),
// then the eigen-decomposition of the Jacobi matrix. Variances increasing, weights summing
// to 1 (logistic_mixing_rule in the twin).
inline GaussRule build_logistic_mixing_rule(Index nodes) {
  constexpr double kStep = 0.05;
  const Index points = Index(std::floor((8.0 - -6.0 + kStep / 2) / kStep)) + 1;
  const double step = (-6.0 + kStep) - -6.0;  // the grid of numpy's arange(-6, 8 + step/2, step)
  Eigen::ArrayXd t(points), mass(points);
  for (Index i = 0; i < points; ++i) {
    t(i) = -6.0 + double(i) * step;
    const double v = std::exp(t(i));
    mass(i) = kStep * logistic_mixing_density(v) * v;
  }
  Eigen::VectorXd alpha = Eigen::VectorXd::Zero(nodes), beta = Eigen::VectorXd::Zero(nodes);
  Eigen::ArrayXd previous = Eigen::ArrayXd::Zero(points), current = Eigen::ArrayXd::Ones(points);
  double norm = beta(0) = mass.sum();
  for (Index k = 0; k < nodes; ++k) {
    alpha(k) = (mass * t * current * current).sum() / norm;
    if (k + 1 < nodes) {
      Eigen::ArrayXd following = (t - alpha(k)) * current - (k ? beta(k) : 0.0) * previous;
      const double following_norm = (mass * following * following).sum();
      beta(k + 1) = following_norm / norm;
      previous = current;
      current = following;
      norm = following_norm;
    }
  }
  Eigen::VectorXd off_diagonal = beta.tail(nodes - 1).cwiseSqrt();
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver;
  solver.computeFromTridiagonal(alpha, off_diagonal, Eigen::ComputeEigenvectors);
  if (solver.info() != Eigen::Success) {
    throw std::runtime_error("logistic mixing rule: no eigen-decomposition");
  }
  GaussRule rule{solver.eigenvalues().array().exp(),
                 solver.eigenvectors().row(0).transpose().array().square()};
  rule.weights /= rule.weights.sum();
  return rule;
}

}  // namespace limit

// The Gauss-Legendre rule of `order` nodes on [-1, 1], 1 <= order <= kLimitMaxOrder (built
// for every order at the first call).
inline const GaussRule& gauss_legendre(Index order) {
  static const std::vector<GaussRule> rules = [] {
    std::vector<GaussRule> all;
    for (Index n = 0; n <= kLimitMaxOrder; ++n) all.push_back(limit::build_gauss_legendre(n));
    return all;
  }();
  if (order < 1 || order > kLimitMaxOrder) {
    throw std::invalid_argument("order: expected an integer from 1 to " +
                                std::to_string(kLimitMaxOrder) + ", got " + std::to_string(order));
  }
  return rules[std::size_t(order)];
}

// The logistic mixing rule of kLogisticNodes nodes (built at the first call).
inline const GaussRule& logistic_mixing_rule() {
  static const GaussRule rule = limit::build_logistic_mixing_rule(kLogisticNodes);
  return rule;
}

}  // namespace widenet
