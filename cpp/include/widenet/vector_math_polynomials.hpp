// The polynomials of the elementary functions of vector_math.hpp: their coefficients for
// double and for float results, where the tails take over, and the schemes that evaluate
// them (Estrin's, and Horner's for the terms whose rounding errors reach the result
// undamped). The coefficients and constants are derived by tools/fit_vector_math.py.
#pragma once

#include <cstddef>

namespace widenet::vmath::detail {

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
// around them; in double, or in float for vector_math_float.hpp. tools/fit_vector_math.py checks
// this exact order.
template <int Lo, int Count, typename Real, std::size_t N>
[[gnu::always_inline]] inline Real estrin(const Real* powers, const Real (&c)[N]) {
  if constexpr (Count == 1) {
    return c[Lo];
  } else {
    constexpr int half = half_length(Count);
    return estrin<Lo, half>(powers, c) + powers[log2_of(half)] * estrin<Lo + half, Count - half>(powers, c);
  }
}

template <typename Real, std::size_t N>
[[gnu::always_inline]] inline Real estrin(Real x, const Real (&c)[N]) {
  constexpr int levels = log2_of(half_length(int(N))) + 1;
  Real powers[levels];
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

}  // namespace widenet::vmath::detail
