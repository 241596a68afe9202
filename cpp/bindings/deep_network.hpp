// The state of a deep network for the compiled functions: its dense layers (the caller's
// numpy arrays, held by reference and exposed read-only), their scales and the activation.
#pragma once

#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "common.hpp"
#include "network.hpp"
#include "widenet/deep_network.hpp"

namespace widenet::bindings {

class DeepNetwork {
 public:
  // layers: ((W^1, b^1), ..., (W^L, b^L), (v, c)), biases all None or all given;
  // scales: L + 1 pairs (m, beta).
  DeepNetwork(const py::sequence& layers, const std::string& activation, const py::sequence& scales);

  template <typename T>
  bool holds() const {
    return single_ == std::is_same<T, float>::value;
  }

  // Views of the held arrays (no copy) for inputs of dtype T; another dtype is a TypeError
  // naming `inputs`.
  template <typename T>
  DeepView<T> params_for(const std::string& inputs) const {
    if (!holds<T>()) {
      throw py::type_error(inputs + ": expected " + dtype() + " (the network's dtype), got " +
                           dtype_name<T>());
    }
    DeepView<T> view{{}, {}, Eigen::Map<const Vector<T>>(data<T>(v_), widths_.back()), T(c_)};
    for (std::size_t l = 0; l < weights_.size(); ++l) {
      const Index fan_in = l == 0 ? input_dim_ : widths_[l - 1];
      view.W.emplace_back(data<T>(weights_[l]), widths_[l], fan_in);
      if (arch_.bias) view.b.emplace_back(data<T>(biases_[l]), widths_[l]);
    }
    return view;
  }

  // Parameters in the network's layout (a direction, a gradient), copied and checked by name.
  template <typename T>
  DeepParams<T> checked_layers(const py::sequence& layers, const std::string& name) const;

  const DeepArchitecture& arch() const { return arch_; }
  const std::string& activation() const { return activation_; }
  std::string dtype() const { return single_ ? "float32" : "float64"; }
  Index depth() const { return Index(widths_.size()); }
  Index input_dim() const { return input_dim_; }
  const std::vector<Index>& widths() const { return widths_; }
  bool bias() const { return arch_.bias; }
  Index num_params() const;
  py::tuple layers() const;
  py::tuple scales() const;

 private:
  template <typename T>
  static const T* data(const py::array& a) {
    return static_cast<const T*>(a.data());
  }

  DeepArchitecture arch_;
  std::string activation_;
  bool single_ = false;
  Index input_dim_ = 0;
  std::vector<Index> widths_;  // n_1, ..., n_L
  std::vector<py::array> weights_, biases_;
  py::array v_;
  double c_ = 0.0;
};

// Parameters as Python layers [(W, b), ..., (v, c)], the arrays moved out; b and c None
// without biases.
template <typename T>
py::list deep_layers_of(DeepParams<T>&& p, bool bias) {
  py::list out;
  for (std::size_t l = 0; l < p.W.size(); ++l) {
    out.append(py::make_tuple(py::cast(std::move(p.W[l])),
                              bias ? py::cast(std::move(p.b[l])) : py::object(py::none())));
  }
  out.append(py::make_tuple(py::cast(std::move(p.v)), bias ? py::object(py::float_(p.c)) : py::object(py::none())));
  return out;
}

// The flops of a forward and backward pass over `rows` points: two products per layer.
inline double deep_pass_work(const DeepNetwork& net, Index rows) {
  double work = 0;
  Index fan_in = net.input_dim();
  for (const Index width : net.widths()) {
    work += 4.0 * double(rows) * double(width) * double(fan_in) + kActivationFlops * double(rows * width);
    fan_in = width;
  }
  return work;
}

// A copy of the parameters a view shows, to be trained.
template <typename T>
DeepParams<T> owned_params(const DeepView<T>& view) {
  DeepParams<T> out;
  for (const auto& W : view.W) out.W.emplace_back(W);
  for (const auto& b : view.b) out.b.emplace_back(b);
  out.v = view.v;
  out.c = view.c;
  return out;
}

// A sequence whose first item is a DeepNetwork: the argument that selects the deep overload
// of train_ensemble (any other sequence goes on to the one-hidden-layer overload).
struct DeepNetworkSequence {
  py::sequence items;
};

void bind_deep_network(py::module_& m);
void bind_deep_training(py::module_& m);

}  // namespace widenet::bindings

namespace pybind11::detail {

template <>
struct type_caster<widenet::bindings::DeepNetworkSequence> {
  PYBIND11_TYPE_CASTER(widenet::bindings::DeepNetworkSequence, const_name("Sequence[DeepNetwork]"));

  bool load(handle source, bool) {
    if (!isinstance<sequence>(source) || isinstance<str>(source)) return false;
    const auto items = reinterpret_borrow<sequence>(source);
    if (len(items) == 0 || !isinstance<widenet::bindings::DeepNetwork>(items[0])) return false;
    value.items = items;
    return true;
  }

  static handle cast(const widenet::bindings::DeepNetworkSequence& source, return_value_policy, handle) {
    return source.items.inc_ref();
  }
};

}  // namespace pybind11::detail
