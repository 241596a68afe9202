#include <optional>

#include "common.hpp"
#include "interruptible.hpp"
#include "network.hpp"
#include "widenet/bounded_products.hpp"
#include "widenet/gradient.hpp"
#include "widenet/tangent_gram.hpp"

namespace widenet::bindings {
namespace {

template <typename T>
struct ShallowBinder {
  using Matrix = MatrixRef<T>;
  using Vec = VectorRef<T>;

  // The hidden layer of `rows` points in flops: the m x n x d product and the activations.
  static double hidden_work(Index rows, const ParamsView<T>& w) {
    return double(rows) * double(w.width()) * (2.0 * double(w.input_dim()) + kActivationFlops);
  }

  // In bands of rows, each a hidden-layer product of bounded work (and memory).
  static Vector<T> forward(const Network& net, const Matrix& X) {
    const ParamsView<T> w = net.params_for<T>("X");
    check_inputs<T>(X, w.input_dim());
    const auto outputs = [&](Index row, Index rows) {
      return widenet::forward<T>(net.arch(), w, X.middleRows(row, rows));
    };
    return run_interruptible([&] {
      return rows_by_bands<T>(X.rows(), hidden_work(1, w), current_stop_token(), outputs);
    }, is_long_call(hidden_work(X.rows(), w)));
  }

  static RowMatrix<T> jacobian(const Network& net, const Matrix& X) {
    const ParamsView<T> w = net.params_for<T>("X");
    check_inputs<T>(X, w.input_dim());
    return run_interruptible([&] { return widenet::jacobian<T>(net.arch(), w, X); },
                             is_long_call(hidden_work(X.rows(), w)));
  }

  static RowMatrix<T> ntk_gram(const Network& net, const Matrix& X1,
                               const std::optional<Matrix>& X2, Index width_chunk) {
    const ParamsView<T> w = net.params_for<T>("X1");
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

  static Vector<T> ntk_diag(const Network& net, const Matrix& X) {
    const ParamsView<T> w = net.params_for<T>("X");
    check_inputs<T>(X, w.input_dim());
    const auto diagonal = [&](Index row, Index rows) {
      return tangent_gram_diagonal<T>(net.arch(), w, X.middleRows(row, rows));
    };
    return run_interruptible([&] {
      return rows_by_bands<T>(X.rows(), hidden_work(1, w), current_stop_token(), diagonal);
    }, is_long_call(hidden_work(X.rows(), w)));
  }

  static py::tuple loss_grad(const Network& net, const Matrix& X, const Vec& y, T loss_scale) {
    const ParamsView<T> w = net.params_for<T>("X");
    check_inputs<T>(X, w.input_dim());
    check_targets<T>(y, X.rows());
    const double work = double(X.rows()) * gradient_flops_per_row(w.width(), w.input_dim());
    LossGradient<T> result = run_interruptible(
        [&] { return loss_gradient<T>(net.arch(), w, X, y, loss_scale); }, is_long_call(work));
    return py::make_tuple(result.loss, layers_of(std::move(result.grad)));
  }

  static void bind(py::module_& m) {
    m.def("forward", &forward, py::arg("net"), py::arg("X").noconvert(),
          "Network outputs Phi(X, w), (11.5.1) or (11.6.1).");
    m.def("jacobian", &jacobian, py::arg("net"), py::arg("X").noconvert(),
          "The m x P Jacobian dPhi/dw, columns ordered U (row-major), b, v, c.");
    m.def("ntk_gram", &ntk_gram, py::arg("net"), py::arg("X1").noconvert(),
          py::arg("X2").noconvert() = py::none(), py::arg("width_chunk") = 0,
          "Empirical tangent kernel Gram K_n(X1, X2) by the structured formula; X2=None "
          "computes the symmetric K_n(X1, X1). width_chunk bounds the hidden units processed "
          "at once (0: automatic).");
    m.def("ntk_diag", &ntk_diag, py::arg("net"), py::arg("X").noconvert(),
          "The diagonal K_n(x_k, x_k) of the tangent Gram.");
    m.def("loss_grad", &loss_grad, py::arg("net"), py::arg("X").noconvert(),
          py::arg("y").noconvert(), py::arg("loss_scale"),
          "(loss, ((gU, gb), (gv, gc))): loss_scale * |Phi(X) - y|^2 and its gradient, "
          "layer by layer.");
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
