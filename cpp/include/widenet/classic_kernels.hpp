// The classic kernels of Example 11.10 (SPEC.md section 2) and their Gram matrices:
//   linear x.z,  polynomial (gamma x.z + coef0)^degree,
//   rbf exp(-gamma |x - z|^2),  laplace exp(-gamma |x - z|).
// Each Gram is one product of inner products (GEMM, or a symmetric rank update when
// X1 is X2) followed by one vectorised elementwise pass, parallel over rows.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "widenet/bounded_products.hpp"
#include "widenet/types.hpp"

namespace widenet {

enum class KernelKind { linear, polynomial, rbf, laplace };

inline KernelKind parse_kernel(const std::string& name) {
  if (name == "linear") return KernelKind::linear;
  if (name == "polynomial") return KernelKind::polynomial;
  if (name == "rbf") return KernelKind::rbf;
  if (name == "laplace") return KernelKind::laplace;
  throw std::invalid_argument("kernel: expected one of linear, polynomial, rbf, laplace; got '" +
                              name + "'");
}

struct ClassicKernel {
  KernelKind kind;
  double gamma;
  int degree;
  double coef0;
};

// |x - z|^2 = |x|^2 + |z|^2 - 2 x.z along a row of inner products, clipped at 0 against
// rounding. The clip is a select, not max(., 0): NaN (inf - inf, overflowing norms) must
// survive for repair_overflowed_entries to find it, whatever max does with NaN lanes.
template <typename T, typename Row, typename Norms>
auto clipped_squared_distances(const Row& row, T norm, const Norms& norms) {
  const auto squared = norm + norms.array() - T(2) * row.array();
  return (squared < T(0)).select(T(0), squared);
}

// Turns inner products x.z into K(x, z) in place along one row of a Gram: `norm` is
// |x|^2 of the row's point and `norms` holds |z|^2 of the columns' points.
template <typename T, typename Row, typename Norms>
void inner_to_kernel(const ClassicKernel& kernel, Row&& row, T norm, const Norms& norms) {
  const T gamma = T(kernel.gamma);
  switch (kernel.kind) {
    case KernelKind::linear:
      return;
    case KernelKind::polynomial: {
      // base^degree by repeated squaring: exact powers, as the chapter's integer r.
      Eigen::Array<T, Eigen::Dynamic, 1> base = gamma * row.array() + T(kernel.coef0);
      row.setOnes();
      for (int e = kernel.degree; e > 0; e >>= 1) {
        if (e & 1) row.array() *= base;
        if (e > 1) base *= base;
      }
      return;
    }
    case KernelKind::rbf:
      row.array() = (-gamma * clipped_squared_distances<T>(row, norm, norms)).exp();
      return;
    case KernelKind::laplace:
      row.array() = (-gamma * clipped_squared_distances<T>(row, norm, norms).sqrt()).exp();
      return;
  }
}

namespace detail {

// Entries of an RBF or Laplace row that came out NaN: the inner-product route
// |x|^2 + |z|^2 - 2 x.z overflowed (inf - inf), or a vectorised sqrt gave NaN for inf.
// Inputs are finite, so these are exactly the pairs whose norms or distance overflow the
// dtype's squares; recomputed from x - z with a norm scaled against overflow.
template <typename T, typename Row>
void repair_overflowed_entries(const ClassicKernel& kernel, Row&& row, const MatrixRef<T>& X2,
                               const Eigen::Ref<const Eigen::Matrix<T, 1, Eigen::Dynamic>>& x) {
  if (!row.array().isNaN().any()) return;
  for (Index j = 0; j < row.size(); ++j) {
    if (!std::isnan(row(j))) continue;
    const Eigen::Matrix<T, 1, Eigen::Dynamic> difference = x - X2.row(j);  // may overflow to inf
    const T scale = difference.cwiseAbs().maxCoeff();
    const T distance = (scale > T(0) && scale < std::numeric_limits<T>::infinity())
                           ? scale * (difference / scale).norm()
                           : scale;
    const T scaled = T(kernel.gamma) * distance;
    row(j) = std::exp(-(kernel.kind == KernelKind::rbf ? scaled * distance : scaled));
  }
}

// Row k of G, columns [0, last(k)), for every row, in parallel; stops (Interrupted) when
// `stop` is requested.
template <typename T, typename LastColumn>
void inner_to_kernel_rows(const ClassicKernel& kernel, RowMatrix<T>& G, const MatrixRef<T>& X1,
                          const MatrixRef<T>& X2, const Vector<T>& norms1, const Vector<T>& norms2,
                          LastColumn last, const StopToken& stop) {
  if (kernel.kind == KernelKind::linear) return;
  const bool distance_kernel = kernel.kind == KernelKind::rbf || kernel.kind == KernelKind::laplace;
  const Index rows = G.rows();
#pragma omp parallel for schedule(dynamic, 16) num_threads(thread_count()) if (G.size() > 4 * kParallelEntries)
  for (Index k = 0; k < rows; ++k) {
    if (stop.requested()) continue;  // never throw inside the parallel region
    const Index end = last(k);
    inner_to_kernel<T>(kernel, G.row(k).head(end).transpose(), norms1(k), norms2.head(end));
    if (distance_kernel) repair_overflowed_entries<T>(kernel, G.row(k).head(end), X2, X1.row(k));
  }
  stop.throw_if_requested();
}

}  // namespace detail

// K(X1, X2), m1 x m2.
template <typename T>
RowMatrix<T> kernel_gram(const ClassicKernel& kernel, const MatrixRef<T>& X1, const MatrixRef<T>& X2) {
  RowMatrix<T> G(X1.rows(), X2.rows());
  const StopToken& stop = current_stop_token();
  multiply_transposed(G, X1, X2, false, stop);
  const Vector<T> norms1 = X1.rowwise().squaredNorm(), norms2 = X2.rowwise().squaredNorm();
  detail::inner_to_kernel_rows(kernel, G, X1, X2, norms1, norms2, [&](Index) { return G.cols(); },
                               stop);
  return G;
}

// K(X, X): the lower triangle from a symmetric rank update, then mirrored.
template <typename T>
RowMatrix<T> kernel_gram_symmetric(const ClassicKernel& kernel, const MatrixRef<T>& X) {
  const Index m = X.rows();
  RowMatrix<T> G = RowMatrix<T>::Zero(m, m);
  const StopToken& stop = current_stop_token();
  rank_update_lower(G, X, stop);
  // The norms are the diagonal's own inner products, so |x - x|^2 is exactly 0.
  const Vector<T> norms = G.diagonal();
  detail::inner_to_kernel_rows(kernel, G, X, X, norms, norms, [](Index k) { return k + 1; }, stop);
  mirror_lower_to_upper(G);
  return G;
}

// K(x_k, x_k) for every row: the kernel of each point's inner product with itself.
template <typename T>
Vector<T> kernel_diagonal(const ClassicKernel& kernel, const MatrixRef<T>& X) {
  const Vector<T> norms = X.rowwise().squaredNorm();
  Vector<T> out = norms;
  if (kernel.kind == KernelKind::rbf || kernel.kind == KernelKind::laplace) return out.setOnes();
  inner_to_kernel<T>(kernel, out, T(0), norms);
  return out;
}

}  // namespace widenet
