// The activations' elementary functions in float, for float32 arrays: the same reductions
// as vector_math.hpp, but every operation in float, with polynomials fitted for float
// (vector_math_float_polynomials.hpp, tools/fit_vector_math_float.py), so that a loop over
// them runs 16 entries per AVX-512 vector (8 per AVX2 vector) instead of 8 (4) doubles.
// Branch-free and without libm calls, as vector_math.hpp; powers of two are assembled from
// the bits of a float (32-bit integer work, which every path vectorises).
//
// Largest errors on 10^6 points per function and seed, seeds 0 to 2 (portable: 0 to 3; tests/test_vector_math.py's
// points, against double references computed in numpy; tests/test_float_activations.py
// checks its own 10^6 on each path), in ulps of the exact float32 result, on each path
// (AVX-512 / AVX2+FMA / portable):
//                 value               derivative
//   tanh           1.14 / 1.14 / 1.14     1.92 / 1.92 / 1.92
//   erf            1.36 / 1.36 / 1.46     0.87 / 0.87 / 0.88
//   sigmoid        1.32 / 1.32 / 1.36     1.44 / 1.44 / 1.44
//   softplus       1.96 / 1.96 / 2.24     1.32 / 1.32 / 1.36
//   gelu           1.84 / 1.84 / 2.09     1.68 / 1.68 / 1.87
//   arctan         1.80 / 1.80 / 1.87     1.49 / 1.49 / 2.31
//   sin            0.81 / 0.81 / 0.91     0.83 / 0.83 / 0.85
// gelu's negative tail (z < -0.5), a product of the Gaussian, the Mills ratio and z, carries
// each factor as a float pair and rounds once: within 1.1 ulps there.
// gelu' counts its error in ulps of max(|gelu'|, Phi) between -1.5 and -0.25, where it
// crosses 0. Where a result is subnormal its ulp is the smallest subnormal. NaN
// propagates, +-inf give the limits, the sign of zero is kept by odd functions.
//
// This header: the exponential's parts, tanh, sigmoid and softplus; erf and gelu are in
// vector_math_float_normal.hpp, sin, cos and arctan in vector_math_float_trig.hpp.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "widenet/vector_math_float_polynomials.hpp"
#include "widenet/vector_math_polynomials.hpp"

namespace widenet::vmath::f32 {

namespace detail {

[[gnu::always_inline]] inline std::uint32_t bits_of(float x) {
  std::uint32_t b;
  std::memcpy(&b, &x, sizeof b);
  return b;
}

[[gnu::always_inline]] inline float from_bits(std::uint32_t b) {
  float x;
  std::memcpy(&x, &b, sizeof x);
  return x;
}

// 1.5 * 2^23: adding it rounds to an integer, which then sits in the low bits.
constexpr float kShifter = 12582912.0f;

// 2^j from shifted = j + kShifter, for -126 <= j <= 127.
[[gnu::always_inline]] inline float power_of_two(float shifted) {
  return from_bits((bits_of(shifted) + 127) << 23);
}

// x with the low 12 bits of its significand cleared: its square is exact.
[[gnu::always_inline]] inline float high_part(float x) { return from_bits(bits_of(x) & ~std::uint32_t(0xfff)); }

// a b = hi + lo and a + b = hi + lo exactly (vmath::detail's two_product and two_sum in float).
[[gnu::always_inline]] inline void two_product(float a, float b, float& hi, float& lo) {
  hi = a * b;
  const float ah = high_part(a), al = a - ah, bh = high_part(b), bl = b - bh;
  lo = (((ah * bh - hi) + ah * bl) + al * bh) + al * bl;
}

[[gnu::always_inline]] inline void two_sum(float a, float b, float& hi, float& lo) {
  hi = a + b;
  const float back = hi - a;
  lo = (a - (hi - back)) + (b - back);
}

// ln2_hi has 15 significant bits, so k ln2_hi is exact for every |k| < 2^9 the exponential meets.
constexpr float kLog2e = 1.44269504f;
constexpr float kLn2Hi = 0.693145751953125f, kLn2Lo = 1.42860677e-06f, kLn2 = 0.693147181f;
// e^x rounds to 0 below kExpMin and overflows above kExpMax.
constexpr float kExpMin = -104.0f, kExpMax = 88.72f;

// 2^shift e^(hi + lo) = 2^(k + shift) (1 + p), p = expm1(r), r = hi + lo - k ln 2, with
// 2^(k + shift) = scale1 * scale2, each normal, so that subnormal results are rounded once
// (vmath::detail::ExpParts in float). Outside the range the parts are garbage and the
// result is chosen at the end; NaN passes.
struct ExpParts {
  float p, one_plus_p, scale1, scale2, hi, low;

