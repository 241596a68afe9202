// The empirical tangent kernel K_n(x, z) = <grad_w Phi(x), grad_w Phi(z)> (11.3.4) of the
// shallow network, by the structured formula of the proof of Theorem 11.16:
//   K = a_out^2 [ (a_in^2 X1 X2^T + 1) o (S1 S2^T) + A1 A2^T ] + 1,
// with A = sigma(Z), S = sigma'(Z) diag(v) and o the entrywise product. Two m1 x m2 x n
// products; the m x P Jacobian is never formed. The width is processed in chunks so that
// memory stays O(m^2 + m * chunk).
#pragma once

#include <algorithm>

#include "widenet/bounded_products.hpp"
#include "widenet/shallow_network.hpp"

namespace widenet {

// A width chunk for which the per-chunk blocks of both inputs fit in about 64 MiB.
template <typename T>
Index default_width_chunk(Index rows, Index width) {
  const Index budget = (Index(64) << 20) / Index(sizeof(T));
  const Index chunk = std::max<Index>(256, budget / std::max<Index>(1, 2 * rows));
  return std::min(width, chunk);
}

namespace detail {

// Activations and derivative-times-v of one width chunk, the two factors of the Gram.
template <typename T, typename P>
void gram_factors(const Architecture& arch, const P& w, const MatrixRef<T>& X, Index col,
                  Index cols, RowMatrix<T>& activations, RowMatrix<T>& scaled_derivative) {
  hidden_layer<T>(arch, w, X, col, cols, activations, &scaled_derivative);
  scaled_derivative = scaled_derivative * w.v.segment(col, cols).asDiagonal();
}

// K = a_out^2 [(a_in^2 X1 X2^T + 1) o derivative_part + activation_part] + 1, into
// activation_part; with `lower_only` on and below the diagonal only. X1 X2^T is formed a
// band of rows at a time, so that it never takes a third m1 x m2 matrix (a quarter of the
// Gram's working memory).
template <typename T>
void combine_gram(const Scales<T>& scale, const MatrixRef<T>& X1, const MatrixRef<T>& X2,
                  const RowMatrix<T>& derivative_part, RowMatrix<T>& activation_part,
                  bool lower_only, const StopToken& stop) {
  constexpr Index kBand = 256;
  const T in2 = scale.in * scale.in, out2 = scale.out * scale.out;
  RowMatrix<T> inner;
  for (Index row = 0; row < X1.rows(); row += kBand) {
    stop.throw_if_requested();
    const Index rows = std::min(kBand, X1.rows() - row);
    const Index cols = lower_only ? row + rows : X2.rows();
    inner.resize(rows, cols);
    multiply_into(inner, X1.middleRows(row, rows), X2.topRows(cols).transpose());
    auto gram = activation_part.block(row, 0, rows, cols);
    gram.array() = out2 * ((in2 * inner.array() + T(1)) *
                               derivative_part.block(row, 0, rows, cols).array() +
                           gram.array()) +
                   T(1);
  }
}

}  // namespace detail

// K_n(X1, X2) at the parameters w.
template <typename T, typename P>
RowMatrix<T> tangent_gram(const Architecture& arch, const P& w, const MatrixRef<T>& X1,
                          const MatrixRef<T>& X2, Index width_chunk = 0) {
  const Index n = w.width();
  const Index chunk = width_chunk > 0 ? std::min(width_chunk, n)
                                      : default_width_chunk<T>(X1.rows() + X2.rows(), n);
  RowMatrix<T> derivative_part = RowMatrix<T>::Zero(X1.rows(), X2.rows());
  RowMatrix<T> activation_part = RowMatrix<T>::Zero(X1.rows(), X2.rows());
  RowMatrix<T> A1, S1, A2, S2;
  const StopToken& stop = current_stop_token();
  for (Index col = 0; col < n; col += chunk) {
    stop.throw_if_requested();
    const Index cols = std::min(chunk, n - col);
    detail::gram_factors<T>(arch, w, X1, col, cols, A1, S1);
    detail::gram_factors<T>(arch, w, X2, col, cols, A2, S2);
    multiply_transposed(derivative_part, S1, S2, true, stop);
    multiply_transposed(activation_part, A1, A2, true, stop);
  }
  detail::combine_gram(Scales<T>(arch.parametrization, n, w.input_dim()), X1, X2,
                       derivative_part, activation_part, false, stop);
  return activation_part;
}

// K_n(X, X): symmetric rank updates fill the lower triangle, which is then mirrored.
template <typename T, typename P>
RowMatrix<T> tangent_gram_symmetric(const Architecture& arch, const P& w, const MatrixRef<T>& X,
                                    Index width_chunk = 0) {
  const Index m = X.rows(), n = w.width();
  const Index chunk = width_chunk > 0 ? std::min(width_chunk, n) : default_width_chunk<T>(m, n);
  RowMatrix<T> derivative_part = RowMatrix<T>::Zero(m, m);
  RowMatrix<T> activation_part = RowMatrix<T>::Zero(m, m);
  RowMatrix<T> A, S;
  const StopToken& stop = current_stop_token();
  for (Index col = 0; col < n; col += chunk) {
    stop.throw_if_requested();
    const Index cols = std::min(chunk, n - col);
    detail::gram_factors<T>(arch, w, X, col, cols, A, S);
    rank_update_lower(derivative_part, S, stop);
    rank_update_lower(activation_part, A, stop);
  }
  detail::combine_gram(Scales<T>(arch.parametrization, n, w.input_dim()), X, X,
                       derivative_part, activation_part, true, stop);
  mirror_lower_to_upper(activation_part);
  return activation_part;
}

// The diagonal K_n(x_k, x_k), row by row without any m x m matrix.
template <typename T, typename P>
Vector<T> tangent_gram_diagonal(const Architecture& arch, const P& w, const MatrixRef<T>& X,
                                Index width_chunk = 0) {
  const Index m = X.rows(), n = w.width();
  const Index chunk = width_chunk > 0 ? std::min(width_chunk, n) : default_width_chunk<T>(m, n);
  Vector<T> derivative_part = Vector<T>::Zero(m);
  Vector<T> activation_part = Vector<T>::Zero(m);
  RowMatrix<T> A, S;
  const StopToken& stop = current_stop_token();
  for (Index col = 0; col < n; col += chunk) {
    stop.throw_if_requested();
    const Index cols = std::min(chunk, n - col);
    detail::gram_factors<T>(arch, w, X, col, cols, A, S);
    derivative_part += S.rowwise().squaredNorm();
    activation_part += A.rowwise().squaredNorm();
  }
  const Scales<T> scale(arch.parametrization, n, w.input_dim());
  const T in2 = scale.in * scale.in, out2 = scale.out * scale.out;
  const Vector<T> inner = X.rowwise().squaredNorm();
  return (out2 * ((in2 * inner.array() + T(1)) * derivative_part.array() +
                  activation_part.array()) + T(1)).matrix();
}

}  // namespace widenet
