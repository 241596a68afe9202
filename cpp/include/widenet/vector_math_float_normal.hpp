// erf and the normal cdf (for gelu) in float, values and derivatives: the reductions of
// vector_math_normal.hpp (polynomials near 0, tails in t = c/(x + c) relative to the
// Gaussian factor), with float polynomials. Included by vector_math_float.hpp.
#pragma once

#include <cmath>
#include <iterator>

#include "widenet/vector_math_float.hpp"

namespace widenet::vmath::f32 {

namespace detail {

// log(2/sqrt(pi)) and log(1/sqrt(2 pi)), which ride in the small part of the exponent.
constexpr float kLogTwoOverSqrtPi = 0.120782238f;
constexpr float kLogInvSqrtTwoPi = -0.918938533f;
constexpr float kLogInvSqrtTwoPiLo = -1.56341771e-08f;  // its rounding error, for gelu's tail

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

namespace detail {

// phi(a) 2^shift = 2^(k + shift) (n + delta) with n + delta = e^r to about 2^-28, for
// gelu's products: the exponent -a^2/2 - log(sqrt(2 pi)) - k ln 2 is summed from exact
// parts (a^2/2 = h^2/2 + h l + l^2/2, each product exact) into r = r_hi + r_lo, and
// e^r = (1 + r_hi + r_hi^2 Q(r_hi)) (1 + r_lo) keeps n = 1 + r_hi rounded apart from the rest.
// `e` holds the same parts for exp() and saturate().
// a + b = hi + lo exactly when |a| >= |b| (or a + b is exact, as in Sterbenz's lemma).
[[gnu::always_inline]] inline void fast_two_sum(float a, float b, float& hi, float& lo) {
  hi = a + b;
  lo = b - (hi - a);
}

struct DensityParts {
  ExpParts e;
  float n, delta;
};

[[gnu::always_inline]] inline DensityParts density_parts(float a, float shift) {
  const float h = high_part(a), l = a - h;
  const float hi = -0.5f * (h * h), mid = -(h * l);  // exact
  const float k = ((hi + (mid + kLogInvSqrtTwoPi)) * kLog2e + kShifter) - kShifter;
  float c_hi, c_lo, s1, e1, s2, e2, r_hi, e3;
  fast_two_sum(kLogInvSqrtTwoPi, -k * kLn2Lo, c_hi, c_lo);  // k ln2_lo is exact to 2^-36
  fast_two_sum(-k * kLn2Hi, hi, s1, e1);  // k ln 2 = -a^2/2 - 0.92 + r, |r| < 0.35
  two_sum(s1, c_hi, s2, e2);
  two_sum(s2, mid, r_hi, e3);
  const float r_lo = ((e1 + e2) + e3) + ((c_lo + kLogInvSqrtTwoPiLo) - 0.5f * (l * l));
  const float rest = r_hi * r_hi * vmath::detail::estrin(r_hi, kExpm1);
  const float n = 1.0f + r_hi, n_err = (1.0f - n) + r_hi;
  const float delta = n_err + (rest + r_lo * (n + rest));  // e^r_hi (1 + r_lo) - n
  const float scaled = k + shift;
  const float shifted1 = scaled * 0.5f + kShifter;  // both halves are normal exponents
  const float k2 = scaled - (shifted1 - kShifter);
  const ExpParts e{r_hi + rest, n + delta, power_of_two(shifted1), power_of_two(k2 + kShifter), hi,
                   kExpMin - shift * kLn2};
  return {e, n, delta};
}

// The Mills ratio Phi(-a)/phi(a) = t P(t - t0), t = c/(a + c), as m_hi + m_lo: the constant
// term of P as a float pair, the last product and sum exact, and t's rounding undone.
[[gnu::always_inline]] inline void mills_ratio(float a, float& m_hi, float& m_lo) {
  const float t = kMillsC / (a + kMillsC);
  float u, u_lo;
  fast_two_sum(-kMillsT0, t, u, u_lo);  // exact where t >= t0/2, and t <= 2 t0 where |t| > t0
  float powers[4] = {u, u * u, 0.0f, 0.0f};
  powers[2] = powers[1] * powers[1];
  powers[3] = powers[2] * powers[2];
  // c1 + c2 u + ..., with the first step by Horner: its rounding errors reach M times u
  const float inner = kMills[1] + u * vmath::detail::estrin<2, int(std::size(kMills)) - 2>(powers, kMills);
  float uh, ul, p_hi, p_lo;
  two_product(u, inner, uh, ul);
  two_sum(kMills[0], uh, p_hi, p_lo);
  p_lo += (ul + kMillsLo) + u_lo * inner;
  two_product(t, p_hi, m_hi, m_lo);
  m_lo += t * p_lo + rounding_shift(a, kMillsC, t) * (a * m_hi - 1.0f);  // M' = a M - 1
}

// (x_hi + x_lo) (n + delta) scale, rounded once before the scaling.
[[gnu::always_inline]] inline float times_density(float x_hi, float x_lo, const DensityParts& d) {
  float y_hi, y_lo;
  two_product(x_hi, d.n, y_hi, y_lo);
  return ((y_hi + ((y_lo + x_lo * d.n) + x_hi * d.delta)) * d.e.scale1) * d.e.scale2;
}

}  // namespace detail

// gelu(z) = z Phi(z) and gelu'(z) = Phi(z) + z phi(z). Phi: -0.5 <= z <= 1: 1/2 + z S(z^2);
// z < -0.5: phi(z) M(|z|) with the Mills ratio M = t P(t - t0), t = c/(|z| + c), accurate
// relative to Phi however small, gelu = z phi M and gelu' = phi (M - |z|); z > 1: 1 - phi(z) M(z).
// In the negative tail phi, M, z M and M - |z| are float pairs and each result is rounded
// once (a float product of the rounded factors would lose up to 4 ulps). phi and Phi are
// carried times 2^64, so that gelu's subnormal results are rounded once; beyond
// kGeluTailEnd gelu(z) is -0 and gelu' 0, and in gelu' z is clamped at 40 (phi = 0 there)
// so that +inf gives the limit rather than inf * 0.
[[gnu::always_inline]] inline void gelu_and_derivative(float z, float& value, float& derivative) {
  using namespace detail;
  constexpr float kUp = 0x1p64f, kDown = 0x1p-64f;
  const float a = std::abs(z);
  const DensityParts density = density_parts(a, 64.0f);
  const ExpParts& e = density.e;
  const float pdf = e.exp();
  const float central = (0.5f + z * vmath::detail::estrin(z * z, kCdf)) * kUp;
  float m_hi, m_lo;
  mills_ratio(a, m_hi, m_lo);
  const float tail = e.saturate((m_hi * e.one_plus_p) * e.scale1 * e.scale2);  // Phi(-|z|) 2^64, z > 1
  const float cdf = z < kCdfTailBelow ? tail : (z > kCdfTailAbove ? kUp - tail : central);
  const bool negative = z < kCdfTailBelow, beyond = a > kGeluTailEnd;  // NaN: neither
  const float zd = z > 40.0f ? 40.0f : z;
  float zm_hi, zm_lo, d_hi, d_lo;
  two_product(z, m_hi, zm_hi, zm_lo);
  two_sum(m_hi, z, d_hi, d_lo);  // M - a, which cancels near gelu's minimum
  const float negative_value = beyond ? -0.0f : times_density(zm_hi, zm_lo + z * m_lo, density) * kDown;
  const float negative_slope = beyond ? 0.0f : times_density(d_hi, d_lo + m_lo, density) * kDown;
  value = negative ? negative_value : z * (cdf * kDown);
  derivative = negative ? negative_slope : (cdf + zd * pdf) * kDown;
}

}  // namespace widenet::vmath::f32
