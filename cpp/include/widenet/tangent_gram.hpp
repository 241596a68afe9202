// The empirical tangent kernel K_n(x, z) = <grad_w Phi(x), grad_w Phi(z)> (11.3.4) of the
// shallow network, by the structured formula of the proof of Theorem 11.16:
//   K = a_out^2 [ (a_in^2 X1 X2^T + 1) o (S1 S2^T) + A1 A2^T ] + 1,
// with A = sigma(Z), S = sigma'(Z) diag(v) and o the entrywise product. Two m1 x m2 x n
// products; the m x P Jacobian is never formed. The width is processed in chunks so that
// memory stays O(m^2 + m * chunk).
//
// Large inputs are taken out of the factors by powers of two (InputScales), so that a
// derivative that underflows to 0 at a huge pre-activation makes its term 0 rather than
// inf * 0; entries that still overflow an intermediate are recomputed in long double
// (tangent_entries.hpp). Where the Jacobian is finite, every entry is within the rounding
// bound |K - J J^T| <= c (n + d) eps sqrt(K(x, x) K(z, z)); where the true value is beyond
// the dtype's range it is inf of its sign; never NaN.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>

#include "widenet/bounded_products.hpp"
#include "widenet/shallow_network.hpp"
#include "widenet/tangent_entries.hpp"

namespace widenet {

// Rows of X1 X2^T formed at once by the Gram (a band, rather than a third m1 x m2 matrix).
constexpr Index kGramBandRows = 256;

// A width chunk for which the per-chunk blocks of both inputs (`rows` points, entries of
// `itemsize` bytes) fit in about 64 MiB, and at least 256 units wide.
inline Index default_width_chunk(Index rows, Index width, Index itemsize) {
  const Index budget = (Index(64) << 20) / itemsize;
  const Index chunk = std::max<Index>(256, budget / std::max<Index>(1, 2 * rows));
  return std::min(width, chunk);
}

template <typename T>
Index default_width_chunk(Index rows, Index width) {
  return default_width_chunk(rows, width, Index(sizeof(T)));
}

namespace detail {

// Per-row powers of two q >= 1 that take the size of large inputs out of the Gram's factors:
// with x^ = x / q and the rows of S^ = S q, the derivative part (a_in^2 x.z + 1) (S1 S2^T)
// is (a_in^2 x^.z^ + 1/(q q')) (S^1 S^2^T), whose factors stay finite where the Jacobian
// is, while |x|^2 alone overflows from |x| ~ 1e154 (1e19 in float32). Powers of two scale
// exactly, so wherever nothing overflows the Gram has the same bits as without them; rows
// below 2^(max_exponent/4) keep q = 1 and, when all do, nothing is copied.
template <typename T>
struct InputScales {
  Vector<T> up;          // q
  Vector<T> down;        // 1 / q
  RowMatrix<T> scaled;   // X / q row by row, only when some q > 1
  bool any = false;

  explicit InputScales(const MatrixRef<T>& X) : up(Vector<T>::Ones(X.rows())), down(up) {
    constexpr int kMaxExponent = std::numeric_limits<T>::max_exponent;
    const T threshold = std::ldexp(T(1), kMaxExponent / 4);
    for (Index k = 0; k < X.rows(); ++k) {
      const T largest = X.row(k).cwiseAbs().maxCoeff();
      if (!(largest >= threshold)) continue;
      const int e = std::min(std::ilogb(largest) + 1, kMaxExponent - 1);
      up(k) = std::ldexp(T(1), e);
      down(k) = std::ldexp(T(1), -e);
      any = true;
    }
    if (any) scaled = down.asDiagonal() * X;
  }

