// Infinite-width kernels of deep fully-connected networks (docs/theory.md, section 8), by the
// layer recursions of the pre-activation covariance Sigma and the tangent kernel Theta:
//   Sigma^1 = s_w^2 x.z / d + s_b^2,   Sigma^(l+1) = s_w^2 E_ss(Sigma^l) + s_b^2,
//   Theta^1 = a x.z / d + b,           Theta^(l+1) = h_w E_ss(Sigma^l) + h_b + s_w^2 E_dd(Sigma^l) Theta^l,
//   ntk  = o_v E_ss(Sigma^L) + o_c + s_v^2 E_dd(Sigma^L) Theta^L,   nngp = s_v^2 E_ss(Sigma^L) + s_c^2,
// where each layer's expectations are those of limit_kernels.hpp at its 2 x 2 covariance
// (each point's variance from the same recursion on itself), and the coefficients say the
// convention (TangentCoefficients). Everything in double; a stop is polled per pair.
#pragma once

#include <algorithm>
#include <stdexcept>
#include <string>

#include "widenet/limit_kernels.hpp"

namespace widenet {

struct DeepLimitKernel {
  LimitKernel layer;  // activation, parametrization, kind, method and the four variances
  Index depth;
  bool bias;
  bool multipliers;  // the NTK parametrization's standard deviations in the forward pass
};

// (a, b), (h_w, h_b), (o_v, o_c) of the Theta recursion. NTK parametrization: 1 (the bias
// terms 1, or 0 without biases); with multipliers the variances themselves. LeCun's tangent
// kernel divided by the width drops the first layer's and every bias term: (0, 0), (1, 0), (1, 0).
struct TangentCoefficients {
  double a, b, h_w, h_b, o_v, o_c;

  explicit TangentCoefficients(const DeepLimitKernel& c) {
    const double bias = c.bias ? 1.0 : 0.0;
    if (c.layer.arch.parametrization == Parametrization::lecun) {
      *this = {0, 0, 1, 0, 1, 0};
    } else if (c.multipliers) {
      const double b2 = bias * c.layer.bias_var, c2 = bias * c.layer.output_bias_var;
      *this = {c.layer.weight_var, b2, c.layer.weight_var, b2, c.layer.output_var, c2};
    } else {
      *this = {1, bias, 1, bias, 1, bias};
    }
  }

