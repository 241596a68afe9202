// Fully-connected networks of any depth (docs/theory.md, section 8). With a^0 = x:
//   h^l = m_l W^l a^(l-1) + beta_l b^l,  a^l = sigma(h^l)  (l = 1..L),
//   Phi(x) = m_out v . a^L + beta_out c,
// where the scales (m, beta) of each layer carry the parametrization and a network without
// biases has neither b^l nor c. The forward pass keeps every layer's activations; the
// backward pass turns the derivatives sigma'(h^l) into the sensitivities D^l = dPhi/dh^l,
//   D^L = m_out v o sigma'(h^L),  D^(l-1) = m_l (D^l W^l) o sigma'(h^(l-1)),
// from which the Jacobian, its products and the loss gradient follow without the m x P
// Jacobian (except `deep_jacobian`, which forms it). Products are split into calls of bounded
// work (bounded_products.hpp), so that a long computation stops on request. The `_into`
// functions write into buffers they resize (a no-op at the same size), so that a training
// loop allocates them once per run.
#pragma once

#include <utility>
#include <vector>

#include "widenet/activations.hpp"
#include "widenet/bounded_products.hpp"
#include "widenet/interrupt.hpp"
#include "widenet/types.hpp"

namespace widenet {

// The fixed structure: the activation, the scales (m_l, beta_l) of the L hidden layers and
// then the readout's (m_out, beta_out), and whether the network has biases.
struct DeepArchitecture {
  Activation activation;
  std::vector<std::pair<double, double>> scales;
  bool bias;

  Index depth() const { return Index(scales.size()) - 1; }
};

// Parameters: W[l] is n_(l+1) x n_l (n_0 = d), b[l] its bias (no entries without biases),
// v the readout's weights and c its bias (0 without biases). W and b are containers of
// Eigen matrices or of maps onto arrays held elsewhere.
template <typename T, typename Matrices, typename Vectors, typename Readout>
struct DeepParamsOf {
  Matrices W;
  Vectors b;
  Readout v;
  T c;

  Index depth() const { return Index(W.size()); }
  Index input_dim() const { return W.front().cols(); }
  Index width(Index l) const { return W[std::size_t(l)].rows(); }
  Index size() const {
    Index total = v.size() + (b.empty() ? 0 : 1);
    for (std::size_t l = 0; l < W.size(); ++l) total += W[l].size() + (b.empty() ? 0 : b[l].size());
    return total;
  }
};

template <typename T>
using DeepParams = DeepParamsOf<T, std::vector<RowMatrix<T>>, std::vector<Vector<T>>, Vector<T>>;

template <typename T>
using DeepView = DeepParamsOf<T, std::vector<Eigen::Map<const RowMatrix<T>>>,
                              std::vector<Eigen::Map<const Vector<T>>>, Eigen::Map<const Vector<T>>>;

// A layer's temporary over memory kept for the next ones (our own, aligned allocation).
template <typename T>
using ScratchMatrix = Eigen::Map<RowMatrix<T>, Eigen::AlignedMax>;

// One forward pass over a batch: A[l] = a^(l+1) (m x n_(l+1)) and, when asked for,
// S[l] = sigma'(h^(l+1)), which backward() turns into the sensitivities D^(l+1).
template <typename T>
struct DeepPass {
  std::vector<RowMatrix<T>> A, S;
  Vector<T> scratch;  // the memory of temporary(): grows to the largest, then is reused

  // A rows x cols temporary of one layer (D^l W^l, diag(g) D^l), valid until the next call.
  ScratchMatrix<T> temporary(Index rows, Index cols) {
    if (scratch.size() < rows * cols) scratch.resize(rows * cols);
    return ScratchMatrix<T>(scratch.data(), rows, cols);
  }

