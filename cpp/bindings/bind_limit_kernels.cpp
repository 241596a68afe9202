#include <array>
#include <cmath>
#include <iterator>
#include <optional>

#include "common.hpp"
#include "interruptible.hpp"
#include "widenet/limit_deep.hpp"
#include "widenet/limit_kernels.hpp"

namespace widenet::bindings {
namespace {

// Below this many pairs a call runs inline (no hand-over to a pooled thread).
constexpr Index kLongCallPairs = 256;

// The configuration of one layer's kernel, checked against the inputs, the method and the order.
LimitKernel checked_config(const MatrixRef<double>& X1, const std::optional<MatrixRef<double>>& X2,
                           const std::string& activation, const std::string& parametrization,
                           const std::string& kind, const std::array<double, 4>& variances,
                           const std::string& method, Index order) {
  const auto [weight_var, bias_var, output_var, output_bias_var] = variances;
  const LimitKernel config{architecture(activation, parametrization),
                           parse_limit_kind(kind),
                           parse_limit_method(method),
                           weight_var,
                           bias_var,
                           output_var,
                           output_bias_var};
  for (const double variance : variances) {
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
  if (config.method == LimitMethod::expansion) {
    require(has_expansion(a), "method: no expansion for '" + activation + "'");
  }
  require(order >= 2 && order <= kLimitMaxOrder,
          "order: expected an integer from 2 to " + std::to_string(kLimitMaxOrder) + ", got " +
              std::to_string(order));
  return config;
}

RowMatrix<double> kernel(const MatrixRef<double>& X1, const std::optional<MatrixRef<double>>& X2,
                         const std::string& activation, const std::string& parametrization,
                         const std::string& kind, const std::array<double, 4>& variances,
                         const std::string& method, Index order) {
  const LimitKernel config =
      checked_config(X1, X2, activation, parametrization, kind, variances, method, order);
  const LimitRules rules = limit_rules(order);
  const MatrixRef<double>* second = X2 ? &*X2 : nullptr;
  const Index pairs = X1.rows() * (X2 ? X2->rows() : X1.rows());
  return run_interruptible([&] { return limit_kernel(config, X1, second, rules); },
                           pairs > kLongCallPairs);
}

// The NNGP and the tangent kernel of the same pairs, from one pass.
py::tuple kernel_pair(const MatrixRef<double>& X1, const std::optional<MatrixRef<double>>& X2,
                      const std::string& activation, const std::string& parametrization,
                      const std::array<double, 4>& variances, const std::string& method, Index order) {
  const LimitKernel config =
      checked_config(X1, X2, activation, parametrization, "ntk", variances, method, order);
  const LimitRules rules = limit_rules(order);
  const MatrixRef<double>* second = X2 ? &*X2 : nullptr;
  const Index pairs = X1.rows() * (X2 ? X2->rows() : X1.rows());
  RowMatrix<double> nngp;
  RowMatrix<double> ntk = run_interruptible([&] { return limit_kernel(config, X1, second, rules, &nngp); },
                                            pairs > kLongCallPairs);
  return py::make_tuple(std::move(nngp), std::move(ntk));
}

// The infinite-width network of a deep kernel: its architecture beyond one layer's kernel.
struct LimitNetwork {
  std::string activation, parametrization;
  Index depth;
  bool bias, multipliers;
};

RowMatrix<double> deep_kernel(const MatrixRef<double>& X1, const std::optional<MatrixRef<double>>& X2,
                              const LimitNetwork& net, const std::string& kind,
                              const std::array<double, 4>& variances, const std::string& method,
                              Index order) {
  const LimitKernel layer =
      checked_config(X1, X2, net.activation, net.parametrization, kind, variances, method, order);
  const DeepLimitKernel config{layer, net.depth, net.bias, net.multipliers};
  const LimitRules rules = limit_rules(order);
  const MatrixRef<double>* second = X2 ? &*X2 : nullptr;
  const Index pairs = X1.rows() * (X2 ? X2->rows() : X1.rows()) * net.depth;
  return run_interruptible([&] { return deep_limit_kernel(config, X1, second, rules); },
                           pairs > kLongCallPairs);
}

py::tuple deep_kernel_pair(const MatrixRef<double>& X1, const std::optional<MatrixRef<double>>& X2,
                           const LimitNetwork& net, const std::array<double, 4>& variances,
                           const std::string& method, Index order) {
  const LimitKernel layer =
      checked_config(X1, X2, net.activation, net.parametrization, "ntk", variances, method, order);
  const DeepLimitKernel config{layer, net.depth, net.bias, net.multipliers};
  const LimitRules rules = limit_rules(order);
  const MatrixRef<double>* second = X2 ? &*X2 : nullptr;
  const Index pairs = X1.rows() * (X2 ? X2->rows() : X1.rows()) * net.depth;
  RowMatrix<double> nngp;
  RowMatrix<double> ntk = run_interruptible([&] { return deep_limit_kernel(config, X1, second, rules, &nngp); },
                                            pairs > kLongCallPairs);
  return py::make_tuple(std::move(nngp), std::move(ntk));
}

py::tuple activation_names(const Activation* begin, const Activation* end) {
  py::tuple out(end - begin);
  for (const Activation* a = begin; a != end; ++a) {
    out[a - begin] = py::str(name_of(kActivations, *a));
  }
  return out;
}

py::tuple rule_arrays(const GaussRule& rule) {
  return py::make_tuple(Vector<double>(rule.nodes), Vector<double>(rule.weights));
}

}  // namespace

void bind_limit_kernels(py::module_& m) {
  m.def("limit_kernel", &kernel, py::arg("X1").noconvert(), py::arg("X2").noconvert(),
        py::arg("activation"), py::arg("parametrization"), py::arg("kind"), py::arg("variances"),
        py::arg("method"), py::arg("order") = kLimitOrder,
        "Infinite-width kernel (K_LC, K_NTK or the NNGP covariance) between X1 and X2 "
        "(X2=None: symmetric) in float64 for the initial variances (weight_var, bias_var, "
        "output_var, output_bias_var), by the closed form, the scale mixture, the graded "
        "quadrature or the Hermite expansion; the quadrature's panels (and arctan's) take `order` Gauss-Legendre nodes.");
  py::class_<LimitNetwork>(m, "LimitNetwork",
                           "The infinite-width network of a deep limit kernel: activation, "
                           "parametrization, depth (hidden layers), biases, multipliers.")
      .def(py::init([](const std::string& activation, const std::string& parametrization, Index depth,
                       bool bias, bool multipliers) {
             parse_activation(activation);
             const Parametrization p = parse_parametrization(parametrization);
             require(depth >= 1, "depth: expected an integer >= 1, got " + std::to_string(depth));
             require(!multipliers || p == Parametrization::ntk,
                     "multipliers: expected False under parametrization='lecun'");
             return LimitNetwork{activation, parametrization, depth, bias, multipliers};
           }),
           py::arg("activation"), py::arg("parametrization"), py::arg("depth") = 1,
           py::arg("bias") = true, py::arg("multipliers") = false)
      .def_readonly("activation", &LimitNetwork::activation)
      .def_readonly("parametrization", &LimitNetwork::parametrization)
      .def_readonly("depth", &LimitNetwork::depth)
      .def_readonly("bias", &LimitNetwork::bias)
      .def_readonly("multipliers", &LimitNetwork::multipliers);
  m.def("limit_kernel", &deep_kernel, py::arg("X1").noconvert(), py::arg("X2").noconvert(),
        py::arg("network"), py::arg("kind"), py::arg("variances"), py::arg("method"),
        py::arg("order") = kLimitOrder,
        "Infinite-width kernel of a network of any depth (the layer recursions of the NNGP and "
        "the tangent kernel; LeCun: the tangent kernel divided by the width).");
  m.def("limit_kernel_pair", &kernel_pair, py::arg("X1").noconvert(), py::arg("X2").noconvert(),
        py::arg("activation"), py::arg("parametrization"), py::arg("variances"), py::arg("method"),
        py::arg("order") = kLimitOrder,
        "(nngp, ntk): the NNGP covariance and the tangent kernel (K_LC or K_NTK) of limit_kernel between X1 "
        "and X2 from one pass over the pairs (each pair's expectations computed once).");
  m.def("limit_kernel_pair", &deep_kernel_pair, py::arg("X1").noconvert(), py::arg("X2").noconvert(),
        py::arg("network"), py::arg("variances"), py::arg("method"), py::arg("order") = kLimitOrder,
        "(nngp, ntk) of a network of any depth from one pass of the layer recursions.");
  m.def("gauss_legendre", [](Index order) { return rule_arrays(gauss_legendre(order)); },
        py::arg("order"),
        "(nodes, weights) of the Gauss-Legendre rule of `order` nodes on [-1, 1] that the limit "
        "kernels use (1 <= order <= LIMIT_MAX_ORDER).");
  m.def("logistic_mixing_rule", [] { return rule_arrays(logistic_mixing_rule()); },
        "(variances, weights) of the Gauss rule of the logistic mixing law that the scale "
        "mixtures of tanh, sigmoid and softplus use (LOGISTIC_NODES nodes).");
  m.def("limit_point_floats",
        [](const std::string& activation, const std::string& method, double largest, Index order) {
          return limit_point_floats(parse_activation(activation), parse_limit_method(method),
                                    largest, order);
        },
        py::arg("activation"), py::arg("method"), py::arg("largest"), py::arg("order"),
        "Floats of each point's table in limit_kernel, at most, for points of pre-activation "
        "variances up to `largest`.");
  m.attr("LIMIT_KINDS") = names_tuple(kLimitKinds);
  m.attr("LIMIT_METHODS") = names_tuple(kLimitMethods);
  m.attr("CLOSED_FORMS") = activation_names(std::begin(kClosedForms), std::end(kClosedForms));
  m.attr("SCALE_MIXTURES") = activation_names(std::begin(kScaleMixtures), std::end(kScaleMixtures));
  m.attr("EXPANSIONS") = activation_names(std::begin(kExpansions), std::end(kExpansions));
  py::dict max_variance;
  for (const auto& entry : kActivations) {
    const double limit = quadrature_max_variance(entry.value);
    if (std::isfinite(limit)) max_variance[py::str(entry.name)] = limit;
  }
  m.attr("QUADRATURE_MAX_VARIANCE") = max_variance;
  py::dict auto_methods;
  for (const auto& entry : kActivations) {
    auto_methods[py::str(entry.name)] = py::str(name_of(kLimitMethods, auto_limit_method(entry.value)));
  }
  m.attr("LIMIT_AUTO_METHODS") = auto_methods;
  m.attr("LIMIT_TOLERANCE") = kLimitTolerance;
  m.attr("LIMIT_ORDER") = kLimitOrder;
  m.attr("LIMIT_MAX_ORDER") = kLimitMaxOrder;
  m.attr("LOGISTIC_NODES") = kLogisticNodes;
  m.attr("EXPANSION_TOLERANCE") = limit::kExpansionTolerance;
  m.attr("EXPANSION_DEGREE") = limit::kExpansionDegree;
}

}  // namespace widenet::bindings
