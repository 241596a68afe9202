// erf and the normal cdf (for gelu) in float, values and derivatives: the reductions of
// vector_math_normal.hpp (polynomials near 0, tails in t = c/(x + c) relative to the
// Gaussian factor), with float polynomials. Included by vector_math_float.hpp.
#pragma once

#include <cmath>

#include "widenet/vector_math_float.hpp"

namespace widenet::vmath::f32 {

namespace detail {

// log(2/sqrt(pi)) and log(1/sqrt(2 pi)), which ride in the small part of the exponent.
constexpr float kLogTwoOverSqrtPi = 0.120782238f;
constexpr float kLogInvSqrtTwoPi = -0.918938533f;

// e^{-f x^2 + offset} for a = |x| and f = 1 or 1/2, with x^2 = h^2 + l (a + h) split so that
// h^2 is exact: rounding x^2 would cost up to x^2 ulps. Shifted by 2^shift as exp_parts.
[[gnu::always_inline]] inline ExpParts gaussian_parts(float a, float f, float offset, float shift = 0.0f) {
  const float h = high_part(a), l = a - h;
  return exp_parts(-f * (h * h), offset - f * (l * (a + h)), shift);
}

// The tails take t = c/(a + c), rounded, which is exactly c/(a' + c) for an a' next to a:
// returns a - a' (vmath::detail::rounding_shift in float), so that f(a) = f(a') + (a - a') f'.
[[gnu::always_inline]] inline float rounding_shift(float a, float c, float t) {
  float s, sum_error, ts, ts_err;
  two_sum(a, c, s, sum_error);
  two_product(t, s, ts, ts_err);
  return (((ts - c) + ts_err) + t * sum_error) * s * (1.0f / c);
}

}  // namespace detail

// erf and erf' = (2/sqrt(pi)) e^{-x^2}. |x| < 1: x + x R(x^2); above, erf = 1 - erf' t P(t - t0)
// with t = c/(|x| + c); beyond kErfTailEnd erf rounds to 1.
[[gnu::always_inline]] inline void erf_and_derivative(float x, float& value, float& derivative) {
  using namespace detail;
  const float a = std::abs(x);
  derivative = gaussian_parts(a, 1.0f, kLogTwoOverSqrtPi).exp();
  const float small = a + a * vmath::detail::estrin(a * a, kErf);
  const float t = kErfTailC / (a + kErfTailC);
  const float scaled = t * vmath::detail::estrin(t - kErfTailT0, kErfTail);
  const float tail = a > kErfTailEnd ? 1.0f : 1.0f - derivative * scaled;  // NaN passes
  value = std::copysign(a < 1.0f ? small : tail, x);
}

// gelu(z) = z Phi(z) and gelu'(z) = Phi(z) + z phi(z). Phi: -0.5 <= z <= 1: 1/2 + z S(z^2);
// z < -0.5: phi(z) M(|z|) with the Mills ratio M = t P(t - t0), t = c/(|z| + c), accurate
// relative to Phi however small, gelu = z phi M and gelu' = phi (M - |z|); z > 1: 1 - phi(z) M(z). phi and
// Phi are carried times 2^64, so that gelu's subnormal results are rounded once; beyond
// kGeluTailEnd gelu(z) is -0 and gelu' 0, and in gelu' z is clamped at 40 (phi = 0 there)
// so that +inf gives the limit rather than inf * 0.
[[gnu::always_inline]] inline void gelu_and_derivative(float z, float& value, float& derivative) {
  using namespace detail;
  constexpr float kUp = 0x1p64f, kDown = 0x1p-64f;
  const float a = std::abs(z);
  const ExpParts e = gaussian_parts(a, 0.5f, kLogInvSqrtTwoPi, 64.0f);
  const float pdf = e.exp();
  const float central = (0.5f + z * vmath::detail::estrin(z * z, kCdf)) * kUp;
  const float t = kMillsC / (a + kMillsC);
  const float rounded = t * vmath::detail::estrin(t - kMillsT0, kMills);  // M at a' (t's rounding)
  const float mills = rounded + rounding_shift(a, kMillsC, t) * (a * rounded - 1.0f);  // M' = a M - 1
  // phi times M, z M and M - a as (1 + p) scale times each: one rounding fewer than phi's.
  const auto times_phi = [&](float f) { return ((f + f * e.p) * e.scale1) * e.scale2; };
  const float tail = e.saturate(times_phi(mills));  // Phi(-|z|), times 2^64
  const float cdf = z < kCdfTailBelow ? tail : (z > kCdfTailAbove ? kUp - tail : central);
  const bool negative = z < kCdfTailBelow, beyond = a > kGeluTailEnd;  // NaN: neither
  const float zd = z > 40.0f ? 40.0f : z;
  const float negative_value = beyond ? -0.0f : times_phi(z * mills) * kDown;
  const float negative_slope = beyond ? 0.0f : times_phi(mills - a) * kDown;
  value = negative ? negative_value : z * (cdf * kDown);
  derivative = negative ? negative_slope : (cdf + zd * pdf) * kDown;
}

}  // namespace widenet::vmath::f32
