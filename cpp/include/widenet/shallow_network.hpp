// The one-hidden-layer network of docs/theory.md, sections 5 and 6, in both parametrizations:
//   LeCun (11.5.1): Phi(x) = v . sigma(U x + b) + c
//   NTK   (11.6.1): Phi(x) = n^{-1/2} v . sigma(d^{-1/2} U x + b) + c
// Both are Phi(x) = a_out v . sigma(a_in U x + b) + c with two scale factors, so every
// kernel below is written once for the general form.
#pragma once

#include <cmath>
#include <stdexcept>
#include <string>

#include "widenet/activations.hpp"
#include "widenet/interrupt.hpp"
#include "widenet/names.hpp"
#include "widenet/types.hpp"

namespace widenet {

enum class Parametrization { lecun, ntk };

inline constexpr Named<Parametrization> kParametrizations[] = {{Parametrization::lecun, "lecun"},
                                                               {Parametrization::ntk, "ntk"}};

inline Parametrization parse_parametrization(const std::string& name) {
  return parse_name(kParametrizations, name, "parametrization", alternatives(kParametrizations));
}

// The network's fixed structure: everything but the trainable parameters.
struct Architecture {
  Activation activation;
  Parametrization parametrization;
};

// Scale factors a_in (on U x) and a_out (on v . sigma) for width n and input dimension d.
template <typename T>
struct Scales {
  T in;
  T out;
  Scales(Parametrization p, Index width, Index input_dim)
      : in(p == Parametrization::ntk ? T(1) / std::sqrt(T(input_dim)) : T(1)),
        out(p == Parametrization::ntk ? T(1) / std::sqrt(T(width)) : T(1)) {}
};

// Parameters w = (U, b, v, c); U is n x d.
template <typename T>
struct Params {
  RowMatrix<T> U;
  Vector<T> b;
  Vector<T> v;
  T c;

  Index width() const { return U.rows(); }
  Index input_dim() const { return U.cols(); }
  Index size() const { return U.size() + b.size() + v.size() + 1; }
};

// A read-only view of parameters held elsewhere (numpy arrays).
template <typename T>
struct ParamsView {
  MatrixRef<T> U;
  VectorRef<T> b;
  VectorRef<T> v;
  T c;

  Index width() const { return U.rows(); }
  Index input_dim() const { return U.cols(); }
  Params<T> copy() const { return Params<T>{U, b, v, c}; }
};

// Pre-activations Z = a_in X U^T + 1 b^T of a batch, overwritten by sigma(Z); when
// `derivative` is given it receives sigma'(Z). Columns [col, col + cols) of the width only,
// so that wide networks can be processed in chunks.
template <typename T, typename P>
void hidden_layer(const Architecture& arch, const P& w, const MatrixRef<T>& X, Index col,
                  Index cols, RowMatrix<T>& activations, RowMatrix<T>* derivative) {
  const Scales<T> scale(arch.parametrization, w.width(), w.input_dim());
  activations.resize(X.rows(), cols);
  multiply_into(activations, X, w.U.middleRows(col, cols).transpose());
  activate_rows<T>(arch.activation, activations, derivative, scale.in, w.b.segment(col, cols));
}

// Phi(X, w) for a batch: (11.5.1) or (11.6.1).
template <typename T, typename P>
Vector<T> forward(const Architecture& arch, const P& w, const MatrixRef<T>& X) {
  RowMatrix<T> activations;
  hidden_layer<T>(arch, w, X, 0, w.width(), activations, nullptr);
  const Scales<T> scale(arch.parametrization, w.width(), w.input_dim());
  Vector<T> out(X.rows());
  multiply_into(out, activations, w.v);
  if (scale.out != T(1)) out *= scale.out;
  out.array() += w.c;
  return out;
}

// The m x P Jacobian dPhi/dw (11.5.2, 11.6.3), columns ordered U row-major, b, v, c:
//   dPhi/dU_ij = a_out a_in v_i sigma'(z_i) x_j,  dPhi/db_i = a_out v_i sigma'(z_i),
//   dPhi/dv_i = a_out sigma(z_i),                 dPhi/dc = 1.
// Stops (Interrupted) when the current stop token is requested.
template <typename T, typename P>
RowMatrix<T> jacobian(const Architecture& arch, const P& w, const MatrixRef<T>& X) {
  const Index m = X.rows(), n = w.width(), d = w.input_dim();
  const Scales<T> scale(arch.parametrization, n, d);
  const StopToken& stop = current_stop_token();
  RowMatrix<T> activations, derivative;
  hidden_layer<T>(arch, w, X, 0, n, activations, &derivative);
  stop.throw_if_requested();
  RowMatrix<T> J(m, n * (d + 2) + 1);
#pragma omp parallel for schedule(static) num_threads(thread_count()) if (m * n * d > kParallelEntries)
  for (Index k = 0; k < m; ++k) {
    if (stop.requested()) continue;  // skip the remaining rows; thrown after the region
    for (Index i = 0; i < n; ++i) {
      const T db = scale.out * w.v(i) * derivative(k, i);
      J.row(k).segment(i * d, d) = (db * scale.in) * X.row(k);
      J(k, n * d + i) = db;
      J(k, n * (d + 1) + i) = scale.out * activations(k, i);
    }
    J(k, n * (d + 2)) = T(1);
  }
  stop.throw_if_requested();
  return J;
}

}  // namespace widenet
