// The objects every network function takes: the network's state (architecture and
// parameters, held by reference) and the options of a gradient-descent run.
#pragma once

#include <string>
#include <type_traits>
#include <vector>

#include "common.hpp"
#include "records.hpp"
#include "widenet/shallow_outputs.hpp"

namespace widenet::bindings {

template <typename T>
const char* dtype_name() {
  return std::is_same<T, float>::value ? "float32" : "float64";
}

// A network's state: its architecture and its parameters as a sequence of dense layers,
// ((U, b), (v, c)) for the one-hidden-layer network. Its readout is v of shape (n,) with c
// a number (one output), or V of shape (k, n) with c of shape (k,) (k outputs). The
// parameter arrays are the caller's numpy arrays of one dtype (float64 or float32),
// C-contiguous, held by reference (never copied) and exposed as read-only views. Shapes,
// dtypes and names are checked once, here.
class Network {
 public:
  template <typename T>
  static Network from_arrays(const CArray<T>& U, const CArray<T>& b, const CArray<T>& v, T c,
                             const std::string& activation, const std::string& parametrization) {
    Network net = hidden_layer_of(U, b, activation, parametrization);
    check_vector(v, net.width_, "v");
    net.v_ = read_only(v);
    net.c_ = double(c);
    CArray<T> bias(py::ssize_t(1));  // c as the one entry of the kernels of k outputs
    bias.mutable_data()[0] = c;
    net.c_array_ = read_only(bias);
    return net;
  }

  template <typename T>
  static Network from_output_arrays(const CArray<T>& U, const CArray<T>& b, const CArray<T>& V,
                                    const CArray<T>& c, const std::string& activation,
                                    const std::string& parametrization) {
    Network net = hidden_layer_of(U, b, activation, parametrization);
    require(V.ndim() == 2 && V.shape(0) >= 1 && V.shape(1) == net.width_,
            "v: expected shape (outputs, " + std::to_string(net.width_) +
                ") (one row of the width per output), got " + array_shape(V));
    net.outputs_ = V.shape(0);
    check_vector(c, net.outputs_, "c", "the outputs");
    net.several_ = true;
    net.v_ = read_only(V);
    net.c_array_ = read_only(c);
    return net;
  }

  template <typename T>
  bool holds() const {
    return single_ == std::is_same<T, float>::value;
  }

  // The parameters of a network of one output as Eigen views of the held arrays (no copy);
  // holds<T>() must be true and the readout a vector.
  template <typename T>
  ParamsView<T> view() const {
    return ParamsView<T>{
        Eigen::Map<const RowMatrix<T>>(static_cast<const T*>(U_.data()), width_, input_dim_),
        Eigen::Map<const Vector<T>>(static_cast<const T*>(b_.data()), width_),
        Eigen::Map<const Vector<T>>(static_cast<const T*>(v_.data()), width_), T(c_)};
  }

  // The parameters as those of a network of k outputs, whichever its readout (one output:
  // V is v as one row, c one entry); holds<T>() must be true.
  template <typename T>
  OutputParamsView<T> outputs_view() const {
    return OutputParamsView<T>{
        Eigen::Map<const RowMatrix<T>>(static_cast<const T*>(U_.data()), width_, input_dim_),
        Eigen::Map<const Vector<T>>(static_cast<const T*>(b_.data()), width_),
        Eigen::Map<const RowMatrix<T>>(static_cast<const T*>(v_.data()), outputs_, width_),
        Eigen::Map<const Vector<T>>(static_cast<const T*>(c_array_.data()), outputs_)};
  }

  // The parameters for inputs of dtype T; inputs of another dtype than the network's are
  // a TypeError naming `inputs` (the argument). A network of several outputs is refused:
  // these are the parameters of the kernels of one output.
  template <typename T>
  ParamsView<T> params_for(const std::string& inputs) const {
    check_dtype<T>(inputs);
    require(!several_, "net: expected a network of one output, got one of " +
                           std::to_string(outputs_) + " outputs");
    return view<T>();
  }

  // The parameters for the kernels of k outputs (either readout), as params_for checks them.
  template <typename T>
  OutputParamsView<T> output_params_for(const std::string& inputs) const {
    check_dtype<T>(inputs);
    return outputs_view<T>();
  }

