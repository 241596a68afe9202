#include <cmath>
#include <optional>
#include <string>

#include "common.hpp"
#include "deep_network.hpp"
#include "interruptible.hpp"
#include "records.hpp"
#include "widenet/deep_gram.hpp"
#include "widenet/deep_network.hpp"
#include "widenet/deep_training.hpp"

namespace widenet::bindings {
namespace {

std::string layer_name(std::size_t l, std::size_t depth) {
  return l == depth ? "layers[-1] (the readout)" : "layers[" + std::to_string(l) + "]";
}

// The dtype of the first weight matrix, which every other array must share.
bool single_precision(const py::sequence& layers) {
  require(py::len(layers) >= 2, "layers: expected at least one hidden layer and the readout");
  const py::object first = py::reinterpret_borrow<py::sequence>(layers[0])[0];
  if (py::isinstance<CArray<float>>(first)) return true;
  if (py::isinstance<CArray<double>>(first)) return false;
  throw py::type_error("layers[0]: expected a C-contiguous float64 or float32 weight matrix");
}

// `a` as an array of the network's dtype with the given shape ({} for a scalar).
template <typename T>
py::array checked_array(const py::handle& a, const std::vector<Index>& shape,
                        const std::string& name) {
  if (!py::isinstance<CArray<T>>(a)) {
    throw py::type_error(name + ": expected a C-contiguous " + std::string(dtype_name<T>()) +
                         " array (the network's dtype)");
  }
  const py::array array = py::reinterpret_borrow<py::array>(a);
  bool same = array.ndim() == py::ssize_t(shape.size());
  for (std::size_t k = 0; same && k < shape.size(); ++k) same = array.shape(py::ssize_t(k)) == shape[k];
  std::string expected = "(";
  for (std::size_t k = 0; k < shape.size(); ++k) expected += (k ? ", " : "") + std::to_string(shape[k]);
  expected += shape.size() == 1 ? ",)" : ")";
  require(same, name + ": expected shape " + expected + ", got " + array_shape(array));
  return array;
}

py::array read_only(const py::array& a) {
  py::array view = a.attr("view")();
  view.attr("setflags")(py::arg("write") = false);
  return view;
}

// The layer shapes and the biases' presence, read from the weights.
struct LayerShapes {
  Index input_dim;
  std::vector<Index> widths;
  bool bias;
};

LayerShapes layer_shapes(const py::sequence& layers) {
  const std::size_t depth = py::len(layers) - 1;
  LayerShapes shapes{0, {}, false};
  std::size_t with_bias = 0;
  for (std::size_t l = 0; l <= depth; ++l) {
    const py::sequence layer = py::reinterpret_borrow<py::sequence>(layers[l]);
    require(py::len(layer) == 2, layer_name(l, depth) + ": expected a pair (weights, bias or None)");
    const py::array W = py::reinterpret_borrow<py::array>(layer[0]);
    if (l < depth) {
      require(W.ndim() == 2 && W.shape(0) >= 1 && W.shape(1) >= 1,
              layer_name(l, depth) + ": expected a non-empty weight matrix, got " + array_shape(W));
      if (l == 0) shapes.input_dim = W.shape(1);
      shapes.widths.push_back(W.shape(0));
    }
    with_bias += layer[1].is_none() ? 0 : 1;
  }
  require(with_bias == 0 || with_bias == depth + 1,
          "layers: expected a bias in every layer or in none, got " + std::to_string(with_bias) +
              " of " + std::to_string(depth + 1));
  shapes.bias = with_bias > 0;
  return shapes;
}

}  // namespace

DeepNetwork::DeepNetwork(const py::sequence& layers, const std::string& activation,
                         const py::sequence& scales)
    : activation_(activation) {
  single_ = single_precision(layers);
  const LayerShapes shapes = layer_shapes(layers);
  input_dim_ = shapes.input_dim;
  widths_ = shapes.widths;
  const std::size_t depth = widths_.size();
  require(py::len(scales) == depth + 1, "scales: expected " + std::to_string(depth + 1) +
                                            " pairs (m, beta), one per layer, got " +
                                            std::to_string(py::len(scales)));
  arch_ = DeepArchitecture{parse_activation(activation), {}, shapes.bias};
  for (std::size_t l = 0; l <= depth; ++l) {
    const auto pair = py::cast<std::pair<double, double>>(scales[l]);
    require(std::isfinite(pair.first) && pair.first > 0 && std::isfinite(pair.second) &&
                pair.second >= 0,
            "scales[" + std::to_string(l) + "]: expected a finite m > 0 and beta >= 0");
    arch_.scales.push_back(pair);
  }
  const auto take = [&](auto tag) {
    using T = decltype(tag);
    for (std::size_t l = 0; l <= depth; ++l) {
      const py::sequence layer = py::reinterpret_borrow<py::sequence>(layers[l]);
      const std::string name = layer_name(l, depth);
      if (l < depth) {
        const Index fan_in = l == 0 ? input_dim_ : widths_[l - 1];
        weights_.push_back(read_only(checked_array<T>(layer[0], {widths_[l], fan_in}, name + " weights")));
        if (arch_.bias) biases_.push_back(read_only(checked_array<T>(layer[1], {widths_[l]}, name + " bias")));
      } else {
        v_ = read_only(checked_array<T>(layer[0], {widths_.back()}, name + " weights"));
        if (arch_.bias) c_ = py::cast<double>(layer[1]);
      }
    }
  };
  if (single_) {
    take(float{});
  } else {
    take(double{});
  }
}

template <typename T>
DeepParams<T> DeepNetwork::checked_layers(const py::sequence& layers, const std::string& name) const {
  const std::size_t depth = widths_.size();
  require(py::len(layers) == depth + 1, name + ": expected " + std::to_string(depth + 1) +
                                            " layers like the network's, got " +
                                            std::to_string(py::len(layers)));
  DeepParams<T> out;
  for (std::size_t l = 0; l <= depth; ++l) {
    const py::sequence layer = py::reinterpret_borrow<py::sequence>(layers[l]);
    const std::string label = name + "[" + std::to_string(l) + "]";
    require(py::len(layer) == 2, label + ": expected a pair (weights, bias or None)");
    require(layer[1].is_none() != arch_.bias,
            label + (arch_.bias ? ": expected a bias, as the network has" : ": expected None (the network has no biases)"));
    if (l < depth) {
      const Index fan_in = l == 0 ? input_dim_ : widths_[l - 1];
      out.W.push_back(py::cast<RowMatrix<T>>(checked_array<T>(layer[0], {widths_[l], fan_in}, label)));
      if (arch_.bias) out.b.push_back(py::cast<Vector<T>>(checked_array<T>(layer[1], {widths_[l]}, label)));
    } else {
      out.v = py::cast<Vector<T>>(checked_array<T>(layer[0], {widths_.back()}, label));
      out.c = arch_.bias ? py::cast<T>(layer[1]) : T(0);
    }
  }
  return out;
}

Index DeepNetwork::num_params() const {
  Index total = widths_.back() + (arch_.bias ? 1 : 0);
  for (std::size_t l = 0; l < widths_.size(); ++l) {
    const Index fan_in = l == 0 ? input_dim_ : widths_[l - 1];
    total += widths_[l] * (fan_in + (arch_.bias ? 1 : 0));
  }
  return total;
}

py::tuple DeepNetwork::layers() const {
  py::list out;
  for (std::size_t l = 0; l < weights_.size(); ++l) {
    out.append(py::make_tuple(weights_[l], arch_.bias ? py::object(biases_[l]) : py::object(py::none())));
  }
  out.append(py::make_tuple(v_, arch_.bias ? py::object(py::float_(c_)) : py::object(py::none())));
  return py::tuple(out);
}

py::tuple DeepNetwork::scales() const {
  py::list out;
  for (const auto& [m, beta] : arch_.scales) out.append(py::make_tuple(m, beta));
  return py::tuple(out);
}

namespace {

template <typename T>
struct DeepBinder {
  using Matrix = MatrixRef<T>;
  using Vec = VectorRef<T>;

