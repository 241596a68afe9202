// Activation functions and their first derivatives, evaluated array-at-a-time
// (docs/theory.md, section 7). ReLU's derivative at 0 is 0.
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "widenet/dispatch.hpp"
#include "widenet/names.hpp"
#include "widenet/types.hpp"
#include "widenet/vector_math.hpp"
#include "widenet/vector_math_float.hpp"
#include "widenet/vector_math_rectifiers.hpp"

namespace widenet {

enum class Activation {
  relu, tanh, erf, arctan, sigmoid, softplus, gelu, sin, identity,
  leaky_relu, elu, silu, abs, monomial2, monomial3
};

// The fixed parameters of two of them (PyTorch's and JAX's defaults): leaky_relu(z) =
// kLeakyReluSlope z below 0, elu(z) = kEluAlpha (e^z - 1) below 0.
inline constexpr double kLeakyReluSlope = 0.01;
inline constexpr double kEluAlpha = 1.0;
static_assert(kEluAlpha == 1.0, "vmath::elu_and_derivative computes alpha = 1");

// The activations' names, in the order the Python package lists them.
inline constexpr Named<Activation> kActivations[] = {
    {Activation::relu, "relu"},         {Activation::tanh, "tanh"},
    {Activation::erf, "erf"},           {Activation::arctan, "arctan"},
    {Activation::sigmoid, "sigmoid"},   {Activation::softplus, "softplus"},
    {Activation::gelu, "gelu"},         {Activation::sin, "sin"},
    {Activation::identity, "identity"}, {Activation::leaky_relu, "leaky_relu"},
    {Activation::elu, "elu"},           {Activation::silu, "silu"},
    {Activation::abs, "abs"},           {Activation::monomial2, "monomial2"},
    {Activation::monomial3, "monomial3"}};

inline Activation parse_activation(const std::string& name) {
  return parse_name(kActivations, name, "activation", "one of " + listed(kActivations));
}

namespace scalar {

// arctan without a call into libm, so that loops over arrays vectorise. With t = |x|,
// arctan(t) = offset + arctan(u) where |u| <= tan(pi/8):
//   t <= tan(pi/8):            u = t,               offset = 0
//   t <= tan(3 pi/8):          u = (t - 1)/(t + 1), offset = pi/4
//   otherwise:                 u = -1/t,            offset = pi/2
// (one division, none where u = t), then arctan(u) = u + u s P(s), s = u^2, with the
// polynomial P of tools/fit_arctan.py (relative error 1.1e-16 in double). Branch-free:
// every choice is a blend, so the caller's loop vectorises.
template <typename T>
[[gnu::always_inline]] inline T arctan(T x) {
  constexpr double kTanPiOver8 = 0.41421356237309503;
  constexpr double kTan3PiOver8 = 2.414213562373095;
  static constexpr double kCoefficients[] = {
      -0.3333333333333333,  0.19999999999999804,  -0.14285714285659828, 0.11111111105155447,
      -0.09090908753500877, 0.07692296375032143,  -0.06666424885738255, 0.05878928997834775,
      -0.05230454270650244, 0.04551593220626549,  -0.034570561981427744, 0.016285756855221028};
  const T t = std::abs(x);
  const bool small = t <= T(kTanPiOver8), middle = t <= T(kTan3PiOver8);
  // Not t / 1 where small: the compiler would split the blend of quotients into two
  // divisions, each as costly as the whole polynomial in 512-bit vectors.
  const T quotient = (middle ? t - T(1) : T(-1)) / (middle ? t + T(1) : t);
  const T offset = small ? T(0) : (middle ? T(M_PI_4) : T(M_PI_2));
  const T u = small ? t : quotient;
  const T s = u * u;
  // Estrin's scheme, written out: short dependency chains and no inner loop.
  const auto c = [](int j) { return T(kCoefficients[j]); };
  const T s2 = s * s, s4 = s2 * s2, s8 = s4 * s4;
  const T p01 = c(0) + c(1) * s, p23 = c(2) + c(3) * s, p45 = c(4) + c(5) * s;
  const T p67 = c(6) + c(7) * s, p89 = c(8) + c(9) * s, p1011 = c(10) + c(11) * s;
  const T p = (p01 + p23 * s2) + (p45 + p67 * s2) * s4 + (p89 + p1011 * s2) * s8;
  return std::copysign(offset + (u + u * s * p), x);
}

// The value sigma(z) and the derivative sigma'(z) at one point. The functions of
// vector_math.hpp compute in double and are rounded to T once, at the end; T picks
// polynomials just accurate enough for it. (float32 arrays of the activations with
// kEvaluatedInFloat take float_value_and_derivative below instead.)
template <Activation A, typename T>
[[gnu::always_inline]] inline void value_and_derivative(T z, T& value, T& derivative) {
  if constexpr (A == Activation::relu) {
    value = z <= T(0) ? T(0) : z;  // NaN passes, as in the numpy twin's maximum
    derivative = z > T(0) ? T(1) : T(0);
  } else if constexpr (A == Activation::arctan) {
    // In double for float too (one rounding at the end). 1/(1 + z^2) would give 0 once
    // z^2 overflows, where 1/z^2 is still a subnormal double: there, 2^-1000 / (z 2^-500)^2.
    // Only constants are blended, so that both cases share one division (blended operands
    // lead the compiler to divide twice).
    const double x = z;
    const bool huge = std::abs(x) > 1e150;
    const double scaled = x * (huge ? 0x1p-500 : 1.0);
    value = T(arctan(x));
    derivative = T((huge ? 0x1p-1000 : 1.0) / (scaled * scaled + (huge ? 0.0 : 1.0)));
  } else if constexpr (A == Activation::sin) {
    // Only meaningful for |z| <= vmath::kSinCosMax: activate_range redoes the others.
    double v, d;
    vmath::sin_and_cos(z, v, d);
    value = T(v);
    derivative = T(d);
  } else if constexpr (A == Activation::identity) {
    value = z;
    derivative = T(1);
  } else if constexpr (A == Activation::leaky_relu) {
    value = z > T(0) ? z : T(kLeakyReluSlope * double(z));  // NaN passes
    derivative = z > T(0) ? T(1) : T(kLeakyReluSlope);
  } else if constexpr (A == Activation::abs) {
    value = std::abs(z);
    derivative = z > T(0) ? T(1) : (z < T(0) ? T(-1) : T(0));  // 0 at 0, as relu's
  } else if constexpr (A == Activation::monomial2) {
    const double x = z;  // exact in double for float
    value = T(x * x);
    derivative = T(2 * x);
  } else if constexpr (A == Activation::monomial3) {
    const double x = z;
    value = T(x * x * x);
    derivative = T(3 * (x * x));
  } else {
    double v, d;
    if constexpr (A == Activation::tanh) vmath::tanh_and_derivative<T>(z, v, d);
    if constexpr (A == Activation::erf) vmath::erf_and_derivative<T>(z, v, d);
    if constexpr (A == Activation::sigmoid) vmath::sigmoid_and_derivative<T>(z, v, d);
    if constexpr (A == Activation::softplus) vmath::softplus_and_derivative<T>(z, v, d);
    if constexpr (A == Activation::gelu) vmath::gelu_and_derivative<T>(z, v, d);
    if constexpr (A == Activation::elu) vmath::elu_and_derivative<T>(z, v, d);  // alpha = 1
    if constexpr (A == Activation::silu) vmath::silu_and_derivative<T>(z, v, d);
    value = T(v);
    derivative = T(d);
  }
}

}  // namespace scalar

// The activations with an evaluation in float (vector_math_float.hpp), which float32 arrays
// take: twice the entries per vector, within a few ulps instead of half an ulp. The others
// evaluate float32 in double. An activation opts in here and in float_value_and_derivative.
template <Activation A>
inline constexpr bool kEvaluatedInFloat = A == Activation::tanh || A == Activation::erf ||
                                          A == Activation::arctan || A == Activation::sigmoid ||
                                          A == Activation::softplus || A == Activation::gelu ||
                                          A == Activation::sin;

// Set to make float32 arrays take the double evaluation after all (to compare the two in
// one process); read once per block of entries.
inline std::atomic<bool>& float32_in_double_setting() {
  static std::atomic<bool> in_double{false};
  return in_double;
}

namespace scalar {

template <Activation A>
[[gnu::always_inline]] inline void float_value_and_derivative(float z, float& value, float& derivative) {
  static_assert(kEvaluatedInFloat<A>);
  if constexpr (A == Activation::tanh) vmath::f32::tanh_and_derivative(z, value, derivative);
  if constexpr (A == Activation::erf) vmath::f32::erf_and_derivative(z, value, derivative);
  if constexpr (A == Activation::arctan) vmath::f32::arctan_and_derivative(z, value, derivative);
  if constexpr (A == Activation::sigmoid) vmath::f32::sigmoid_and_derivative(z, value, derivative);
  if constexpr (A == Activation::softplus) vmath::f32::softplus_and_derivative(z, value, derivative);
  if constexpr (A == Activation::gelu) vmath::f32::gelu_and_derivative(z, value, derivative);
  if constexpr (A == Activation::sin) vmath::f32::sin_and_cos(z, value, derivative);  // valid as in double
}

// sigma and sigma' at one point, in float when InFloat (T is then float).
template <Activation A, bool InFloat, typename T>
[[gnu::always_inline]] inline void evaluate(T z, T& value, T& derivative) {
  if constexpr (InFloat) {
    float_value_and_derivative<A>(z, value, derivative);
  } else {
    value_and_derivative<A>(z, value, derivative);
  }
}

}  // namespace scalar

// Calls f(std::integral_constant<Activation, A>{}) for the activation chosen at run time,
// so that every kernel below is compiled once per activation.
template <typename F>
decltype(auto) with_activation(Activation activation, F&& f) {
  using std::integral_constant;
  switch (activation) {
    case Activation::relu: return f(integral_constant<Activation, Activation::relu>{});
    case Activation::tanh: return f(integral_constant<Activation, Activation::tanh>{});
    case Activation::erf: return f(integral_constant<Activation, Activation::erf>{});
    case Activation::arctan: return f(integral_constant<Activation, Activation::arctan>{});
    case Activation::sigmoid: return f(integral_constant<Activation, Activation::sigmoid>{});
    case Activation::softplus: return f(integral_constant<Activation, Activation::softplus>{});
    case Activation::gelu: return f(integral_constant<Activation, Activation::gelu>{});
    case Activation::sin: return f(integral_constant<Activation, Activation::sin>{});
    case Activation::leaky_relu: return f(integral_constant<Activation, Activation::leaky_relu>{});
    case Activation::elu: return f(integral_constant<Activation, Activation::elu>{});
    case Activation::silu: return f(integral_constant<Activation, Activation::silu>{});
    case Activation::abs: return f(integral_constant<Activation, Activation::abs>{});
    case Activation::monomial2: return f(integral_constant<Activation, Activation::monomial2>{});
    case Activation::monomial3: return f(integral_constant<Activation, Activation::monomial3>{});
    case Activation::identity: break;
  }
  return f(integral_constant<Activation, Activation::identity>{});
}

// Turns values into sigma(z) in place, z = scale * value + bias[i] when Affine (the bias
// and scale of a hidden layer, folded in here to save a pass over memory) or z = value,
// and writes sigma'(z) to `derivative` unless it is null: one pass for all of it.
template <Activation A, bool Affine, bool InFloat, typename T>
[[gnu::always_inline]] inline void activate_loop(T* __restrict values, T* __restrict derivative,
                                                 Index count, T scale, const T* __restrict bias) {
  if (derivative != nullptr) {
    for (Index i = 0; i < count; ++i) {
      const T z = Affine ? scale * values[i] + bias[i] : values[i];
      T value, slope;
      scalar::evaluate<A, InFloat>(z, value, slope);
      values[i] = value;
      derivative[i] = slope;
    }
  } else {
    for (Index i = 0; i < count; ++i) {
      const T z = Affine ? scale * values[i] + bias[i] : values[i];
      T value, unused;
      scalar::evaluate<A, InFloat>(z, value, unused);
      values[i] = value;
    }
  }
}

template <Activation A, bool Affine, bool InFloat, typename T>
[[gnu::always_inline]] inline void activate_range(T* __restrict values, T* __restrict derivative,
                                                  Index count, T scale, const T* __restrict bias) {
  if constexpr (A != Activation::sin) {
    activate_loop<A, Affine, InFloat>(values, derivative, count, scale, bias);
  } else {
    constexpr T kVectorMax = InFloat ? T(vmath::f32::kSinCosMax) : T(vmath::kSinCosMax);
    // The vector reduction of sin's argument holds for |z| <= kSinCosMax only; the rare
    // others (and inf, NaN) go to libm, from a copy of z taken chunk by chunk.
    constexpr Index kChunk = 256;
    T z[kChunk];
    for (Index start = 0; start < count; start += kChunk) {
      const Index n = std::min(kChunk, count - start);
      T* v = values + start;
      T* d = derivative ? derivative + start : nullptr;
      for (Index i = 0; i < n; ++i) z[i] = Affine ? scale * v[i] + bias[start + i] : v[i];
      activate_loop<A, false, InFloat>(z, d, n, T(1), bias);
      for (Index i = 0; i < n; ++i) {
        const T x = Affine ? scale * v[i] + bias[start + i] : v[i];
        if (!(std::abs(x) <= kVectorMax)) {
          z[i] = std::sin(x);
          if (d) d[i] = std::cos(x);
        }
        v[i] = z[i];
      }
    }
  }
}

// sum_i a_i b_i in kLanes independent partial sums, so that the loop vectorises (a single
// running sum would be a chain of dependent additions).
template <typename T>
[[gnu::always_inline]] inline T lane_dot(const T* __restrict a, const T* __restrict b, Index count) {
  constexpr Index kLanes = 16;
  T partial[kLanes] = {};
  Index i = 0;
  for (; i + kLanes <= count; i += kLanes) {
    for (Index j = 0; j < kLanes; ++j) partial[j] += a[i + j] * b[i + j];
  }
  for (Index j = 0; i < count; ++i, ++j) partial[j] += a[i] * b[i];
  for (Index width = kLanes / 2; width > 0; width /= 2) {
    for (Index j = 0; j < width; ++j) partial[j] += partial[j + width];
  }
  return partial[0];
}

// activate_range, then, unless `onto` is null, the dot product of the activated values with
// `onto` into *projection while they are still in cache (a hidden layer's output A v).
template <Activation A, bool Affine, bool InFloat>
struct ActivateRange {
  template <typename T>
  [[gnu::always_inline]] static void run(T* values, T* derivative, Index count, T scale, const T* bias,
                                         const T* onto, T* projection) {
    activate_range<A, Affine, InFloat>(values, derivative, count, scale, bias);
    if (onto != nullptr) *projection = lane_dot(values, onto, count);
  }
};

template <Activation A, bool Affine, bool InFloat, typename T>
void activate_on_best_path(T* values, T* derivative, Index count, T scale, const T* bias,
                           const T* onto, T* projection) {
  run_on_best_path<ActivateRange<A, Affine, InFloat>>(values, derivative, count, scale, bias, onto,
                                                      projection);
}

template <Activation A, bool Affine, typename T>
void activate_block(T* values, T* derivative, Index count, T scale, const T* bias,
                    const T* onto = nullptr, T* projection = nullptr) {
  if constexpr (std::is_same_v<T, float> && kEvaluatedInFloat<A>) {
    if (!float32_in_double_setting().load(std::memory_order_relaxed)) {
      return activate_on_best_path<A, Affine, true>(values, derivative, count, scale, bias, onto,
                                                    projection);
    }
  }
  activate_on_best_path<A, Affine, false>(values, derivative, count, scale, bias, onto, projection);
}

// sigma and sigma' of a flat array, in place; large arrays are split over threads.
template <typename T>
void activate_inplace(Activation activation, T* values, T* derivative, Index count) {
  with_activation(activation, [&](auto act) {
    constexpr Activation A = decltype(act)::value;
    if (count <= kParallelEntries || thread_count() == 1) {
      activate_block<A, false>(values, derivative, count, T(1), static_cast<const T*>(nullptr));
      return;
    }
    constexpr Index kBlock = 4096;
    const Index blocks = (count + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) num_threads(thread_count())
    for (Index block = 0; block < blocks; ++block) {
      const Index start = block * kBlock;
      activate_block<A, false>(values + start, derivative ? derivative + start : nullptr,
                               std::min(kBlock, count - start), T(1), static_cast<const T*>(nullptr));
    }
  });
}

// A hidden layer's activations from the products U x held in `values` (m x n): in place,
// z = scale * value + bias (bias has one entry per column), and sigma'(z) into
// `derivative` (resized to m x n) unless it is null. With `onto` (n entries), also each
// activated row's dot product with it into `projections` (m entries), the row still in
// cache. Rows are split over threads.
template <typename T, typename Bias>
void activate_rows(Activation activation, RowMatrix<T>& values, RowMatrix<T>* derivative, T scale,
                   const Bias& bias, const T* onto = nullptr, T* projections = nullptr) {
  const Index rows = values.rows(), cols = values.cols();
  if (derivative != nullptr) derivative->resize(rows, cols);
  const T* b = bias.data();  // a vector or a segment of one: contiguous
  with_activation(activation, [&](auto act) {
    constexpr Activation A = decltype(act)::value;
    const auto row = [&](Index k) {
      activate_block<A, true>(values.row(k).data(), derivative ? derivative->row(k).data() : nullptr,
                              cols, scale, b, onto, onto ? projections + k : nullptr);
    };
    if (values.size() <= kParallelEntries || thread_count() == 1) {
      for (Index k = 0; k < rows; ++k) row(k);  // no parallel region at all for small work
      return;
    }
#pragma omp parallel for schedule(static) num_threads(thread_count())
    for (Index k = 0; k < rows; ++k) row(k);
  });
}

}  // namespace widenet
