// Elementary functions for the activations, written so that loops calling them
// auto-vectorise: no calls into libm, no branches (every choice is a select), powers of
// two assembled from the bits of a double. Everything computes in double; the template
// parameter Result (double or float) is the precision the caller rounds the result to,
// and picks polynomials of just enough degree for it (float results are then within
// about half an ulp). Coefficients and constants: tools/fit_vector_math.py.
//
// Largest errors on 10^6 points per function, in ulps of the exact result (long-double
// references; `python tests/test_vector_math.py --points 1000000`), AVX2 / portable path:
//                 float64 value   float64 derivative   float32 value / derivative
//   tanh           1.11 / 1.11      1.52 / 1.52            0.52 / 0.51
//   erf            1.02 / 1.24      1.05 / 1.01            0.52 / 0.50
//   sigmoid        1.29 / 1.33      1.38 / 1.43            0.50 / 0.50
//   softplus       1.52 / 1.55      1.29 / 1.33            0.52 / 0.50
//   gelu           2.18 / 2.32      2.75 / 2.80            0.51 / 0.51
//   sin            1.43 / 1.43      1.44 / 1.44            0.56 / 0.56
// (and arctan, activations.hpp: 1.73 / 1.73 and 1.48 / 1.97, float 0.50 / 0.50). gelu'
// crosses 0 at z = -0.7518, where Phi + z phi cancels: between -1.5 and -0.25 its error is
// counted in ulps of max(|gelu'|, Phi) (any double evaluation of the sum errs by an ulp
// of Phi there; float results are within 0.51 true ulp everywhere).
// NaN propagates, +-inf saturate, the sign of zero is kept by odd functions.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace widenet::vmath {

