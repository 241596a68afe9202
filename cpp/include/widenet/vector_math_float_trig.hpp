// sin, cos and arctan in float, branch-free: the reductions of vector_math_trig.hpp and of
// scalar::arctan (activations.hpp), with float polynomials. Included by vector_math_float.hpp.
#pragma once

#include <cmath>
#include <cstdint>

#include "widenet/vector_math_float.hpp"

namespace widenet::vmath::f32 {

namespace detail {

// pi/2 = kPiOver2[0] + ... + kPiOver2[3]: the first three have 11 significant bits, so k times
// each is exact for |k| < 2^13, and x - k kPiOver2[0] is exact (tools/fit_vector_math_float.py).
constexpr float kTwoOverPi = 0.636619772f;
constexpr float kPiOver2[] = {0x1.92p+0f, 0x1.fb4p-12f, 0x1.444p-24f, 0x1.68c234p-39f};

// pi/4 and pi/2 as float + float, for arctan's offsets.
constexpr float kPiOver4Hi = 0x1.921fb6p-1f, kPiOver4Lo = -0x1.777a5cp-26f;

[[gnu::always_inline]] inline float negate_if(float v, std::uint32_t flag) { return from_bits(bits_of(v) ^ (flag << 31)); }

[[gnu::always_inline]] inline float pick(std::uint32_t flag, float if_one, float if_zero) {
  const std::uint32_t mask = std::uint32_t(0) - flag;
  return from_bits((bits_of(if_one) & mask) | (bits_of(if_zero) & ~mask));
}

}  // namespace detail

// Where sin_and_cos is accurate (k < 2^13 quarter turns); beyond it (and for inf and NaN)
// callers use libm.
constexpr float kSinCosMax = 8192.0f;

// sin(x) and cos(x) for |x| <= kSinCosMax: x = k pi/2 + r + r_lo with |r| <= pi/4, by a
// four-part pi/2 (the third subtraction's rounding error kept in r_lo), Taylor polynomials
// in r, and the quadrant k mod 4 from the bits of the rounded k.
[[gnu::always_inline]] inline void sin_and_cos(float x, float& sine, float& cosine) {
  using namespace detail;
  const float shifted = x * kTwoOverPi + kShifter;
  const float k = shifted - kShifter;
  const std::uint32_t quadrant = bits_of(shifted);
  const float r2 = (x - k * kPiOver2[0]) - k * kPiOver2[1];  // both exact
  const float r3 = r2 - k * kPiOver2[2];
  const float r3_err = (r2 - r3) - k * kPiOver2[2];
  const float tail = k * kPiOver2[3];
  const float r = r3 - tail;
  const float r_lo = ((r3 - r) - tail) + r3_err;
  const float s = r * r;
  const float sin_r = r + (r * s * vmath::detail::estrin(s, kSinTaylor) + r_lo);
  const float half_s = 0.5f * s, w = 1.0f - half_s;
  const float cos_r = w + (((1.0f - w) - half_s) + (s * s * vmath::detail::estrin(s, kCosTaylor) - r * r_lo));
  const std::uint32_t odd = quadrant & 1;
  sine = negate_if(pick(odd, cos_r, sin_r), (quadrant >> 1) & 1);
  cosine = negate_if(pick(odd, sin_r, cos_r), ((quadrant + 1) >> 1) & 1);
  sine = x == 0.0f ? x : sine;  // keeps -0
}

// arctan and arctan' = 1/(1 + x^2). With t = |x|: u = t, (t - 1)/(t + 1) or -1/t and an
// offset of 0, pi/4 or pi/2 (as scalar::arctan), then arctan(u) = u + u s A(s), s = u^2, the
// offset added as float + float. Where x^2 overflows (|x| > 1e18) arctan' is (1/x)/x.
[[gnu::always_inline]] inline void arctan_and_derivative(float x, float& value, float& derivative) {
  using namespace detail;
  const float t = std::abs(x);
  const bool small = t <= 0.414213562f, middle = t <= 2.41421356f;
  const float numerator = small ? t : (middle ? t - 1.0f : -1.0f);
  const float denominator = small ? 1.0f : (middle ? t + 1.0f : t);
  const float offset_hi = small ? 0.0f : (middle ? kPiOver4Hi : 2.0f * kPiOver4Hi);
  const float offset_lo = small ? 0.0f : (middle ? kPiOver4Lo : 2.0f * kPiOver4Lo);
  const float u = numerator / denominator;
  const float s = u * u;
  value = std::copysign(offset_hi + (u + (u * s * vmath::detail::estrin(s, kArctan) + offset_lo)), x);
  derivative = t > 1e18f ? (1.0f / x) / x : 1.0f / (1.0f + x * x);
}

}  // namespace widenet::vmath::f32