  // The inputs divided by q (X itself when every q is 1).
  MatrixRef<T> inputs(const MatrixRef<T>& X) const { return any ? MatrixRef<T>(scaled) : X; }
};

// Activations and derivative-times-v of one width chunk, the two factors of the Gram; the
// derivative rows are scaled by q (see InputScales) in the same pass.
template <typename T, typename P>
void gram_factors(const Architecture& arch, const P& w, const MatrixRef<T>& X,
                  const InputScales<T>& scales, Index col, Index cols, RowMatrix<T>& activations,
                  RowMatrix<T>& scaled_derivative) {
  hidden_layer<T>(arch, w, X, col, cols, activations, &scaled_derivative);
  if (scales.any) {  // (sigma' v) q: the derivative alone times q may overflow at |x| ~ max
    scaled_derivative.array() =
        (scaled_derivative.array().rowwise() * w.v.segment(col, cols).transpose().array())
            .colwise() *
        scales.up.array();
  } else {
    scaled_derivative = scaled_derivative * w.v.segment(col, cols).asDiagonal();
  }
}

// Calls body(row, rows, cols, inner) for bands of rows of X1^ X2^T (the inputs divided by
// their scales): `inner` holds rows [row, row + rows) and columns [0, cols), every column, or
// with `lower_only` those up to the band's end. A band at a time, so that it never takes a
// third m1 x m2 matrix (a quarter of the Gram's working memory).
template <typename T, typename Body>
void for_inner_product_bands(const MatrixRef<T>& X1, const InputScales<T>& scales1,
                             const MatrixRef<T>& X2, const InputScales<T>& scales2,
                             bool lower_only, const StopToken& stop, Body&& body) {
  const MatrixRef<T> inputs1 = scales1.inputs(X1), inputs2 = scales2.inputs(X2);
  RowMatrix<T> inner;
  for (Index row = 0; row < X1.rows(); row += kGramBandRows) {
    stop.throw_if_requested();
    const Index rows = std::min(kGramBandRows, X1.rows() - row);
    const Index cols = lower_only ? row + rows : X2.rows();
    inner.resize(rows, cols);
    multiply_into(inner, inputs1.middleRows(row, rows), inputs2.topRows(cols).transpose());
    body(row, rows, cols, inner);
  }
}

// K = a_out^2 [(a_in^2 X1^ X2^T + 1/(q1 q2^T)) o derivative_part + activation_part] + 1, into
// activation_part; with `lower_only` on and below the diagonal only.
template <typename T>
void combine_gram(const Scales<T>& scale, const MatrixRef<T>& X1, const InputScales<T>& scales1,
                  const MatrixRef<T>& X2, const InputScales<T>& scales2,
                  const RowMatrix<T>& derivative_part, RowMatrix<T>& activation_part,
                  bool lower_only, const StopToken& stop) {
  const T in2 = scale.in * scale.in, out2 = scale.out * scale.out;
  const auto combine = [&](Index row, Index rows, Index cols, const RowMatrix<T>& inner) {
    auto gram = activation_part.block(row, 0, rows, cols);
    const auto derivative = derivative_part.block(row, 0, rows, cols);
    if (!scales1.any && !scales2.any) {
      gram.array() = out2 * ((in2 * inner.array() + T(1)) * derivative.array() + gram.array()) +
                     T(1);
      return;
    }
    for (Index r = 0; r < rows; ++r) {
      const auto lift = scales1.down(row + r) * scales2.down.head(cols).transpose().array();
      gram.row(r).array() =
          out2 * ((in2 * inner.row(r).array() + lift) * derivative.row(r).array() +
                  gram.row(r).array()) +
          T(1);
    }
  };
  for_inner_product_bands<T>(X1, scales1, X2, scales2, lower_only, stop, combine);
}

}  // namespace detail

// K_n(X1, X2) at the parameters w.
template <typename T, typename P>
RowMatrix<T> tangent_gram(const Architecture& arch, const P& w, const MatrixRef<T>& X1,
                          const MatrixRef<T>& X2, Index width_chunk = 0) {
  const Index n = w.width();
  const Index chunk = width_chunk > 0 ? std::min(width_chunk, n)
                                      : default_width_chunk<T>(X1.rows() + X2.rows(), n);
  const detail::InputScales<T> scales1(X1), scales2(X2);
  RowMatrix<T> derivative_part = zeroed<T>(X1.rows(), X2.rows());
  RowMatrix<T> activation_part = zeroed<T>(X1.rows(), X2.rows());
  RowMatrix<T> A1, S1, A2, S2;
  const StopToken& stop = current_stop_token();
  for (Index col = 0; col < n; col += chunk) {
    stop.throw_if_requested();
    const Index cols = std::min(chunk, n - col);
    detail::gram_factors<T>(arch, w, X1, scales1, col, cols, A1, S1);
    detail::gram_factors<T>(arch, w, X2, scales2, col, cols, A2, S2);
    multiply_transposed(derivative_part, S1, S2, true, stop);
    multiply_transposed(activation_part, A1, A2, true, stop);
  }
  detail::combine_gram(Scales<T>(arch.parametrization, n, w.input_dim()), X1, scales1, X2,
                       scales2, derivative_part, activation_part, false, stop);
  detail::repair_nonfinite_entries<T>(arch, w, X1, X2, activation_part, false);
  return activation_part;
}

// K_n(X, X): symmetric rank updates fill the lower triangle, which is then mirrored.
template <typename T, typename P>
RowMatrix<T> tangent_gram_symmetric(const Architecture& arch, const P& w, const MatrixRef<T>& X,
                                    Index width_chunk = 0) {
  const Index m = X.rows(), n = w.width();
  const Index chunk = width_chunk > 0 ? std::min(width_chunk, n) : default_width_chunk<T>(m, n);
  const detail::InputScales<T> scales(X);
  RowMatrix<T> derivative_part = zeroed<T>(m, m);
  RowMatrix<T> activation_part = zeroed<T>(m, m);
  RowMatrix<T> A, S;
  const StopToken& stop = current_stop_token();
  for (Index col = 0; col < n; col += chunk) {
    stop.throw_if_requested();
    const Index cols = std::min(chunk, n - col);
    detail::gram_factors<T>(arch, w, X, scales, col, cols, A, S);
    rank_update_lower(derivative_part, S, stop);
    rank_update_lower(activation_part, A, stop);
  }
  detail::combine_gram(Scales<T>(arch.parametrization, n, w.input_dim()), X, scales, X, scales,
                       derivative_part, activation_part, true, stop);
  detail::repair_nonfinite_entries<T>(arch, w, X, X, activation_part, true);
  mirror_lower_to_upper(activation_part);
  return activation_part;
}

// The diagonal K_n(x_k, x_k), row by row without any m x m matrix.
template <typename T, typename P>
Vector<T> tangent_gram_diagonal(const Architecture& arch, const P& w, const MatrixRef<T>& X,
                                Index width_chunk = 0) {
  const Index m = X.rows(), n = w.width();
  const Index chunk = width_chunk > 0 ? std::min(width_chunk, n) : default_width_chunk<T>(m, n);
  const detail::InputScales<T> scales(X);
  Vector<T> derivative_part = Vector<T>::Zero(m);
  Vector<T> activation_part = Vector<T>::Zero(m);
  RowMatrix<T> A, S;
  const StopToken& stop = current_stop_token();
  for (Index col = 0; col < n; col += chunk) {
    stop.throw_if_requested();
    const Index cols = std::min(chunk, n - col);
    detail::gram_factors<T>(arch, w, X, scales, col, cols, A, S);
    derivative_part += S.rowwise().squaredNorm();
    activation_part += A.rowwise().squaredNorm();
  }
  const Scales<T> scale(arch.parametrization, n, w.input_dim());
  const T in2 = scale.in * scale.in, out2 = scale.out * scale.out;
  const Vector<T> inner = scales.inputs(X).rowwise().squaredNorm();
  Vector<T> diagonal = (out2 * ((in2 * inner.array() + scales.down.array().square()) *
                                    derivative_part.array() +
                                activation_part.array()) +
                        T(1)).matrix();
  detail::repair_nonfinite_diagonal<T>(arch, w, X, diagonal);
  return diagonal;
}

}  // namespace widenet
