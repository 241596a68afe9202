// Every block of the tangent kernel of the network with k outputs (docs/theory.md, section 5,
// "Several outputs"): for outputs i, i' at points x, z,
//   K_ii'(x, z) = a_out^2 [ (a_in^2 x.z + 1) sum_j V_ij V_i'j sigma'(z_j(x)) sigma'(z_j(z))
//                           + [i = i'] sigma(z(x)) . sigma(z(z)) ] + [i = i'],
// an (m1 k) x (m2 k) matrix with row x k + i and column z k + i'. The derivative part is the
// product F1 F2^T of the factors F(x k + i, j) = sigma'(z_j(x)) V_ij, (m k) x n; the
// activation part is the m1 x m2 product of the one-output Gram (tangent_gram.hpp), whose
// input scales and long-double repair it shares. The kernel traced over the outputs needs
// none of this: it is the one-output Gram of traced_readout(V) (shallow_outputs.hpp).
#pragma once

#include <algorithm>
#include <cmath>
#include <optional>

#include "widenet/bounded_products.hpp"
#include "widenet/shallow_outputs.hpp"
#include "widenet/tangent_entries.hpp"
#include "widenet/tangent_gram.hpp"

namespace widenet {
namespace detail {

// The activations of one width chunk and the derivative factor F, row x k + i the row
// sigma'(z(x)) o V_i times the input scale q_x (see InputScales).
template <typename T, typename P>
void output_gram_factors(const Architecture& arch, const P& w, const MatrixRef<T>& X,
                         const InputScales<T>& scales, Index col, Index cols,
                         RowMatrix<T>& activations, RowMatrix<T>& derivative,
                         RowMatrix<T>& factor) {
  hidden_layer<T>(arch, w, X, col, cols, activations, &derivative);
  const Index k = w.outputs();
  factor.resize(X.rows() * k, cols);
  for (Index x = 0; x < X.rows(); ++x) {
    for (Index i = 0; i < k; ++i) {
      factor.row(x * k + i).array() =
          (derivative.row(x).array() * w.v.row(i).segment(col, cols).array()) * scales.up(x);
    }
  }
}

// K from its two parts, in place of the derivative part; with `lower_only` on and below the
// diagonal only.
template <typename T>
void combine_output_gram(const Scales<T>& scale, Index k, const MatrixRef<T>& X1,
                         const InputScales<T>& scales1, const MatrixRef<T>& X2,
                         const InputScales<T>& scales2, const RowMatrix<T>& activation_part,
                         RowMatrix<T>& gram, bool lower_only, const StopToken& stop) {
  const T in2 = scale.in * scale.in, out2 = scale.out * scale.out;
  const auto combine = [&](Index row, Index rows, Index cols, const RowMatrix<T>& inner) {
    for (Index r = 0; r < rows; ++r) {
      const Index x = row + r;
      for (Index z = 0; z < (lower_only ? x + 1 : cols); ++z) {
        const T factor = in2 * inner(r, z) + scales1.down(x) * scales2.down(z);
        const T shared = out2 * activation_part(x, z) + T(1);  // the diagonal blocks' own part
        auto block = gram.block(x * k, z * k, k, k);
        for (Index i = 0; i < k; ++i) {
          const Index last = lower_only && z == x ? i + 1 : k;
          for (Index j = 0; j < last; ++j) block(i, j) = out2 * (factor * block(i, j));
          block(i, i) += shared;
        }
      }
    }
  };
  for_inner_product_bands<T>(X1, scales1, X2, scales2, lower_only, stop, combine);
}

// Recomputes in long double every non-finite entry (on and below the diagonal only, with
// `lower_only`): only reached when an intermediate of the fast formula overflows.
template <typename T, typename P>
void repair_nonfinite_output_entries(const Architecture& arch, const P& w, const MatrixRef<T>& X1,
                                     const MatrixRef<T>& X2, RowMatrix<T>& G, bool lower_only) {
  if (G.allFinite()) return;
  const StopToken& stop = current_stop_token();
  const Index n = w.width(), d = w.input_dim(), k = w.outputs();
  Wide in2, out2;
  wide_scales(arch.parametrization, n, d, in2, out2);
  const Vector<T> ones = Vector<T>::Ones(n);  // wide_hidden's s is then sigma' itself
  const ParamsView<T> unit{w.U, w.b, ones, T(0)};
  WideHidden h1, h2;
  for (Index x = 0; x < X1.rows(); ++x) {
    const Index last_column = lower_only ? (x + 1) * k : G.cols();
    if (G.block(x * k, 0, k, last_column).allFinite()) continue;
    stop.throw_if_requested();
    wide_hidden<T>(arch.activation, unit, std::sqrt(in2), X1.row(x).data(), h1);
    for (Index z = 0; z < (lower_only ? x + 1 : X2.rows()); ++z) {
      if (G.block(x * k, z * k, k, k).allFinite()) continue;
      wide_hidden<T>(arch.activation, unit, std::sqrt(in2), X2.row(z).data(), h2);
      Wide inner = 0, activation = 0;
      for (Index l = 0; l < d; ++l) inner += Wide(X1(x, l)) * Wide(X2(z, l));
      for (Index j = 0; j < n; ++j) activation += h1.a[j] * h2.a[j];
      for (Index i = 0; i < k; ++i) {
        for (Index i2 = 0; i2 < k; ++i2) {
          T& entry = G(x * k + i, z * k + i2);
          if (std::isfinite(entry) || (lower_only && z * k + i2 > x * k + i)) continue;
          Wide derivative = 0;
          for (Index j = 0; j < n; ++j) {
            derivative += h1.s[j] * h2.s[j] * Wide(w.v(i, j)) * Wide(w.v(i2, j));
          }
          const Wide same = i == i2 ? Wide(1) : Wide(0);
          entry = T(out2 * ((in2 * inner + 1) * derivative + same * activation) + same);
        }
      }
    }
  }
}

}  // namespace detail

// Every block of the tangent kernel, K(X1, X2) as an (m1 k) x (m2 k) matrix; X2 absent: the
// symmetric K(X1, X1) by rank updates of its lower triangle, then mirrored.
template <typename T, typename P>
RowMatrix<T> tangent_gram_outputs(const Architecture& arch, const P& w, const MatrixRef<T>& X1,
                                  const std::optional<MatrixRef<T>>& X2, Index width_chunk = 0) {
  const bool symmetric = !X2.has_value();
  const MatrixRef<T> other = symmetric ? X1 : *X2;
  const Index n = w.width(), k = w.outputs();
  const Index points = X1.rows() + (symmetric ? 0 : other.rows());
  // a chunk's factors hold k + 2 rows per point
  const Index chunk = width_chunk > 0 ? std::min(width_chunk, n)
                                      : default_width_chunk<T>(points * (k + 2), n);
  const detail::InputScales<T> scales1(X1), scales2(other);
  RowMatrix<T> gram = zeroed<T>(X1.rows() * k, other.rows() * k);
  RowMatrix<T> activation_part = zeroed<T>(X1.rows(), other.rows());
  RowMatrix<T> A1, S1, F1, A2, S2, F2;
  const StopToken& stop = current_stop_token();
  for (Index col = 0; col < n; col += chunk) {
    stop.throw_if_requested();
    const Index cols = std::min(chunk, n - col);
    detail::output_gram_factors<T>(arch, w, X1, scales1, col, cols, A1, S1, F1);
    if (symmetric) {
      rank_update_lower(gram, F1, stop);
      rank_update_lower(activation_part, A1, stop);
      continue;
    }
    detail::output_gram_factors<T>(arch, w, other, scales2, col, cols, A2, S2, F2);
    multiply_transposed(gram, F1, F2, true, stop);
    multiply_transposed(activation_part, A1, A2, true, stop);
  }
  const Scales<T> scale(arch.parametrization, n, w.input_dim());
  detail::combine_output_gram(scale, k, X1, scales1, other, scales2, activation_part, gram,
                              symmetric, stop);
  detail::repair_nonfinite_output_entries<T>(arch, w, X1, other, gram, symmetric);
  if (symmetric) mirror_lower_to_upper(gram);
  return gram;
}

}  // namespace widenet
