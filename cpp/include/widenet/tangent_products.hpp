// Products with the Jacobian J = dPhi(X, w)/dw of the shallow network that never form the
// m x P matrix (docs/theory.md, sections 3, 5, 6), for the linearized model (11.3.1):
//   J delta   = a_out [ sigma(Z) dv + (sigma'(Z) o dZ) v ] + dc,
//               Z = a_in X U^T + 1 b^T,  dZ = a_in X dU^T + 1 db^T (the change of Z along delta),
//   J^T r     = the loss gradient of gradient.hpp with its weights g replaced by r.
// Each is two m x d x n products instead of the m x n(d+2) Jacobian.
#pragma once

#include <algorithm>

#include "widenet/gradient.hpp"
#include "widenet/interrupt.hpp"
#include "widenet/tangent_gram.hpp"

namespace widenet {

// J(X, w) delta for a direction delta = (dU, db, dv, dc) in the parameter layout (dU is n x d).
// The width is processed in chunks, so that memory stays O(m * chunk) for wide networks.
template <typename T, typename P, typename Q>
Vector<T> jvp(const Architecture& arch, const P& w, const Q& delta, const MatrixRef<T>& X) {
  const Index m = X.rows(), n = w.width();
  const Scales<T> scale(arch.parametrization, n, w.input_dim());
  // dZ is the hidden layer of delta without its activation: the same product and bias pass.
  const Architecture linear{Activation::identity, arch.parametrization};
  // three m x chunk blocks live at once
  const Index chunk = default_width_chunk<T>(2 * m, n);
  RowMatrix<T> activations, derivative, direction;
  Vector<T> out = Vector<T>::Zero(m);
  const StopToken& stop = current_stop_token();
  for (Index col = 0; col < n; col += chunk) {
    stop.throw_if_requested();
    const Index cols = std::min(chunk, n - col);
    hidden_layer<T>(arch, w, X, col, cols, activations, &derivative);
    hidden_layer<T>(linear, delta, X, col, cols, direction, nullptr);
    derivative.array() *= direction.array();
    out.noalias() += activations * delta.v.segment(col, cols);
    out.noalias() += derivative * w.v.segment(col, cols);
  }
  out *= scale.out;
  out.array() += delta.c;
  return out;
}

// J(X, w)^T r as parameter blocks (U is n x d): the pullback shared with the loss gradient.
template <typename T, typename P>
Params<T> vjp(const Architecture& arch, const P& w, const MatrixRef<T>& X, const VectorRef<T>& r) {
  const TransposedParams<T> state = TransposedParams<T>::from(w);
  GradientWorkspace<T> work;
  return sum_over_row_bands<T>(X.rows(), w.width(), w.input_dim(),
                               [&](Index row, Index rows, TransposedParams<T>& into) {
                                 const MatrixRef<T> band = X.middleRows(row, rows);
                                 hidden_pass<T>(arch, state, band, work);
                                 pullback<T>(arch, state, band, r.segment(row, rows), work, into);
                               }).params();
}

}  // namespace widenet
