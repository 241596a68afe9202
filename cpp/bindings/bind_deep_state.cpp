// The compiled DeepNetwork: its layers read and checked (one output or a (k, n_L) readout),
// and parameters in its layout checked by name.
#include <cmath>
#include <string>
#include <vector>

#include "common.hpp"
#include "deep_network.hpp"

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
  Index outputs;  // 0: a readout vector (one output); k: a (k, n_L) readout
};

LayerShapes layer_shapes(const py::sequence& layers) {
  const std::size_t depth = py::len(layers) - 1;
  LayerShapes shapes{0, {}, false, 0};
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
    } else if (W.ndim() == 2) {
      require(W.shape(0) >= 1, layer_name(l, depth) + ": expected a readout of at least one output, got " +
                                   array_shape(W));
      shapes.outputs = W.shape(0);
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
  several_ = shapes.outputs > 0;
  outputs_ = several_ ? shapes.outputs : 1;
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
      } else if (several_) {
        v_ = read_only(checked_array<T>(layer[0], {outputs_, widths_.back()}, name + " weights"));
        if (arch_.bias) c_array_ = read_only(checked_array<T>(layer[1], {outputs_}, name + " bias"));
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
DeepParams<T> DeepNetwork::checked_hidden(const py::sequence& layers, const std::string& name) const {
  const std::size_t depth = widths_.size();
  require(py::len(layers) == depth + 1, name + ": expected " + std::to_string(depth + 1) +
                                            " layers like the network's, got " +
                                            std::to_string(py::len(layers)));
  DeepParams<T> out;
  out.c = T(0);
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
    }
  }
  return out;
}

template <typename T>
DeepParams<T> DeepNetwork::checked_layers(const py::sequence& layers, const std::string& name) const {
  DeepParams<T> out = checked_hidden<T>(layers, name);
  const std::string label = name + "[" + std::to_string(widths_.size()) + "]";
  const py::sequence readout = py::reinterpret_borrow<py::sequence>(layers[widths_.size()]);
  out.v = py::cast<Vector<T>>(checked_array<T>(readout[0], {widths_.back()}, label));
  out.c = arch_.bias ? py::cast<T>(readout[1]) : T(0);
  return out;
}

template <typename T>
DeepOutputParams<T> DeepNetwork::checked_output_layers(const py::sequence& layers, const std::string& name) const {
  DeepOutputParams<T> out{checked_hidden<T>(layers, name), {}, Vector<T>::Zero(outputs_)};
  const std::string label = name + "[" + std::to_string(widths_.size()) + "]";
  const py::sequence readout = py::reinterpret_borrow<py::sequence>(layers[widths_.size()]);
  out.V = py::cast<RowMatrix<T>>(checked_array<T>(readout[0], {outputs_, widths_.back()}, label));
  if (arch_.bias) out.c = py::cast<Vector<T>>(checked_array<T>(readout[1], {outputs_}, label));
  return out;
}

Index DeepNetwork::num_params() const {
  Index total = outputs_ * (widths_.back() + (arch_.bias ? 1 : 0));
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
  const py::object c = several_ ? py::object(c_array_) : py::object(py::float_(c_));
  out.append(py::make_tuple(v_, arch_.bias ? c : py::object(py::none())));
  return py::tuple(out);
}

py::tuple DeepNetwork::scales() const {
  py::list out;
  for (const auto& [m, beta] : arch_.scales) out.append(py::make_tuple(m, beta));
  return py::tuple(out);
}

// The layouts the kernels check, for both dtypes.
template DeepParams<double> DeepNetwork::checked_layers<double>(const py::sequence&, const std::string&) const;
template DeepParams<float> DeepNetwork::checked_layers<float>(const py::sequence&, const std::string&) const;
template DeepOutputParams<double> DeepNetwork::checked_output_layers<double>(const py::sequence&,
                                                                            const std::string&) const;
template DeepOutputParams<float> DeepNetwork::checked_output_layers<float>(const py::sequence&,
                                                                          const std::string&) const;

}  // namespace widenet::bindings
