#include <optional>

#include "common.hpp"
#include "interruptible.hpp"
#include "widenet/limit_kernels.hpp"

namespace widenet::bindings {
namespace {

// Below this many pairs a call runs inline (no hand-over to a pooled thread).
constexpr Index kLongCallPairs = 256;

void check_rule(const VectorRef<double>& nodes, const VectorRef<double>& weights,
                const std::string& names) {
  require(nodes.size() >= 1 && nodes.size() == weights.size(),
          names + ": expected two arrays of one non-zero length");
  require(nodes.allFinite() && weights.allFinite(), names + ": expected finite numbers");
}

RowMatrix<double> kernel(const MatrixRef<double>& X1, const std::optional<MatrixRef<double>>& X2,
                         const std::string& activation, const std::string& parametrization,
                         const std::string& kind, double weight_var, double bias_var,
                         double output_var, double output_bias_var, const std::string& method,
                         const VectorRef<double>& legendre_nodes,
                         const VectorRef<double>& legendre_weights,
                         const VectorRef<double>& mixture_variances,
                         const VectorRef<double>& mixture_weights) {
  const LimitKernel config{architecture(activation, parametrization),
                           parse_limit_kind(kind),
                           parse_limit_method(method),
                           weight_var,
                           bias_var,
                           output_var,
                           output_bias_var};
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
  const Activation a = config.arch.activation;
  if (config.method == LimitMethod::closed_form) {
    require(has_closed_form(a), "method: no closed form for '" + activation + "'");
  }
  if (config.method == LimitMethod::scale_mixture) {
    require(has_scale_mixture(a), "method: no scale mixture for '" + activation + "'");
  }
  check_rule(legendre_nodes, legendre_weights, "legendre_nodes, legendre_weights");
  check_rule(mixture_variances, mixture_weights, "mixture_variances, mixture_weights");
  require((mixture_variances.array() > 0).all(), "mixture_variances: expected positive variances");
  const LimitRules rules{legendre_nodes, legendre_weights, mixture_variances, mixture_weights};
  const MatrixRef<double>* second = X2 ? &*X2 : nullptr;
  const Index pairs = X1.rows() * (X2 ? X2->rows() : X1.rows());
  return run_interruptible([&] { return limit_kernel(config, X1, second, rules); },
                           pairs > kLongCallPairs);
}

}  // namespace

void bind_limit_kernels(py::module_& m) {
  m.def("limit_kernel", &kernel, py::arg("X1").noconvert(), py::arg("X2").noconvert(),
        py::arg("activation"), py::arg("parametrization"), py::arg("kind"), py::arg("weight_var"),
        py::arg("bias_var"), py::arg("output_var"), py::arg("output_bias_var"), py::arg("method"),
        py::arg("legendre_nodes").noconvert(), py::arg("legendre_weights").noconvert(),
        py::arg("mixture_variances").noconvert(), py::arg("mixture_weights").noconvert(),
        "Infinite-width kernel (K_LC, K_NTK or the NNGP covariance) between X1 and X2 "
        "(X2=None: symmetric) in float64, by the closed form, the scale mixture or the graded "
        "quadrature; the Gauss-Legendre rule of the graded panels and the rule of the logistic "
        "mixing law come from widenet.reference.limit_kernels.");
}

}  // namespace widenet::bindings
