// The square loss and its gradient for the shallow network, the inner step of gradient
// descent. The network is held with U transposed (d x n), so that for every problem size
// all work runs along contiguous rows of length n:
//   Z = a_in X U^T + 1 b^T  (m x n),  A = sigma(Z),  Phi = a_out A v + c,
//   r = Phi - y,  g = 2 loss_scale r  (d loss / d Phi),  S = sigma'(Z),
//   grad_v = a_out A^T g,  grad_c = 1^T g,  grad_b = a_out v o (S^T g),
//   grad_U^T = a_out a_in ((diag(g) X)^T S) diag(v).
// The backward half (`pullback`) takes any weights g: it is J^T g, shared with the
// vector-Jacobian product of tangent_products.hpp.
// Small problems (one network of an ensemble) use row updates; large ones BLAS.
#pragma once

#include "widenet/bounded_products.hpp"
#include "widenet/shallow_network.hpp"
#include "widenet/shallow_outputs.hpp"

namespace widenet {

namespace detail {

// w -= h g over contiguous arrays (a step of gradient descent, block by block).
struct SubtractScaled {
  template <typename T>
  [[gnu::always_inline]] static void run(T* __restrict w, const T* __restrict g, Index count, T h) {
    for (Index i = 0; i < count; ++i) w[i] -= h * g[i];
  }
};

// The readout's factors on J^T g's sums: grad_v *= a_out, grad_b *= a_out v and each row of
// grad_U^T *= a_out a_in v^T, in one pass that also tells whether grad_U^T was finite
// before (`*finite`).
struct ScaleByReadout {
  template <typename T>
  [[gnu::always_inline]] static void run(T* __restrict gv, T* __restrict gb, T* __restrict gUt,
                                         const T* __restrict v, Index d, Index n, T out, T out_in,
                                         bool* finite) {
    int nonfinite = 0;  // an int, not a bool: the compiler vectorises the OR of ints
    for (Index j = 0; j < d; ++j) {
      T* __restrict row = gUt + j * n;
      for (Index i = 0; i < n; ++i) {
        nonfinite |= int(!(row[i] - row[i] == T(0)));  // inf - inf and NaN - NaN are NaN
        row[i] *= out_in * v[i];
      }
    }
    for (Index i = 0; i < n; ++i) {
      gv[i] *= out;
      gb[i] *= out * v[i];
    }
    *finite = nonfinite == 0;
  }
};

}  // namespace detail

// Parameters with U stored transposed, as gradient descent updates them, for the owned
// parameters P of either network: Params (a readout vector v and a number c) or
// OutputParams (shallow_outputs.hpp: a k x n readout v and c in R^k).
template <typename P>
struct Transposed {
  using Scalar = typename decltype(P::b)::Scalar;
  using Readout = decltype(P::v);
  using Bias = decltype(P::c);

  RowMatrix<Scalar> Ut;  // d x n
  Vector<Scalar> b;
  Readout v;
  Bias c;

  template <typename Q>
  static Transposed from(const Q& w) {
    return Transposed{w.U.transpose(), w.b, w.v, w.c};
  }
  P params() const { return P{Ut.transpose(), b, v, c}; }
  void operator+=(const Transposed& other) {
    Ut += other.Ut;
    b += other.b;
    v += other.v;
    c += other.c;
  }
  // One step of gradient descent: w -= h grad.
  void descend(const Transposed& grad, Scalar h) {
    step_against(Ut, grad.Ut, h);
    step_against(b, grad.b, h);
    step_against(v, grad.v, h);
    c -= h * grad.c;
  }
  Index width() const { return Ut.cols(); }
  Index input_dim() const { return Ut.rows(); }
  Index outputs() const { return Readout::ColsAtCompileTime == 1 ? 1 : v.rows(); }

