// e^x and the functions built on it, branch-free so that loops calling them vectorise:
// exp, log1p on [0, 1], tanh, sigmoid and softplus (values and derivatives), with the
// exponential's parts and the logistic ratios they share.
#pragma once

#include <cmath>

#include "widenet/vector_math_exact.hpp"
#include "widenet/vector_math_polynomials.hpp"

namespace widenet::vmath {

namespace detail {

// ln2_hi has 42 significant bits, so k ln2_hi is exact for every |k| < 2^11 the
// exponential meets.
constexpr double kLog2e = 1.4426950408889634;
constexpr double kLn2Hi = 0.6931471805598903;
constexpr double kLn2Lo = 5.497923018708371e-14;
constexpr double kLn2 = 0.6931471805599453;
constexpr double kLn2Tail = 2.3190468138462996e-17;  // ln 2 - kLn2
// e^x is 0 below kExpMin (even with log(2/sqrt(pi)) added) and inf above kExpMax.
constexpr double kExpMin = -746.0, kExpMax = 710.0;

// 2^shift e^(hi + lo) = 2^(k + shift) (1 + p) with p = expm1(r), r = hi + lo - k ln 2,
// and 2^(k + shift) = scale1 * scale2 (each normal, so that subnormal results and results
// near overflow are rounded once). lo is small next to hi or a constant below 1. shift
// is an integer (as a double) for callers that carry tiny results scaled up. Outside
// [kExpMin, kExpMax] (shifted) the parts are garbage and the result is chosen at the
// end, 0 or inf: a clamp of hi up front would make the compiler duplicate the whole
// evaluation for the clamped constant; NaN passes either way.
struct ExpParts {
  double p, scale1, scale2, hi, low;

  [[gnu::always_inline]] bool underflows() const { return hi < low; }
  [[gnu::always_inline]] double saturate(double value) const {
    return hi < low ? 0.0 : (hi > kExpMax ? HUGE_VAL : value);
  }
  [[gnu::always_inline]] double exp() const { return saturate(((1.0 + p) * scale1) * scale2); }
  // s e^(hi + lo) for a power of two s, rounded once.
  [[gnu::always_inline]] double exp_times(double s) const {
    return saturate(((1.0 + p) * scale1) * (scale2 * s));
  }
};

template <typename Result>
[[gnu::always_inline]] inline ExpParts exp_parts(double hi, double lo, double shift = 0.0) {
  const double k = ((hi + lo) * kLog2e + kShifter) - kShifter;
  const double r = (hi - k * kLn2Hi) + (lo - k * kLn2Lo);  // the first difference is exact
  const double p = r + r * r * estrin(r, Coefficients<Result>::expm1);
  const double scaled = k + shift;
  const double shifted1 = scaled * 0.5 + kShifter;  // both halves are normal exponents
  const double k2 = scaled - (shifted1 - kShifter);
  return {p, power_of_two(shifted1), power_of_two(k2 + kShifter), hi, kExpMin - shift * kLn2};
}

// The pieces of sigmoid and tanh from the parts of e = e^{-y}, y >= 0: e = s (n + n_err)
// with s = scale1 scale2 a power of two and n = 1 + p rounded, and 1 + e = den + den_err,
// both exactly to first order. Ratios of them are then one division, corrected for
// these rounding errors, plus one rounding: about an ulp instead of two or three.
struct Logistic {
  const ExpParts& e;
  double n, n_err, u, den, den_err;

