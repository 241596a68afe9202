#include <optional>
#include <string>

#include "common.hpp"
#include "deep_network.hpp"
#include "interruptible.hpp"
#include "records.hpp"
#include "widenet/deep_gram.hpp"
#include "widenet/deep_network.hpp"
#include "widenet/deep_outputs.hpp"
#include "widenet/deep_training.hpp"

namespace widenet::bindings {
namespace {

template <typename T>
struct DeepBinder {
  using Matrix = MatrixRef<T>;
  using Vec = VectorRef<T>;

  // The rows of Y (m, k) of a network of k outputs, or of y (m,) of one, named `name`.
  static Matrix rows_of(const DeepNetwork& net, const CArray<T>& y, Index rows, const std::string& name) {
    return matrix_view<T>(y, rows, net.outputs(), name, "one row per row of X, one entry per output");
  }

  // (m,), or (m, k) for a network of k outputs.
  static py::object forward(const DeepNetwork& net, const Matrix& X) {
    const DeepView<T> w = net.params_for<T>("X");
    check_inputs<T>(X, net.input_dim());
    const bool long_call = is_long_call(deep_pass_work(net, X.rows()));
    if (net.several_outputs()) {
      const DeepOutputView<T> p = net.outputs_for<T>("X");
      return py::cast(run_interruptible([&] { return deep_forward_outputs<T>(net.arch(), p, X); }, long_call));
    }
    return py::cast(run_interruptible([&] { return deep_forward<T>(net.arch(), w, X); }, long_call));
  }

  // (m, P), or (m, k, P) for a network of k outputs.
  static py::object jacobian(const DeepNetwork& net, const Matrix& X) {
    const DeepView<T> w = net.params_for<T>("X");
    check_inputs<T>(X, net.input_dim());
    const double work = deep_pass_work(net, X.rows()) + double(X.rows() * net.num_params());
    if (net.several_outputs()) {
      const DeepOutputView<T> p = net.outputs_for<T>("X");
      const py::object J = py::cast(run_interruptible([&] { return deep_jacobian_outputs<T>(net.arch(), p, X); },
                                                      is_long_call(work * double(net.outputs()))));
      return J.attr("reshape")(X.rows(), net.outputs(), net.num_params());
    }
    return py::cast(run_interruptible([&] { return deep_jacobian<T>(net.arch(), w, X); }, is_long_call(work)));
  }

  // The flops of the Gram products of an m1 x m2 kernel, per pair of outputs.
  static double gram_work(const DeepNetwork& net, Index m1, Index m2) {
    double products = 0;
    Index fan_in = net.input_dim();
    for (const Index width : net.widths()) {
      products += 2.0 * double(m1) * double(m2) * double(fan_in + width);
      fan_in = width;
    }
    return products + deep_pass_work(net, m1 + m2);
  }

  // The kernel, traced over the outputs (their mean) for a network of k outputs.
  static RowMatrix<T> ntk_gram(const DeepNetwork& net, const Matrix& X1, const std::optional<Matrix>& X2) {
    const DeepView<T> w = net.params_for<T>("X1");
    check_inputs<T>(X1, net.input_dim(), "X1");
    if (X2) check_inputs<T>(*X2, net.input_dim(), "X2");
    const Index m2 = X2 ? X2->rows() : X1.rows();
    const double work = gram_work(net, X1.rows(), m2) * double(net.outputs());
    if (net.several_outputs()) {
      const DeepOutputView<T> p = net.outputs_for<T>("X1");
      return run_interruptible([&] {
        return deep_tangent_gram_outputs<T>(net.arch(), p, X1, X2 ? &*X2 : nullptr, true);
      }, is_long_call(work));
    }
    return run_interruptible([&] {
      if (!X2) return deep_tangent_gram_symmetric<T>(net.arch(), w, X1);
      return deep_tangent_gram<T>(net.arch(), w, X1, *X2);
    }, is_long_call(work));
  }

