// Products split into calls of bounded work, so that a long computation can stop between
// them (interrupt.hpp): a BLAS call cannot be stopped midway. Small products stay one call,
// exactly as before; large ones are cut into blocks of the inner dimension and bands of
// rows of the result, each a call of about bounded_flops(), with the stop token polled
// between calls.
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>

#include "widenet/interrupt.hpp"
#include "widenet/types.hpp"

namespace widenet {

// The work of one call that cannot poll: 0.03-0.1 s of BLAS on one core of a current x86
// machine (30-100 GFLOP/s), within the 0.1 s a stop may take. Less would cost the tangent
// Gram measurably (every extra rank update rereads the m x m accumulator: +5% at 2e9 for
// m = 2048). Tests lower it to reach the split paths at small sizes.
inline std::atomic<double>& bounded_flops_setting() {
  static std::atomic<double> flops{3e9};
  return flops;
}

inline double bounded_flops() { return bounded_flops_setting().load(std::memory_order_relaxed); }

// An activation and its derivative at one entry take about as long as this many flops of
// a BLAS product (a few nanoseconds against tens of GFLOP/s), for bounding elementwise work.
constexpr double kActivationFlops = 200;

// Fewer rows per band would cost efficiency: every band streams the whole other factor
// (the weights), and sums of per-band results (gradients, d x n) cost a pass each.
constexpr Index kMinBandRows = 128;

// Inner-dimension blocks narrower than this would cost efficiency: BLAS blocks that
// dimension by a few hundred itself.
constexpr Index kMinDepth = 256;

// The size of the pieces that split `count` units of `work` each into pieces of at most
// bounded_flops() (but at least `least` units): all of them, or equal pieces (a small last
// piece would cost efficiency).
inline Index bounded_count(Index count, double work, Index least) {
  const double fit = bounded_flops() / std::max(1.0, work);
  if (fit >= double(count)) return count;
  const Index most = std::max<Index>(1, Index(fit));
  const Index pieces = (count + most - 1) / most;
  return std::max(least, (count + pieces - 1) / pieces);
}

// Calls band(first_row, rows) over [0, rows) in bands of at most bounded_flops() work
// (`flops_per_row` each), but at least kMinBandRows rows, polling `stop` before each.
template <typename Band>
void for_row_bands(Index rows, double flops_per_row, const StopToken& stop, Band&& band) {
  const Index size = bounded_count(rows, flops_per_row, kMinBandRows);
  for (Index row = 0; row < rows; row += size) {
    stop.throw_if_requested();
    band(row, std::min(size, rows - row));
  }
}

// Calls block(first, count) over [0, depth), the inner dimension of a product with
// `result_entries` entries, in blocks of at most bounded_flops() (at least kMinDepth wide).
template <typename Block>
void for_depth_blocks(Index depth, double result_entries, Block&& block) {
  const Index size = bounded_count(depth, 2.0 * result_entries, kMinDepth);
  for (Index first = 0; first < depth; first += size) block(first, std::min(size, depth - first));
}

// G = A B^T, or G += A B^T with `accumulate` (G is m1 x m2, A m1 x k, B m2 x k).
template <typename Result, typename Lhs, typename Rhs>
void multiply_transposed(Result& G, const Lhs& A, const Rhs& B, bool accumulate,
                         const StopToken& stop) {
  for_depth_blocks(A.cols(), double(A.rows()) * double(B.rows()), [&](Index col, Index cols) {
    const bool add = accumulate || col > 0;
    const double flops_per_row = 2.0 * double(B.rows()) * double(cols);
    for_row_bands(A.rows(), flops_per_row, stop, [&](Index row, Index rows) {
      auto band = G.middleRows(row, rows);
      const auto product = A.block(row, col, rows, cols) * B.middleCols(col, cols).transpose();
      if (add) {
        band.noalias() += product;
      } else {
        band.noalias() = product;
      }
    });
  });
}

// The rows of the band of a lower triangle that starts at `row`, for work of about
// bounded_flops() with inner dimension `depth`: rows b with depth * b * (2 row + b) of it.
inline Index triangle_band(Index row, Index depth, Index rows) {
  const double r = double(row), area = bounded_flops() / double(std::max<Index>(1, depth));
  const double fit = std::sqrt(r * r + area) - r;
  return std::min(rows - row, std::max(kMinBandRows, fit >= double(rows) ? rows : Index(fit)));
}

// The lower triangle of G (m x m) += S S^T (S is m x k): symmetric rank updates, in blocks
// of the inner dimension and bands of rows of equal work (a product with the rows above
// the band and a rank update of its diagonal block).
template <typename T, typename Factor>
void rank_update_lower(RowMatrix<T>& G, const Factor& S, const StopToken& stop) {
  const Index m = S.rows();
  // a rank update does half the work of the product: m * m * k flops
  for_depth_blocks(S.cols(), 0.5 * double(m) * double(m), [&](Index col, Index cols) {
    const auto part = S.middleCols(col, cols);
    for (Index row = 0, rows = 0; row < m; row += rows) {
      stop.throw_if_requested();
      rows = triangle_band(row, cols, m);
      if (row > 0) {
        G.block(row, 0, rows, row).noalias() +=
            part.middleRows(row, rows) * part.topRows(row).transpose();
      }
      G.block(row, row, rows, rows).template selfadjointView<Eigen::Lower>().rankUpdate(
          part.middleRows(row, rows));
    }
  });
}

// The rows of a row-wise result (one output per point: outputs, a Jacobian-vector product,
// a Gram diagonal), computed by band(first_row, rows) in bands of bounded work.
template <typename T, typename Band>
Vector<T> rows_by_bands(Index rows, double flops_per_row, const StopToken& stop, Band&& band) {
  Vector<T> out(rows);
  for_row_bands(rows, flops_per_row, stop,
                [&](Index row, Index count) { out.segment(row, count) = band(row, count); });
  return out;
}

// The same for `cols` numbers per point (the outputs of a network of several outputs).
template <typename T, typename Band>
RowMatrix<T> rows_by_bands(Index rows, Index cols, double flops_per_row, const StopToken& stop,
                           Band&& band) {
  RowMatrix<T> out(rows, cols);
  for_row_bands(rows, flops_per_row, stop,
                [&](Index row, Index count) { out.middleRows(row, count) = band(row, count); });
  return out;
}

}  // namespace widenet
