// Activation functions and their first derivatives, evaluated array-at-a-time
// (SPEC.md, "Activations"). ReLU's derivative at 0 is 0.
#pragma once

#include <cmath>
#include <stdexcept>
#include <string>

#include "widenet/types.hpp"

namespace widenet {

enum class Activation { relu, tanh, erf, arctan, sigmoid, softplus, gelu, sin, identity };

inline Activation parse_activation(const std::string& name) {
  if (name == "relu") return Activation::relu;
  if (name == "tanh") return Activation::tanh;
  if (name == "erf") return Activation::erf;
  if (name == "arctan") return Activation::arctan;
  if (name == "sigmoid") return Activation::sigmoid;
  if (name == "softplus") return Activation::softplus;
  if (name == "gelu") return Activation::gelu;
  if (name == "sin") return Activation::sin;
  if (name == "identity") return Activation::identity;
  throw std::invalid_argument(
      "activation: expected one of relu, tanh, erf, arctan, sigmoid, softplus, gelu, "
      "sin, identity; got '" + name + "'");
}

namespace scalar {

template <typename T>
inline T sigmoid(T z) {
  // Written so that exp never overflows.
  if (z >= T(0)) return T(1) / (T(1) + std::exp(-z));
  const T e = std::exp(z);
  return e / (T(1) + e);
}

template <typename T>
inline T softplus(T z) {
  return std::max(z, T(0)) + std::log1p(std::exp(-std::abs(z)));
}

template <typename T>
inline T normal_cdf(T z) {
  return T(0.5) * std::erfc(-z * T(M_SQRT1_2));
}

template <typename T>
inline T normal_pdf(T z) {
  return T(0.5 * M_2_SQRTPI * M_SQRT1_2) * std::exp(T(-0.5) * z * z);
}

// The value sigma(z) and the derivative sigma'(z) at one point.
template <Activation A, typename T>
inline void value_and_derivative(T z, T& value, T& derivative) {
  if constexpr (A == Activation::relu) {
    value = z > T(0) ? z : T(0);
    derivative = z > T(0) ? T(1) : T(0);
  } else if constexpr (A == Activation::tanh) {
    value = std::tanh(z);
    derivative = T(1) - value * value;
  } else if constexpr (A == Activation::erf) {
    value = std::erf(z);
    derivative = T(M_2_SQRTPI) * std::exp(-z * z);
  } else if constexpr (A == Activation::arctan) {
    value = std::atan(z);
    derivative = T(1) / (T(1) + z * z);
  } else if constexpr (A == Activation::sigmoid) {
    value = sigmoid(z);
    derivative = value * (T(1) - value);
  } else if constexpr (A == Activation::softplus) {
    value = softplus(z);
    derivative = sigmoid(z);
  } else if constexpr (A == Activation::gelu) {
    const T cdf = normal_cdf(z);
    value = z * cdf;
    derivative = cdf + z * normal_pdf(z);
  } else if constexpr (A == Activation::sin) {
    value = std::sin(z);
    derivative = std::cos(z);
  } else {
    value = z;
    derivative = T(1);
  }
}

}  // namespace scalar

// Below this many entries a loop is not worth waking other threads for.
constexpr Index kParallelEntries = 1 << 14;

// Turns pre-activations into activations in place and, when `derivative` is not null,
// writes sigma' of the same pre-activations there: one pass over memory for both.
template <Activation A, typename T>
void activate_inplace(T* values, T* derivative, Index count) {
  if (derivative != nullptr) {
#pragma omp parallel for schedule(static) num_threads(thread_count()) if (count > kParallelEntries)
    for (Index i = 0; i < count; ++i) {
      scalar::value_and_derivative<A>(values[i], values[i], derivative[i]);
    }
  } else {
#pragma omp parallel for schedule(static) num_threads(thread_count()) if (count > kParallelEntries)
    for (Index i = 0; i < count; ++i) {
      T unused;
      scalar::value_and_derivative<A>(values[i], values[i], unused);
    }
  }
}

template <typename T>
void activate_inplace(Activation activation, T* values, T* derivative, Index count) {
  switch (activation) {
    case Activation::relu: return activate_inplace<Activation::relu>(values, derivative, count);
    case Activation::tanh: return activate_inplace<Activation::tanh>(values, derivative, count);
    case Activation::erf: return activate_inplace<Activation::erf>(values, derivative, count);
    case Activation::arctan: return activate_inplace<Activation::arctan>(values, derivative, count);
    case Activation::sigmoid: return activate_inplace<Activation::sigmoid>(values, derivative, count);
    case Activation::softplus: return activate_inplace<Activation::softplus>(values, derivative, count);
    case Activation::gelu: return activate_inplace<Activation::gelu>(values, derivative, count);
    case Activation::sin: return activate_inplace<Activation::sin>(values, derivative, count);
    case Activation::identity: return activate_inplace<Activation::identity>(values, derivative, count);
  }
}

// In-place on a whole row-major matrix (the derivative matrix, if given, has its shape).
template <typename T>
void activate_inplace(Activation activation, RowMatrix<T>& values, RowMatrix<T>* derivative) {
  if (derivative != nullptr) derivative->resize(values.rows(), values.cols());
  activate_inplace<T>(activation, values.data(), derivative ? derivative->data() : nullptr,
                      values.size());
}

}  // namespace widenet
