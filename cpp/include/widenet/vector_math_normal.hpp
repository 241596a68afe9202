// erf and the standard normal cdf (for gelu), values and derivatives, branch-free so that
// loops calling them vectorise: polynomials near 0, and tails in t = c/(x + c) that stay
// accurate relative to the result however small it is.
#pragma once

#include <cmath>
#include <type_traits>

#include "widenet/vector_math_exact.hpp"
#include "widenet/vector_math_exp.hpp"
#include "widenet/vector_math_polynomials.hpp"

namespace widenet::vmath {

namespace detail {

// log(2/sqrt(pi)) and log(1/sqrt(2 pi)), the constant factors of erf' and of phi, which
// ride in the small part of the exponent.
constexpr double kLogTwoOverSqrtPi = 0.12078223763524522;
constexpr double kLogInvSqrtTwoPi = -0.9189385332046728;

// The tails take t = c/(x + c), rounded, which is exactly c/(x' + c) for some x' next
// to x: the polynomial gives f(x'). Returns x - x' = (t (x + c) - c) / t, from exact
// products of the halves of t and of s = x + c (rounded) and from the rounding error of
// s, so that f(x) = f(x') + (x - x') f'. Only double results need it: it removes up to
// 1.6 ulp where f varies fastest against t.
[[gnu::always_inline]] inline double rounding_shift(double x, double c, double s, double t) {
  const double th = high_part(t), tl = t - th;
  const double sh = high_part(s), sl = s - sh;
  const double residual = (((th * sh - c) + th * sl) + tl * sh) + tl * sl;  // t s - c
  const double back = s - x, sum_error = (x - (s - back)) + (c - back);    // x + c - s
  return (residual + t * sum_error) * s * (1.0 / c);
}

}  // namespace detail

// erf(x) and erf'(x) = (2/sqrt(pi)) e^{-x^2}. x^2 = h^2 + l (x + h) with h = high_part(x)
// and h^2 exact, so e^{-x^2} carries no error from rounding x^2 (which would cost up to
// x^2 ulps); log(2/sqrt(pi)) rides in the small part of the exponent. |x| < 1:
// x + x R(x^2); above, erfc(x) = erf'(x) t P(t - t0) with t = c/(|x| + c), and erf = 1 - erfc
// (t P is e^{x^2} erfc(x) sqrt(pi)/2, whose derivative is 2 x t P - 1).
template <typename Result = double>
[[gnu::always_inline]] inline void erf_and_derivative(double x, double& value, double& derivative) {
  using K = detail::Coefficients<Result>;
  const double a = std::abs(x);
  const double h = detail::high_part(a), l = a - h;
  derivative = detail::exp_parts<Result>(-(h * h), detail::kLogTwoOverSqrtPi - l * (a + h)).exp();
  const double small = a + a * detail::estrin(a * a, K::erf);
  // Beyond erf_tail_end the tail is not used (erf rounds to 1), so a is not clamped.
  const double s = a + detail::kErfTailC;
  const double t = detail::kErfTailC / s;
  double scaled = t * detail::tail_polynomial(t - detail::kErfTailT0, K::erf_tail, K::erf_tail_lo);
  if constexpr (std::is_same_v<Result, double>) {
    scaled = scaled + detail::rounding_shift(a, detail::kErfTailC, s, t) * (2.0 * a * scaled - 1.0);
  }
  const double tail = a > K::erf_tail_end ? 1.0 : 1.0 - derivative * scaled;  // NaN passes
  value = std::copysign(a < detail::kErfTailStart ? small : tail, x);
}

// gelu(z) = z Phi(z) and gelu'(z) = Phi(z) + z phi(z), with the standard normal cdf Phi
// and density phi = e^{-z^2/2}/sqrt(2 pi) (z^2 split exactly as in erf). Phi:
// -0.5 <= z <= 1: 1/2 + z S(z^2); z < -0.5: phi(z) M(|z|) with the Mills ratio
// M(a) = Phi(-a)/phi(a) = t P(t - t0), t = c/(a + c), accurate relative to Phi however
// small; z > 1: 1 - phi(z) M(z). phi and Phi are carried times 2^512 and scaled back at
// the end, so that subnormal results are rounded once; in gelu', z is clamped at 40,
// where phi is 0, so that +inf gives the limit rather than inf * 0.
template <typename Result = double>
[[gnu::always_inline]] inline void gelu_and_derivative(double z, double& value, double& derivative) {
  using K = detail::Coefficients<Result>;
  constexpr double kUp = 0x1p512, kDown = 0x1p-512;
  const double a = std::abs(z);
  const double h = detail::high_part(a), l = a - h;
  const detail::ExpParts e =
      detail::exp_parts<Result>(-0.5 * (h * h), detail::kLogInvSqrtTwoPi - 0.5 * (l * (a + h)), 512.0);
  const double pdf = e.exp();
  const double central = (0.5 + z * detail::estrin(z * z, K::cdf)) * kUp;
  const double s = a + detail::kMillsC;
  const double t = detail::kMillsC / s;
  const double u = t - detail::kMillsT0;
  // The negative tail, z Phi = z scale (1 + p) t P(u) with phi = scale (1 + p) (scale a
  // power of two, exact while a <= gelu_tail_end), is a product of rounded factors, each
  // rounding worth up to an ulp of the result. So M = t P is carried as hi + lo (the last
  // Horner step and the products exact), and Phi, z Phi and gelu' are each rounded once
  // at the end. Float results take the double polynomial too: gelu' = phi (M - a) cancels
  // near its root (z = -0.7518), where a float-accurate M would leave hundreds of ulps.
  using D = detail::Coefficients<double>;
  const double inner = detail::horner_tail(u, D::mills);  // c1 + c2 u + ...
  double uh, ul, p_hi, p_lo, m_hi, m_lo;
  detail::two_product(u, inner, uh, ul);
  detail::two_sum(D::mills[0], uh, p_hi, p_lo);
  p_lo += ul + D::mills_lo;
  detail::two_product(t, p_hi, m_hi, m_lo);
  m_lo += t * p_lo;
  m_lo += detail::rounding_shift(a, detail::kMillsC, s, t) * (a * m_hi - 1.0);  // M' = a M - 1
  const double small_part = m_lo + m_hi * e.p;
  const double scale = e.scale1 * e.scale2;
  const bool beyond = a > K::gelu_tail_end;  // gelu and gelu' underflow (z < 0), Phi rounds to 1 (z > 0)
  const double tail = beyond ? 0.0 : scale * (m_hi + small_part);  // NaN passes
  const double cdf = z < detail::kCdfTailBelow ? tail : (z > detail::kCdfTailAbove ? kUp - tail : central);
  const double zd = z > 40.0 ? 40.0 : z;  // NaN passes
  double zm_hi, zm_lo;
  detail::two_product(z, m_hi, zm_hi, zm_lo);
  const double negative_value = beyond ? -0.0 : scale * (zm_hi + (zm_lo + z * small_part));
  double d_hi, d_lo;  // M - a, which cancels near gelu's minimum; gelu' = phi (M - a)
  detail::two_sum(m_hi, z, d_hi, d_lo);
  const double negative_slope = beyond ? 0.0 : scale * (d_hi + ((d_lo + m_lo) + d_hi * e.p));
  const bool negative = z < detail::kCdfTailBelow;
  // cdf kDown is exact (Phi >= 0.3 here), and z times it cannot overflow before z Phi does.
  value = negative ? negative_value * kDown : z * (cdf * kDown);
  derivative = (negative ? negative_slope : cdf + zd * pdf) * kDown;
}

}  // namespace widenet::vmath