  // Every block of the kernel of a network of k outputs, (m1, k, m2, k).
  static py::object ntk_blocks(const DeepNetwork& net, const Matrix& X1, const std::optional<Matrix>& X2) {
    require(net.several_outputs(), "net: expected a network with a (k, n_L) readout (ntk_gram gives one output's)");
    const DeepOutputView<T> p = net.outputs_for<T>("X1");
    check_inputs<T>(X1, net.input_dim(), "X1");
    if (X2) check_inputs<T>(*X2, net.input_dim(), "X2");
    const Index m1 = X1.rows(), m2 = X2 ? X2->rows() : m1, k = net.outputs();
    const py::object K = py::cast(run_interruptible([&] {
      return deep_tangent_gram_outputs<T>(net.arch(), p, X1, X2 ? &*X2 : nullptr, false);
    }, is_long_call(gram_work(net, m1, m2) * double(k * k))));
    return K.attr("reshape")(m1, k, m2, k);
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
    const bool long_call = is_long_call(deep_pass_work(net, X.rows()) * double(net.outputs()));
    if (net.several_outputs()) {
      const DeepOutputView<T> p = net.outputs_for<T>("X");
      return run_interruptible([&] { return deep_tangent_diagonal_traced<T>(net.arch(), p, X); }, long_call);
    }
    return run_interruptible([&] { return deep_tangent_gram_diagonal<T>(net.arch(), w, X); }, long_call);
  }

  static py::tuple loss_grad(const DeepNetwork& net, const Matrix& X, const CArray<T>& y, T loss_scale) {
    const DeepView<T> w = net.params_for<T>("X");
    check_inputs<T>(X, net.input_dim());
    const bool long_call = is_long_call(1.5 * deep_pass_work(net, X.rows()) * double(net.outputs()));
    if (net.several_outputs()) {
      const DeepOutputView<T> p = net.outputs_for<T>("X");
      const Matrix Y = rows_of(net, y, X.rows(), "y");
      DeepLossGradient<T, DeepOutputParams<T>> result = run_interruptible(
          [&] { return deep_output_loss_gradient<T>(net.arch(), p, X, Y, loss_scale); }, long_call);
      return py::make_tuple(result.loss, deep_layers_of(std::move(result.grad), net.bias()));
    }
    const Vec targets = vector_view<T>(y, X.rows(), "y", "one target per row of X");
    DeepLossGradient<T> result = run_interruptible(
        [&] { return deep_loss_gradient<T>(net.arch(), w, X, targets, loss_scale); }, long_call);
    return py::make_tuple(result.loss, deep_layers_of(std::move(result.grad), net.bias()));
  }

  static py::object jvp(const DeepNetwork& net, const Matrix& X, const py::sequence& tangent) {
    const DeepView<T> w = net.params_for<T>("X");
    check_inputs<T>(X, net.input_dim());
    const bool long_call = is_long_call(1.5 * deep_pass_work(net, X.rows()) * double(net.outputs()));
    if (net.several_outputs()) {
      const DeepOutputView<T> p = net.outputs_for<T>("X");
      const DeepOutputParams<T> delta = net.checked_output_layers<T>(tangent, "tangent");
      return py::cast(run_interruptible([&] { return deep_jvp_outputs<T>(net.arch(), p, delta, X); }, long_call));
    }
    const DeepParams<T> delta = net.checked_layers<T>(tangent, "tangent");
    return py::cast(run_interruptible([&] { return deep_jvp<T>(net.arch(), w, delta, X); }, long_call));
  }

  static py::list vjp(const DeepNetwork& net, const Matrix& X, const CArray<T>& r) {
    const DeepView<T> w = net.params_for<T>("X");
    check_inputs<T>(X, net.input_dim());
    const bool long_call = is_long_call(1.5 * deep_pass_work(net, X.rows()) * double(net.outputs()));
    if (net.several_outputs()) {
      const DeepOutputView<T> p = net.outputs_for<T>("X");
      const Matrix G = rows_of(net, r, X.rows(), "r");
      DeepOutputParams<T> grad = run_interruptible([&] { return deep_vjp_outputs<T>(net.arch(), p, X, G); },
                                                   long_call);
      return deep_layers_of(std::move(grad), net.bias());
    }
    const Vec weights = vector_view<T>(r, X.rows(), "r", "one weight per row of X");
    DeepParams<T> grad = run_interruptible([&] { return deep_vjp<T>(net.arch(), w, X, weights); }, long_call);
    return deep_layers_of(std::move(grad), net.bias());
  }