 private:
  TangentCoefficients(double a_, double b_, double hw, double hb, double ov, double oc)
      : a(a_), b(b_), h_w(hw), h_b(hb), o_v(ov), o_c(oc) {}
};

namespace detail {

// Each point's own expectation E[sigma(h)^2] at its variance: the next layer's variance.
inline Vector<double> own_expectations(const DeepLimitKernel& config, const Vector<double>& variances,
                                       const LimitRules& rules, const StopToken& stop) {
  const PairExpectations own(config.layer.arch.activation, config.layer.method, variances, variances, true,
                             rules, stop);
  Vector<double> out(variances.size());
#pragma omp parallel num_threads(thread_count()) if (variances.size() > 64)
  {
    limit::QuadratureScratch scratch;
#pragma omp for schedule(dynamic, 16)
    for (Index k = 0; k < variances.size(); ++k) {
      if (!stop.requested()) out(k) = own.at(k, k, variances(k), scratch).ss;
    }
  }
  stop.throw_if_requested();
  return out;
}

// A layer's variances s_w^2 E[sigma^2] + s_b^2 can overflow where the first layer's did not
// (softplus, gelu, identity with s_w^2 > 2): refused, as every method would give NaN.
inline void check_finite_variances(const Vector<double>& s11, const Vector<double>& s22, Index layer) {
  if (!s11.allFinite() || !s22.allFinite()) {
    throw std::invalid_argument("X1: the pre-activation variance of hidden layer " + std::to_string(layer + 1) +
                                " overflows float64; expected inputs or weight_var of smaller magnitude");
  }
}

inline void check_quadrature_variances(const DeepLimitKernel& config, const Vector<double>& s11,
                                       const Vector<double>& s22, Index layer) {
  if (config.layer.method != LimitMethod::quadrature) return;
  const double largest = std::max(s11.maxCoeff(), s22.maxCoeff());
  const double bound = quadrature_max_variance(config.layer.arch.activation);
  if (largest > bound) {
    throw std::invalid_argument("X1: the pre-activation variance of hidden layer " + std::to_string(layer + 1) +
                                " reaches " + std::to_string(largest) + ", beyond the quadrature's " +
                                std::to_string(bound) + "; expected method='scale_mixture' or smaller inputs");
  }
}

}  // namespace detail

// The kernel between X1 and X2 (X2 == nullptr: symmetric, the lower triangle mirrored). With
// `nngp`, c.kind is the tangent kernel's and the NNGP is written there too: both from one
// pass. The first layer's covariances and tangent kernels are read from the inner products
// row by row; the deeper layers' are kept in place.
inline RowMatrix<double> deep_limit_kernel(const DeepLimitKernel& config, const MatrixRef<double>& X1,
                                           const MatrixRef<double>* X2, const LimitRules& rules,
                                           RowMatrix<double>* nngp = nullptr) {
  const bool symmetric = X2 == nullptr;
  const MatrixRef<double>& Z = symmetric ? X1 : *X2;
  const Index m1 = X1.rows(), m2 = Z.rows(), d = X1.cols();
  const LimitKernel& c = config.layer;
  const double b2 = config.bias ? c.bias_var : 0.0, c2 = config.bias ? c.output_bias_var : 0.0;
  const TangentCoefficients t(config);
  const double sw = c.weight_var / double(d), ta = t.a / double(d);
  const bool tangent = c.kind == LimitKind::ntk;
  const StopToken& stop = current_stop_token();
  RowMatrix<double> inner = detail::inner_products(X1, Z, stop, symmetric);
  auto [s11, s22] = detail::point_variances(X1, Z, inner, symmetric, sw, b2);
  RowMatrix<double> covariance(config.depth > 1 ? m1 : 0, m2), theta(config.depth > 1 && tangent ? m1 : 0, m2);
  if (nngp) nngp->resize(m1, m2);
  for (Index layer = 0; layer < config.depth; ++layer) {
    detail::check_finite_variances(s11, s22, layer);
    detail::check_quadrature_variances(config, s11, s22, layer);
    const bool first = layer == 0, last = layer == config.depth - 1;
    const PairExpectations pairs(c.arch.activation, c.method, s11, s22, symmetric, rules, stop);
    Vector<double> own(symmetric ? m1 : 0);
#pragma omp parallel num_threads(thread_count()) if (m1 * m2 > 64)
    {
      PairRows row(m2);
#pragma omp for schedule(dynamic, 1)
      for (Index k = 0; k < m1; ++k) {
        if (stop.requested()) continue;
        const Index end = symmetric ? k + 1 : m2;
        double* out = inner.row(k).data();
        if (first) {
          for (Index j = 0; j < end; ++j) row.covariance(j) = sw * out[j] + b2;
        }
        pairs.row(k, first ? row.covariance.data() : covariance.row(k).data(), end, row.ss.data(),
                  row.dd.data(), row.scratch);
        if (symmetric) own(k) = row.ss(k);
        for (Index j = 0; j < end; ++j) {
          const double ss = row.ss(j), dd = row.dd(j);
          const double previous = !tangent ? 0.0 : (first ? ta * out[j] + t.b : theta(k, j));
          if (!last) {
            covariance(k, j) = c.weight_var * ss + b2;
            // s_w^2 = 0 gives 0, not 0 * inf
            if (tangent) theta(k, j) = t.h_w * ss + t.h_b + (c.weight_var == 0 ? 0.0 : c.weight_var * dd * previous);
            continue;
          }
          const double covariance_out = c.output_var * ss + c2;
          if (nngp) (*nngp)(k, j) = covariance_out;
          out[j] = !tangent ? covariance_out
                            : t.o_v * ss + t.o_c + (c.output_var == 0 ? 0.0 : c.output_var * dd * previous);
        }
      }
    }
    stop.throw_if_requested();
    if (last) break;
    if (symmetric) {
      s11 = (c.weight_var * own).array() + b2;
      s22 = s11;
    } else {
      s11 = (c.weight_var * detail::own_expectations(config, s11, rules, stop)).array() + b2;
      s22 = (c.weight_var * detail::own_expectations(config, s22, rules, stop)).array() + b2;
    }
  }
  if (symmetric) mirror_lower_to_upper(inner);
  if (symmetric && nngp) mirror_lower_to_upper(*nngp);
  return inner;
}

}  // namespace widenet
