// Deep networks with k outputs (docs/theory.md, section 5, "Several outputs", and section 8):
//   Phi(x) = m_out V a^L(x) + beta_out c  in R^k,
// V the k x n_L readout, c in R^k, every output sharing the hidden layers. Output i is the
// one-output network of readout (V_i, c_i): its sensitivities follow the one-output
// recursion from D^L_i = m_out V_i o sigma'(h^L), D^(l-1)_i = m_l (D^l_i W^l) o sigma'(h^(l-1)),
// so every kernel here is the one-output kernel of deep_network.hpp and deep_gram.hpp taken
// output by output over one shared forward pass. The parameter vector is the hidden layers
// (W^l row-major, then b^l), then V row-major (output by output), then c.
#pragma once

#include <vector>

#include "widenet/deep_gram.hpp"
#include "widenet/deep_network.hpp"

namespace widenet {

// The hidden layers of `hidden` (its own v and c are not read), the readout V (k x n_L) and
// its bias c (k entries; zeros without biases).
template <typename Hidden, typename Readout, typename T>
struct DeepOutputsOf {
  Hidden hidden;
  Readout V;
  Vector<T> c;

  Index outputs() const { return V.rows(); }
  Index size() const {
    Index total = V.size() + (hidden.b.empty() ? 0 : c.size());
    for (std::size_t l = 0; l < hidden.W.size(); ++l) {
      total += hidden.W[l].size() + (hidden.b.empty() ? 0 : hidden.b[l].size());
    }
    return total;
  }
};

template <typename T>
using DeepOutputParams = DeepOutputsOf<DeepParams<T>, RowMatrix<T>, T>;

template <typename T>
using DeepOutputView = DeepOutputsOf<DeepView<T>, Eigen::Map<const RowMatrix<T>>, T>;

// Output i as a one-output network: views of the hidden layers and of the readout's row i.
template <typename T, typename P>
DeepView<T> output_view(const P& p, Index i) {
  DeepView<T> view{{}, {}, Eigen::Map<const Vector<T>>(p.V.row(i).data(), p.V.cols()), p.c(i)};
  for (const auto& W : p.hidden.W) view.W.emplace_back(W.data(), W.rows(), W.cols());
  for (const auto& b : p.hidden.b) view.b.emplace_back(b.data(), b.size());
  return view;
}

// Phi at the batch of a forward pass, m x k: m_out A^L V^T + beta_out 1 c^T.
template <typename T, typename P>
RowMatrix<T> deep_readout_outputs(const DeepArchitecture& arch, const P& p, const DeepPass<T>& pass) {
  const auto [m, beta] = arch.scales.back();
  RowMatrix<T> out(pass.A.back().rows(), p.outputs());
  out.noalias() = pass.A.back() * p.V.transpose();
  out *= T(m);
  if (arch.bias) out.rowwise() += T(beta) * p.c.transpose();
  return out;
}

template <typename T, typename P>
RowMatrix<T> deep_forward_outputs(const DeepArchitecture& arch, const P& p, const MatrixRef<T>& X) {
  return deep_readout_outputs<T>(arch, p, deep_forward_pass<T>(arch, p.hidden, X, false, current_stop_token()));
}

// One pass per output, sharing one forward pass: passes[i].S[l] = D^(l+1)_i.
template <typename T, typename P>
std::vector<DeepPass<T>> deep_output_passes(const DeepArchitecture& arch, const P& p, const MatrixRef<T>& X,
                                            const StopToken& stop) {
  const DeepPass<T> shared = deep_forward_pass<T>(arch, p.hidden, X, true, stop);
  std::vector<DeepPass<T>> passes(std::size_t(p.outputs()), shared);
  for (Index i = 0; i < p.outputs(); ++i) deep_backward<T>(arch, output_view<T>(p, i), passes[std::size_t(i)], stop);
  return passes;
}

// The (m k) x P Jacobian, row x k + i for output i at point x: output i's one-output row,
// its readout columns moved to V_i's and c_i's places (the other outputs' are 0).
template <typename T, typename P>
RowMatrix<T> deep_jacobian_outputs(const DeepArchitecture& arch, const P& p, const MatrixRef<T>& X) {
  const Index m = X.rows(), k = p.outputs(), n = p.V.cols();
  const Index hidden = p.size() - p.V.size() - (arch.bias ? k : 0);
  RowMatrix<T> J = zeroed<T>(m * k, p.size());
  for (Index i = 0; i < k; ++i) {
    const RowMatrix<T> one = deep_jacobian<T>(arch, output_view<T>(p, i), X);
    for (Index x = 0; x < m; ++x) {
      auto row = J.row(x * k + i);
      row.head(hidden) = one.row(x).head(hidden);
      row.segment(hidden + i * n, n) = one.row(x).segment(hidden, n);
      if (arch.bias) row(hidden + k * n + i) = one(x, hidden + n);
    }
  }
  return J;
}

// J delta, m x k: output i's forward-mode product with its own readout's direction.
template <typename T, typename P, typename Q>
RowMatrix<T> deep_jvp_outputs(const DeepArchitecture& arch, const P& p, const Q& delta, const MatrixRef<T>& X) {
  RowMatrix<T> out(X.rows(), p.outputs());
  for (Index i = 0; i < p.outputs(); ++i) {
    out.col(i) = deep_jvp<T>(arch, output_view<T>(p, i), output_view<T>(delta, i), X);
  }
  return out;
}

// What the k-output pullback computes into: one output's pass and gradient, then the sum.
template <typename T>
struct DeepOutputGradientWorkspace {
  DeepPass<T> shared;      // the forward pass with sigma'(h^l)
  DeepPass<T> pass;        // one output's sensitivities
  RowMatrix<T> residual;   // Phi(X) - Y, then 2 s (Phi(X) - Y)
  Vector<T> weights;       // one output's column of it
  DeepParams<T> one;       // one output's gradient
  DeepOutputParams<T> grad;
};

// grad = J^T G = sum_i J_i^T G_i (G m x k) from the forward pass in work.shared: the hidden
// layers' gradients summed over the outputs, output i's readout gradient in row i.
template <typename T, typename P>
void deep_output_pullback_into(const DeepArchitecture& arch, const P& p, const MatrixRef<T>& X,
                               const MatrixRef<T>& G, const StopToken& stop, DeepOutputGradientWorkspace<T>& work) {
  DeepOutputParams<T>& grad = work.grad;
  grad.V.resize(p.outputs(), p.V.cols());
  grad.c = Vector<T>::Zero(p.outputs());
  grad.hidden.v.resize(0);  // the readout's gradient is grad.V, beside the hidden layers
  grad.hidden.c = T(0);
  for (Index i = 0; i < p.outputs(); ++i) {
    work.pass = work.shared;
    deep_backward<T>(arch, output_view<T>(p, i), work.pass, stop);
    work.weights = G.col(i);
    deep_pullback_into<T>(arch, X, work.pass, work.weights, stop, work.one);
    if (i == 0) {
      grad.hidden.W = work.one.W;
      grad.hidden.b = work.one.b;
    } else {
      for (std::size_t l = 0; l < grad.hidden.W.size(); ++l) {
        grad.hidden.W[l] += work.one.W[l];
        if (arch.bias) grad.hidden.b[l] += work.one.b[l];
      }
    }
    grad.V.row(i) = work.one.v.transpose();
    grad.c(i) = work.one.c;
  }
}

template <typename T, typename P>
DeepOutputParams<T> deep_vjp_outputs(const DeepArchitecture& arch, const P& p, const MatrixRef<T>& X,
                                     const MatrixRef<T>& G) {
  const StopToken& stop = current_stop_token();
  DeepOutputGradientWorkspace<T> work;
  deep_forward_pass_into<T>(arch, p.hidden, X, true, stop, work.shared);
  deep_output_pullback_into<T>(arch, p, X, G, stop, work);
  return std::move(work.grad);
}

// The loss s |Phi(X) - Y|^2 over all m k entries, returned, and its gradient
// 2 s J^T (Phi(X) - Y), in work.grad (the k-output overload of deep_network.hpp's).
template <typename T, typename P>
double deep_loss_and_gradient(const DeepArchitecture& arch, const P& p, const MatrixRef<T>& X,
                                     const MatrixRef<T>& Y, T loss_scale, DeepOutputGradientWorkspace<T>& work,
                                     const StopToken& stop) {
  deep_forward_pass_into<T>(arch, p.hidden, X, true, stop, work.shared);
  work.residual = deep_readout_outputs<T>(arch, p, work.shared) - Y;
  const double loss = double(loss_scale) * work.residual.template cast<double>().squaredNorm();
  work.residual *= T(2) * loss_scale;
  deep_output_pullback_into<T>(arch, p, X, work.residual, stop, work);
  return loss;
}

template <typename T, typename P>
DeepLossGradient<T, DeepOutputParams<T>> deep_output_loss_gradient(const DeepArchitecture& arch, const P& p,
                                                    const MatrixRef<T>& X, const MatrixRef<T>& Y, T loss_scale) {
  DeepOutputGradientWorkspace<T> work;
  const double loss = deep_loss_and_gradient<T>(arch, p, X, Y, loss_scale, work, current_stop_token());
  return {loss, std::move(work.grad)};
}

// The per-output passes over the rows (X1) and the columns (X2) of a kernel; X2 == nullptr:
// the columns are the rows (the symmetric kernel), held once.
template <typename T>
struct OutputPassPair {
  bool symmetric;
  MatrixRef<T> other;  // the columns' points
  std::vector<DeepPass<T>> rows, own_columns;

