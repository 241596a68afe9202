// relu's closed-form expectations (limit_closed_forms.hpp) for a row of pairs at once, in a
// loop that vectorises: the same formulas as relu_expectations after root_product and the
// clamp of the correlation (limit_kernels.hpp), every choice a select, and pi - arccos(rho)
// as pi/2 + arctan(rho / sqrt(1 - rho^2)) by the branch-free arctan of activations.hpp
// (atan2 has no vector form). Dispatched at run time to AVX2 or AVX-512 as the activations
// are. Its results agree with the per-pair form to a few ulps.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>

#include "widenet/activations.hpp"
#include "widenet/limit_common.hpp"

namespace widenet::limit {

namespace detail {

// E_ss and E_dd of the pairs (row point of variance q1, column j of variance q2[j] and root
// root2[j] = sqrt(q2[j])) at the covariances s12[j], j < count.
[[gnu::always_inline]] inline void relu_row_range(double q1, const double* __restrict q2,
                                                  const double* __restrict root2,
                                                  const double* __restrict s12, Index count,
                                                  double* __restrict ss, double* __restrict dd) {
  constexpr double kSmallest = std::numeric_limits<double>::min();
  constexpr double kLargest = std::numeric_limits<double>::max();
  const double root1 = std::sqrt(q1);
  for (Index j = 0; j < count; ++j) {
    const double product = q1 * q2[j];
    const bool normal = product >= kSmallest && product <= kLargest;  // as root_product
    const double correlation_root = q1 == q2[j] ? q1 : (normal ? std::sqrt(product) : root1 * root2[j]);
    const double ratio = correlation_root > 0 ? s12[j] / correlation_root : 0.0;
    const double rho = std::min(std::max(ratio, -1.0), 1.0);
    const double sine = std::sqrt((1 - rho) * (1 + rho));
    const double angle = 0.5 * kPi + scalar::arctan(rho / sine);  // rho / 0 = +-inf: 0 or pi
    const double root = root1 * root2[j];
    ss[j] = root / (2 * kPi) * (sine + angle * rho);
    dd[j] = root > 0 ? angle / (2 * kPi) : 0.0;
  }
}

#if WIDENET_HAS_AVX2_PATH
__attribute__((target("avx2,fma"))) inline void relu_row_avx2(double q1, const double* q2, const double* root2,
                                                              const double* s12, Index count, double* ss,
                                                              double* dd) {
  relu_row_range(q1, q2, root2, s12, count, ss, dd);
}

__attribute__((target("avx512f,avx512dq,avx512vl,avx512bw,avx2,fma,prefer-vector-width=512"))) inline void
relu_row_avx512(double q1, const double* q2, const double* root2, const double* s12, Index count, double* ss,
                double* dd) {
  relu_row_range(q1, q2, root2, s12, count, ss, dd);
}
#endif

}  // namespace detail

// relu's E_ss, E_dd of the pairs (q1, q2[j]) at the covariances s12[j], j < count; root2[j]
// is sqrt(q2[j]).
inline void relu_row(double q1, const double* q2, const double* root2, const double* s12, Index count,
                     double* ss, double* dd) {
#if WIDENET_HAS_AVX2_PATH
  switch (elementwise_level()) {
    case ElementwiseLevel::avx512: return detail::relu_row_avx512(q1, q2, root2, s12, count, ss, dd);
    case ElementwiseLevel::avx2: return detail::relu_row_avx2(q1, q2, root2, s12, count, ss, dd);
    default: break;
  }
#endif
  detail::relu_row_range(q1, q2, root2, s12, count, ss, dd);
}

}  // namespace widenet::limit
