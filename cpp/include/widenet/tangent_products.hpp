// Products with the Jacobian J = dPhi(X, w)/dw of the shallow network that never form the
// m x P matrix (docs/theory.md, sections 3, 5, 6), for the linearized model (11.3.1):
//   J delta   = a_out [ sigma(Z) dv + (sigma'(Z) o dZ) v ] + dc,
//               Z = a_in X U^T + 1 b^T,  dZ = a_in X dU^T + 1 db^T (the change of Z along delta),
//   J^T r     = the loss gradient of gradient.hpp with its weights g replaced by r.
// Each is two m x d x n products instead of the m x n(d+2) Jacobian. The network with k
// outputs (shallow_outputs.hpp) has both with an m x k matrix in place of the vectors.
#pragma once

#include <algorithm>

#include "widenet/gradient.hpp"
#include "widenet/outputs_gradient.hpp"
#include "widenet/interrupt.hpp"
#include "widenet/tangent_gram.hpp"

namespace widenet {

namespace detail {

// Columns [col, col + cols) of a readout as the right factor of a product with the hidden
// layer: a segment of a vector v (one output), the transposed columns of a k x n matrix.
template <typename Readout>
auto readout_columns(const Readout& v, Index col, Index cols) {
  if constexpr (Readout::ColsAtCompileTime == 1) {
    return v.segment(col, cols);
  } else {
    return v.middleCols(col, cols).transpose();
  }
}

// J(X, w) delta for a direction delta = (dU, db, dv, dc) in the parameter layout (dU is n x d)
// of either network: Out is Vector (one output) or RowMatrix (m x k, k outputs). The width
// is processed in chunks, so that memory stays O(m * chunk) for wide networks.
template <typename T, typename Out, typename P, typename Q>
Out jvp_of(const Architecture& arch, const P& w, const Q& delta, const MatrixRef<T>& X) {
  const Index m = X.rows(), n = w.width();
  const Scales<T> scale(arch.parametrization, n, w.input_dim());
  // dZ is the hidden layer of delta without its activation: the same product and bias pass.
  const Architecture linear{Activation::identity, arch.parametrization};
  // three m x chunk blocks live at once
  const Index chunk = default_width_chunk<T>(2 * m, n);
  RowMatrix<T> activations, derivative, direction;
  Out out = Out::Zero(m, Out::ColsAtCompileTime == 1 ? 1 : w.v.rows());
  const StopToken& stop = current_stop_token();
  for (Index col = 0; col < n; col += chunk) {
    stop.throw_if_requested();
    const Index cols = std::min(chunk, n - col);
    hidden_layer<T>(arch, w, X, col, cols, activations, &derivative);
    hidden_layer<T>(linear, delta, X, col, cols, direction, nullptr);
    derivative.array() *= direction.array();
    out.noalias() += activations * readout_columns(delta.v, col, cols);
    out.noalias() += derivative * readout_columns(w.v, col, cols);
  }
  out *= scale.out;
  if constexpr (Out::ColsAtCompileTime == 1) {
    out.array() += delta.c;
  } else {
    out.rowwise() += delta.c.transpose();
  }
  return out;
}

}  // namespace detail

// J(X, w) delta (m) for a direction delta = (dU, db, dv, dc) in the parameter layout.
template <typename T, typename P, typename Q>
Vector<T> jvp(const Architecture& arch, const P& w, const Q& delta, const MatrixRef<T>& X) {
  return detail::jvp_of<T, Vector<T>>(arch, w, delta, X);
}

// J(X, w)^T r as parameter blocks (U is n x d), the pullback shared with the loss gradient:
// weights r (m) of one output (ParamsView), R (m x k) of k outputs (OutputParamsView).
template <typename T, typename P, typename Weights>
typename OwnedOf<P>::type vjp(const Architecture& arch, const P& w, const MatrixRef<T>& X,
                              const Weights& r) {
  using State = Transposed<typename OwnedOf<P>::type>;
  const State state = State::from(w);
  typename WorkspaceFor<State>::type work;
  return sum_over_row_bands<T, State>(X.rows(), gradient_flops_per_row(state),
                                      [&](Index row, Index rows, State& into) {
                                        const MatrixRef<T> band = X.middleRows(row, rows);
                                        hidden_pass<T>(arch, state, band, work);
                                        pullback<T>(arch, state, band, r.middleRows(row, rows),
                                                    work, into);
                                      })
      .params();
}

// J(X, w) delta (m x k) for a direction delta = (dU, db, dV, dc) of a network of k outputs:
//   J delta = a_out [ sigma(Z) dV^T + (sigma'(Z) o dZ) V^T ] + 1 dc^T.
template <typename T, typename P, typename Q>
RowMatrix<T> jvp_outputs(const Architecture& arch, const P& w, const Q& delta,
                         const MatrixRef<T>& X) {
  return detail::jvp_of<T, RowMatrix<T>>(arch, w, delta, X);
}

}  // namespace widenet