  template <typename P>
  OutputPassPair(const DeepArchitecture& arch, const P& p, const MatrixRef<T>& X1, const MatrixRef<T>* X2,
                 const StopToken& stop)
      : symmetric(X2 == nullptr), other(X2 ? *X2 : X1), rows(deep_output_passes<T>(arch, p, X1, stop)) {
    if (!symmetric) own_columns = deep_output_passes<T>(arch, p, other, stop);
  }
  const DeepPass<T>& column(Index i) const { return (symmetric ? rows : own_columns)[std::size_t(i)]; }
};

namespace detail {

// Every block of the kernel into `K`, (m1 k) x (m2 k), from the passes.
template <typename T>
void output_blocks(const DeepArchitecture& arch, const MatrixRef<T>& X1, const OutputPassPair<T>& passes,
                   const StopToken& stop, RowMatrix<T>& K) {
  const Index m1 = X1.rows(), m2 = passes.other.rows(), k = Index(passes.rows.size());
  const bool symmetric = passes.symmetric;
  K.resize(m1 * k, m2 * k);
  RowMatrix<T> block;
  for (Index i = 0; i < k; ++i) {
    for (Index j = 0; j < (symmetric ? i + 1 : k); ++j) {
      const bool lower_only = symmetric && i == j;
      block = zeroed<T>(m1, m2);
      add_layer_terms<T>(block, arch, passes.rows[std::size_t(i)], X1, passes.column(j), passes.other,
                         lower_only, stop, i == j);
      if (lower_only) mirror_lower_to_upper(block);
      for (Index x = 0; x < m1; ++x) {
        for (Index z = 0; z < m2; ++z) {
          K(x * k + i, z * k + j) = block(x, z);
          if (symmetric) K(z * k + j, x * k + i) = block(x, z);
        }
      }
    }
  }
}

// The mean of the diagonal blocks into `K`, m1 x m2, from the passes.
template <typename T>
void traced_blocks(const DeepArchitecture& arch, const MatrixRef<T>& X1, const OutputPassPair<T>& passes,
                   const StopToken& stop, RowMatrix<T>& K) {
  const Index k = Index(passes.rows.size());
  K = zeroed<T>(X1.rows(), passes.other.rows());
  for (Index i = 0; i < k; ++i) {
    add_layer_terms<T>(K, arch, passes.rows[std::size_t(i)], X1, passes.column(i), passes.other, passes.symmetric,
                       stop);
  }
  if (passes.symmetric) mirror_lower_to_upper(K);
  K /= T(k);
}

}  // namespace detail

// The tangent kernel of k outputs (X2 == nullptr: K(X1, X1), its blocks below the diagonal
// mirrored). Every block (traced false), (m1 k) x (m2 k) with row x k + i and column z k + i':
//   K_ii' = sum_l (m_l^2 A1^(l-1) A2^(l-1)T + beta_l^2) o (D1^l_i D2^l_i'T)
//           + [i = i'] (m_out^2 A1^L A2^LT + beta_out^2);
// or the kernel traced over the outputs (traced true), (1/k) sum_i K_ii, m1 x m2.
template <typename T, typename P>
RowMatrix<T> deep_tangent_gram_outputs(const DeepArchitecture& arch, const P& p, const MatrixRef<T>& X1,
                                       const MatrixRef<T>* X2, bool traced) {
  const StopToken& stop = current_stop_token();
  const OutputPassPair<T> passes(arch, p, X1, X2, stop);
  RowMatrix<T> K;
  if (traced) {
    detail::traced_blocks<T>(arch, X1, passes, stop, K);
  } else {
    detail::output_blocks<T>(arch, X1, passes, stop, K);
  }
  return K;
}

// The diagonal of the traced kernel: the mean over the outputs of their diagonals.
template <typename T, typename P>
Vector<T> deep_tangent_diagonal_traced(const DeepArchitecture& arch, const P& p, const MatrixRef<T>& X) {
  Vector<T> K = Vector<T>::Zero(X.rows());
  for (Index i = 0; i < p.outputs(); ++i) K += deep_tangent_gram_diagonal<T>(arch, output_view<T>(p, i), X);
  K /= T(p.outputs());
  return K;
}

}  // namespace widenet
