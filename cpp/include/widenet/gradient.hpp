// The square loss and its gradient for the shallow network, the inner step of gradient
// descent. The network is held with U transposed (d x n), so that for every problem size
// all work runs along contiguous rows of length n:
//   Z = a_in X U^T + 1 b^T  (m x n),  A = sigma(Z),  Phi = a_out A v + c,
//   r = Phi - y,  g = 2 loss_scale r  (d loss / d Phi),  E = diag(g) sigma'(Z),
//   grad_v = a_out A^T g,  grad_c = 1^T g,  grad_b = a_out v o (E^T 1),
//   grad_U^T = a_out a_in (X^T E) diag(v).
// Small problems (one network of an ensemble) use row updates; large ones BLAS.
#pragma once

#include "widenet/shallow_network.hpp"

namespace widenet {

// Parameters with U stored transposed, as gradient descent updates them.
template <typename T>
struct TransposedParams {
  RowMatrix<T> Ut;  // d x n
  Vector<T> b;
  Vector<T> v;
  T c;

  template <typename P>
  static TransposedParams from(const P& w) {
    return TransposedParams{w.U.transpose(), w.b, w.v, w.c};
  }
  Params<T> params() const { return Params<T>{Ut.transpose(), b, v, c}; }
  Index width() const { return Ut.cols(); }
  Index input_dim() const { return Ut.rows(); }
};

// Buffers reused from step to step.
template <typename T>
struct GradientWorkspace {
  RowMatrix<T> activations;  // m x n
  RowMatrix<T> derivative;   // m x n, then E
  Vector<T> residual;        // m
};

// Returns loss_scale |Phi(X) - y|^2 and writes its gradient into `grad` (same layout).
template <typename T>
T loss_and_gradient(const Architecture& arch, const TransposedParams<T>& w, const MatrixRef<T>& X,
                    const VectorRef<T>& y, T loss_scale, GradientWorkspace<T>& work,
                    TransposedParams<T>& grad) {
  const Index m = X.rows(), n = w.width(), d = w.input_dim();
  const Scales<T> scale(arch.parametrization, n, d);
  const bool small = m * n * d < kSmallProduct;
  RowMatrix<T>& A = work.activations;
  RowMatrix<T>& D = work.derivative;

  A.resize(m, n);
  if (small) {
    for (Index k = 0; k < m; ++k) {
      A.row(k) = w.b.transpose();
      for (Index j = 0; j < d; ++j) A.row(k) += (scale.in * X(k, j)) * w.Ut.row(j);
    }
  } else {
    A.noalias() = X * w.Ut;
    A = (scale.in * A).rowwise() + w.b.transpose();
  }
  activate_inplace<T>(arch.activation, A, &D);

  multiply_into(work.residual, A, w.v);
  work.residual.array() = scale.out * work.residual.array() + w.c - y.array();
  const T loss = loss_scale * work.residual.squaredNorm();
  const Vector<T> g = (T(2) * loss_scale) * work.residual;

  D = g.asDiagonal() * D;  // E
  grad.c = g.sum();
  grad.Ut.resize(d, n);
  if (small) {
    grad.v.setZero(n);
    grad.b.setZero(n);
    grad.Ut.setZero();
    for (Index k = 0; k < m; ++k) {
      grad.v += g(k) * A.row(k).transpose();
      grad.b += D.row(k).transpose();
      for (Index j = 0; j < d; ++j) grad.Ut.row(j) += X(k, j) * D.row(k);
    }
  } else {
    grad.v.noalias() = A.transpose() * g;
    grad.b = D.colwise().sum().transpose();
    grad.Ut.noalias() = X.transpose() * D;
  }
  grad.v *= scale.out;
  grad.b.array() *= scale.out * w.v.array();
  grad.Ut.array().rowwise() *= (scale.out * scale.in) * w.v.transpose().array();
  return loss;
}

// The loss and gradient at parameters held in the usual layout (U is n x d).
template <typename T>
struct LossGradient {
  T loss;
  Params<T> grad;
};

template <typename T, typename P>
LossGradient<T> loss_gradient(const Architecture& arch, const P& w, const MatrixRef<T>& X,
                              const VectorRef<T>& y, T loss_scale) {
  const TransposedParams<T> state = TransposedParams<T>::from(w);
  GradientWorkspace<T> work;
  TransposedParams<T> grad;
  const T loss = loss_and_gradient<T>(arch, state, X, y, loss_scale, work, grad);
  return LossGradient<T>{loss, grad.params()};
}

}  // namespace widenet
