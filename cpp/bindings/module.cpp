// Wiring only: each topic registers its own functions.
#include "common.hpp"
#include "interruptible.hpp"
#include "network.hpp"

namespace widenet::bindings {
void bind_activations(py::module_& m);
void bind_shallow(py::module_& m);
void bind_training(py::module_& m);
void bind_tangent_products(py::module_& m);
void bind_linear_dynamics(py::module_& m);
void bind_kernels(py::module_& m);
void bind_limit_kernels(py::module_& m);
void bind_runtime(py::module_& m);
void bind_cholesky(py::module_& m);
void bind_deep_network(py::module_& m);
void bind_deep_training(py::module_& m);
}  // namespace widenet::bindings

PYBIND11_MODULE(_core, m) {
  m.doc() = "widenet's compiled kernels (Eigen). Use the widenet package, not this module.";
  // A kernel asked to stop without a signal (never expected): still an interrupt in Python.
  py::register_exception_translator([](std::exception_ptr error) {
    try {
      if (error) std::rethrow_exception(error);
    } catch (const widenet::Interrupted&) {
      PyErr_SetNone(PyExc_KeyboardInterrupt);
    }
  });
  widenet::bindings::bind_network(m);  // first: the functions below take its classes
  widenet::bindings::bind_deep_network(m);
  // before bind_training: its train_ensemble takes any sequence, the deep overload only
  // sequences of DeepNetwork
  widenet::bindings::bind_deep_training(m);
  widenet::bindings::bind_activations(m);
  widenet::bindings::bind_shallow(m);
  widenet::bindings::bind_training(m);
  widenet::bindings::bind_tangent_products(m);
  widenet::bindings::bind_linear_dynamics(m);
  widenet::bindings::bind_kernels(m);
  widenet::bindings::bind_limit_kernels(m);
  widenet::bindings::bind_runtime(m);
  widenet::bindings::bind_cholesky(m);
}