 private:
  template <typename Dense>
  static void step_against(Dense& w, const Dense& grad, Scalar h) {
    run_on_best_path<detail::SubtractScaled>(w.data(), grad.data(), Index(w.size()), h);
  }
};

template <typename T>
using TransposedParams = Transposed<Params<T>>;

// The buffers of a state's gradient pass (specialized for each network).
template <typename State>
struct WorkspaceFor;

// Buffers reused from step to step.
template <typename T>
struct GradientWorkspace {
  RowMatrix<T> activations;  // m x n
  RowMatrix<T> derivative;   // m x n, then E
  Vector<T> residual;        // m
  Vector<T> weights;         // m, g
  RowMatrix<T> weighted_X;   // m x d, diag(g) X; m x (d + 1), [diag(g) X, g] (large problems)
  RowMatrix<T> gradient_rows;  // (d + 1) x n, [diag(g) X, g]^T sigma'(Z) (large problems)
  RowMatrix<T> inputs;       // m x d, a contiguous copy of X (small problems)
};

template <typename T>
struct WorkspaceFor<TransposedParams<T>> {
  using type = GradientWorkspace<T>;
};

namespace detail {

// The two products of a small problem as plain loops over contiguous rows, which the
// compiler vectorises at the CPU's width (dispatch.hpp): Z = X U^T, and the accumulations
// grad_v = A^T g, grad_b = S^T g, grad_U^T = (diag(g) X)^T S before their scale factors.
struct SmallPreactivations {
  template <typename T>
  [[gnu::always_inline]] static void run(const T* __restrict X, const T* __restrict Ut,
                                         T* __restrict Z, Index m, Index d, Index n) {
    for (Index k = 0; k < m; ++k) {
      T* __restrict row = Z + k * n;
      for (Index i = 0; i < n; ++i) row[i] = T(0);
      for (Index j = 0; j < d; ++j) {
        const T x = X[k * d + j];
        const T* __restrict u = Ut + j * n;
        for (Index i = 0; i < n; ++i) row[i] += x * u[i];
      }
    }
  }
};

struct SmallAccumulate {
  template <typename T>
  [[gnu::always_inline]] static void run(const T* __restrict A, const T* __restrict S,
                                         const T* __restrict g, const T* __restrict gX,
                                         T* __restrict gv, T* __restrict gb, T* __restrict gUt,
                                         Index m, Index d, Index n) {
    for (Index i = 0; i < n; ++i) gv[i] = gb[i] = T(0);
    for (Index i = 0; i < n * d; ++i) gUt[i] = T(0);
    for (Index k = 0; k < m; ++k) {
      const T gk = g[k];
      const T* __restrict a = A + k * n;
      const T* __restrict s = S + k * n;
      for (Index i = 0; i < n; ++i) {
        gv[i] += gk * a[i];
        gb[i] += gk * s[i];
      }
      for (Index j = 0; j < d; ++j) {
        const T w = gX[k * d + j];
        T* __restrict row = gUt + j * n;
        for (Index i = 0; i < n; ++i) row[i] += w * s[i];
      }
    }
  }
};

}  // namespace detail

// The hidden layer of a batch into the workspace: activations sigma(Z), derivative sigma'(Z).
// `w` holds Ut and b (the parameters of one output or of several). With `onto` (n entries),
// also sigma(Z) onto into `projections` (m entries), each row's product taken as the
// activation pass leaves it (no second pass over sigma(Z)).
template <typename T, typename State>
void hidden_pass(const Architecture& arch, const State& w, const MatrixRef<T>& X,
                 GradientWorkspace<T>& work, const T* onto = nullptr, T* projections = nullptr) {
  const Index m = X.rows(), n = w.width(), d = w.input_dim();
  const Scales<T> scale(arch.parametrization, n, d);
  RowMatrix<T>& A = work.activations;
  A.resize(m, n);
  if (m * n * d < kSmallProduct) {
    work.inputs = X;  // contiguous, whatever strides X has
    run_on_best_path<detail::SmallPreactivations>(work.inputs.data(), w.Ut.data(), A.data(), m, d, n);
  } else {
    A.noalias() = X * w.Ut;
  }
  activate_rows<T>(arch.activation, A, &work.derivative, scale.in, w.b, onto, projections);
}

// grad = J^T g after hidden_pass, for any weights g (one per row of X): the gradient of the
// loss when g = d loss / d Phi, the vector-Jacobian product otherwise. The weights go into
// X (m x d, small) rather than into the m x n matrices:
// grad_U^T = a_out a_in ((diag(g) X)^T sigma'(Z)) diag(v) and grad_b = a_out v o (sigma'(Z)^T g).
template <typename T>
void pullback(const Architecture& arch, const TransposedParams<T>& w, const MatrixRef<T>& X,
              const VectorRef<T>& g, GradientWorkspace<T>& work, TransposedParams<T>& grad) {
  const Index m = X.rows(), n = w.width(), d = w.input_dim();
  const Scales<T> scale(arch.parametrization, n, d);
  const RowMatrix<T>& A = work.activations;
  const RowMatrix<T>& D = work.derivative;

  grad.c = g.sum();
  if (m * n * d < kSmallProduct) {
    work.weighted_X = g.asDiagonal() * X;
    grad.v.resize(n);
    grad.b.resize(n);
    grad.Ut.resize(d, n);
    run_on_best_path<detail::SmallAccumulate>(A.data(), D.data(), g.data(), work.weighted_X.data(),
                                              grad.v.data(), grad.b.data(), grad.Ut.data(), m, d, n);
  } else {
    // [diag(g) X, g]^T sigma'(Z): grad_U^T and grad_b from one pass over sigma'(Z).
    work.weighted_X.resize(m, d + 1);
    work.weighted_X.leftCols(d).noalias() = g.asDiagonal() * X;
    work.weighted_X.col(d) = g;
    work.gradient_rows.noalias() = work.weighted_X.transpose() * D;
    grad.v.noalias() = A.transpose() * g;
    grad.Ut = work.gradient_rows.topRows(d);
    grad.b = work.gradient_rows.row(d).transpose();
  }
  bool finite = true;
  run_on_best_path<detail::ScaleByReadout>(grad.v.data(), grad.b.data(), grad.Ut.data(), w.v.data(), d,
                                           n, scale.out, scale.out * scale.in, &finite);
  if (!finite) {
    // g_k x_kj overflowed (float32 inputs near its range) where sigma'(Z) is 0: inf * 0.
    // The slower order X^T (diag(g) sigma'(Z)) multiplies by those zeros first.
    grad.Ut.noalias() = X.transpose() * (g.asDiagonal() * D);
    grad.Ut.array().rowwise() *= (scale.out * scale.in) * w.v.transpose().array();
  }
}

// Returns loss_scale |Phi(X) - y|^2 and writes its gradient 2 loss_scale J^T r into `grad`.
template <typename T>
T loss_and_gradient(const Architecture& arch, const TransposedParams<T>& w, const MatrixRef<T>& X,
                    const VectorRef<T>& y, T loss_scale, GradientWorkspace<T>& work,
                    TransposedParams<T>& grad) {
  const Scales<T> scale(arch.parametrization, w.width(), w.input_dim());
  work.residual.resize(X.rows());
  hidden_pass<T>(arch, w, X, work, w.v.data(), work.residual.data());  // A v
  work.residual.array() = scale.out * work.residual.array() + w.c - y.array();
  work.weights = (T(2) * loss_scale) * work.residual;  // g = d loss / d Phi(x_k)
  pullback<T>(arch, w, X, work.weights, work, grad);
  return loss_scale * work.residual.squaredNorm();
}

// The loss and gradient at parameters held in the usual layout (U is n x d): Params, or
// OutputParams for a network of k outputs.
template <typename T, typename Owned = Params<T>>
struct LossGradient {
  T loss;
  Owned grad;
};

// The work of the gradient per point in flops: three products of the hidden layer's size
// (forward, grad_U, and the sigma'(Z) pass) and its activations.
inline double gradient_flops_per_row(Index width, Index input_dim) {
  return double(width) * (6.0 * double(input_dim) + kActivationFlops);
}

// The same for k outputs: with k > 1, the products with V besides.
inline double gradient_flops_per_row(Index width, Index input_dim, Index outputs) {
  const double one_output = gradient_flops_per_row(width, input_dim);
  return outputs == 1 ? one_output : one_output + 6.0 * double(width) * double(outputs);
}

template <typename P>
double gradient_flops_per_row(const Transposed<P>& w) {
  return gradient_flops_per_row(w.width(), w.input_dim(), w.outputs());
}

// A sum over the rows of X (a gradient, J^T r) in bands of rows of bounded work, stopping
// (Interrupted) on a stop request between bands: band(first_row, rows, into) writes a
// band's part into `into`, and the parts are added up. One band is the single pass itself.
// `flops_per_row` is the work of a row (gradient_flops_per_row).
template <typename T, typename State, typename Band>
State sum_over_row_bands(Index rows, double flops_per_row, Band&& band) {
  State total, part;
  const auto add_band = [&](Index row, Index count) {
    if (row == 0) {
      band(row, count, total);
    } else {
      band(row, count, part);
      total += part;
    }
  };
  for_row_bands(rows, flops_per_row, current_stop_token(), add_band);
  return total;
}

// The loss and its gradient for either network: targets y (m) for one output (ParamsView),
// Y (m x k) for k outputs (OutputParamsView; its pass is in outputs_gradient.hpp).
template <typename T, typename P, typename Targets>
LossGradient<T, typename OwnedOf<P>::type> loss_gradient(const Architecture& arch, const P& w,
                                                         const MatrixRef<T>& X, const Targets& y,
                                                         T loss_scale) {
  using State = Transposed<typename OwnedOf<P>::type>;
  const State state = State::from(w);
  typename WorkspaceFor<State>::type work;
  T loss = T(0);
  const State grad = sum_over_row_bands<T, State>(
      X.rows(), gradient_flops_per_row(state), [&](Index row, Index rows, State& into) {
        const T part = loss_and_gradient<T>(arch, state, X.middleRows(row, rows),
                                            y.middleRows(row, rows), loss_scale, work, into);
        loss = row == 0 ? part : loss + part;
      });
  return LossGradient<T, typename OwnedOf<P>::type>{loss, grad.params()};
}

}  // namespace widenet
