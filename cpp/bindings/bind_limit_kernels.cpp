#include <optional>

#include "common.hpp"
#include "widenet/limit_kernels.hpp"

namespace widenet::bindings {
namespace {

template <typename T>
struct LimitBinder {
  static RowMatrix<T> kernel(const MatrixRef<T>& X1, const std::optional<MatrixRef<T>>& X2,
                             const std::string& activation, const std::string& parametrization,
                             const std::string& kind, double weight_var, double bias_var,
                             double output_var, double output_bias_var,
                             const std::optional<VectorRef<T>>& nodes,
                             const std::optional<VectorRef<T>>& weights,
                             const std::optional<VectorRef<T>>& legendre_nodes,
                             const std::optional<VectorRef<T>>& legendre_weights,
                             double half_width) {
    const LimitKernel config{architecture(activation, parametrization), parse_limit_kind(kind),
                             weight_var, bias_var, output_var, output_bias_var};
    for (const double variance : {weight_var, bias_var, output_var, output_bias_var}) {
      require(std::isfinite(variance) && variance >= 0,
              "variances: expected finite non-negative numbers");
    }
    require(X1.rows() >= 1 && X1.cols() >= 1, "X1: expected a non-empty 2-D array");
    if (X2) {
      require(X2->rows() >= 1, "X2: expected at least one row");
      require(X2->cols() == X1.cols(), "X2: expected " + std::to_string(X1.cols()) +
                                           " columns like X1, got " + std::to_string(X2->cols()));
    }
    require(nodes.has_value() == weights.has_value(),
            "nodes, weights: give both (a quadrature rule) or neither (the closed form)");
    GaussianRule<T> rule;
    if (nodes) {
      require(nodes->size() >= 1 && nodes->size() == weights->size(),
              "weights: expected one weight per node");
      require(legendre_nodes && legendre_weights && legendre_nodes->size() >= 1 &&
                  legendre_nodes->size() == legendre_weights->size(),
              "legendre_nodes, legendre_weights: expected the Gauss-Legendre rule of the quadrature");
      require(std::isfinite(half_width) && half_width > 0, "half_width: expected a positive number");
      rule.nodes = *nodes;
      rule.weights = *weights;
      rule.legendre_nodes = *legendre_nodes;
      rule.legendre_weights = *legendre_weights;
      rule.half_width = T(half_width);
    } else {
      require(has_closed_form(config.arch.activation),
              "activation: no closed form for '" + activation + "'; use a quadrature rule");
    }
    py::gil_scoped_release release;
    const MatrixRef<T>* second = X2 ? &*X2 : nullptr;
    return limit_kernel<T>(config, X1, second, rule);
  }

  static void bind(py::module_& m) {
    m.def("limit_kernel", &kernel, py::arg("X1").noconvert(), py::arg("X2").noconvert(),
          py::arg("activation"), py::arg("parametrization"), py::arg("kind"),
          py::arg("weight_var"), py::arg("bias_var"), py::arg("output_var"),
          py::arg("output_bias_var"), py::arg("nodes").noconvert() = py::none(),
          py::arg("weights").noconvert() = py::none(),
          py::arg("legendre_nodes").noconvert() = py::none(),
          py::arg("legendre_weights").noconvert() = py::none(), py::arg("half_width") = 8.0,
          "Infinite-width kernel (K_LC, K_NTK or the NNGP covariance) between X1 and X2 "
          "(X2=None: symmetric), by the closed form or by the given 1-D Gaussian rule used "
          "as a tensor rule.");
  }
};

}  // namespace

void bind_limit_kernels(py::module_& m) { bind_both_dtypes<LimitBinder>(m); }

}  // namespace widenet::bindings