  static Vector<T> forward(const DeepNetwork& net, const Matrix& X) {
    const DeepView<T> w = net.params_for<T>("X");
    check_inputs<T>(X, net.input_dim());
    return run_interruptible([&] { return deep_forward<T>(net.arch(), w, X); },
                             is_long_call(deep_pass_work(net, X.rows())));
  }

  static RowMatrix<T> jacobian(const DeepNetwork& net, const Matrix& X) {
    const DeepView<T> w = net.params_for<T>("X");
    check_inputs<T>(X, net.input_dim());
    return run_interruptible([&] { return deep_jacobian<T>(net.arch(), w, X); },
                             is_long_call(deep_pass_work(net, X.rows()) + double(X.rows() * net.num_params())));
  }

  static RowMatrix<T> ntk_gram(const DeepNetwork& net, const Matrix& X1, const std::optional<Matrix>& X2) {
    const DeepView<T> w = net.params_for<T>("X1");
    check_inputs<T>(X1, net.input_dim(), "X1");
    if (X2) check_inputs<T>(*X2, net.input_dim(), "X2");
    const Index m2 = X2 ? X2->rows() : X1.rows();
    double products = 0;
    Index fan_in = net.input_dim();
    for (const Index width : net.widths()) {
      products += 2.0 * double(X1.rows()) * double(m2) * double(fan_in + width);
      fan_in = width;
    }
    return run_interruptible([&] {
      if (!X2) return deep_tangent_gram_symmetric<T>(net.arch(), w, X1);
      return deep_tangent_gram<T>(net.arch(), w, X1, *X2);
    }, is_long_call(products + deep_pass_work(net, X1.rows() + m2)));
  }