namespace detail {

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

// ln2_hi has 42 significant bits, so k ln2_hi is exact for every |k| < 2^11 the
// exponential meets.
constexpr double kLog2e = 1.4426950408889634;
constexpr double kLn2Hi = 0.6931471805598903;
constexpr double kLn2Lo = 5.497923018708371e-14;
constexpr double kLn2 = 0.6931471805599453;
constexpr double kLn2Tail = 2.3190468138462996e-17;  // ln 2 - kLn2
constexpr double kLogTwoOverSqrtPi = 0.12078223763524522;
constexpr double kLogInvSqrtTwoPi = -0.9189385332046728;
// e^x is 0 below kExpMin (even with log(2/sqrt(pi)) added) and inf above kExpMax.
constexpr double kExpMin = -746.0, kExpMax = 710.0;
// 1.5 * 2^52: adding it rounds to an integer, which then sits in the low bits.
constexpr double kShifter = 6755399441055744.0;

// Where the tails take over, and their variables t = c/(x + c), expanded about t0.
constexpr double kErfTailStart = 1.0, kErfTailC = 3.0, kErfTailT0 = 0.6;
constexpr double kCdfTailBelow = -0.5, kCdfTailAbove = 1.0, kMillsC = 2.0, kMillsT0 = 0.15;

// Polynomial coefficients, lowest order first, for results rounded to Result.
template <typename Result>
struct Coefficients;

template <>
struct Coefficients<double> {
  static constexpr double erf_tail_end = 6.0;    // erfc(6) is below half an ulp of 1
  static constexpr double gelu_tail_end = 38.7;  // gelu(z) underflows below -38.7
  static constexpr double expm1[] = {
      0.5000000000000001, 0.1666666666666667, 0.0416666666666523, 0.00833333333332616,
      0.001388888889559316, 0.00019841269874745196, 2.480157454304639e-05, 2.755725548728526e-06,
      2.7567925215108535e-07, 2.510518360062224e-08, 1.7687675722491728e-09};
  static constexpr double tanh[] = {
      -0.333333333333333, 0.1333333333332638, -0.053968253963616875, 0.021869488381628763,
      -0.008863232530334955, 0.003592091293512037, -0.0014555379806331084, 0.0005884239776604713,
      -0.00023332813881714394, 8.323810111939363e-05, -1.9445237973151585e-05};
  static constexpr double log1p[] = {
      0.6666666666666744, 0.3999999999935037, 0.28571428756565254, 0.22222197176600342,
      0.1818363219606155, 0.15312457890166833, 0.14810360887114968};
  static constexpr double erf[] = {
      0.1283791670955126, -0.3761263890318375, 0.11283791670954858, -0.026866170645072896,
      0.0052239776247808714, -0.0008548326978742439, 0.0001205533103690689, -1.4925593507038587e-05,
      1.646097281905691e-06, -1.635002524132021e-07, 1.4657879953414173e-08, -1.136566635229933e-09,
      5.94526236508477e-11};
  static constexpr double erf_tail[] = {
      0.3772308749843121, 0.6858082644379636, 0.9539242939639759, 0.984180484961874,
      0.6840681873392432, 0.2140320195262308, -0.1107425267895801, -0.12967335357441007,
      0.006952467052645272, 0.060668747233740196, 0.0026459589042210027, -0.031474227273495047,
      0.0007556211850669264, 0.01811539042834872, -0.004156218056091384, -0.012706928636115937,
      -0.0017633183073401395};
  static constexpr double erf_tail_lo = 2.0876024474009634e-17;  // erf_tail[0] + this
  static constexpr double cdf[] = {
      0.39894228040143265, -0.06649038006690544, 0.009973557010035777, -0.0011873282154798862,
      0.00011543468761167995, -9.444656237715867e-06, 6.659692824402819e-07,
      -4.1226526705252215e-08, 2.2733172065974955e-09, -1.128066331611474e-10,
      4.985129391315559e-12, -1.6557656907357444e-13};
  static constexpr double mills[] = {
      0.5837586209676632, 0.618109552051175, 0.40067569211176135, -0.030256937171870713,
      -0.3441310329093634, -0.14382457605666774, 0.39304661473342123, 0.3269256537775849,
      -0.643772003850603, -0.6771644219173056, 1.459170070534093, 1.3858175069685266,
      -4.165843973770905, -2.425123760919796, 13.488582696663656, 2.9041416344525595,
      -61.88407905332792, 75.8947468715661, 136.87842099425566, -648.3373000333489,
      1213.5190189459938, -1415.7696192252633, 1105.4556801546998, -567.9045091658572,
      175.03592623299204, -24.659528379563938};
  static constexpr double mills_lo = 1.0256663798348979e-17;  // mills[0] + this
};

template <>
struct Coefficients<float> {
  static constexpr double erf_tail_end = 4.0;
  static constexpr double gelu_tail_end = 14.6;
  static constexpr double expm1[] = {
      0.5000000053020699, 0.16666666902291197, 0.0416663271171222, 0.008333220064305123,
      0.001394319943311302, 0.00019962131455884276};
  static constexpr double tanh[] = {
      -0.33333316259596585, 0.13332538039824213, -0.053846885692053585, 0.02104793097476468,
      -0.006238822277728973};
  static constexpr double log1p[] = {
      0.6666681590937705, 0.3997480385258114, 0.29925449275600946};
  static constexpr double erf[] = {
      0.1283791657275261, -0.3761262582418834, 0.11283585148016519, -0.026853811913089002,
      0.00518832765297885, -0.0008010193415924512, 7.853860725487978e-05};
  static constexpr double erf_tail[] = {
      0.3772308749712852, 0.685808263828393, 0.9539243132895288, 0.9841808289324708,
      0.6840637943805609, 0.21397896581952316, -0.11042740633616563, -0.1265993199875631};
  static constexpr double erf_tail_lo = -2.6535510779338396e-17;  // erf_tail[0] + this
  static constexpr double cdf[] = {
      0.39894227808467586, -0.06649031817947747, 0.009973071035521697, -0.001185705955234132,
      0.00011281706511684025, -7.395639817736577e-06};
};

constexpr int half_length(int n) {  // the largest power of two below n
  int half = 1;
  while (2 * half < n) half *= 2;
  return half;
}

constexpr int log2_of(int power) {
  int k = 0;
  while ((1 << k) < power) ++k;
  return k;
}

// Estrin's scheme, split at the largest power of two below Count, x^(2^j) in powers[j]:
// short dependency chains for polynomials whose rounding errors are damped by the terms
// around them. tools/fit_vector_math.py checks this exact order.
template <int Lo, int Count, std::size_t N>
[[gnu::always_inline]] inline double estrin(const double* powers, const double (&c)[N]) {
  if constexpr (Count == 1) {
    return c[Lo];
  } else {
    constexpr int half = half_length(Count);
    return estrin<Lo, half>(powers, c) + powers[log2_of(half)] * estrin<Lo + half, Count - half>(powers, c);
  }
}

template <std::size_t N>
[[gnu::always_inline]] inline double estrin(double x, const double (&c)[N]) {
  constexpr int levels = log2_of(half_length(int(N))) + 1;
  double powers[levels];
  powers[0] = x;
  for (int j = 1; j < levels; ++j) powers[j] = powers[j - 1] * powers[j - 1];
  return estrin<0, int(N)>(powers, c);
}

// Horner's steps r -> r x + c[j] for j = J - 1 down to From (recursion, not a loop, so
// that it is unrolled whatever the degree: a loop left in the body would stop the
// caller's loop from vectorising).
template <int J, int From, std::size_t N>
[[gnu::always_inline]] inline double horner_down(double x, const double (&c)[N], double r) {
  if constexpr (J == From) {
    return r;
  } else {
    return horner_down<J - 1, From>(x, c, r * x + c[J - 1]);
  }
}

// The tails: c[0] + c0_lo + c[1] x + ..., with the constant as a double-double. The first
// kHornerSteps terms after it go by Horner's scheme (their rounding errors reach the
// result undamped), the rest by Estrin's (Horner's alone would be one long chain of
// dependent multiply-adds, which the processor cannot overlap).
constexpr int kHornerSteps = 4;

template <std::size_t N>
[[gnu::always_inline]] inline double horner_tail(double x, const double (&c)[N]) {  // c[1] + c[2] x + ...
  constexpr int split = 1 + kHornerSteps;
  if constexpr (int(N) <= split) {
    return horner_down<int(N) - 1, 1>(x, c, c[N - 1]);
  } else {
    constexpr int count = int(N) - split;
    constexpr int levels = log2_of(half_length(count)) + 1;
    double powers[levels];
    powers[0] = x;
    for (int j = 1; j < levels; ++j) powers[j] = powers[j - 1] * powers[j - 1];
    return horner_down<split, 1>(x, c, estrin<split, count>(powers, c));
  }
}

template <std::size_t N>
[[gnu::always_inline]] inline double tail_polynomial(double x, const double (&c)[N], double c0_lo) {
  return c[0] + (x * horner_tail(x, c) + c0_lo);
}

// 2^j from shifted = j + kShifter: the low bits of its representation hold j.
[[gnu::always_inline]] inline double power_of_two(double shifted) {
  return from_bits((bits_of(shifted) + 1023) << 52);
}

// x with the low 27 bits of its significand cleared: its square is exact.
[[gnu::always_inline]] inline double high_part(double x) {
  return from_bits(bits_of(x) & ~((std::uint64_t(1) << 27) - 1));
}

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