  [[gnu::always_inline]] bool underflows() const { return hi < low; }
  [[gnu::always_inline]] float saturate(float value) const {
    return hi < low ? 0.0f : (hi > kExpMax ? HUGE_VALF : value);
  }
  [[gnu::always_inline]] float exp() const { return saturate((one_plus_p * scale1) * scale2); }
};

[[gnu::always_inline]] inline ExpParts exp_parts(float hi, float lo, float shift = 0.0f) {
  const float k = ((hi + lo) * kLog2e + kShifter) - kShifter;
  const float r = (hi - k * kLn2Hi) + (lo - k * kLn2Lo);  // the first difference is exact
  const float rest = r * r * vmath::detail::estrin(r, kExpm1);
  // 1 + r + rest with the rounding error of 1 + r kept: rounding p = r + rest first would
  // round twice (a full ulp, e^r at the constant of erf'(0) among them).
  const float n = 1.0f + r, n_err = (1.0f - n) + r;
  const float scaled = k + shift;
  const float shifted1 = scaled * 0.5f + kShifter;  // both halves are normal exponents
  const float k2 = scaled - (shifted1 - kShifter);
  return {r + rest, n + (n_err + rest), power_of_two(shifted1), power_of_two(k2 + kShifter), hi, kExpMin - shift * kLn2};
}

// The ratios of e = e^{-y} (y >= 0) that sigmoid and tanh are made of, each one division
// corrected for the rounding errors of n = 1 + p and den = 1 + e (vmath::detail::Logistic in
// float): about an ulp instead of three.
struct Logistic {
  const ExpParts& e;
  float n, n_err, u, den, den_err;

  [[gnu::always_inline]] explicit Logistic(const ExpParts& parts) : e(parts) {
    n = 1.0f + e.p;
    n_err = (1.0f - n) + e.p;
    u = (n * e.scale1) * e.scale2;  // e, rounded once (garbage where it underflows)
    den = 1.0f + u;
    den_err = (u - (den - 1.0f)) + (e.scale1 * e.scale2) * n_err;
  }
  // 1/(1 + e) or, when `of_e`, e/(1 + e), times the power of two m.
  [[gnu::always_inline]] float ratio(bool of_e, float m = 1.0f) const {
    const float y = (of_e ? n : 1.0f) / den;
    const float delta = (of_e ? n_err * (1.0f - e.p) : 0.0f) - den_err * (1.0f - 0.5f * u);
    const float corrected = y + y * delta;
    return of_e ? (corrected * e.scale1) * (e.scale2 * m) : corrected * m;
  }
  // m e/(1 + e)^2, with den^2 = sq + sq_err exact.
  [[gnu::always_inline]] float slope(float m = 1.0f) const {
    float sq, sq_err;
    two_product(den, den, sq, sq_err);
    const float y = n / sq;
    const float delta = n_err * (1.0f - e.p) - (sq_err + 2.0f * den * den_err) * (y * (1.0f - e.p));
    return ((y + y * delta) * e.scale1) * (e.scale2 * m);
  }
};

}  // namespace detail

// tanh and tanh' = 1 - tanh^2. Below |x| = 0.55: x + x^3 T(x^2). Above, from e = e^{-2|x|}:
// tanh = 1 - 2e/(1 + e) and tanh' = 4e/(1 + e)^2.
[[gnu::always_inline]] inline void tanh_and_derivative(float x, float& value, float& derivative) {
  const float a = std::abs(x);
  const float s = a * a;
  const float small = a + (a * s) * vmath::detail::estrin(s, detail::kTanh);
  const detail::ExpParts e = detail::exp_parts(-2.0f * a, 0.0f);
  const detail::Logistic logistic(e);
  const bool gone = e.underflows();  // tanh = +-1, tanh' = 0
  const float big = gone ? 1.0f : 1.0f - logistic.ratio(true, 2.0f);
  const float slope = gone ? 0.0f : logistic.slope(4.0f);
  const bool is_small = a < 0.55f;
  value = std::copysign(is_small ? small : big, x);
  derivative = is_small ? 1.0f - small * small : slope;
}

// sigmoid = 1/(1 + e) for x >= 0 and e/(1 + e) below, sigmoid' = e/(1 + e)^2, e = e^{-|x|}.
[[gnu::always_inline]] inline void sigmoid_and_derivative(float x, float& value, float& derivative) {
  const detail::ExpParts e = detail::exp_parts(-std::abs(x), 0.0f);
  const detail::Logistic logistic(e);
  const bool gone = e.underflows();  // sigmoid is 0 or 1, sigmoid' is 0
  value = gone ? (x >= 0.0f ? 1.0f : 0.0f) : logistic.ratio(x < 0.0f);
  derivative = gone ? 0.0f : logistic.slope();
}

// softplus = max(x, 0) + log1p(e), e = e^{-|x|}, and softplus' = sigmoid. log1p(e) without
// a branch: m = 1 + e rounded, g = m - 1 (exact) and c = e - g its rounding error, then
// log1p(e) = log1p(g) + c/m with log1p(g) = g - s (g - s^2 U(s^2)), s = g/(2 + g) <= 1/3.
[[gnu::always_inline]] inline void softplus_and_derivative(float x, float& value, float& derivative) {
  const detail::ExpParts e = detail::exp_parts(-std::abs(x), 0.0f);
  const detail::Logistic logistic(e);
  const float u = logistic.u, m = logistic.den, g = m - 1.0f, c = u - g;
  const float s = g / (2.0f + g), v = s * s;
  const float log1p_e = (g - s * (g - v * vmath::detail::estrin(v, detail::kLog1p))) + c / m;
  const float positive = x > 0.0f ? x : 0.0f;
  const bool gone = e.underflows();
  value = gone ? positive : positive + log1p_e;
  derivative = gone ? (x >= 0.0f ? 1.0f : 0.0f) : logistic.ratio(x < 0.0f);
}

}  // namespace widenet::vmath::f32

#include "widenet/vector_math_float_normal.hpp"
#include "widenet/vector_math_float_trig.hpp"