  static RowMatrix<T> feature_gram(const DeepNetwork& net, const Matrix& X1, const std::optional<Matrix>& X2) {
    const DeepView<T> w = net.params_for<T>("X1");
    check_inputs<T>(X1, net.input_dim(), "X1");
    if (X2) check_inputs<T>(*X2, net.input_dim(), "X2");
    const Index m2 = X2 ? X2->rows() : X1.rows();
    const double products = 2.0 * double(X1.rows()) * double(m2) * double(net.widths().back());
    return run_interruptible([&] {
      return deep_feature_gram<T>(net.arch(), w, X1, X2 ? &*X2 : nullptr);
    }, is_long_call(products + deep_pass_work(net, X1.rows() + m2)));
  }

  static Vector<T> ntk_diag(const DeepNetwork& net, const Matrix& X) {
    const DeepView<T> w = net.params_for<T>("X");
    check_inputs<T>(X, net.input_dim());
    return run_interruptible([&] { return deep_tangent_gram_diagonal<T>(net.arch(), w, X); },
                             is_long_call(deep_pass_work(net, X.rows())));
  }

  static py::tuple loss_grad(const DeepNetwork& net, const Matrix& X, const Vec& y, T loss_scale) {
    const DeepView<T> w = net.params_for<T>("X");
    check_inputs<T>(X, net.input_dim());
    check_targets<T>(y, X.rows());
    DeepLossGradient<T> result = run_interruptible(
        [&] { return deep_loss_gradient<T>(net.arch(), w, X, y, loss_scale); },
        is_long_call(1.5 * deep_pass_work(net, X.rows())));
    return py::make_tuple(result.loss, deep_layers_of(std::move(result.grad), net.bias()));
  }

  static Vector<T> jvp(const DeepNetwork& net, const Matrix& X, const py::sequence& tangent) {
    const DeepView<T> w = net.params_for<T>("X");
    check_inputs<T>(X, net.input_dim());
    const DeepParams<T> delta = net.checked_layers<T>(tangent, "tangent");
    return run_interruptible([&] { return deep_jvp<T>(net.arch(), w, delta, X); },
                             is_long_call(1.5 * deep_pass_work(net, X.rows())));
  }

  static py::list vjp(const DeepNetwork& net, const Matrix& X, const Vec& r) {
    const DeepView<T> w = net.params_for<T>("X");
    check_inputs<T>(X, net.input_dim());
    check_length<T>(r, X.rows(), "r", "one weight per row of X");
    DeepParams<T> grad = run_interruptible([&] { return deep_vjp<T>(net.arch(), w, X, r); },
                                           is_long_call(1.5 * deep_pass_work(net, X.rows())));
    return deep_layers_of(std::move(grad), net.bias());
  }

  static py::dict train(const DeepNetwork& net, const DeepNetwork& initial, const Matrix& X, const Vec& y,
                        const TrainingOptions& options, const std::optional<Matrix>& X_test) {
    DeepParams<T> w = owned_params(net.params_for<T>("X"));
    require(initial.input_dim() == net.input_dim() && initial.widths() == net.widths() &&
                initial.bias() == net.bias(),
            "initial: expected a network of the shape of net");
    const DeepParams<T> start = owned_params(initial.params_for<T>("initial"));
    check_training_data<T>(X, y, X_test, net.input_dim());
    const TrainingSchedule& schedule = options.schedule;
    const std::vector<Index> recorded = schedule.recorded_steps();
    const Index records = Index(recorded.size());
    RecordArrays<T> arrays({}, records, X_test ? std::optional<Index>(X_test->rows()) : std::nullopt);
    const TrainingRecord<T> record = arrays.member(0, records);
    const double steps = double(schedule.steps) + 1.0;  // in double: steps + 1 may overflow an Index
    const RunEnd end = run_interruptible(
        [&] { return train_deep_network<T>(net.arch(), w, start, X, y, schedule, X_test, record, options.rule); },
        is_long_call(1.5 * deep_pass_work(net, X.rows()) * steps));
    py::dict out;
    out["layers"] = deep_layers_of(std::move(w), net.bias());
    const std::vector<Index> done = steps_done(recorded, end);
    out["steps"] = py::array_t<Index>(py::ssize_t(done.size()), done.data());
    out["stopped_at"] = end.stopped_at;
    arrays.into(out, end.rows);
    return out;
  }