  [[gnu::always_inline]] explicit Logistic(const ExpParts& parts) : e(parts) {
    n = 1.0 + e.p;
    n_err = (1.0 - n) + e.p;
    u = (n * e.scale1) * e.scale2;  // e, rounded once (garbage where it underflows)
    den = 1.0 + u;
    den_err = (u - (den - 1.0)) + (e.scale1 * e.scale2) * n_err;
  }
  // 1/(1 + e) or, when `of_e`, e/(1 + e), times the power of two m. 1/den and 1/n are
  // taken to first order (within 12% and 18%): enough for corrections below an ulp.
  [[gnu::always_inline]] double ratio(bool of_e, double m = 1.0) const {
    const double y = (of_e ? n : 1.0) / den;
    const double delta = (of_e ? n_err * (1.0 - e.p) : 0.0) - den_err * (1.0 - 0.5 * u);
    const double corrected = y + y * delta;
    return of_e ? (corrected * e.scale1) * (e.scale2 * m) : corrected * m;
  }
  // m e/(1 + e)^2, with den^2 = sq + sq_err exact.
  [[gnu::always_inline]] double slope(double m = 1.0) const {
    double sq, sq_err;
    two_product(den, den, sq, sq_err);
    const double y = n / sq;
    const double delta = n_err * (1.0 - e.p) - (sq_err + 2.0 * den * den_err) * (y * (1.0 - e.p));
    return ((y + y * delta) * e.scale1) * (e.scale2 * m);
  }
};

}  // namespace detail

// e^x.
template <typename Result = double>
[[gnu::always_inline]] inline double exp(double x) {
  return detail::exp_parts<Result>(x, 0.0).exp();
}

namespace detail {

// log1p for 0 <= x <= 1, with the choice of branch made by the caller: halve when
// x > sqrt(2) - 1 (either choice is accurate within a rounding of that point).
template <typename Result>
[[gnu::always_inline]] inline double log1p_unit_interval(double x, bool halve) {
  const double u = 1.0 + x;
  const double g = halve ? u * 0.5 - 1.0 : x;
  // c/u with 1/u = (1 - g)/2 to first order is plenty: c is below an ulp of 1.
  const double correction = (x - (u - 1.0)) * (0.5 - 0.5 * g) + kLn2Tail;
  const double s = g / (2.0 + g);
  const double v = s * s;
  const double log1p_g = g - s * (g - v * estrin(v, Coefficients<Result>::log1p));
  return halve ? kLn2 + (log1p_g + correction) : log1p_g;
}

}  // namespace detail

// log(1 + x) for 0 <= x <= 1 (what softplus needs). Above sqrt(2) - 1 the argument is
// halved: log1p(x) = ln 2 + log1p(g) + c/u, u = 1 + x rounded, g = u/2 - 1 (exact) and
// c = x - (u - 1) the rounding error of u. Then log1p(g) = 2 atanh(s) with s = g/(2 + g),
// written g - s (g - s^2 U(s^2)) so that g, exact, carries the leading term.
template <typename Result = double>
[[gnu::always_inline]] inline double log1p_unit_interval(double x) {
  return detail::log1p_unit_interval<Result>(x, x > 0.41421356237309503);
}

// tanh(x) and tanh'(x) = 1 - tanh(x)^2. Below |x| = 0.55: x + x^3 T(x^2), and 1 - tanh^2
// has no cancellation. Above, from u = e^{-2|x|}: tanh = 1 - 2u/(1 + u) and
// tanh' = 4u/(1 + u)^2 (detail::Logistic).
template <typename Result = double>
[[gnu::always_inline]] inline void tanh_and_derivative(double x, double& value, double& derivative) {
  const double a = std::abs(x);
  const double s = a * a;
  const double small = a + (a * s) * detail::estrin(s, detail::Coefficients<Result>::tanh);
  const detail::ExpParts e = detail::exp_parts<Result>(-2.0 * a, 0.0);
  const detail::Logistic logistic(e);
  const bool gone = e.underflows();  // tanh = +-1, tanh' = 0
  const double big = gone ? 1.0 : 1.0 - logistic.ratio(true, 2.0);
  const double slope = gone ? 0.0 : logistic.slope(4.0);
  const bool is_small = a < 0.55;
  value = std::copysign(is_small ? small : big, x);
  derivative = is_small ? 1.0 - small * small : slope;
}

// sigmoid(x) = 1/(1 + e^{-x}) and sigmoid' = sigmoid (1 - sigmoid), from e = e^{-|x|}
// (which never overflows): 1/(1 + e) for x >= 0, e/(1 + e) below, and sigmoid' =
// e/(1 + e)^2 (no cancellation), by detail::Logistic.
template <typename Result = double>
[[gnu::always_inline]] inline void sigmoid_and_derivative(double x, double& value, double& derivative) {
  const detail::ExpParts e = detail::exp_parts<Result>(-std::abs(x), 0.0);
  const detail::Logistic logistic(e);
  const bool gone = e.underflows();  // sigmoid is 0 or 1, sigmoid' is 0
  value = gone ? (x >= 0.0 ? 1.0 : 0.0) : logistic.ratio(x < 0.0);
  derivative = gone ? 0.0 : logistic.slope();
}

// softplus(x) = log(1 + e^x) = max(x, 0) + log1p(e^{-|x|}) and softplus' = sigmoid.
template <typename Result = double>
[[gnu::always_inline]] inline void softplus_and_derivative(double x, double& value, double& derivative) {
  const double a = std::abs(x);
  const detail::ExpParts e = detail::exp_parts<Result>(-a, 0.0);
  const detail::Logistic logistic(e);
  // Where e^{-|x|} underflows the parts are garbage and the results are chosen at the
  // end; the branch of log1p is chosen from |x| < asinh(1) (e > sqrt(2) - 1), not from
  // e. (Conditions on constants made from e, or the same condition tested before and
  // after log1p, let the compiler duplicate the whole of log1p.) e = u + s n_err, so
  // log1p(e) = log1p(u) + s n_err/(1 + u) to first order.
  const double log1p_e = detail::log1p_unit_interval<Result>(logistic.u, a < 0.88137358701954302) +
                         (e.scale1 * e.scale2) * logistic.n_err * (1.0 - 0.5 * logistic.u);
  const double positive = x > 0.0 ? x : 0.0;
  const bool gone = e.underflows();
  value = gone ? positive : positive + log1p_e;
  derivative = gone ? (x >= 0.0 ? 1.0 : 0.0) : logistic.ratio(x < 0.0);
}

}  // namespace widenet::vmath
