// Entries of the tangent Gram that the fast formula of tangent_gram.hpp cannot represent,
// recomputed from the definition in long double. The fast formula multiplies factors of the
// dtype; when one of them overflows (an entry near or beyond the dtype's largest number, or
// a sum of huge terms of both signs) it gives inf or NaN. Long double (15 exponent bits on
// x86 and in IEEE quad) holds every intermediate of such an entry, so the recomputed value,
// rounded to the dtype once, is the finite number it should be, or +-inf when the true value
// is beyond the dtype's range: never NaN. Only reached in that overflow regime.
#pragma once

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <vector>

#include "widenet/interrupt.hpp"
#include "widenet/shallow_network.hpp"

namespace widenet {
namespace detail {

using Wide = long double;

// sigma(z) and sigma'(z) at a long double z: the dtype's own functions (in double) wherever
// z fits a double, their limits beyond (only reached with inputs or weights near the top of
// double's range, where every bounded activation is flat).
template <Activation A>
void wide_value_and_derivative(Wide z, Wide& value, Wide& slope) {
  if constexpr (A == Activation::sin) {
    value = std::sin(z);
    slope = std::cos(z);
  } else if constexpr (A == Activation::monomial2) {  // unbounded: the double ones overflow first
    value = z * z;
    slope = 2 * z;
  } else if constexpr (A == Activation::monomial3) {
    value = z * z * z;
    slope = 3 * (z * z);
  } else if (std::abs(z) <= Wide(DBL_MAX)) {
    double v, d;
    scalar::value_and_derivative<A, double>(double(z), v, d);
    value = v;
    slope = d;
  } else if constexpr (A == Activation::identity) {
    value = z;
    slope = 1;
  } else if constexpr (A == Activation::leaky_relu) {
    value = z > 0 ? z : Wide(kLeakyReluSlope) * z;
    slope = z > 0 ? Wide(1) : Wide(kLeakyReluSlope);
  } else if constexpr (A == Activation::abs) {
    value = std::abs(z);
    slope = z > 0 ? Wide(1) : Wide(-1);
  } else if constexpr (A == Activation::elu) {
    value = z > 0 ? z : Wide(-kEluAlpha);
    slope = z > 0 ? Wide(1) : Wide(0);
  } else if constexpr (A == Activation::relu || A == Activation::softplus ||
                       A == Activation::gelu || A == Activation::silu) {
    value = z > 0 ? z : Wide(0);
    slope = z > 0 ? Wide(1) : Wide(0);
  } else if constexpr (A == Activation::arctan) {
    value = std::copysign(Wide(M_PI_2), z);
    slope = (1 / z) / z;
  } else if constexpr (A == Activation::sigmoid) {
    value = z > 0 ? Wide(1) : Wide(0);
    slope = 0;
  } else {  // tanh, erf
    value = z > 0 ? Wide(1) : Wide(-1);
    slope = 0;
  }
}

// The hidden layer of one point in long double: a_i = sigma(z_i), s_i = sigma'(z_i) v_i.
struct WideHidden {
  std::vector<Wide> a, s;
};

template <typename T, typename P>
void wide_hidden(Activation activation, const P& w, Wide in_scale, const T* x, WideHidden& out) {
  const Index n = w.width(), d = w.input_dim();
  out.a.resize(n);
  out.s.resize(n);
  with_activation(activation, [&](auto act) {
    constexpr Activation A = decltype(act)::value;
    for (Index i = 0; i < n; ++i) {
      Wide z = 0;
      for (Index j = 0; j < d; ++j) z += Wide(w.U(i, j)) * Wide(x[j]);
      wide_value_and_derivative<A>(in_scale * z + Wide(w.b(i)), out.a[i], out.s[i]);
      out.s[i] *= Wide(w.v(i));
    }
  });
}

// K(x1, x2) = a_out^2 [(a_in^2 x1.x2 + 1) sum_i s1_i s2_i + sum_i a1_i a2_i] + 1, rounded once.
template <typename T>
T wide_entry(Wide in2, Wide out2, const T* x1, const T* x2, Index d, const WideHidden& h1,
             const WideHidden& h2) {
  Wide inner = 0, derivative = 0, activation = 0;
  for (Index j = 0; j < d; ++j) inner += Wide(x1[j]) * Wide(x2[j]);
  for (std::size_t i = 0; i < h1.a.size(); ++i) {
    derivative += h1.s[i] * h2.s[i];
    activation += h1.a[i] * h2.a[i];
  }
  return T(out2 * ((in2 * inner + 1) * derivative + activation) + 1);
}

// The squared scale factors in long double, from the width and input dimension.
inline void wide_scales(Parametrization p, Index width, Index input_dim, Wide& in2, Wide& out2) {
  in2 = p == Parametrization::ntk ? Wide(1) / Wide(input_dim) : Wide(1);
  out2 = p == Parametrization::ntk ? Wide(1) / Wide(width) : Wide(1);
}

// Hidden layers of the columns' points are kept for at most this many bytes at a time.
constexpr std::size_t kWideBudget = std::size_t(64) << 20;

// Recomputes every non-finite entry of G = K(X1, X2) (on and below the diagonal only, with
// `lower_only`). The hidden layers of the columns involved are computed once per block of
// columns that fits kWideBudget, those of the rows once per block.
template <typename T, typename P>
void repair_nonfinite_entries(const Architecture& arch, const P& w, const MatrixRef<T>& X1,
                              const MatrixRef<T>& X2, RowMatrix<T>& G, bool lower_only) {
  if (G.allFinite()) return;
  const StopToken& stop = current_stop_token();
  std::vector<Index> rows, columns;
  std::vector<char> column_used(X2.rows(), 0);
  for (Index k = 0; k < G.rows(); ++k) {
    const Index end = lower_only ? k + 1 : G.cols();
    bool used = false;
    for (Index l = 0; l < end; ++l) {
      if (std::isfinite(G(k, l))) continue;
      used = true;
      column_used[l] = 1;
    }
    if (used) rows.push_back(k);
  }
  for (Index l = 0; l < X2.rows(); ++l)
    if (column_used[l]) columns.push_back(l);

  const Index n = w.width(), d = w.input_dim();
  Wide in2, out2;
  wide_scales(arch.parametrization, n, d, in2, out2);
  const Wide in_scale = std::sqrt(in2);
  const std::size_t per_block =
      std::max<std::size_t>(1, kWideBudget / (2 * sizeof(Wide) * std::size_t(n)));
  std::vector<WideHidden> block(std::min(per_block, columns.size()));
  WideHidden row;
  for (std::size_t first = 0; first < columns.size(); first += per_block) {
    const std::size_t count = std::min(per_block, columns.size() - first);
    for (std::size_t c = 0; c < count; ++c) {
      stop.throw_if_requested();
      wide_hidden<T>(arch.activation, w, in_scale, X2.row(columns[first + c]).data(), block[c]);
    }
    for (const Index k : rows) {
      stop.throw_if_requested();
      wide_hidden<T>(arch.activation, w, in_scale, X1.row(k).data(), row);
      for (std::size_t c = 0; c < count; ++c) {
        const Index l = columns[first + c];
        if ((lower_only && l > k) || std::isfinite(G(k, l))) continue;
        G(k, l) = wide_entry<T>(in2, out2, X1.row(k).data(), X2.row(l).data(), d, row, block[c]);
      }
    }
  }
}

// Recomputes the non-finite entries of the diagonal K(x_k, x_k).
template <typename T, typename P>
void repair_nonfinite_diagonal(const Architecture& arch, const P& w, const MatrixRef<T>& X,
                               Vector<T>& diagonal) {
  if (diagonal.allFinite()) return;
  const StopToken& stop = current_stop_token();
  Wide in2, out2;
  wide_scales(arch.parametrization, w.width(), w.input_dim(), in2, out2);
  WideHidden hidden;
  for (Index k = 0; k < X.rows(); ++k) {
    if (std::isfinite(diagonal(k))) continue;
    stop.throw_if_requested();
    wide_hidden<T>(arch.activation, w, std::sqrt(in2), X.row(k).data(), hidden);
    diagonal(k) = wide_entry<T>(in2, out2, X.row(k).data(), X.row(k).data(), X.cols(), hidden, hidden);
  }
}

}  // namespace detail
}  // namespace widenet
