// Infinite-width kernels of the shallow network (SPEC.md sections 5 and 6). With
// pre-activations (h_x, h_z) centred Gaussian of covariance
//   Sigma(x, z) = s_w^2 x.z / d + s_b^2,
// and the two expectations E_ss = E[sigma(h_x) sigma(h_z)], E_dd = E[sigma'(h_x) sigma'(h_z)]:
//   LeCun, kind ntk:   K_LC  = E_ss                                  (Theorem 11.16)
//   NTK,   kind ntk:   K_NTK = s_v^2 (x.z/d + 1) E_dd + E_ss + 1      (Theorem 11.30)
//   either, kind nngp: s_v^2 E_ss + s_c^2                            (Proposition 11.28)
// The expectations come from closed forms (relu: arc-cosine kernels, Example 11.17 and
// Exercise 11.36; erf: arcsine kernel; identity) or from a tensor quadrature rule over two
// independent standard normals a, b with h_x = sqrt(S11) a, h_z = sqrt(S22)(rho a +
// sqrt(1 - rho^2) b); one set of nodes serves the whole matrix.
#pragma once

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "widenet/activations.hpp"
#include "widenet/shallow_network.hpp"
#include "widenet/types.hpp"

namespace widenet {

enum class LimitKind { ntk, nngp };

inline LimitKind parse_limit_kind(const std::string& name) {
  if (name == "ntk") return LimitKind::ntk;
  if (name == "nngp") return LimitKind::nngp;
  throw std::invalid_argument("kind: expected 'ntk' or 'nngp'; got '" + name + "'");
}

struct LimitKernel {
  Architecture arch;
  LimitKind kind;
  double weight_var, bias_var, output_var, output_bias_var;
};

inline bool has_closed_form(Activation activation) {
  return activation == Activation::relu || activation == Activation::erf ||
         activation == Activation::identity;
}

// E_ss and E_dd from the closed forms, for one pair.
template <typename T>
void closed_form_expectations(Activation activation, T s11, T s22, T s12, T& e_ss, T& e_dd) {
  if (activation == Activation::identity) {
    e_ss = s12;
    e_dd = T(1);
  } else if (activation == Activation::erf) {
    const T a = T(1) + T(2) * s11, c = T(1) + T(2) * s22;
    e_ss = T(M_2_PI) * std::asin(T(2) * s12 / std::sqrt(a * c));
    e_dd = T(2 * M_2_PI) / std::sqrt(a * c - T(4) * s12 * s12);
  } else {  // relu
    const T scale = std::sqrt(s11 * s22);
    if (scale == T(0)) {  // a point with h = 0 almost surely: relu(0) = relu'(0) = 0
      e_ss = e_dd = T(0);
      return;
    }
    const T t = std::acos(std::clamp(s12 / scale, T(-1), T(1)));
    e_ss = scale / T(2 * M_PI) * (std::sin(t) + (T(M_PI) - t) * std::cos(t));
    e_dd = (T(M_PI) - t) / T(2 * M_PI);
  }
}

// A tensor rule for E[F(a, b)] over independent standard normals: 1-D nodes and weights
// on [-half_width, half_width], and the Gauss-Legendre rule on [-1, 1] it was built from,
// used to split the inner integral at a kink (relu: where h_z = 0).
template <typename T>
struct GaussianRule {
  Vector<T> nodes;
  Vector<T> weights;
  Vector<T> legendre_nodes;
  Vector<T> legendre_weights;
  T half_width;
};

namespace detail {

// sigma and sigma' at sqrt(variance) * nodes: the side of each point that no pair changes.
template <typename T>
void point_side(Activation activation, T variance, const GaussianRule<T>& rule, T* values, T* slopes) {
  const Index q = rule.nodes.size();
  const T scale = std::sqrt(variance);
  for (Index p = 0; p < q; ++p) values[p] = scale * rule.nodes(p);
  activate_inplace<T>(activation, values, slopes, q);
}

// E_b[relu(shift + across b)] and E_b[relu'(...)] with the inner range cut at the kink:
// Gauss-Legendre panels on [-L, kink] and [kink, L], weighted by the normal density.
template <typename T>
void split_inner(const GaussianRule<T>& rule, T shift, T across, T kink, T* values, T* slopes,
                 T& inner_ss, T& inner_dd) {
  const Index k = rule.legendre_nodes.size();
  const T L = rule.half_width;
  for (const auto& [low, high] : {std::pair<T, T>{-L, kink}, std::pair<T, T>{kink, L}}) {
    const T middle = T(0.5) * (low + high), half = T(0.5) * (high - low);
    for (Index r = 0; r < k; ++r) {
      const T b = middle + half * rule.legendre_nodes(r);
      const T weight = half * rule.legendre_weights(r) * std::exp(T(-0.5) * b * b) * T(0.5 * M_2_SQRTPI * M_SQRT1_2);
      const T h = shift + across * b;
      values[r] = h > T(0) ? weight * h : T(0);
      slopes[r] = h > T(0) ? weight : T(0);
    }
    for (Index r = 0; r < k; ++r) {
      inner_ss += values[r];
      inner_dd += slopes[r];
    }
  }
}

// E_ss, E_dd of one pair by the tensor rule; `x_values`, `x_slopes` from point_side, the
// buffers hold one row of the rule.
template <typename T>
void quadrature_expectations(Activation activation, T s22, T rho, const GaussianRule<T>& rule,
                             const T* x_values, const T* x_slopes, T* values, T* slopes, T& e_ss,
                             T& e_dd) {
  const Index q = rule.nodes.size();
  const T scale = std::sqrt(s22), along = scale * rho,
          across = scale * std::sqrt(std::max(T(0), T(1) - rho * rho));
  if (activation == Activation::relu) {
    // relu(h_z) bends where h_z = 0: integrate each side of the kink with its own panel.
    T sum_ss = T(0), sum_dd = T(0);
    for (Index p = 0; p < q; ++p) {
      const T shift = along * rule.nodes(p);
      T inner_ss = T(0), inner_dd = T(0);
      const T kink = across > T(0) ? -shift / across : T(0);
      if (across > T(0) && std::abs(kink) < rule.half_width) {
        split_inner(rule, shift, across, kink, values, slopes, inner_ss, inner_dd);
      } else {
        for (Index r = 0; r < q; ++r) {
          const T h = shift + across * rule.nodes(r);
          inner_ss += h > T(0) ? rule.weights(r) * h : T(0);
          inner_dd += h > T(0) ? rule.weights(r) : T(0);
        }
      }
      sum_ss += rule.weights(p) * x_values[p] * inner_ss;
      sum_dd += rule.weights(p) * x_slopes[p] * inner_dd;
    }
    e_ss = sum_ss;
    e_dd = sum_dd;
    return;
  }
  // Every h_z of the pair at once (q^2 values, in cache), one vectorised activation pass.
  for (Index p = 0; p < q; ++p) {
    const T shift = along * rule.nodes(p);
    for (Index r = 0; r < q; ++r) values[p * q + r] = shift + across * rule.nodes(r);
  }
  activate_inplace<T>(activation, values, slopes, q * q);
  T sum_ss = T(0), sum_dd = T(0);
  for (Index p = 0; p < q; ++p) {
    T inner_ss = T(0), inner_dd = T(0);
    for (Index r = 0; r < q; ++r) {
      inner_ss += rule.weights(r) * values[p * q + r];
      inner_dd += rule.weights(r) * slopes[p * q + r];
    }
    sum_ss += rule.weights(p) * x_values[p] * inner_ss;
    sum_dd += rule.weights(p) * x_slopes[p] * inner_dd;
  }
  e_ss = sum_ss;
  e_dd = sum_dd;
}

}  // namespace detail

// The limit kernel between X1 and X2 (X2 == nullptr: X1 with itself, symmetric). With an
// empty rule the closed form is used (the caller has checked that one exists).
template <typename T>
RowMatrix<T> limit_kernel(const LimitKernel& config, const MatrixRef<T>& X1, const MatrixRef<T>* X2,
                          const GaussianRule<T>& rule) {
  const bool symmetric = X2 == nullptr;
  const MatrixRef<T>& Z = symmetric ? X1 : *X2;
  const Index m1 = X1.rows(), m2 = Z.rows(), d = X1.cols(), q = rule.nodes.size();
  const T sw = T(config.weight_var) / T(d), sb = T(config.bias_var);
  RowMatrix<T> inner(m1, m2);
  inner.noalias() = X1 * Z.transpose();
  // In the symmetric case the variances are the diagonal's own covariances, so that a
  // point's correlation with itself is exactly 1 (arccos is steep there).
  const Vector<T> s11 = (sw * (symmetric ? Vector<T>(inner.diagonal()) : Vector<T>(X1.rowwise().squaredNorm()))).array() + sb;
  const Vector<T> s22 = symmetric ? s11 : Vector<T>((sw * Z.rowwise().squaredNorm()).array() + sb);
  const Activation activation = config.arch.activation;
  const bool ntk = config.kind == LimitKind::ntk;
  const bool lecun = config.arch.parametrization == Parametrization::lecun;
  const T sv = T(config.output_var), sc = T(config.output_bias_var);

#pragma omp parallel num_threads(thread_count()) if (m1 * m2 * std::max<Index>(1, q * q) > kParallelEntries)
  {
    std::vector<T> x_values(q), x_slopes(q), values(q * q), slopes(q * q);
#pragma omp for schedule(dynamic, 4)
    for (Index k = 0; k < m1; ++k) {
      if (q > 0) detail::point_side(activation, s11(k), rule, x_values.data(), x_slopes.data());
      const Index end = symmetric ? k + 1 : m2;
      for (Index j = 0; j < end; ++j) {
        const T s12 = sw * inner(k, j) + sb;
        T e_ss, e_dd;
        if (q == 0) {
          closed_form_expectations(activation, s11(k), s22(j), s12, e_ss, e_dd);
        } else {
          const T scale = std::sqrt(s11(k) * s22(j));
          const T rho = scale > T(0) ? std::clamp(s12 / scale, T(-1), T(1)) : T(0);
          detail::quadrature_expectations(activation, s22(j), rho, rule, x_values.data(),
                                          x_slopes.data(), values.data(), slopes.data(), e_ss, e_dd);
        }
        T value;
        if (!ntk) value = sv * e_ss + sc;
        else if (lecun) value = e_ss;
        else value = sv * (inner(k, j) / T(d) + T(1)) * e_dd + e_ss + T(1);
        inner(k, j) = value;
      }
    }
  }
  if (symmetric) mirror_lower_to_upper(inner);
  return inner;
}

}  // namespace widenet
