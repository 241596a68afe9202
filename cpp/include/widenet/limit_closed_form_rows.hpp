// The closed-form expectations of relu and erf (limit_closed_forms.hpp) for a row of pairs at
// once, in a loop that vectorises: the same formulas as relu_expectations and
// erf_expectations after root_product and the clamp of the correlation (limit_kernels.hpp),
// every choice a select, and atan2(y, x) with x >= 0 (which has no vector form) as
// arctan(y / x) by the branch-free arctan of activations.hpp (y / 0 = +-inf gives +-pi/2).
// Dispatched at run time to AVX2 or AVX-512 as the activations are. The results agree with
// the per-pair forms to a few ulps.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>

#include "widenet/activations.hpp"
#include "widenet/limit_common.hpp"

namespace widenet::limit {

// Whether a row of pairs of this activation's closed form runs in vectors.
inline bool has_closed_form_rows(Activation a) { return a == Activation::relu || a == Activation::erf; }

namespace detail {

// relu: E_ss = root/(2 pi) (sin t + (pi - t) rho), E_dd = (pi - t)/(2 pi), t = arccos(rho).
struct ReluRow {
  [[gnu::always_inline]] void operator()(double, double, double root1, double root2, double rho,
                                         double one_minus_rho2, double& ss, double& dd) const {
    const double root = root1 * root2, sine = std::sqrt(one_minus_rho2);
    const double angle = 0.5 * kPi + scalar::arctan(rho / sine);  // pi - arccos(rho)
    ss = root / (2 * kPi) * (sine + angle * rho);
    dd = root > 0 ? angle / (2 * kPi) : 0.0;
  }
};

// erf: the arcsine kernel at the variances P = q + 1/2 (arcsine_terms).
struct ErfRow {
  [[gnu::always_inline]] void operator()(double q1, double q2, double, double, double rho,
                                         double one_minus_rho2, double& ss, double& dd) const {
    const double P1 = q1 + 0.5, P2 = q2 + 0.5, r1 = q1 / P1, r2 = q2 / P2;
    const double x = rho * std::sqrt(r1) * std::sqrt(r2);
    const double one_minus_x2 = one_minus_rho2 * r1 * r2 + 0.5 / P1 + r1 * (0.5 / P2);
    const double cosine = std::sqrt(one_minus_x2), root = std::sqrt(P1) * std::sqrt(P2);
    ss = (2 / kPi) * scalar::arctan(x / cosine);
    dd = (2 / kPi) / (root * cosine);
  }
};

// E_ss and E_dd of the pairs (row point of variance q1, column j of variance q2[j] and root
// root2[j] = sqrt(q2[j])) at the covariances s12[j], j < count.
template <typename Form>
[[gnu::always_inline]] inline void closed_form_row_range(double q1, const double* __restrict q2,
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
    Form{}(q1, q2[j], root1, root2[j], rho, (1 - rho) * (1 + rho), ss[j], dd[j]);
  }
}

#if WIDENET_HAS_AVX2_PATH
template <typename Form>
__attribute__((target("avx2,fma"))) void closed_form_row_avx2(double q1, const double* q2, const double* root2,
                                                              const double* s12, Index count, double* ss,
                                                              double* dd) {
  closed_form_row_range<Form>(q1, q2, root2, s12, count, ss, dd);
}

template <typename Form>
__attribute__((target("avx512f,avx512dq,avx512vl,avx512bw,avx2,fma,prefer-vector-width=512"))) void
closed_form_row_avx512(double q1, const double* q2, const double* root2, const double* s12, Index count,
                       double* ss, double* dd) {
  closed_form_row_range<Form>(q1, q2, root2, s12, count, ss, dd);
}
#endif

template <typename Form>
void closed_form_row(double q1, const double* q2, const double* root2, const double* s12, Index count, double* ss,
                     double* dd) {
#if WIDENET_HAS_AVX2_PATH
  switch (elementwise_level()) {
    case ElementwiseLevel::avx512: return closed_form_row_avx512<Form>(q1, q2, root2, s12, count, ss, dd);
    case ElementwiseLevel::avx2: return closed_form_row_avx2<Form>(q1, q2, root2, s12, count, ss, dd);
    default: break;
  }
#endif
  closed_form_row_range<Form>(q1, q2, root2, s12, count, ss, dd);
}

}  // namespace detail

// E_ss, E_dd of relu or erf (has_closed_form_rows) for the pairs (q1, q2[j]) at the
// covariances s12[j], j < count; root2[j] is sqrt(q2[j]).
inline void closed_form_row(Activation a, double q1, const double* q2, const double* root2, const double* s12,
                            Index count, double* ss, double* dd) {
  if (a == Activation::relu) return detail::closed_form_row<detail::ReluRow>(q1, q2, root2, s12, count, ss, dd);
  detail::closed_form_row<detail::ErfRow>(q1, q2, root2, s12, count, ss, dd);
}

}  // namespace widenet::limit