  const Architecture& arch() const { return arch_; }
  const std::string& activation() const { return activation_; }
  const std::string& parametrization() const { return parametrization_; }
  std::string dtype() const { return single_ ? "float32" : "float64"; }
  Index width() const { return width_; }
  Index input_dim() const { return input_dim_; }
  // k; 1 for a readout vector
  Index outputs() const { return outputs_; }
  // Whether the readout is a (k, n) matrix (the network of k outputs' layout).
  bool several_outputs() const { return several_; }
  Index num_params() const { return output_params_size(width_, input_dim_, outputs_); }
  std::string shape() const {
    return shape_text(width_, input_dim_) +
           (several_ ? " with " + std::to_string(outputs_) + " outputs" : std::string());
  }
  bool same_shape(const Network& other) const {
    return single_ == other.single_ && width_ == other.width_ && input_dim_ == other.input_dim_ &&
           several_ == other.several_ && outputs_ == other.outputs_;
  }

  // ((U, b), (v, c)): each dense layer's weights and bias, read-only (c a float, or an array
  // of k entries).
  py::tuple layers() const {
    const py::object c = several_ ? py::object(c_array_) : py::object(py::float_(c_));
    return py::make_tuple(py::make_tuple(U_, b_), py::make_tuple(v_, c));
  }

 private:
  Network(Architecture arch, std::string activation, std::string parametrization)
      : arch_(arch), activation_(std::move(activation)), parametrization_(std::move(parametrization)) {}

  // A network with the hidden layer (U, b) and no readout yet.
  template <typename T>
  static Network hidden_layer_of(const CArray<T>& U, const CArray<T>& b,
                                 const std::string& activation, const std::string& parametrization) {
    require(U.ndim() == 2 && U.shape(0) >= 1 && U.shape(1) >= 1,
            "U: expected a non-empty (width, input_dim) matrix, got " + array_shape(U));
    Network net(architecture(activation, parametrization), activation, parametrization);
    net.width_ = U.shape(0);
    net.input_dim_ = U.shape(1);
    check_vector(b, net.width_, "b");
    net.single_ = std::is_same<T, float>::value;
    net.U_ = read_only(U);
    net.b_ = read_only(b);
    return net;
  }

  template <typename T>
  void check_dtype(const std::string& inputs) const {
    if (!holds<T>()) {
      throw py::type_error(inputs + ": expected " + dtype() + " (the network's dtype), got " +
                           dtype_name<T>());
    }
  }

  template <typename T>
  static void check_vector(const CArray<T>& a, Index length, const std::string& name,
                           const std::string& meaning = "the width") {
    require(a.ndim() == 1, name + ": expected shape (" + std::to_string(length) + ",) (" +
                               meaning + "), got " + array_shape(a));
    require(a.shape(0) == length, name + ": expected length " + std::to_string(length) + " (" +
                                      meaning + "), got " + std::to_string(a.shape(0)));
  }

  // A view of `a` that cannot be written through (the caller's array is left as it is).
  static py::array read_only(const py::array& a) {
    py::array view = a.attr("view")();
    view.attr("setflags")(py::arg("write") = false);
    return view;
  }

  Architecture arch_;
  std::string activation_, parametrization_;
  bool single_ = false;
  bool several_ = false;
  Index width_ = 0, input_dim_ = 0, outputs_ = 1;
  py::array U_, b_, v_, c_array_;  // c_array_: c as an array, whichever the readout
  double c_ = 0.0;
};

// The options of a gradient-descent run (of the network or of its linearization), checked
// once when made: the schedule (step size, steps, recording period, loss scale) and the
// divergence rule.
struct TrainingOptions {
  TrainingSchedule schedule;
  StopRule rule;

  TrainingOptions(double lr, Index steps, Index record_every, double loss_scale,
                  double divergence_factor)
      : schedule(schedule_from(lr, steps, record_every, loss_scale)),
        rule(stop_rule(divergence_factor)) {}
};

// Registers Network and TrainingOptions (before the functions that take them).
void bind_network(py::module_& m);

}  // namespace widenet::bindings

namespace widenet::bindings {

// Parameters (a gradient, trained parameters) in the layout of Network::layers:
// ((U, b), (v, c)), the arrays moved out, never copied.
template <typename T>
py::tuple layers_of(Params<T>&& p) {
  py::object U = py::cast(std::move(p.U)), b = py::cast(std::move(p.b));
  py::object v = py::cast(std::move(p.v));
  return py::make_tuple(py::make_tuple(U, b), py::make_tuple(v, p.c));
}

// The same for a network of k outputs: v (k, n) and c (k,).
template <typename T>
py::tuple layers_of(OutputParams<T>&& p) {
  py::object U = py::cast(std::move(p.U)), b = py::cast(std::move(p.b));
  py::object V = py::cast(std::move(p.v)), c = py::cast(std::move(p.c));
  return py::make_tuple(py::make_tuple(U, b), py::make_tuple(V, c));
}

}  // namespace widenet::bindings
