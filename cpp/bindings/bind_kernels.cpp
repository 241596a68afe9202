#include <limits>
#include <optional>

#include "common.hpp"
#include "interruptible.hpp"
#include "widenet/classic_kernels.hpp"

namespace widenet::bindings {
namespace {

// The hyper-parameters, checked against the compute dtype T too: gamma is used as a T, so a
// gamma below T's smallest normal number (1e-50 in float32) or beyond its range is refused
// rather than silently becoming 0 or inf, and so is a coef0 beyond T's range.
template <typename T>
ClassicKernel classic_kernel(const std::string& kind, double gamma, int degree, double coef0) {
  const ClassicKernel kernel{parse_kernel(kind), gamma, degree, coef0};
  const std::string dtype = sizeof(T) == 4 ? "float32" : "float64";
  require(std::isfinite(gamma) && gamma > 0, "gamma: expected a finite positive number");
  require(T(gamma) >= std::numeric_limits<T>::min() && std::isfinite(T(gamma)),
          "gamma: expected a number within the normal range of " + dtype + " (the inputs' dtype)");
  require(degree >= 1, "degree: expected a positive integer, got " + std::to_string(degree));
  require(std::isfinite(coef0) && std::isfinite(T(coef0)),
          "coef0: expected a finite number within the range of " + dtype);
  return kernel;
}

template <typename T>
struct KernelBinder {
  static RowMatrix<T> gram(const MatrixRef<T>& X1, const std::optional<MatrixRef<T>>& X2,
                           const std::string& kind, double gamma, int degree, double coef0) {
    const ClassicKernel kernel = classic_kernel<T>(kind, gamma, degree, coef0);
    require(X1.rows() >= 1 && X1.cols() >= 1, "X1: expected a non-empty 2-D array");
    if (X2) {
      require(X2->rows() >= 1, "X2: expected at least one row");
      require(X2->cols() == X1.cols(), "X2: expected " + std::to_string(X1.cols()) +
                                           " columns like X1, got " + std::to_string(X2->cols()));
    }
    // inner products, then an elementwise pass of tens of operations per entry
    const double entries = double(X1.rows()) * double(X2 ? X2->rows() : X1.rows());
    return run_interruptible([&] {
      if (!X2) return kernel_gram_symmetric<T>(kernel, X1);
      return kernel_gram<T>(kernel, X1, *X2);
    }, is_long_call(entries * (2.0 * double(X1.cols()) + 20.0)));
  }

  static Vector<T> diagonal(const MatrixRef<T>& X, const std::string& kind, double gamma, int degree,
                            double coef0) {
    const ClassicKernel kernel = classic_kernel<T>(kind, gamma, degree, coef0);
    require(X.rows() >= 1 && X.cols() >= 1, "X: expected a non-empty 2-D array");
    return run_interruptible([&] { return kernel_diagonal<T>(kernel, X); },
                             is_long_call(2.0 * double(X.rows()) * double(X.cols())));
  }

  static void bind(py::module_& m) {
    m.def("kernel_gram", &gram, py::arg("X1").noconvert(), py::arg("X2").noconvert(),
          py::arg("kind"), py::arg("gamma"), py::arg("degree"), py::arg("coef0"),
          "Gram matrix K(X1, X2) of a classic kernel (linear, polynomial, rbf, laplace); "
          "X2=None computes the symmetric K(X1, X1).");
    m.def("kernel_diag", &diagonal, py::arg("X").noconvert(), py::arg("kind"), py::arg("gamma"),
          py::arg("degree"), py::arg("coef0"), "The diagonal K(x_k, x_k) of a classic kernel.");
  }
};

}  // namespace

void bind_kernels(py::module_& m) {
  bind_both_dtypes<KernelBinder>(m);
  m.attr("KERNELS") = names_tuple(kKernelKinds);
}

}  // namespace widenet::bindings
