// Matrix types shared by every kernel. Row-major, so numpy's C order maps without a copy.
#pragma once

#include <Eigen/Core>

#include "widenet/parallel.hpp"

namespace widenet {

using Index = Eigen::Index;

template <typename T>
using RowMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

template <typename T>
using Vector = Eigen::Matrix<T, Eigen::Dynamic, 1>;

template <typename T>
using MatrixRef = Eigen::Ref<const RowMatrix<T>>;

template <typename T>
using VectorRef = Eigen::Ref<const Vector<T>>;

// Below this many entries an elementwise loop is not worth waking other threads for.
constexpr Index kParallelEntries = 1 << 14;

// Below this many multiply-adds a coefficient-based product beats a BLAS call, and it
// keeps tiny products (one network of an ensemble per thread) off OpenBLAS's threads.
constexpr Index kSmallProduct = 1 << 15;

// dst = lhs * rhs, choosing Eigen's lazy product for small sizes and BLAS otherwise.
template <typename Dst, typename Lhs, typename Rhs>
void multiply_into(Dst& dst, const Lhs& lhs, const Rhs& rhs) {
  if (lhs.rows() * lhs.cols() * rhs.cols() < kSmallProduct) {
    dst.noalias() = lhs.lazyProduct(rhs);
  } else {
    dst.noalias() = lhs * rhs;
  }
}

}  // namespace widenet
