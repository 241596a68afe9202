// The one-hidden-layer network with k outputs (docs/theory.md, section 5, "Several outputs"):
//   Phi(x) = a_out V sigma(a_in U x + b) + c,
// with the readout V a k x n matrix and c in R^k, the scale factors of shallow_network.hpp.
// Every output shares the hidden layer; output i is the one-output network with readout
// (V_i, c_i). Its parameter vector is U row-major, b, V row-major (output by output), c:
// P = n (d + 1) + k (n + 1), the one-output order when k = 1.
#pragma once

#include <algorithm>
#include <cmath>

#include "widenet/interrupt.hpp"
#include "widenet/shallow_network.hpp"

namespace widenet {

// Parameters w = (U, b, V, c); U is n x d, the readout v = V is k x n.
template <typename T>
struct OutputParams {
  RowMatrix<T> U;
  Vector<T> b;
  RowMatrix<T> v;
  Vector<T> c;

  Index width() const { return U.rows(); }
  Index input_dim() const { return U.cols(); }
  Index outputs() const { return v.rows(); }
};

// A read-only view of parameters held elsewhere (numpy arrays).
template <typename T>
struct OutputParamsView {
  MatrixRef<T> U;
  VectorRef<T> b;
  MatrixRef<T> v;
  VectorRef<T> c;

  Index width() const { return U.rows(); }
  Index input_dim() const { return U.cols(); }
  Index outputs() const { return v.rows(); }
  OutputParams<T> copy() const { return OutputParams<T>{U, b, v, c}; }
};

// The owned parameters of a view: ParamsView -> Params, OutputParamsView -> OutputParams.
template <typename P>
struct OwnedOf {
  using type = P;
};
template <typename T>
struct OwnedOf<ParamsView<T>> {
  using type = Params<T>;
};
template <typename T>
struct OwnedOf<OutputParamsView<T>> {
  using type = OutputParams<T>;
};

// The number of parameters n (d + 1) + k (n + 1).
inline Index output_params_size(Index width, Index input_dim, Index outputs) {
  return width * (input_dim + 1) + outputs * (width + 1);
}

// Phi(X, w) for a batch, m x k: a_out sigma(Z) V^T + 1 c^T.
template <typename T, typename P>
RowMatrix<T> forward_outputs(const Architecture& arch, const P& w, const MatrixRef<T>& X) {
  RowMatrix<T> activations;
  hidden_layer<T>(arch, w, X, 0, w.width(), activations, nullptr);
  const Scales<T> scale(arch.parametrization, w.width(), w.input_dim());
  RowMatrix<T> out(X.rows(), w.outputs());
  multiply_into(out, activations, w.v.transpose());
  if (scale.out != T(1)) out *= scale.out;
  out.rowwise() += w.c.transpose();
  return out;
}

// The (m k) x P Jacobian dPhi_i(x)/dw, row x k + i for output i at point x, columns in the
// order of the parameter vector:
//   dPhi_i/dU_jl = a_out a_in V_ij sigma'(z_j) x_l,   dPhi_i/db_j = a_out V_ij sigma'(z_j),
//   dPhi_i/dV_i'j = [i = i'] a_out sigma(z_j),       dPhi_i/dc_i' = [i = i'].
// Stops (Interrupted) when the current stop token is requested.
template <typename T, typename P>
RowMatrix<T> jacobian_outputs(const Architecture& arch, const P& w, const MatrixRef<T>& X) {
  const Index m = X.rows(), n = w.width(), d = w.input_dim(), k = w.outputs();
  const Scales<T> scale(arch.parametrization, n, d);
  const StopToken& stop = current_stop_token();
  RowMatrix<T> activations, derivative;
  hidden_layer<T>(arch, w, X, 0, n, activations, &derivative);
  stop.throw_if_requested();
  const Index readout = n * (d + 1), bias = readout + k * n;
  RowMatrix<T> J = zeroed<T>(m * k, output_params_size(n, d, k));
#pragma omp parallel for schedule(static) num_threads(thread_count()) if (m * k * n * d > kParallelEntries)
  for (Index x = 0; x < m; ++x) {
    if (stop.requested()) continue;  // skip the remaining rows; thrown after the region
    for (Index i = 0; i < k; ++i) {
      auto row = J.row(x * k + i);
      for (Index j = 0; j < n; ++j) {
        const T db = scale.out * w.v(i, j) * derivative(x, j);
        row.segment(j * d, d) = (db * scale.in) * X.row(x);
        row(n * d + j) = db;
      }
      row.segment(readout + i * n, n) = scale.out * activations.row(x);
      row(bias + i) = T(1);
    }
  }
  stop.throw_if_requested();
  return J;
}

// The readout of the kernel traced over the outputs: unit j's root mean square over the
// outputs, sqrt(sum_i V_ij^2 / k). The mean over i of the one-output kernels of the
// readouts V_i is the one-output kernel of this readout (docs/theory.md, section 5).
// Each column is divided by its largest entry first, so that squares neither overflow
// nor underflow.
template <typename T>
Vector<T> traced_readout(const MatrixRef<T>& V) {
  const Index k = V.rows();
  Vector<T> out(V.cols());
  for (Index j = 0; j < V.cols(); ++j) {
    const T largest = V.col(j).cwiseAbs().maxCoeff();
    if (!(largest > T(0)) || !std::isfinite(largest)) {
      out(j) = largest;  // 0, or an infinite or NaN weight that no scaling makes finite
      continue;
    }
    out(j) = largest * std::sqrt((V.col(j) / largest).squaredNorm() / T(k));
  }
  return out;
}

}  // namespace widenet
