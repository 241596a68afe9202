// The smooth rectifiers elu and silu (values and derivatives), branch-free on the parts of
// vector_math_exp.hpp so that loops calling them vectorise. As there, everything is computed
// in double and Result (double or float) picks the polynomials for the caller's rounding.
//
// Largest errors on 10^6 points per function, in ulps of the exact result (long-double
// references, tests/test_vector_math_rectifiers.py), AVX-512 and AVX2 / portable path:
//                 float64 value   float64 derivative   float32 value / derivative
//   elu           1.13 / 1.13     1.01 / 1.01              0.51 / 0.51
//   silu          2.38 / 2.38     3.57 / 4.09 (*)          0.51 / 0.51 (*)
// (leaky_relu, abs and monomial2 are exact or rounded once; monomial3 rounds twice, 1.3 ulp.)
// (*) silu' = sigmoid + z sigmoid' crosses 0 at z = -1.2785, where the two terms cancel:
// between -2 and -0.5 its error is counted in ulps of sigmoid(z) (as gelu's, vector_math.hpp).
// NaN propagates and +-inf give the limits (elu(-inf) = -1, silu(-inf) = 0, silu'(+-inf) =
// 1 or 0).
#pragma once

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "widenet/vector_math_exp.hpp"

namespace widenet::vmath {

// elu(x) = x for x > 0, e^x - 1 below (alpha = 1), and elu' = 1 or e^x. With e^x = 2^k (1 + p)
// from the exponential's parts, e^x - 1 = (2^k - 1) + 2^k p: both terms exact, one rounding
// (the cancellation of e^x - 1 near 0 is avoided, since k = 0 there and the result is p).
template <typename Result = double>
[[gnu::always_inline]] inline void elu_and_derivative(double x, double& value, double& derivative) {
  const double negative = x < 0.0 ? x : 0.0;  // the exponential is only needed there
  const detail::ExpParts e = detail::exp_parts<Result>(negative, 0.0);
  const double power = e.scale1 * e.scale2;
  const double minus_one = e.underflows() ? -1.0 : (power - 1.0) + power * e.p;
  value = x < 0.0 ? minus_one : x;
  derivative = x < 0.0 ? e.exp() : 1.0;
}

// silu(x) = x sigmoid(x) and silu' = sigmoid(x) + x sigmoid'(x). x is clamped to a finite
// range inside the products (where sigmoid is 0 or 1 and sigmoid' is 0 anyway), so that
// x = -inf gives 0 and not -inf * 0. Below x = -700 (double results only) sigmoid = e^x to
// far below an ulp, and the results x e^x and (1 + x) e^x are subnormal or nearly: they are
// formed from 2^64 e^x and scaled back, rounded once (x times a subnormal sigmoid would carry
// its rounding error, |x| ulps).
template <typename Result = double>
[[gnu::always_inline]] inline void silu_and_derivative(double x, double& value, double& derivative) {
  double s, slope;
  sigmoid_and_derivative<Result>(x, s, slope);
  const double finite = std::clamp(x, -1e300, 1e300);
  value = (x > 0.0 ? x : finite) * s;
  derivative = s + finite * slope;
  if constexpr (std::is_same_v<Result, double>) {
    constexpr double kShift = 64.0, kUnshift = 0x1p-64;
    const double scaled = detail::exp_parts<Result>(finite, 0.0, kShift).exp();  // 2^64 e^x
    const bool tail = x < -700.0;
    value = tail ? (finite * scaled) * kUnshift : value;
    derivative = tail ? ((1.0 + finite) * scaled) * kUnshift : derivative;
  }
}

}  // namespace widenet::vmath
