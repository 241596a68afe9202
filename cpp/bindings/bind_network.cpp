#include "network.hpp"

namespace widenet::bindings {

void bind_network(py::module_& m) {
  py::class_<Network> network(
      m, "Network",
      "A network's state: its architecture (activation, parametrization) and its parameters as "
      "a sequence of dense layers ((U, b), (v, c)), made from numpy arrays of one dtype "
      "(float64 or float32, C-contiguous) that it holds by reference, never copies, and exposes "
      "read-only. The readout is v (n,) with a number c (one output), or v (k, n) with c (k,) "
      "(k outputs). Every network function of this module takes one.");
  const auto constructor = [&](auto tag) {
    using T = decltype(tag);
    network.def(py::init(&Network::from_arrays<T>), py::arg("U").noconvert(),
                py::arg("b").noconvert(), py::arg("v").noconvert(), py::arg("c"),
                py::arg("activation"), py::arg("parametrization"));
    network.def(py::init(&Network::from_output_arrays<T>), py::arg("U").noconvert(),
                py::arg("b").noconvert(), py::arg("v").noconvert(), py::arg("c").noconvert(),
                py::arg("activation"), py::arg("parametrization"));
  };
  constructor(double{});
  constructor(float{});
  network.def_property_readonly("activation", &Network::activation)
      .def_property_readonly("parametrization", &Network::parametrization)
      .def_property_readonly("dtype", [](const Network& net) { return py::dtype(net.dtype()); })
      .def_property_readonly("input_dim", &Network::input_dim)
      .def_property_readonly("width", &Network::width)
      .def_property_readonly("num_params", &Network::num_params)
      .def_property_readonly("outputs", &Network::outputs, "k, the number of outputs.")
      .def_property_readonly("layers", &Network::layers,
                             "((U, b), (v, c)): each dense layer's weights and bias.")
      .def("__repr__", [](const Network& net) {
        return "Network(input_dim=" + std::to_string(net.input_dim()) +
               ", width=" + std::to_string(net.width()) + ", activation='" + net.activation() +
               "', parametrization='" + net.parametrization() + "', dtype=" + net.dtype() +
               (net.several_outputs() ? ", outputs=" + std::to_string(net.outputs()) : "") + ")";
      });

  py::class_<TrainingOptions>(
      m, "TrainingOptions",
      "The options of a gradient-descent run, checked when made: the step size lr, the number "
      "of steps, the recording period, the loss scale and the divergence factor (a run stops at "
      "the first step whose loss is not finite or exceeds divergence_factor times its reference; "
      "<= 0 disables the factor).")
      .def(py::init<double, Index, Index, double, double>(), py::arg("lr"), py::arg("steps"),
           py::arg("record_every") = 1, py::arg("loss_scale") = 1.0,
           py::arg("divergence_factor") = 1e10)
      .def_property_readonly("lr", [](const TrainingOptions& o) { return o.schedule.step_size; })
      .def_property_readonly("steps", [](const TrainingOptions& o) { return o.schedule.steps; })
      .def_property_readonly("record_every",
                             [](const TrainingOptions& o) { return o.schedule.record_every; })
      .def_property_readonly("loss_scale",
                             [](const TrainingOptions& o) { return o.schedule.loss_scale; })
      .def_property_readonly("divergence_factor",
                             [](const TrainingOptions& o) { return o.rule.divergence_factor; })
      .def("__repr__", [](const TrainingOptions& o) {
        return "TrainingOptions(lr=" + std::string(py::str(py::float_(o.schedule.step_size))) +
               ", steps=" + std::to_string(o.schedule.steps) +
               ", record_every=" + std::to_string(o.schedule.record_every) +
               ", loss_scale=" + std::string(py::str(py::float_(o.schedule.loss_scale))) +
               ", divergence_factor=" +
               std::string(py::str(py::float_(o.rule.divergence_factor))) + ")";
      });
}

}  // namespace widenet::bindings
