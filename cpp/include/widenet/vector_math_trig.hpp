// sin and cos together (for the sin activation), branch-free so that loops calling them
// vectorise: Cody and Waite's reduction by pi/2, Taylor polynomials, and the quadrant
// applied by bit operations.
#pragma once

#include <cstdint>

#include "widenet/vector_math_exact.hpp"
#include "widenet/vector_math_polynomials.hpp"

namespace widenet::vmath {

namespace detail {

// pi/2 = kPiOver2Hi + kPiOver2Mid + kPiOver2Lo: the first two have 37 significant bits, so
// k times either is exact for k < 2^16, and x - k kPiOver2Hi is exact too (Sterbenz).
constexpr double kTwoOverPi = 0.6366197723675814;
constexpr double kPiOver2Hi = 0x1.921fb54440000p+0;
constexpr double kPiOver2Mid = 0x1.68c234c4c0000p-39;
constexpr double kPiOver2Lo = 0x1.98a2e03707345p-77;

// Taylor coefficients (-1)^j/(2j+3)! and (-1)^j/(2j+4)!: on |r| <= pi/4 the first term left
// out is below 1e-19 relative, so no fit is needed and the rounding of each coefficient
// costs less than 2^-53 of its (small) term.
constexpr double kSinTaylor[] = {
    -1.0 / 6, 1.0 / 120, -1.0 / 5040, 1.0 / 362880, -1.0 / 39916800, 1.0 / 6227020800.0,
    -1.0 / 1307674368000.0, 1.0 / 355687428096000.0, -1.0 / 121645100408832000.0};
constexpr double kCosTaylor[] = {
    1.0 / 24, -1.0 / 720, 1.0 / 40320, -1.0 / 3628800, 1.0 / 479001600, -1.0 / 87178291200.0,
    1.0 / 20922789888000.0, -1.0 / 6402373705728000.0, 1.0 / 2432902008176640000.0};

// Sign bit set where `flag` (0 or 1) is 1: integer work only, so that the portable SSE2
// path vectorises too (it has no 64-bit integer compares).
[[gnu::always_inline]] inline double negate_if(double v, std::uint64_t flag) {
  return from_bits(bits_of(v) ^ (flag << 63));
}

[[gnu::always_inline]] inline double pick(std::uint64_t flag, double if_one, double if_zero) {
  const std::uint64_t mask = std::uint64_t(0) - flag;
  return from_bits((bits_of(if_one) & mask) | (bits_of(if_zero) & ~mask));
}

}  // namespace detail

// Where sin_and_cos is accurate; beyond it (and for inf and NaN) callers use libm.
constexpr double kSinCosMax = 65536.0;

// sin(x) and cos(x) for |x| <= kSinCosMax: x = k pi/2 + r (+ r_lo) with |r| <= pi/4
// by Cody and Waite's three-part pi/2, then Taylor polynomials in r, and the quadrant
// k mod 4 (read from the bits of the rounded k) swaps and negates them.
[[gnu::always_inline]] inline void sin_and_cos(double x, double& sine, double& cosine) {
  using namespace detail;
  const double shifted = x * kTwoOverPi + kShifter;
  const double k = shifted - kShifter;
  const std::uint64_t quadrant = bits_of(shifted);
  const double r1 = x - k * kPiOver2Hi;  // exact
  const double r2 = r1 - k * kPiOver2Mid;
  const double tail = k * kPiOver2Lo;
  const double r = r2 - tail;
  const double r_lo = (r2 - r) - tail;
  const double s = r * r;
  // sin(r + r_lo) = r + (r^3 S(s) + r_lo) and cos(r + r_lo) = 1 - s/2 + s^2 C(s) - r r_lo,
  // with 1 - s/2 split so that its rounding error is kept (s/2 <= 0.31).
  const double sin_r = r + (r * s * estrin(s, kSinTaylor) + r_lo);
  const double half_s = 0.5 * s, w = 1.0 - half_s;
  const double cos_r = w + (((1.0 - w) - half_s) + (s * s * estrin(s, kCosTaylor) - r * r_lo));
  const std::uint64_t odd = quadrant & 1;
  sine = negate_if(pick(odd, cos_r, sin_r), (quadrant >> 1) & 1);
  cosine = negate_if(pick(odd, sin_r, cos_r), ((quadrant + 1) >> 1) & 1);
  sine = x == 0.0 ? x : sine;  // keeps -0 (r_lo = +0 would turn it into +0)
}

}  // namespace widenet::vmath
