// The classic kernels of Example 11.10 (docs/theory.md, section 2) and their Gram matrices:
//   linear x.z,  polynomial (gamma x.z + coef0)^degree,
//   rbf exp(-gamma |x - z|^2),  laplace exp(-gamma |x - z|).
// Each Gram is one product of inner products (GEMM, or a symmetric rank update when
// X1 is X2) followed by one vectorised elementwise pass, parallel over rows. Accuracy:
// linear and polynomial inner products are within (d + 2) eps |x| |z| of x.z and overflow
// only where the value does; rbf and laplace entries are within 16 (d + 2) eps of the exact
// kernel at every scale (see distance_kernel_row).
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "widenet/bounded_products.hpp"
#include "widenet/interrupt.hpp"
#include "widenet/names.hpp"
#include "widenet/types.hpp"

namespace widenet {

enum class KernelKind { linear, polynomial, rbf, laplace };

inline constexpr Named<KernelKind> kKernelKinds[] = {{KernelKind::linear, "linear"},
                                                    {KernelKind::polynomial, "polynomial"},
                                                    {KernelKind::rbf, "rbf"},
                                                    {KernelKind::laplace, "laplace"}};

inline KernelKind parse_kernel(const std::string& name) {
  return parse_name(kKernelKinds, name, "kernel", "one of " + listed(kKernelKinds));
}

struct ClassicKernel {
  KernelKind kind;
  double gamma;
  int degree;
  double coef0;
};

// Rows of the inputs of the linear and polynomial kernels with entries of 2^h or more,
// h = (max_exponent - 2 - ceil(log2 d)) / 2, written x = 2^e x^ with |x^_j| < 2^h: no product
// or sum of x^.z^ can overflow (d 2^2h < max / 4), and x.z = 2^(e + e') x^.z^ exactly, so an
// inner product overflows only when its value does (two orthogonal points of size 1e155
// give 0, not inf - inf). Rows below 2^h keep e = 0 and, when all do, nothing is copied.
template <typename T>
struct RowExponents {
  std::vector<int> e;
  RowMatrix<T> scaled;  // X / 2^e row by row, only when some e > 0
  bool any = false;

  explicit RowExponents(const MatrixRef<T>& X) : e(X.rows(), 0) {
    int log_columns = 0;
    while ((Index(1) << log_columns) < X.cols()) ++log_columns;
    const int h = (std::numeric_limits<T>::max_exponent - 2 - log_columns) / 2;
    const T threshold = std::ldexp(T(1), h);
    for (Index k = 0; k < X.rows(); ++k) {
      const T largest = X.row(k).cwiseAbs().maxCoeff();
      if (!(largest >= threshold)) continue;
      e[k] = std::ilogb(largest) + 1 - h;
      any = true;
    }
    if (!any) return;
    scaled = X;
    for (Index k = 0; k < X.rows(); ++k) scaled.row(k) *= std::ldexp(T(1), -e[k]);
  }

