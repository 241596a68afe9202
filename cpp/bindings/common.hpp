// Included first by every binding file: pybind11, the kernels, and the argument checks
// that stand in for Eigen's asserts (compiled out in release builds).
#pragma once

#include <pybind11/eigen.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstddef>
#include <stdexcept>
#include <string>

#include "widenet/names.hpp"
#include "widenet/shallow_network.hpp"
#include "widenet/types.hpp"

namespace py = pybind11;

namespace widenet::bindings {

template <typename T>
using CArray = py::array_t<T, py::array::c_style>;

inline std::string shape_text(Index rows, Index cols) {
  return "(" + std::to_string(rows) + ", " + std::to_string(cols) + ")";
}

// "(2, 3)" or "(3,)": the shape of any array, for messages.
inline std::string array_shape(const py::array& a) {
  std::string out = "(";
  for (py::ssize_t k = 0; k < a.ndim(); ++k) out += (k ? ", " : "") + std::to_string(a.shape(k));
  return out + (a.ndim() == 1 ? ",)" : ")");
}

inline void require(bool condition, const std::string& message) {
  if (!condition) throw std::invalid_argument(message);
}

// U is n x d with n >= 1, b and v have length n.
// `suffix` tells the parameters apart from the initial ones (U0, b0, v0).
template <typename T>
void check_params(const MatrixRef<T>& U, const VectorRef<T>& b, const VectorRef<T>& v,
                  const std::string& suffix = "") {
  require(U.rows() >= 1 && U.cols() >= 1, "U" + suffix +
                                              ": expected a non-empty (width, input_dim) matrix, got " +
                                              shape_text(U.rows(), U.cols()));
  require(b.size() == U.rows(), "b" + suffix + ": expected length " + std::to_string(U.rows()) +
                                    " (the width), got " + std::to_string(b.size()));
  require(v.size() == U.rows(), "v" + suffix + ": expected length " + std::to_string(U.rows()) +
                                    " (the width), got " + std::to_string(v.size()));
}

template <typename T>
void check_inputs(const MatrixRef<T>& X, Index input_dim, const char* name = "X") {
  require(X.rows() >= 1, std::string(name) + ": expected at least one row, got 0");
  require(X.cols() == input_dim, std::string(name) + ": expected " + std::to_string(input_dim) +
                                     " columns (the input dimension), got " +
                                     std::to_string(X.cols()));
}

// `meaning` says what the expected length is, e.g. "one target per row of X".
template <typename T>
void check_length(const VectorRef<T>& x, Index length, const std::string& name,
                  const std::string& meaning) {
  require(x.size() == length, name + ": expected length " + std::to_string(length) + " (" +
                                  meaning + "), got " + std::to_string(x.size()));
}

template <typename T>
void check_targets(const VectorRef<T>& y, Index rows) {
  check_length<T>(y, rows, "y", "one target per row of X");
}

// `a` (an array of dtype T, C-contiguous) as a vector of `length`, a view.
template <typename T>
Eigen::Map<const Vector<T>> vector_view(const CArray<T>& a, Index length, const std::string& name,
                                        const std::string& meaning) {
  require(a.ndim() == 1, name + ": expected shape (" + std::to_string(length) + ",) (" + meaning +
                             "), got " + array_shape(a));
  require(a.shape(0) == length, name + ": expected length " + std::to_string(length) + " (" +
                                    meaning + "), got " + std::to_string(a.shape(0)));
  return Eigen::Map<const Vector<T>>(a.data(), length);
}

// `a` (an array of dtype T, C-contiguous) as a rows x cols matrix, a view.
template <typename T>
Eigen::Map<const RowMatrix<T>> matrix_view(const CArray<T>& a, Index rows, Index cols,
                                           const std::string& name, const std::string& meaning) {
  const bool fits = a.ndim() == 2 && a.shape(0) == rows && a.shape(1) == cols;
  require(fits, name + ": expected shape " + shape_text(rows, cols) + " (" + meaning + "), got " +
                    array_shape(a));
  return Eigen::Map<const RowMatrix<T>>(a.data(), rows, cols);
}

inline Architecture architecture(const std::string& activation, const std::string& parametrization) {
  return Architecture{parse_activation(activation), parse_parametrization(parametrization)};
}

// The names of an option's table (names.hpp) as a Python tuple, in the table's order.
template <typename E, std::size_t N>
py::tuple names_tuple(const Named<E> (&table)[N]) {
  py::tuple out(N);
  for (std::size_t i = 0; i < N; ++i) out[i] = py::str(table[i].name);
  return out;
}

// Registers `bind<T>` for float64 first, then float32: with .noconvert() arguments the
// dtype of the arrays picks the overload and nothing is silently cast.
template <template <typename> class Binder>
void bind_both_dtypes(py::module_& m) {
  Binder<double>::bind(m);
  Binder<float>::bind(m);
}

}  // namespace widenet::bindings
