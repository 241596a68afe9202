// The square loss s sum_{x, i} (Phi_i(x) - y_i(x))^2 of the network with k outputs and its
// gradient (docs/theory.md, section 5, "Several outputs"). With U held transposed:
//   Z = a_in X U^T + 1 b^T (m x n),  A = sigma(Z),  Phi = a_out A V^T + 1 c^T (m x k),
//   R = Phi - Y,  G = 2 s R  (d loss / d Phi),  S = sigma'(Z),  E = (G V) o S  (m x n),
//   grad_V = a_out G^T A,  grad_c = G^T 1,  grad_b = a_out E^T 1,  grad_U^T = a_out a_in X^T E.
// The backward half (`pullback`) takes any weights G: it is J^T G, shared with the
// vector-Jacobian product of tangent_products.hpp. E is the one matrix beyond the hidden layer's; with one output it
// is the scalar pullback's g v^T o S, which that pullback folds into X instead.
#pragma once

#include "widenet/gradient.hpp"
#include "widenet/shallow_outputs.hpp"

namespace widenet {

template <typename T>
using TransposedOutputParams = Transposed<OutputParams<T>>;

// Buffers reused from step to step.
template <typename T>
struct OutputGradientWorkspace {
  GradientWorkspace<T> hidden;  // sigma(Z) and sigma'(Z), as the one-output pass has them
  RowMatrix<T> residual;        // m x k, R
  RowMatrix<T> weights;         // m x k, G
  RowMatrix<T> unit_weights;    // m x n, E = (G V) o sigma'(Z)
};

template <typename T>
struct WorkspaceFor<TransposedOutputParams<T>> {
  using type = OutputGradientWorkspace<T>;
};

// The hidden layer of a batch into the workspace (see the one-output hidden_pass).
template <typename T>
void hidden_pass(const Architecture& arch, const TransposedOutputParams<T>& w,
                 const MatrixRef<T>& X, OutputGradientWorkspace<T>& work) {
  hidden_pass<T>(arch, w, X, work.hidden);
}

// grad = J^T G after hidden_pass, for any weights G (m x k, one row per row of X).
template <typename T>
void pullback(const Architecture& arch, const TransposedOutputParams<T>& w,
                      const MatrixRef<T>& X, const MatrixRef<T>& G,
                      OutputGradientWorkspace<T>& work, TransposedOutputParams<T>& grad) {
  const Scales<T> scale(arch.parametrization, w.width(), w.input_dim());
  const RowMatrix<T>& A = work.hidden.activations;
  RowMatrix<T>& E = work.unit_weights;
  grad.c = G.colwise().sum().transpose();
  grad.v.resize(w.outputs(), w.width());
  multiply_into(grad.v, G.transpose(), A);
  grad.v *= scale.out;
  E.resize(X.rows(), w.width());
  multiply_into(E, G, w.v);
  E.array() *= work.hidden.derivative.array();
  grad.b = scale.out * E.colwise().sum().transpose();
  grad.Ut.resize(w.input_dim(), w.width());
  multiply_into(grad.Ut, X.transpose(), E);
  grad.Ut *= scale.out * scale.in;
}

// Returns loss_scale |Phi(X) - Y|^2 (over all m k entries) and writes its gradient
// 2 loss_scale J^T R into `grad`.
template <typename T>
T loss_and_gradient(const Architecture& arch, const TransposedOutputParams<T>& w,
                    const MatrixRef<T>& X, const MatrixRef<T>& Y, T loss_scale,
                    OutputGradientWorkspace<T>& work, TransposedOutputParams<T>& grad) {
  const Scales<T> scale(arch.parametrization, w.width(), w.input_dim());
  hidden_pass<T>(arch, w, X, work);
  work.residual.resize(X.rows(), w.outputs());
  multiply_into(work.residual, work.hidden.activations, w.v.transpose());
  work.residual = (scale.out * work.residual).rowwise() + w.c.transpose();
  work.residual -= Y;
  work.weights = (T(2) * loss_scale) * work.residual;  // G = d loss / d Phi
  pullback<T>(arch, w, X, work.weights, work, grad);
  return loss_scale * work.residual.squaredNorm();
}

}  // namespace widenet
