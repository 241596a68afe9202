// The objects every network function takes: the network's state (architecture and
// parameters, held by reference) and the options of a gradient-descent run.
#pragma once

#include <string>
#include <type_traits>
#include <vector>

#include "common.hpp"
#include "records.hpp"

namespace widenet::bindings {

template <typename T>
const char* dtype_name() {
  return std::is_same<T, float>::value ? "float32" : "float64";
}

// "(2, 3)" or "(3,)": the shape of any array, for messages.
inline std::string array_shape(const py::array& a) {
  std::string out = "(";
  for (py::ssize_t k = 0; k < a.ndim(); ++k) out += (k ? ", " : "") + std::to_string(a.shape(k));
  return out + (a.ndim() == 1 ? ",)" : ")");
}

// A network's state: its architecture and its parameters as a sequence of dense layers,
// ((U, b), (v, c)) for the one-hidden-layer network. The parameter arrays are the caller's
// numpy arrays of one dtype (float64 or float32), C-contiguous, held by reference (never
// copied) and exposed as read-only views. Shapes, dtypes and names are checked once, here.
class Network {
 public:
  template <typename T>
  static Network from_arrays(const CArray<T>& U, const CArray<T>& b, const CArray<T>& v, T c,
                             const std::string& activation, const std::string& parametrization) {
    require(U.ndim() == 2 && U.shape(0) >= 1 && U.shape(1) >= 1,
            "U: expected a non-empty (width, input_dim) matrix, got " + array_shape(U));
    Network net(architecture(activation, parametrization), activation, parametrization);
    net.width_ = U.shape(0);
    net.input_dim_ = U.shape(1);
    check_vector(b, net.width_, "b");
    check_vector(v, net.width_, "v");
    net.single_ = std::is_same<T, float>::value;
    net.U_ = read_only(U);
    net.b_ = read_only(b);
    net.v_ = read_only(v);
    net.c_ = double(c);
    return net;
  }

  template <typename T>
  bool holds() const {
    return single_ == std::is_same<T, float>::value;
  }

  // The parameters as Eigen views of the held arrays (no copy); holds<T>() must be true.
  template <typename T>
  ParamsView<T> view() const {
    return ParamsView<T>{
        Eigen::Map<const RowMatrix<T>>(static_cast<const T*>(U_.data()), width_, input_dim_),
        Eigen::Map<const Vector<T>>(static_cast<const T*>(b_.data()), width_),
        Eigen::Map<const Vector<T>>(static_cast<const T*>(v_.data()), width_), T(c_)};
  }

  // The parameters for inputs of dtype T; inputs of another dtype than the network's are
  // a TypeError naming `inputs` (the argument).
  template <typename T>
  ParamsView<T> params_for(const std::string& inputs) const {
    if (!holds<T>()) {
      throw py::type_error(inputs + ": expected " + dtype() + " (the network's dtype), got " +
                           dtype_name<T>());
    }
    return view<T>();
  }

  const Architecture& arch() const { return arch_; }
  const std::string& activation() const { return activation_; }
  const std::string& parametrization() const { return parametrization_; }
  std::string dtype() const { return single_ ? "float32" : "float64"; }
  Index width() const { return width_; }
  Index input_dim() const { return input_dim_; }
  Index num_params() const { return width_ * (input_dim_ + 2) + 1; }
  std::string shape() const { return shape_text(width_, input_dim_); }
  bool same_shape(const Network& other) const {
    return single_ == other.single_ && width_ == other.width_ && input_dim_ == other.input_dim_;
  }

  // ((U, b), (v, c)): each dense layer's weights and bias, read-only.
  py::tuple layers() const {
    return py::make_tuple(py::make_tuple(U_, b_), py::make_tuple(v_, py::float_(c_)));
  }

 private:
  Network(Architecture arch, std::string activation, std::string parametrization)
      : arch_(arch), activation_(std::move(activation)), parametrization_(std::move(parametrization)) {}

  template <typename T>
  static void check_vector(const CArray<T>& a, Index width, const std::string& name) {
    require(a.ndim() == 1, name + ": expected shape (" + std::to_string(width) +
                               ",) (the width), got " + array_shape(a));
    require(a.shape(0) == width, name + ": expected length " + std::to_string(width) +
                                     " (the width), got " + std::to_string(a.shape(0)));
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
  Index width_ = 0, input_dim_ = 0;
  py::array U_, b_, v_;
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

}  // namespace widenet::bindings
