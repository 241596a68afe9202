#include <optional>

#include "common.hpp"
#include "interruptible.hpp"
#include "network.hpp"
#include "widenet/bounded_products.hpp"
#include "widenet/gradient.hpp"
#include "widenet/outputs_gradient.hpp"
#include "widenet/outputs_gram.hpp"
#include "widenet/tangent_gram.hpp"

namespace widenet::bindings {
namespace {

template <typename T>
struct ShallowBinder {
  using Matrix = MatrixRef<T>;

  // The hidden layer of `rows` points in flops: the m x n x d product and the activations.
  template <typename P>
  static double hidden_work(Index rows, const P& w) {
    return double(rows) * double(w.width()) * (2.0 * double(w.input_dim()) + kActivationFlops);
  }

  // In bands of rows, each a hidden-layer product of bounded work (and memory): (m,), or
  // (m, k) for a network of k outputs.
  static py::object forward(const Network& net, const Matrix& X) {
    if (net.several_outputs()) {
      const OutputParamsView<T> w = net.output_params_for<T>("X");
      check_inputs<T>(X, w.input_dim());
      const auto outputs = [&](Index row, Index rows) {
        return forward_outputs<T>(net.arch(), w, X.middleRows(row, rows));
      };
      return py::cast(run_interruptible([&] {
        return rows_by_bands<T>(X.rows(), w.outputs(), hidden_work(1, w), current_stop_token(),
                                outputs);
      }, is_long_call(hidden_work(X.rows(), w))));
    }
    const ParamsView<T> w = net.params_for<T>("X");
    check_inputs<T>(X, w.input_dim());
    const auto outputs = [&](Index row, Index rows) {
      return widenet::forward<T>(net.arch(), w, X.middleRows(row, rows));
    };
    return py::cast(run_interruptible([&] {
      return rows_by_bands<T>(X.rows(), hidden_work(1, w), current_stop_token(), outputs);
    }, is_long_call(hidden_work(X.rows(), w))));
  }

  // (m, P), or (m, k, P) for a network of k outputs.
  static py::object jacobian(const Network& net, const Matrix& X) {
    if (net.several_outputs()) {
      const OutputParamsView<T> w = net.output_params_for<T>("X");
      check_inputs<T>(X, w.input_dim());
      const py::object J =
          py::cast(run_interruptible([&] { return jacobian_outputs<T>(net.arch(), w, X); },
                                     is_long_call(hidden_work(X.rows(), w) * double(w.outputs()))));
      return J.attr("reshape")(X.rows(), w.outputs(), net.num_params());
    }
    const ParamsView<T> w = net.params_for<T>("X");
    check_inputs<T>(X, w.input_dim());
    return py::cast(run_interruptible([&] { return widenet::jacobian<T>(net.arch(), w, X); },
                                      is_long_call(hidden_work(X.rows(), w))));
  }

  // The parameters of the kernel traced over the outputs: the network's own for one
  // output, else (U, b) with traced_readout(V), held in `readout`.
  static ParamsView<T> traced_params(const Network& net, const std::string& inputs,
                                     Vector<T>& readout) {
    if (!net.several_outputs()) return net.params_for<T>(inputs);
    const OutputParamsView<T> w = net.output_params_for<T>(inputs);
    readout = traced_readout<T>(w.v);
    return ParamsView<T>{w.U, w.b, readout, T(0)};  // c enters no kernel
  }

  static RowMatrix<T> ntk_gram(const Network& net, const Matrix& X1,
                               const std::optional<Matrix>& X2, Index width_chunk) {
    Vector<T> readout;
    const ParamsView<T> w = traced_params(net, "X1", readout);
    check_inputs<T>(X1, w.input_dim(), "X1");
    if (X2) check_inputs<T>(*X2, w.input_dim(), "X2");
    require(width_chunk >= 0, "width_chunk: expected a non-negative integer (0 = automatic)");
    const double products = 2.0 * double(X1.rows()) * double(X2 ? X2->rows() : X1.rows()) *
                            double(w.width());
    return run_interruptible([&] {
      if (!X2) return tangent_gram_symmetric<T>(net.arch(), w, X1, width_chunk);
      return tangent_gram<T>(net.arch(), w, X1, *X2, width_chunk);
    }, is_long_call(products + hidden_work(X1.rows(), w)));
  }

  static py::object ntk_blocks(const Network& net, const Matrix& X1,
                               const std::optional<Matrix>& X2, Index width_chunk) {
    const OutputParamsView<T> w = net.output_params_for<T>("X1");
    check_inputs<T>(X1, w.input_dim(), "X1");
    if (X2) check_inputs<T>(*X2, w.input_dim(), "X2");
    require(width_chunk >= 0, "width_chunk: expected a non-negative integer (0 = automatic)");
    const Index m1 = X1.rows(), m2 = X2 ? X2->rows() : m1, k = w.outputs();
    const double products = 2.0 * double(m1 * k) * double(m2 * k) * double(w.width());
    const py::object K = py::cast(run_interruptible(
        [&] { return tangent_gram_outputs<T>(net.arch(), w, X1, X2, width_chunk); },
        is_long_call(products + hidden_work(m1 + m2, w))));
    return K.attr("reshape")(m1, k, m2, k);
  }