  static void bind(py::module_& m) {
    m.def("train", &train, py::arg("net"), py::arg("initial"), py::arg("X").noconvert(),
          py::arg("y").noconvert(), py::arg("options"), py::arg("X_test").noconvert() = py::none(),
          "Gradient descent of a deep network from its parameters; distances from those of initial. "
          "The records and the divergence rule of the one-hidden-layer train.");
    m.def("forward", &forward, py::arg("net"), py::arg("X").noconvert(),
          "Deep network outputs Phi(X).");
    m.def("jacobian", &jacobian, py::arg("net"), py::arg("X").noconvert(),
          "The m x P Jacobian of a deep network, columns per layer: W row-major, then b; v, c last.");
    m.def("ntk_gram", &ntk_gram, py::arg("net"), py::arg("X1").noconvert(),
          py::arg("X2").noconvert() = py::none(),
          "The empirical tangent kernel of a deep network, layer by layer (X2=None: symmetric).");
    m.def("feature_gram", &feature_gram, py::arg("net"), py::arg("X1").noconvert(),
          py::arg("X2").noconvert() = py::none(),
          "m_out^2 A1 A2^T, the Gram of the readout's features (X2=None: symmetric).");
    m.def("ntk_diag", &ntk_diag, py::arg("net"), py::arg("X").noconvert(),
          "The diagonal K(x_k, x_k) of a deep network's tangent kernel.");
    m.def("loss_grad", &loss_grad, py::arg("net"), py::arg("X").noconvert(),
          py::arg("y").noconvert(), py::arg("loss_scale"),
          "(loss, gradient layers) of loss_scale * |Phi(X) - y|^2 for a deep network.");
    m.def("jvp", &jvp, py::arg("net"), py::arg("X").noconvert(), py::arg("tangent"),
          "J(X) tangent for a direction in the layout of net.layers (deep network).");
    m.def("vjp", &vjp, py::arg("net"), py::arg("X").noconvert(), py::arg("r").noconvert(),
          "J(X)^T r in the layout of net.layers (deep network).");
  }
};

}  // namespace

void bind_deep_network(py::module_& m) {
  py::class_<DeepNetwork>(
      m, "DeepNetwork",
      "A fully-connected network of any depth: its layers ((W^1, b^1), ..., (v, c)), held by "
      "reference and read-only, the activation and each layer's scales (m, beta).")
      .def(py::init<const py::sequence&, const std::string&, const py::sequence&>(),
           py::arg("layers"), py::arg("activation"), py::arg("scales"))
      .def_property_readonly("layers", &DeepNetwork::layers)
      .def_property_readonly("scales", &DeepNetwork::scales)
      .def_property_readonly("activation", &DeepNetwork::activation)
      .def_property_readonly("dtype", [](const DeepNetwork& net) { return py::dtype(net.dtype()); })
      .def_property_readonly("depth", &DeepNetwork::depth)
      .def_property_readonly("input_dim", &DeepNetwork::input_dim)
      .def_property_readonly("widths", [](const DeepNetwork& net) { return py::tuple(py::cast(net.widths())); })
      .def_property_readonly("bias", &DeepNetwork::bias)
      .def_property_readonly("num_params", &DeepNetwork::num_params)
      .def("__repr__", [](const DeepNetwork& net) {
        std::string widths;
        for (const Index width : net.widths()) widths += (widths.empty() ? "" : ", ") + std::to_string(width);
        return "DeepNetwork(input_dim=" + std::to_string(net.input_dim()) + ", widths=[" + widths +
               "], activation='" + net.activation() + "', bias=" + (net.bias() ? "True" : "False") +
               ", dtype=" + net.dtype() + ")";
      });
  bind_both_dtypes<DeepBinder>(m);
}

}  // namespace widenet::bindings