  // The inputs divided by 2^e (X itself when every e is 0).
  MatrixRef<T> inputs(const MatrixRef<T>& X) const { return any ? MatrixRef<T>(scaled) : X; }
};

// factor * x.z from x^.z^ and the exponents: factor = f 2^p with f in [1/2, 1), then one
// exact scaling by 2^(p + e + e'), which overflows to inf or underflows to 0 only when
// factor * x.z does.
template <typename T>
T scaled_inner(T inner, double factor, int exponent) {
  int p;
  const double f = std::frexp(factor, &p);
  return std::ldexp(T(f) * inner, p + exponent);
}

// x.z as if summed in twice the working precision (Ogita, Rump and Oishi's Dot2): within
// eps |x.z| + (d eps)^2 |x| |z|, so that products that cancel exactly give 0 whatever the
// order and fused multiply-adds of a GEMM would leave. For scaled rows only: those are
// large enough for a rounding error of the GEMM to reach far beyond the kernel's value.
template <typename T>
T compensated_dot(const T* x, const T* z, Index d) {
  T sum = 0, error = 0;
  for (Index j = 0; j < d; ++j) {
    const T product = x[j] * z[j];
    const T next = sum + product;
    const T moved = next - sum;
    error += ((sum - (next - moved)) + (product - moved)) + std::fma(x[j], z[j], -product);
    sum = next;
  }
  return sum + error;
}

// Turns G = X1^ X2^T (of RowExponents) into factor * X1 X2^T, columns [0, last(k)) of row k;
// entries with a scaled row or column are recomputed by compensated_dot. Returns the factor
// still to apply: with no scaled row G is left as the plain product X1 X2^T and `factor` is
// applied in the kernel's elementwise pass, bit for bit as without exponents.
template <typename T, typename LastColumn>
double scale_inner_products(RowMatrix<T>& G, const RowExponents<T>& rows, const MatrixRef<T>& X1,
                            const RowExponents<T>& cols, const MatrixRef<T>& X2, double factor,
                            LastColumn last) {
  if (!rows.any && !cols.any) return factor;
  const MatrixRef<T> inputs1 = rows.inputs(X1), inputs2 = cols.inputs(X2);
  const StopToken& stop = current_stop_token();
#pragma omp parallel for schedule(dynamic, 16) num_threads(thread_count()) if (G.size() > kParallelEntries)
  for (Index k = 0; k < G.rows(); ++k) {
    if (stop.requested()) continue;
    for (Index l = 0; l < last(k); ++l) {
      const int exponent = rows.e[k] + cols.e[l];
      const T inner = exponent == 0 ? G(k, l)
                                    : compensated_dot(inputs1.row(k).data(), inputs2.row(l).data(),
                                                      inputs1.cols());
      G(k, l) = scaled_inner(inner, factor, exponent);
    }
  }
  stop.throw_if_requested();
  return 1.0;
}

// |x - z|^2 = |x|^2 + |z|^2 - 2 x.z along a row of inner products, clipped at 0 against
// rounding. The clip is a select, not max(., 0): NaN (inf - inf, overflowing norms) must
// survive for the accuracy check of distance_kernel_row to find it.
template <typename T, typename Row, typename Norms>
auto clipped_squared_distances(const Row& row, T norm, const Norms& norms) {
  const auto squared = norm + norms.array() - T(2) * row.array();
  return (squared < T(0)).select(T(0), squared);
}

// Turns x.z (times the factor of scale_inner_products) into K(x, z) in place along one row of
// a Gram, `factor` being what is still to apply: gamma for the polynomial kernel (1 once
// applied). The linear kernel is the inner product itself.
template <typename T, typename Row>
void inner_to_polynomial(const ClassicKernel& kernel, Row&& row, double factor) {
  if (kernel.kind == KernelKind::linear) return;
  // base^degree by repeated squaring: exact powers, as the chapter's integer r.
  Eigen::Array<T, Eigen::Dynamic, 1> base = T(factor) * row.array() + T(kernel.coef0);
  row.setOnes();
  for (int e = kernel.degree; e > 0; e >>= 1) {
    if (e & 1) row.array() *= base;
    if (e > 1) base *= base;
  }
}

namespace detail {

// K(x, z) from x - z directly, its norm scaled against overflow: |x - z|^2 to (d + 2) eps
// relative, whatever the size of x and z.
template <typename T>
T direct_distance_kernel(const ClassicKernel& kernel, const Eigen::Ref<const Eigen::Matrix<T, 1, Eigen::Dynamic>>& x,
                         const Eigen::Ref<const Eigen::Matrix<T, 1, Eigen::Dynamic>>& z) {
  const Eigen::Matrix<T, 1, Eigen::Dynamic> difference = x - z;  // may overflow to inf
  const T scale = difference.cwiseAbs().maxCoeff();
  const T distance = (scale > T(0) && scale < std::numeric_limits<T>::infinity())
                         ? scale * (difference / scale).norm()
                         : scale;
  const T scaled = T(kernel.gamma) * distance;
  return std::exp(-(kernel.kind == KernelKind::rbf ? scaled * distance : scaled));
}

// exp(-gamma |x - z|^2) (rbf) or exp(-gamma |x - z|) (laplace) along one row of a Gram that
// holds x.z on entry; `norm` is |x|^2 and `norms` holds |z|^2 of the columns' points.
//
// The expansion |x|^2 + |z|^2 - 2 x.z is off by at most dD = 2 (d + 2) eps (|x|^2 + |z|^2),
// which moves the exponent t = gamma D (rbf) or gamma sqrt(D) (laplace) by at most
// dt = gamma dD (rbf) or gamma dD / sqrt(D) (laplace, once D >= 2 dD), and K by about K dt.
// Entries where dt > 1 or K dt > 8 (d + 2) eps (points close together far from the origin,
// overflowing norms) are recomputed from x - z, whose error moves K by at most
// (d + 3) eps t e^-t <= (d + 3) eps / e. Every entry is so within 16 (d + 2) eps of the exact
// kernel of the stored inputs. `largest` bounds the entries of `norms`: the bounds are first
// checked for the whole row at once (the usual case), at the cost of one pass for its max.
template <typename T, typename Row, typename Norms>
void distance_kernel_row(const ClassicKernel& kernel, Row&& row, T norm, const Norms& norms,
                         T largest, const Eigen::Ref<const Eigen::Matrix<T, 1, Eigen::Dynamic>>& x,
                         const MatrixRef<T>& Z) {
  using Array = Eigen::Array<T, Eigen::Dynamic, 1>;
  if (row.size() == 0) return;
  const T gamma = T(kernel.gamma), eps = std::numeric_limits<T>::epsilon();
  const T top = std::numeric_limits<T>::max();
  const T spread = T(2 * (x.size() + 2)) * eps;  // dD / (|x|^2 + |z|^2)
  const T budget = T(8 * (x.size() + 2)) * eps;
  const bool rbf = kernel.kind == KernelKind::rbf;
  const T most = norm + largest, most_slack = gamma * spread * most;
  if (rbf && most <= top / 2 && most_slack <= budget) {  // accurate whatever K: one pass
    row.array() = (-gamma * clipped_squared_distances<T>(row, norm, norms)).exp();
    return;
  }
  const Array squared = clipped_squared_distances<T>(row, norm, norms);  // kept for the check
  if (rbf) {
    row.array() = (-gamma * squared).exp();
  } else {
    row.array() = (-gamma * squared.sqrt()).exp();
  }
  // The whole row at once: every |x|^2 + |z|^2 is at most `most` (so every D is finite), every
  // K at most the largest, and (laplace) every sqrt(D) at least what the largest K gives,
  // -log(K) / gamma less exp's rounding.
  if (most <= top / 2) {
    const T largest_kernel = row.maxCoeff();
    if (rbf && most_slack <= T(1) && largest_kernel * most_slack <= budget) return;
    const T exponent = -std::log(std::max(largest_kernel, std::numeric_limits<T>::min()));
    const T low = (exponent * (T(1) - T(4) * eps) - T(8) * eps) / gamma;
    if (!rbf && low * low >= T(2) * spread * most && most_slack <= low &&
        largest_kernel * most_slack <= budget * low) {
      return;
    }
  }
  // Entry by entry. Every comparison is false on NaN: an entry is kept only when all hold.
  const auto slack = (gamma * spread) * (norm + norms.array());  // gamma dD
  const auto check = [&](const auto& accurate) {
    if (accurate.all()) return;
    const Eigen::Array<bool, Eigen::Dynamic, 1> keep = accurate;
    for (Index j = 0; j < row.size(); ++j) {
      if (!keep(j)) row(j) = direct_distance_kernel<T>(kernel, x, Z.row(j));
    }
  };
  if (rbf) {
    check(squared <= top && slack <= T(1) && row.array() * slack <= budget);
  } else {
    // dt = slack / sqrt(D), without the division: D >= 2 dD, dt <= 1, K dt <= budget
    const auto root = squared.sqrt();
    check(squared <= top && squared >= T(2) * spread * (norm + norms.array()) && slack <= root &&
          row.array() * slack <= budget * root);
  }
}

// Row k of G, columns [0, last(k)), for every row, in parallel: G holds x.z (rbf, laplace) or
// x.z before the `factor` still to apply (linear, polynomial) on entry. Stops (Interrupted)
// when `stop` is requested.
template <typename T, typename LastColumn>
void inner_to_kernel_rows(const ClassicKernel& kernel, RowMatrix<T>& G, const MatrixRef<T>& X1,
                          const MatrixRef<T>& X2, const Vector<T>& norms1, const Vector<T>& norms2,
                          double factor, LastColumn last, const StopToken& stop) {
  if (kernel.kind == KernelKind::linear) return;
  const bool distance_kernel = kernel.kind == KernelKind::rbf || kernel.kind == KernelKind::laplace;
  const Index rows = G.rows();
  const T largest = distance_kernel && norms2.size() ? norms2.maxCoeff() : T(0);  // inf if one overflows
#pragma omp parallel for schedule(dynamic, 16) num_threads(thread_count()) if (G.size() > 4 * kParallelEntries)
  for (Index k = 0; k < rows; ++k) {
    if (stop.requested()) continue;  // never throw inside the parallel region
    const Index end = last(k);
    if (distance_kernel) {
      distance_kernel_row<T>(kernel, G.row(k).head(end).transpose(), norms1(k), norms2.head(end),
                             largest, X1.row(k), X2);
    } else {
      inner_to_polynomial<T>(kernel, G.row(k).head(end).transpose(), factor);
    }
  }
  stop.throw_if_requested();
}

// The factor on x.z before the kernel's elementwise pass: gamma for the polynomial kernel.
inline double inner_factor(const ClassicKernel& kernel) {
  return kernel.kind == KernelKind::polynomial ? kernel.gamma : 1.0;
}

}  // namespace detail

// K(X1, X2), m1 x m2.
template <typename T>
RowMatrix<T> kernel_gram(const ClassicKernel& kernel, const MatrixRef<T>& X1, const MatrixRef<T>& X2) {
  RowMatrix<T> G(X1.rows(), X2.rows());
  const StopToken& stop = current_stop_token();
  const auto all_columns = [&](Index) { return G.cols(); };
  double factor = 1.0;
  if (kernel.kind == KernelKind::rbf || kernel.kind == KernelKind::laplace) {
    multiply_transposed(G, X1, X2, false, stop);
  } else {
    const RowExponents<T> rows(X1), cols(X2);
    multiply_transposed(G, rows.inputs(X1), cols.inputs(X2), false, stop);
    factor = scale_inner_products(G, rows, X1, cols, X2, detail::inner_factor(kernel), all_columns);
  }
  const Vector<T> norms1 = X1.rowwise().squaredNorm(), norms2 = X2.rowwise().squaredNorm();
  detail::inner_to_kernel_rows(kernel, G, X1, X2, norms1, norms2, factor, all_columns, stop);
  return G;
}

// K(X, X): the lower triangle from a symmetric rank update, then mirrored. The distance
// kernels are 1 on the diagonal, exactly.
template <typename T>
RowMatrix<T> kernel_gram_symmetric(const ClassicKernel& kernel, const MatrixRef<T>& X) {
  const Index m = X.rows();
  RowMatrix<T> G = zeroed<T>(m, m);
  const StopToken& stop = current_stop_token();
  const bool distance_kernel = kernel.kind == KernelKind::rbf || kernel.kind == KernelKind::laplace;
  if (distance_kernel) {
    rank_update_lower(G, X, stop);
    // The norms are the diagonal's own inner products, so |x - x|^2 is exactly 0.
    const Vector<T> norms = G.diagonal();
    detail::inner_to_kernel_rows(kernel, G, X, X, norms, norms, 1.0, [](Index k) { return k; }, stop);
    G.diagonal().setOnes();
  } else {
    const RowExponents<T> rows(X);
    rank_update_lower(G, rows.inputs(X), stop);
    const auto lower = [](Index k) { return k + 1; };
    const double factor = scale_inner_products(G, rows, X, rows, X, detail::inner_factor(kernel), lower);
    const Vector<T> unused;
    detail::inner_to_kernel_rows(kernel, G, X, X, unused, unused, factor, lower, stop);
  }
  mirror_lower_to_upper(G);
  return G;
}

// K(x_k, x_k) for every row: the kernel of each point's inner product with itself.
template <typename T>
Vector<T> kernel_diagonal(const ClassicKernel& kernel, const MatrixRef<T>& X) {
  if (kernel.kind == KernelKind::rbf || kernel.kind == KernelKind::laplace) {
    return Vector<T>::Ones(X.rows());
  }
  const RowExponents<T> rows(X);
  Vector<T> out = rows.inputs(X).rowwise().squaredNorm();
  double factor = detail::inner_factor(kernel);
  if (rows.any) {
    for (Index k = 0; k < X.rows(); ++k) out(k) = scaled_inner(out(k), factor, 2 * rows.e[k]);
    factor = 1.0;
  }
  inner_to_polynomial<T>(kernel, out, factor);
  return out;
}

}  // namespace widenet
