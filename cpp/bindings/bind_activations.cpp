#include "common.hpp"

namespace widenet::bindings {
namespace {

template <typename T>
struct ActivationBinder {
  // (sigma(z), sigma'(z)) for an array of any shape.
  static py::tuple evaluate(CArray<T> z, const std::string& activation) {
    const Activation act = parse_activation(activation);
    CArray<T> values(std::vector<py::ssize_t>(z.shape(), z.shape() + z.ndim()));
    CArray<T> derivative(std::vector<py::ssize_t>(z.shape(), z.shape() + z.ndim()));
    const T* source = z.data();
    T* value_out = values.mutable_data();
    T* derivative_out = derivative.mutable_data();
    const Index count = Index(z.size());
    {
      py::gil_scoped_release release;
      std::copy(source, source + count, value_out);
      activate_inplace<T>(act, value_out, derivative_out, count);
    }
    return py::make_tuple(values, derivative);
  }

  static void bind(py::module_& m) {
    m.def("activation", &evaluate, py::arg("z").noconvert(), py::arg("activation"),
          "Returns (sigma(z), sigma'(z)) elementwise for the named activation.");
  }
};

}  // namespace

void bind_activations(py::module_& m) { bind_both_dtypes<ActivationBinder>(m); }

}  // namespace widenet::bindings