  static Vector<T> ntk_diag(const Network& net, const Matrix& X) {
    Vector<T> readout;
    const ParamsView<T> w = traced_params(net, "X", readout);
    check_inputs<T>(X, w.input_dim());
    const auto diagonal = [&](Index row, Index rows) {
      return tangent_gram_diagonal<T>(net.arch(), w, X.middleRows(row, rows));
    };
    return run_interruptible([&] {
      return rows_by_bands<T>(X.rows(), hidden_work(1, w), current_stop_token(), diagonal);
    }, is_long_call(hidden_work(X.rows(), w)));
  }

  static py::tuple loss_grad(const Network& net, const Matrix& X, const CArray<T>& y,
                             T loss_scale) {
    if (net.several_outputs()) {
      const OutputParamsView<T> w = net.output_params_for<T>("X");
      check_inputs<T>(X, w.input_dim());
      const MatrixRef<T> Y = matrix_view<T>(y, X.rows(), w.outputs(), "y",
                                            "one row of targets per row of X, one per output");
      const double work =
          double(X.rows()) * gradient_flops_per_row(w.width(), w.input_dim(), w.outputs());
      LossGradient<T, OutputParams<T>> result = run_interruptible(
          [&] { return loss_gradient<T>(net.arch(), w, X, Y, loss_scale); },
          is_long_call(work));
      return py::make_tuple(result.loss, layers_of(std::move(result.grad)));
    }
    const ParamsView<T> w = net.params_for<T>("X");
    check_inputs<T>(X, w.input_dim());
    const VectorRef<T> targets = vector_view<T>(y, X.rows(), "y", "one target per row of X");
    const double work = double(X.rows()) * gradient_flops_per_row(w.width(), w.input_dim());
    LossGradient<T> result = run_interruptible(
        [&] { return loss_gradient<T>(net.arch(), w, X, targets, loss_scale); },
        is_long_call(work));
    return py::make_tuple(result.loss, layers_of(std::move(result.grad)));
  }

  static void bind(py::module_& m) {
    m.def("forward", &forward, py::arg("net"), py::arg("X").noconvert(),
          "Network outputs Phi(X, w), (11.5.1) or (11.6.1): shape (m,), or (m, k) for a network "
          "of k outputs.");
    m.def("jacobian", &jacobian, py::arg("net"), py::arg("X").noconvert(),
          "The m x P Jacobian dPhi/dw, columns ordered U (row-major), b, v (row-major), c; "
          "(m, k, P) for a network of k outputs.");
    m.def("ntk_gram", &ntk_gram, py::arg("net"), py::arg("X1").noconvert(),
          py::arg("X2").noconvert() = py::none(), py::arg("width_chunk") = 0,
          "Empirical tangent kernel Gram K_n(X1, X2) by the structured formula; X2=None "
          "computes the symmetric K_n(X1, X1). width_chunk bounds the hidden units processed "
          "at once (0: automatic). For a network of k outputs, the mean over the outputs of "
          "their kernels (the kernel traced over the outputs).");
    m.def("ntk_blocks", &ntk_blocks, py::arg("net"), py::arg("X1").noconvert(),
          py::arg("X2").noconvert() = py::none(), py::arg("width_chunk") = 0,
          "Every block of the tangent kernel, K_ii'(x, z) at [x, i, z, i'], shape (m1, k, m2, k) "
          "(k = 1 for a network of one output); X2=None computes the symmetric K(X1, X1).");
    m.def("ntk_diag", &ntk_diag, py::arg("net"), py::arg("X").noconvert(),
          "The diagonal K_n(x_k, x_k) of the tangent Gram (traced over the outputs).");
    m.def("loss_grad", &loss_grad, py::arg("net"), py::arg("X").noconvert(),
          py::arg("y").noconvert(), py::arg("loss_scale"),
          "(loss, ((gU, gb), (gv, gc))): loss_scale * |Phi(X) - y|^2 and its gradient, "
          "layer by layer; y is (m,), or (m, k) for a network of k outputs.");
  }
};

}  // namespace

void bind_shallow(py::module_& m) {
  bind_both_dtypes<ShallowBinder>(m);
  m.attr("PARAMETRIZATIONS") = names_tuple(kParametrizations);
  m.attr("GRAM_BAND_ROWS") = kGramBandRows;
  m.def("default_width_chunk", py::overload_cast<Index, Index, Index>(&default_width_chunk),
        py::arg("rows"), py::arg("width"), py::arg("itemsize"),
        "The width chunk ntk_gram (and the width-chunked passes) take when none is given, for "
        "`rows` points and entries of `itemsize` bytes.");
}

}  // namespace widenet::bindings