  // The input of layer l (0-based): X for the first, the previous activations after.
  MatrixRef<T> input(Index l, const MatrixRef<T>& X) const {
    return l == 0 ? X : MatrixRef<T>(A[std::size_t(l - 1)]);
  }
};

template <typename T, typename P>
Vector<T> scaled_bias(const DeepArchitecture& arch, const P& w, Index l) {
  if (!arch.bias) return Vector<T>::Zero(w.width(l));
  return T(arch.scales[std::size_t(l)].second) * w.b[std::size_t(l)];
}

template <typename T, typename P>
void deep_forward_pass_into(const DeepArchitecture& arch, const P& w, const MatrixRef<T>& X,
                            bool derivatives, const StopToken& stop, DeepPass<T>& pass) {
  const Index depth = arch.depth();
  pass.A.resize(std::size_t(depth));
  pass.S.resize(derivatives ? std::size_t(depth) : 0);
  for (Index l = 0; l < depth; ++l) {
    RowMatrix<T>& h = pass.A[std::size_t(l)];
    h.resize(X.rows(), w.width(l));
    multiply_transposed(h, pass.input(l, X), w.W[std::size_t(l)], false, stop);
    activate_rows<T>(arch.activation, h, derivatives ? &pass.S[std::size_t(l)] : nullptr,
                     T(arch.scales[std::size_t(l)].first), scaled_bias<T>(arch, w, l));
  }
}

template <typename T, typename P>
DeepPass<T> deep_forward_pass(const DeepArchitecture& arch, const P& w, const MatrixRef<T>& X,
                              bool derivatives, const StopToken& stop) {
  DeepPass<T> pass;
  deep_forward_pass_into<T>(arch, w, X, derivatives, stop, pass);
  return pass;
}

// Phi at the batch of a forward pass, into `out` (one entry per point).
template <typename T, typename P>
void deep_readout_into(const DeepArchitecture& arch, const P& w, const DeepPass<T>& pass,
                       Eigen::Ref<Vector<T>> out) {
  const auto [m, beta] = arch.scales.back();
  out.noalias() = T(m) * (pass.A.back() * w.v);
  if (arch.bias) out.array() += T(beta) * w.c;
}

template <typename T, typename P>
Vector<T> deep_readout(const DeepArchitecture& arch, const P& w, const DeepPass<T>& pass) {
  Vector<T> out(pass.A.back().rows());
  deep_readout_into<T>(arch, w, pass, out);
  return out;
}

// S[l] <- D^(l+1), from the last layer down.
template <typename T, typename P>
void deep_backward(const DeepArchitecture& arch, const P& w, DeepPass<T>& pass,
                   const StopToken& stop) {
  const Index depth = arch.depth();
  pass.S.back().array().rowwise() *= (T(arch.scales.back().first) * w.v).transpose().array();
  for (Index l = depth - 1; l >= 1; --l) {
    const auto& W = w.W[std::size_t(l)];
    ScratchMatrix<T> back = pass.temporary(pass.S[std::size_t(l)].rows(), W.cols());
    multiply_transposed(back, pass.S[std::size_t(l)], W.transpose(), false, stop);
    pass.S[std::size_t(l - 1)].array() *= T(arch.scales[std::size_t(l)].first) * back.array();
  }
}

// A forward pass whose derivatives are turned into sensitivities.
template <typename T, typename P>
DeepPass<T> deep_sensitivity_pass(const DeepArchitecture& arch, const P& w, const MatrixRef<T>& X,
                                  const StopToken& stop) {
  DeepPass<T> pass = deep_forward_pass<T>(arch, w, X, true, stop);
  deep_backward<T>(arch, w, pass, stop);
  return pass;
}

template <typename T, typename P>
Vector<T> deep_forward(const DeepArchitecture& arch, const P& w, const MatrixRef<T>& X) {
  return deep_readout<T>(arch, w, deep_forward_pass<T>(arch, w, X, false, current_stop_token()));
}

// The m x P Jacobian, columns in parameter order: per layer W^l row-major, then b^l; then v, c.
//   dPhi/dW^l = m_l D^l (a^(l-1))^T,  dPhi/db^l = beta_l D^l,  dPhi/dv = m_out a^L,  dPhi/dc = beta_out.
template <typename T, typename P>
RowMatrix<T> deep_jacobian(const DeepArchitecture& arch, const P& w, const MatrixRef<T>& X) {
  const StopToken& stop = current_stop_token();
  const DeepPass<T> pass = deep_sensitivity_pass<T>(arch, w, X, stop);
  const Index m = X.rows(), depth = arch.depth();
  RowMatrix<T> J(m, w.size());
  Index column = 0;
  for (Index l = 0; l < depth; ++l) {
    const MatrixRef<T> input = pass.input(l, X);
    const RowMatrix<T>& D = pass.S[std::size_t(l)];
    const auto [scale, beta] = arch.scales[std::size_t(l)];
    const Index rows = D.cols(), cols = input.cols();
#pragma omp parallel for schedule(static) num_threads(thread_count()) if (m * rows * cols > kParallelEntries)
    for (Index k = 0; k < m; ++k) {
      for (Index i = 0; i < rows; ++i) {
        J.row(k).segment(column + i * cols, cols) = (T(scale) * D(k, i)) * input.row(k);
      }
    }
    column += rows * cols;
    if (arch.bias) {
      J.middleCols(column, rows) = T(beta) * D;
      column += rows;
    }
    stop.throw_if_requested();
  }
  const auto [m_out, beta_out] = arch.scales.back();
  J.middleCols(column, pass.A.back().cols()) = T(m_out) * pass.A.back();
  column += pass.A.back().cols();
  if (arch.bias) J.col(column).setConstant(T(beta_out));
  return J;
}

// J^T g from a pass whose sensitivities are computed, into `grad` in the layout of the
// network's parameters.
template <typename T>
void deep_pullback_into(const DeepArchitecture& arch, const MatrixRef<T>& X, DeepPass<T>& pass,
                        const VectorRef<T>& g, const StopToken& stop, DeepParams<T>& grad) {
  const std::size_t depth = std::size_t(arch.depth());
  grad.W.resize(depth);
  grad.b.resize(arch.bias ? depth : 0);
  for (std::size_t l = 0; l < depth; ++l) {
    const MatrixRef<T> input = pass.input(Index(l), X);
    ScratchMatrix<T> weighted = pass.temporary(pass.S[l].rows(), pass.S[l].cols());
    weighted.noalias() = g.asDiagonal() * pass.S[l];  // diag(g) D^(l+1)
    const auto [scale, beta] = arch.scales[l];
    grad.W[l].resize(weighted.cols(), input.cols());
    multiply_transposed(grad.W[l], weighted.transpose(), input.transpose(), false, stop);
    grad.W[l] *= T(scale);
    if (arch.bias) grad.b[l] = T(beta) * weighted.colwise().sum().transpose();
  }
  const auto [m_out, beta_out] = arch.scales.back();
  grad.v.resize(pass.A.back().cols());
  grad.v.noalias() = T(m_out) * (pass.A.back().transpose() * g);
  grad.c = arch.bias ? T(beta_out) * g.sum() : T(0);
}

template <typename T, typename P>
DeepParams<T> deep_vjp(const DeepArchitecture& arch, const P& w, const MatrixRef<T>& X,
                       const VectorRef<T>& r) {
  const StopToken& stop = current_stop_token();
  DeepPass<T> pass = deep_sensitivity_pass<T>(arch, w, X, stop);
  DeepParams<T> grad;
  deep_pullback_into<T>(arch, X, pass, r, stop, grad);
  return grad;
}

// J delta in forward mode: dh^l = m_l (dW^l a^(l-1) + W^l da^(l-1)) + beta_l db^l,
// da^l = sigma'(h^l) o dh^l (da^0 = 0), dPhi = m_out (a^L . dv + da^L . v) + beta_out dc.
template <typename T, typename P, typename Q>
Vector<T> deep_jvp(const DeepArchitecture& arch, const P& w, const Q& delta, const MatrixRef<T>& X) {
  const StopToken& stop = current_stop_token();
  const DeepPass<T> pass = deep_forward_pass<T>(arch, w, X, true, stop);
  RowMatrix<T> dA, dh;
  for (Index l = 0; l < arch.depth(); ++l) {
    dh.resize(X.rows(), w.width(l));
    multiply_transposed(dh, pass.input(l, X), delta.W[std::size_t(l)], false, stop);
    if (l > 0) multiply_transposed(dh, dA, w.W[std::size_t(l)], true, stop);
    const auto [scale, beta] = arch.scales[std::size_t(l)];
    dh *= T(scale);
    if (arch.bias) dh.rowwise() += T(beta) * delta.b[std::size_t(l)].transpose();
    dA = pass.S[std::size_t(l)].cwiseProduct(dh);
  }
  const auto [m_out, beta_out] = arch.scales.back();
  Vector<T> out = T(m_out) * (pass.A.back() * delta.v + dA * w.v);
  if (arch.bias) out.array() += T(beta_out) * delta.c;
  return out;
}

// What a loss gradient computes into: its pass, the residual and the gradient. A training
// run keeps one, so that its steps allocate nothing.
template <typename T>
struct DeepGradientWorkspace {
  DeepPass<T> pass;
  Vector<T> residual;  // Phi(X) - y, then the pullback's weights 2 s (Phi(X) - y)
  DeepParams<T> grad;
};

// The loss s |Phi(X) - y|^2, returned, and its gradient 2 s J^T (Phi(X) - y), in work.grad.
template <typename T, typename P>
double deep_loss_and_gradient(const DeepArchitecture& arch, const P& w, const MatrixRef<T>& X,
                              const VectorRef<T>& y, T loss_scale, DeepGradientWorkspace<T>& work,
                              const StopToken& stop) {
  deep_forward_pass_into<T>(arch, w, X, true, stop, work.pass);
  deep_backward<T>(arch, w, work.pass, stop);
  work.residual.resize(X.rows());
  deep_readout_into<T>(arch, w, work.pass, work.residual);  // the activations only
  work.residual -= y;
  const double loss = double(loss_scale) * work.residual.template cast<double>().squaredNorm();
  work.residual *= T(2) * loss_scale;
  deep_pullback_into<T>(arch, X, work.pass, work.residual, stop, work.grad);
  return loss;
}

// A loss and its gradient: the parameters of one output, or of k outputs (deep_outputs.hpp).
template <typename T, typename Grad = DeepParams<T>>
struct DeepLossGradient {
  double loss;
  Grad grad;
};

template <typename T, typename P>
DeepLossGradient<T> deep_loss_gradient(const DeepArchitecture& arch, const P& w,
                                       const MatrixRef<T>& X, const VectorRef<T>& y, T loss_scale) {
  DeepGradientWorkspace<T> work;
  const double loss = deep_loss_and_gradient<T>(arch, w, X, y, loss_scale, work, current_stop_token());
  return {loss, std::move(work.grad)};
}

}  // namespace widenet
