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
#include "widenet/deep_outputs.hpp"

namespace widenet::bindings {

class DeepNetwork {
 public:
  // layers: ((W^1, b^1), ..., (W^L, b^L), (v, c)), biases all None or all given; the
  // readout v of shape (n_L,) and c a number (one output), or V (k, n_L) and c (k,) (k
  // outputs); scales: L + 1 pairs (m, beta).
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

  // The parameters of a network with a (k, n_L) readout, views as params_for's (its hidden
  // view's own v and c are the readout's first row and entry, not read).
  template <typename T>
  DeepOutputView<T> outputs_for(const std::string& inputs) const {
    const DeepView<T> hidden = params_for<T>(inputs);
    Vector<T> c = Vector<T>::Zero(outputs_);
    if (arch_.bias) c = Eigen::Map<const Vector<T>>(data<T>(c_array_), outputs_);
    return DeepOutputView<T>{hidden, Eigen::Map<const RowMatrix<T>>(data<T>(v_), outputs_, widths_.back()), c};
  }

  // Parameters in the network's layout (a direction, a gradient), copied and checked by name:
  // the hidden layers alone (checked_hidden), those of one output or of k outputs.
  template <typename T>
  DeepParams<T> checked_hidden(const py::sequence& layers, const std::string& name) const;
  template <typename T>
  DeepParams<T> checked_layers(const py::sequence& layers, const std::string& name) const;
  template <typename T>
  DeepOutputParams<T> checked_output_layers(const py::sequence& layers, const std::string& name) const;

  const DeepArchitecture& arch() const { return arch_; }
  const std::string& activation() const { return activation_; }
  std::string dtype() const { return single_ ? "float32" : "float64"; }
  Index depth() const { return Index(widths_.size()); }
  Index input_dim() const { return input_dim_; }
  const std::vector<Index>& widths() const { return widths_; }
  bool bias() const { return arch_.bias; }
  // Whether the readout is a (k, n_L) matrix (k outputs, k >= 1), and k.
  bool several_outputs() const { return several_; }
  Index outputs() const { return outputs_; }
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
  double c_ = 0.0;        // the bias of one output
  py::array c_array_;     // the biases of k outputs
  bool several_ = false;
  Index outputs_ = 1;
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

// Parameters of k outputs as Python layers [(W, b), ..., (V, c)], c an array of k.
template <typename T>
py::list deep_layers_of(DeepOutputParams<T>&& p, bool bias) {
  p.hidden.v = Vector<T>::Zero(p.V.cols());
  py::list out = deep_layers_of(std::move(p.hidden), bias);
  out[out.size() - 1] = py::make_tuple(py::cast(std::move(p.V)), bias ? py::cast(std::move(p.c)) : py::object(py::none()));
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

template <typename T>
DeepOutputParams<T> owned_params(const DeepOutputView<T>& view) {
  DeepOutputParams<T> out{owned_params(view.hidden), view.V, view.c};
  out.hidden.v.resize(0);  // the hidden layers' own readout is V, held beside them
  out.hidden.c = T(0);
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
