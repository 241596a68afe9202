// The classic kernels of Example 11.10 (SPEC.md section 2) and their Gram matrices:
//   linear x.z,  polynomial (gamma x.z + coef0)^degree,
//   rbf exp(-gamma |x - z|^2),  laplace exp(-gamma |x - z|).
// Each Gram is one product of inner products (GEMM, or a symmetric rank update when
// X1 is X2) followed by one elementwise pass, parallel over row blocks.
#pragma once

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

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

  // K from the inner product x.z and the squared norms |x|^2, |z|^2.
  template <typename T>
  T from_inner(T inner, T norm_x, T norm_z) const {
    switch (kind) {
      case KernelKind::linear:
        return inner;
      case KernelKind::polynomial:
        return power(T(gamma) * inner + T(coef0));
      case KernelKind::rbf:
        return std::exp(-T(gamma) * std::max(norm_x + norm_z - T(2) * inner, T(0)));
      case KernelKind::laplace:
        return std::exp(-T(gamma) * std::sqrt(std::max(norm_x + norm_z - T(2) * inner, T(0))));
    }
    return T(0);
  }

  // base^degree by repeated squaring (exact for the integer degrees of the chapter).
  template <typename T>
  T power(T base) const {
    T result = T(1);
    for (int e = degree; e > 0; e >>= 1) {
      if (e & 1) result *= base;
      base *= base;
    }
    return result;
  }
};

namespace detail {

// Applies the kernel to the inner products in `G`, rows [0, m1), columns [0, last(k)).
template <typename T, typename LastColumn>
void inner_to_kernel(const ClassicKernel& kernel, RowMatrix<T>& G, const Vector<T>& norms1,
                     const Vector<T>& norms2, LastColumn last) {
  if (kernel.kind == KernelKind::linear) return;
  const Index rows = G.rows();
#pragma omp parallel for schedule(dynamic, 16) num_threads(thread_count()) if (G.size() > kParallelEntries)
  for (Index k = 0; k < rows; ++k) {
    T* row = G.row(k).data();
    const Index end = last(k);
    for (Index j = 0; j < end; ++j) row[j] = kernel.from_inner(row[j], norms1(k), norms2(j));
  }
}

}  // namespace detail

// K(X1, X2), m1 x m2.
template <typename T>
RowMatrix<T> kernel_gram(const ClassicKernel& kernel, const MatrixRef<T>& X1, const MatrixRef<T>& X2) {
  RowMatrix<T> G(X1.rows(), X2.rows());
  G.noalias() = X1 * X2.transpose();
  const Vector<T> norms1 = X1.rowwise().squaredNorm(), norms2 = X2.rowwise().squaredNorm();
  detail::inner_to_kernel(kernel, G, norms1, norms2, [&](Index) { return G.cols(); });
  return G;
}

// K(X, X): the lower triangle from a symmetric rank update, then mirrored.
template <typename T>
RowMatrix<T> kernel_gram_symmetric(const ClassicKernel& kernel, const MatrixRef<T>& X) {
  const Index m = X.rows();
  RowMatrix<T> G = RowMatrix<T>::Zero(m, m);
  G.template selfadjointView<Eigen::Lower>().rankUpdate(X);
  // The diagonal's norms are its own inner products, so |x - x|^2 is exactly 0.
  const Vector<T> norms = G.diagonal();
  detail::inner_to_kernel(kernel, G, norms, norms, [](Index k) { return k + 1; });
  G.template triangularView<Eigen::StrictlyUpper>() = G.transpose();
  return G;
}

// K(x_k, x_k) for every row.
template <typename T>
Vector<T> kernel_diagonal(const ClassicKernel& kernel, const MatrixRef<T>& X) {
  Vector<T> out = X.rowwise().squaredNorm();
  for (Index k = 0; k < out.size(); ++k) out(k) = kernel.from_inner(out(k), out(k), out(k));
  return out;
}

}  // namespace widenet