  // A run of `net` with parameters of type P and targets of type Targets.
  template <typename P, typename Targets>
  static py::dict train_checked(const DeepNetwork& net, P w, const P& start, const Matrix& X, const Targets& y,
                                const TrainingOptions& options, const std::optional<Matrix>& X_test) {
    if (X_test) check_inputs<T>(*X_test, net.input_dim(), "X_test");
    const TrainingSchedule& schedule = options.schedule;
    const std::vector<Index> recorded = schedule.recorded_steps();
    const Index records = Index(recorded.size());
    RecordArrays<T> arrays({}, records, X_test ? std::optional<Index>(X_test->rows()) : std::nullopt,
                           net.several_outputs() ? net.outputs() : 0);
    const TrainingRecord<T> record = arrays.member(0, records);
    const double steps = double(schedule.steps) + 1.0;  // in double: steps + 1 may overflow an Index
    const RunEnd end = run_interruptible(
        [&] { return train_deep_network<T>(net.arch(), w, start, X, y, schedule, X_test, record, options.rule); },
        is_long_call(1.5 * deep_pass_work(net, X.rows()) * double(net.outputs()) * steps));
    py::dict out;
    out["layers"] = deep_layers_of(std::move(w), net.bias());
    const std::vector<Index> done = steps_done(recorded, end);
    out["steps"] = py::array_t<Index>(py::ssize_t(done.size()), done.data());
    out["stopped_at"] = end.stopped_at;
    arrays.into(out, end.rows);
    return out;
  }

  static py::dict train(const DeepNetwork& net, const DeepNetwork& initial, const Matrix& X, const CArray<T>& y,
                        const TrainingOptions& options, const std::optional<Matrix>& X_test) {
    net.params_for<T>("X");
    require(initial.input_dim() == net.input_dim() && initial.widths() == net.widths() &&
                initial.bias() == net.bias() && initial.several_outputs() == net.several_outputs() &&
                initial.outputs() == net.outputs(),
            "initial: expected a network of the shape of net");
    initial.params_for<T>("initial");
    check_inputs<T>(X, net.input_dim());
    if (net.several_outputs()) {
      const Matrix Y = rows_of(net, y, X.rows(), "y");
      return train_checked(net, owned_params(net.outputs_for<T>("X")), owned_params(initial.outputs_for<T>("initial")),
                           X, Y, options, X_test);
    }
    const Vec targets = vector_view<T>(y, X.rows(), "y", "one target per row of X");
    return train_checked(net, owned_params(net.params_for<T>("X")), owned_params(initial.params_for<T>("initial")),
                         X, targets, options, X_test);
  }

  static void bind(py::module_& m) {
    m.def("train", &train, py::arg("net"), py::arg("initial"), py::arg("X").noconvert(),
          py::arg("y").noconvert(), py::arg("options"), py::arg("X_test").noconvert() = py::none(),
          "Gradient descent of a deep network from its parameters; distances from those of initial. "
          "The records and the divergence rule of the one-hidden-layer train.");
    m.def("forward", &forward, py::arg("net"), py::arg("X").noconvert(),
          "Deep network outputs Phi(X): (m,), or (m, k) for k outputs.");
    m.def("jacobian", &jacobian, py::arg("net"), py::arg("X").noconvert(),
          "The m x P Jacobian of a deep network, columns per layer: W row-major, then b; v, c last "
          "((m, k, P), V row-major, for k outputs).");
    m.def("ntk_gram", &ntk_gram, py::arg("net"), py::arg("X1").noconvert(),
          py::arg("X2").noconvert() = py::none(),
          "The empirical tangent kernel of a deep network, layer by layer (X2=None: symmetric); for k "
          "outputs the mean of the k diagonal blocks.");
    m.def("feature_gram", &feature_gram, py::arg("net"), py::arg("X1").noconvert(),
          py::arg("X2").noconvert() = py::none(),
          "m_out^2 A1 A2^T, the Gram of the readout's features (X2=None: symmetric).");
    m.def("ntk_blocks", &ntk_blocks, py::arg("net"), py::arg("X1").noconvert(),
          py::arg("X2").noconvert() = py::none(),
          "Every block K_ii'(x, z) of the tangent kernel of a deep network of k outputs, shape (m1, k, m2, k).");
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
