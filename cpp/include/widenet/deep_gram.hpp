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

// G = A1 A2^T: with `lower_only` (A1 is A2) its lower triangle, by a rank update (half the
// work); otherwise all of it.
template <typename T>
void gram_product(RowMatrix<T>& G, const MatrixRef<T>& A1, const MatrixRef<T>& A2, bool lower_only,
                  const StopToken& stop) {
  if (lower_only) {
    zero_lower(G);
    rank_update_lower(G, A1, stop);
  } else {
    multiply_transposed(G, A1, A2, false, stop);
  }
}

// K += every layer's term, from the passes over the rows of K (pass1, X1) and its columns
// (pass2, X2); with `lower_only` the two are one pass and only the lower triangle is formed.
// Without `readout` the readout's term is left out (the blocks of two different outputs).
template <typename T>
void add_layer_terms(RowMatrix<T>& K, const DeepArchitecture& arch, const DeepPass<T>& pass1,
                     const MatrixRef<T>& X1, const DeepPass<T>& pass2, const MatrixRef<T>& X2,
                     bool lower_only, const StopToken& stop, bool readout_term = true) {
  RowMatrix<T> inputs = zeroed<T>(K.rows(), K.cols()), sensitivities = zeroed<T>(K.rows(), K.cols());
  for (Index l = 0; l <= (readout_term ? arch.depth() : arch.depth() - 1); ++l) {
    const bool readout = l == arch.depth();
    if (readout) {
      gram_product<T>(inputs, pass1.A.back(), pass2.A.back(), lower_only, stop);
    } else {
      gram_product<T>(inputs, pass1.input(l, X1), pass2.input(l, X2), lower_only, stop);
      gram_product<T>(sensitivities, pass1.S[std::size_t(l)], pass2.S[std::size_t(l)], lower_only, stop);
    }
    const auto [scale, beta] = arch.scales[std::size_t(l)];
    add_layer_term<T>(K, inputs, readout ? nullptr : &sensitivities, T(scale * scale),
                      arch.bias ? T(beta * beta) : T(0), lower_only);
    stop.throw_if_requested();
  }
}

}  // namespace detail

template <typename T, typename P>
RowMatrix<T> deep_tangent_gram_symmetric(const DeepArchitecture& arch, const P& w,
                                         const MatrixRef<T>& X) {
  const StopToken& stop = current_stop_token();
  const DeepPass<T> pass = deep_sensitivity_pass<T>(arch, w, X, stop);
  RowMatrix<T> K = zeroed<T>(X.rows(), X.rows());
  detail::add_layer_terms<T>(K, arch, pass, X, pass, X, true, stop);
  mirror_lower_to_upper(K);
  return K;
}

template <typename T, typename P>
RowMatrix<T> deep_tangent_gram(const DeepArchitecture& arch, const P& w, const MatrixRef<T>& X1,
                               const MatrixRef<T>& X2) {
  const StopToken& stop = current_stop_token();
  const DeepPass<T> pass1 = deep_sensitivity_pass<T>(arch, w, X1, stop);
  const DeepPass<T> pass2 = deep_sensitivity_pass<T>(arch, w, X2, stop);
  RowMatrix<T> K = zeroed<T>(X1.rows(), X2.rows());
  detail::add_layer_terms<T>(K, arch, pass1, X1, pass2, X2, false, stop);
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
  const bool symmetric = X2 == nullptr;
  const DeepPass<T> pass2 = symmetric ? DeepPass<T>() : deep_forward_pass<T>(arch, w, *X2, false, stop);
  const DeepPass<T>& columns = symmetric ? pass1 : pass2;
  RowMatrix<T> G = zeroed<T>(X1.rows(), columns.A.back().rows());
  detail::gram_product<T>(G, pass1.A.back(), columns.A.back(), symmetric, stop);
  if (symmetric) mirror_lower_to_upper(G);
  return (scale * scale) * G;
}

}  // namespace widenet
