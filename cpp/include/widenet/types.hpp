// Matrix types shared by every kernel. Row-major, so numpy's C order maps without a copy.
#pragma once

#include <algorithm>

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

// A rows x cols matrix of zeros, written row by row over the threads. Not Zero(): the
// compiler may turn its allocation and fill into calloc, whose pages are mapped lazily
// from the shared zero page, and a product accumulating into them then takes a
// copy-on-write fault per page, each flushing the TLBs of every CPU the process runs on
// (measured: a symmetric Gram 3x slower on two threads).
template <typename T>
RowMatrix<T> zeroed(Index rows, Index cols) {
  RowMatrix<T> out(rows, cols);
#pragma omp parallel for schedule(static) num_threads(thread_count()) if (out.size() > kParallelEntries)
  for (Index k = 0; k < rows; ++k) out.row(k).setZero();
  return out;
}

// Copies the strictly lower triangle of a square matrix onto the upper one, in square
// tiles so that the transposed reads stay in cache, tiles split over threads.
template <typename T>
void mirror_lower_to_upper(RowMatrix<T>& G) {
  constexpr Index kTile = 64;
  const Index m = G.rows(), tiles = (m + kTile - 1) / kTile;
#pragma omp parallel for schedule(dynamic) num_threads(thread_count()) if (G.size() > kParallelEntries)
  for (Index tile_row = 0; tile_row < tiles; ++tile_row) {
    const Index i0 = tile_row * kTile, i1 = std::min(m, i0 + kTile);
    for (Index j0 = i0; j0 < m; j0 += kTile) {  // tiles on and right of the diagonal
      const Index j1 = std::min(m, j0 + kTile);
      for (Index i = i0; i < i1; ++i) {
        for (Index j = std::max(j0, i + 1); j < j1; ++j) G(i, j) = G(j, i);
      }
    }
  }
}

}  // namespace widenet
