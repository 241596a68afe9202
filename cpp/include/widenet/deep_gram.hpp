// The empirical tangent kernel of a deep network (docs/theory.md, section 8), layer by layer:
//   K = sum_l (m_l^2 A1^(l-1) A2^(l-1)T + beta_l^2) o (D1^l D2^lT) + m_out^2 A1^L A2^LT + beta_out^2,
// with A^0 = X, D^l the sensitivities of deep_network.hpp and o the entrywise product (the
// beta terms only with biases). Two Gram products per layer and one for the readout; the
// m x P Jacobian is never formed. The symmetric Gram uses rank updates of the lower triangle.
#pragma once

#include <algorithm>

#include "widenet/bounded_products.hpp"
#include "widenet/deep_network.hpp"

namespace widenet {
namespace detail {

// K += (scale2 * inputs + bias2) o sensitivities, over the lower triangle or everywhere.
template <typename T>
void add_layer_term(RowMatrix<T>& K, const RowMatrix<T>& inputs, const RowMatrix<T>* sensitivities,
                    T scale2, T bias2, bool lower_only) {
  const Index rows = K.rows();
#pragma omp parallel for schedule(dynamic, 16) num_threads(thread_count()) if (K.size() > kParallelEntries)
  for (Index i = 0; i < rows; ++i) {
    const Index cols = lower_only ? i + 1 : K.cols();
    auto term = scale2 * inputs.row(i).head(cols).array() + bias2;
    if (sensitivities) {
      K.row(i).head(cols).array() += term * sensitivities->row(i).head(cols).array();
    } else {
      K.row(i).head(cols).array() += term;
    }
  }
}

// The lower triangle of G, zeroed in place row by row over the threads.
template <typename T>
void zero_lower(RowMatrix<T>& G) {
#pragma omp parallel for schedule(static) num_threads(thread_count()) if (G.size() > kParallelEntries)
  for (Index i = 0; i < G.rows(); ++i) G.row(i).head(i + 1).setZero();
}

}  // namespace detail

template <typename T, typename P>
RowMatrix<T> deep_tangent_gram_symmetric(const DeepArchitecture& arch, const P& w,
                                         const MatrixRef<T>& X) {
  const StopToken& stop = current_stop_token();
  const DeepPass<T> pass = deep_sensitivity_pass<T>(arch, w, X, stop);
  const Index m = X.rows();
  RowMatrix<T> K = zeroed<T>(m, m), inputs = zeroed<T>(m, m), sensitivities = zeroed<T>(m, m);
  for (Index l = 0; l <= arch.depth(); ++l) {
    if (l > 0) detail::zero_lower(inputs);
    const bool readout = l == arch.depth();
    rank_update_lower(inputs, readout ? MatrixRef<T>(pass.A.back()) : pass.input(l, X), stop);
    if (!readout) {
      if (l > 0) detail::zero_lower(sensitivities);
      rank_update_lower(sensitivities, pass.S[std::size_t(l)], stop);
    }
    const auto [scale, beta] = arch.scales[std::size_t(l)];
    detail::add_layer_term<T>(K, inputs, readout ? nullptr : &sensitivities, T(scale * scale),
                              arch.bias ? T(beta * beta) : T(0), true);
    stop.throw_if_requested();
  }
  mirror_lower_to_upper(K);
  return K;
}

template <typename T, typename P>
RowMatrix<T> deep_tangent_gram(const DeepArchitecture& arch, const P& w, const MatrixRef<T>& X1,
                               const MatrixRef<T>& X2) {
  const StopToken& stop = current_stop_token();
  const DeepPass<T> pass1 = deep_sensitivity_pass<T>(arch, w, X1, stop);
  const DeepPass<T> pass2 = deep_sensitivity_pass<T>(arch, w, X2, stop);
  RowMatrix<T> K = zeroed<T>(X1.rows(), X2.rows()), inputs(X1.rows(), X2.rows()),
               sensitivities(X1.rows(), X2.rows());
  for (Index l = 0; l <= arch.depth(); ++l) {
    const bool readout = l == arch.depth();
    if (readout) {
      multiply_transposed(inputs, pass1.A.back(), pass2.A.back(), false, stop);
    } else {
      multiply_transposed(inputs, pass1.input(l, X1), pass2.input(l, X2), false, stop);
      multiply_transposed(sensitivities, pass1.S[std::size_t(l)], pass2.S[std::size_t(l)], false,
                          stop);
    }
    const auto [scale, beta] = arch.scales[std::size_t(l)];
    detail::add_layer_term<T>(K, inputs, readout ? nullptr : &sensitivities, T(scale * scale),
                              arch.bias ? T(beta * beta) : T(0), false);
    stop.throw_if_requested();
  }
  return K;
}

// The diagonal K(x_k, x_k): the same sum with squared norms in place of the Gram products.
template <typename T, typename P>
Vector<T> deep_tangent_gram_diagonal(const DeepArchitecture& arch, const P& w,
                                     const MatrixRef<T>& X) {
  const StopToken& stop = current_stop_token();
  const DeepPass<T> pass = deep_sensitivity_pass<T>(arch, w, X, stop);
  Vector<T> K = Vector<T>::Zero(X.rows());
  for (Index l = 0; l <= arch.depth(); ++l) {
    const bool readout = l == arch.depth();
    const auto [scale, beta] = arch.scales[std::size_t(l)];
    const Vector<T> inputs = (readout ? MatrixRef<T>(pass.A.back()) : pass.input(l, X)).rowwise().squaredNorm();
    const auto term = T(scale * scale) * inputs.array() + (arch.bias ? T(beta * beta) : T(0));
    if (readout) {
      K.array() += term;
    } else {
      K.array() += term * pass.S[std::size_t(l)].rowwise().squaredNorm().array();
    }
  }
  return K;
}

// The Gram of the readout's features, m_out^2 A1^L A2^LT (X2 == nullptr: symmetric), from a
// forward pass without derivatives: the empirical NNGP, once scaled by the readout's variances.
template <typename T, typename P>
RowMatrix<T> deep_feature_gram(const DeepArchitecture& arch, const P& w, const MatrixRef<T>& X1,
                               const MatrixRef<T>* X2) {
  const StopToken& stop = current_stop_token();
  const DeepPass<T> pass1 = deep_forward_pass<T>(arch, w, X1, false, stop);
  const T scale = T(arch.scales.back().first);
  if (X2 == nullptr) {
    RowMatrix<T> G = zeroed<T>(X1.rows(), X1.rows());
    rank_update_lower(G, pass1.A.back(), stop);
    mirror_lower_to_upper(G);
    return (scale * scale) * G;
  }
  const DeepPass<T> pass2 = deep_forward_pass<T>(arch, w, *X2, false, stop);
  RowMatrix<T> G(X1.rows(), X2->rows());
  multiply_transposed(G, pass1.A.back(), pass2.A.back(), false, stop);
  return (scale * scale) * G;
}

}  // namespace widenet
