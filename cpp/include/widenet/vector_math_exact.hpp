// The exact operations the elementary functions of vector_math.hpp are built from: a
// double's bits, powers of two assembled from them, halves whose products are exact, and
// error-free products and sums.
#pragma once

#include <cstdint>
#include <cstring>

namespace widenet::vmath::detail {

[[gnu::always_inline]] inline std::uint64_t bits_of(double x) {
  std::uint64_t b;
  std::memcpy(&b, &x, sizeof b);
  return b;
}

[[gnu::always_inline]] inline double from_bits(std::uint64_t b) {
  double x;
  std::memcpy(&x, &b, sizeof x);
  return x;
}

// 1.5 * 2^52: adding it rounds to an integer, which then sits in the low bits.
constexpr double kShifter = 6755399441055744.0;

// 2^j from shifted = j + kShifter: the low bits of its representation hold j.
[[gnu::always_inline]] inline double power_of_two(double shifted) {
  return from_bits((bits_of(shifted) + 1023) << 52);
}

// x with the low 27 bits of its significand cleared: its square is exact.
[[gnu::always_inline]] inline double high_part(double x) {
  return from_bits(bits_of(x) & ~((std::uint64_t(1) << 27) - 1));
}

// a b = hi + lo exactly (Dekker's product, with the halves cut by bit masks so that a
// fused multiply-add, where the compiler makes one, changes nothing).
[[gnu::always_inline]] inline void two_product(double a, double b, double& hi, double& lo) {
  hi = a * b;
  const double ah = high_part(a), al = a - ah, bh = high_part(b), bl = b - bh;
  lo = (((ah * bh - hi) + ah * bl) + al * bh) + al * bl;
}

// a + b = hi + lo exactly (Knuth's two-sum).
[[gnu::always_inline]] inline void two_sum(double a, double b, double& hi, double& lo) {
  hi = a + b;
  const double back = hi - a;
  lo = (a - (hi - back)) + (b - back);
}

}  // namespace widenet::vmath::detail
