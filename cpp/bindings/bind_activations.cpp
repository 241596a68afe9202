#include <algorithm>

#include "common.hpp"
#include "interruptible.hpp"

namespace widenet::bindings {
namespace {

template <typename T>
struct ActivationBinder {
  // Entries per slice between stop polls: a few milliseconds of the slowest activation.
  static constexpr Index kSlice = Index(1) << 20;

  // (sigma(z), sigma'(z)) for an array of any shape.
  static py::tuple evaluate(CArray<T> z, const std::string& activation) {
    const Activation act = parse_activation(activation);
    CArray<T> values(std::vector<py::ssize_t>(z.shape(), z.shape() + z.ndim()));
    CArray<T> derivative(std::vector<py::ssize_t>(z.shape(), z.shape() + z.ndim()));
    const T* source = z.data();
    T* value_out = values.mutable_data();
    T* derivative_out = derivative.mutable_data();
    const Index count = Index(z.size());
    run_interruptible([&] {
      const StopToken& stop = current_stop_token();
      for (Index start = 0; start < count; start += kSlice) {
        stop.throw_if_requested();
        const Index size = std::min(kSlice, count - start);
        std::copy(source + start, source + start + size, value_out + start);
        activate_inplace<T>(act, value_out + start, derivative_out + start, size);
      }
    }, is_long_call(20.0 * double(count)));
    return py::make_tuple(values, derivative);
  }

  static void bind(py::module_& m) {
    m.def("activation", &evaluate, py::arg("z").noconvert(), py::arg("activation"),
          "Returns (sigma(z), sigma'(z)) elementwise for the named activation.");
  }
};

}  // namespace

void bind_activations(py::module_& m) {
  bind_both_dtypes<ActivationBinder>(m);
  m.attr("ACTIVATIONS") = names_tuple(kActivations);
  m.attr("LEAKY_RELU_SLOPE") = kLeakyReluSlope;
  m.attr("ELU_ALPHA") = kEluAlpha;
}

}  // namespace widenet::bindings
