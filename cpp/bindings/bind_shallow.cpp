#include <optional>

#include "common.hpp"
#include "interruptible.hpp"
#include "widenet/bounded_products.hpp"
#include "widenet/gradient.hpp"
#include "widenet/tangent_gram.hpp"

namespace widenet::bindings {
namespace {

template <typename T>
struct ShallowBinder {
  using Matrix = MatrixRef<T>;
  using Vec = VectorRef<T>;

  static ParamsView<T> view(const Matrix& U, const Vec& b, const Vec& v, T c) {
    check_params<T>(U, b, v);
    return ParamsView<T>{U, b, v, c};
  }

  // The hidden layer of `rows` points in flops: the m x n x d product and the activations.
  static double hidden_work(Index rows, const ParamsView<T>& w) {
    return double(rows) * double(w.width()) * (2.0 * double(w.input_dim()) + kActivationFlops);
  }

  // In bands of rows, each a hidden-layer product of bounded work (and memory).
  static Vector<T> forward(const Matrix& X, const Matrix& U, const Vec& b, const Vec& v, T c,
                           const std::string& activation, const std::string& parametrization) {
    const Architecture arch = architecture(activation, parametrization);
    const ParamsView<T> w = view(U, b, v, c);
    check_inputs<T>(X, w.input_dim());
    const auto outputs = [&](Index row, Index rows) {
      return widenet::forward<T>(arch, w, X.middleRows(row, rows));
    };
    return run_interruptible([&] {
      return rows_by_bands<T>(X.rows(), hidden_work(1, w), current_stop_token(), outputs);
    }, is_long_call(hidden_work(X.rows(), w)));
  }

  static RowMatrix<T> jacobian(const Matrix& X, const Matrix& U, const Vec& b, const Vec& v,
                               T c, const std::string& activation,
                               const std::string& parametrization) {
    const Architecture arch = architecture(activation, parametrization);
    const ParamsView<T> w = view(U, b, v, c);
    check_inputs<T>(X, w.input_dim());
    return run_interruptible([&] { return widenet::jacobian<T>(arch, w, X); },
                             is_long_call(hidden_work(X.rows(), w)));
  }

  static RowMatrix<T> ntk_gram(const Matrix& X1, const std::optional<Matrix>& X2, const Matrix& U,
                               const Vec& b, const Vec& v, T c, const std::string& activation,
                               const std::string& parametrization, Index width_chunk) {
    const Architecture arch = architecture(activation, parametrization);
    const ParamsView<T> w = view(U, b, v, c);
    check_inputs<T>(X1, w.input_dim(), "X1");
    if (X2) check_inputs<T>(*X2, w.input_dim(), "X2");
    require(width_chunk >= 0, "width_chunk: expected a non-negative integer (0 = automatic)");
    const double products = 2.0 * double(X1.rows()) * double(X2 ? X2->rows() : X1.rows()) *
                            double(w.width());
    return run_interruptible([&] {
      if (!X2) return tangent_gram_symmetric<T>(arch, w, X1, width_chunk);
      return tangent_gram<T>(arch, w, X1, *X2, width_chunk);
    }, is_long_call(products + hidden_work(X1.rows(), w)));
  }

  static Vector<T> ntk_diag(const Matrix& X, const Matrix& U, const Vec& b, const Vec& v, T c,
                            const std::string& activation, const std::string& parametrization) {
    const Architecture arch = architecture(activation, parametrization);
    const ParamsView<T> w = view(U, b, v, c);
    check_inputs<T>(X, w.input_dim());
    const auto diagonal = [&](Index row, Index rows) {
      return tangent_gram_diagonal<T>(arch, w, X.middleRows(row, rows));
    };
    return run_interruptible([&] {
      return rows_by_bands<T>(X.rows(), hidden_work(1, w), current_stop_token(), diagonal);
    }, is_long_call(hidden_work(X.rows(), w)));
  }

  static py::tuple loss_grad(const Matrix& X, const Vec& y, const Matrix& U, const Vec& b,
                             const Vec& v, T c, const std::string& activation,
                             const std::string& parametrization, T loss_scale) {
    const Architecture arch = architecture(activation, parametrization);
    const ParamsView<T> w = view(U, b, v, c);
    check_inputs<T>(X, w.input_dim());
    check_targets<T>(y, X.rows());
    const double work = double(X.rows()) * gradient_flops_per_row(w.width(), w.input_dim());
    LossGradient<T> result = run_interruptible(
        [&] { return loss_gradient<T>(arch, w, X, y, loss_scale); }, is_long_call(work));
    return py::make_tuple(result.loss, std::move(result.grad.U), std::move(result.grad.b),
                          std::move(result.grad.v), result.grad.c);
  }

  static void bind(py::module_& m) {
    const auto params = [] {
      return std::make_tuple(py::arg("U").noconvert(), py::arg("b").noconvert(),
                             py::arg("v").noconvert(), py::arg("c"));
    };
    const auto [U, b, v, c] = params();
    m.def("forward", &forward, py::arg("X").noconvert(), U, b, v, c, py::arg("activation"),
          py::arg("parametrization"), "Network outputs Phi(X, w), (11.5.1) or (11.6.1).");
    m.def("jacobian", &jacobian, py::arg("X").noconvert(), U, b, v, c, py::arg("activation"),
          py::arg("parametrization"),
          "The m x P Jacobian dPhi/dw, columns ordered U (row-major), b, v, c.");
    m.def("ntk_gram", &ntk_gram, py::arg("X1").noconvert(), py::arg("X2").noconvert(), U, b, v,
          c, py::arg("activation"), py::arg("parametrization"), py::arg("width_chunk") = 0,
          "Empirical tangent kernel Gram K_n(X1, X2) by the structured formula; X2=None "
          "computes the symmetric K_n(X1, X1).");
    m.def("ntk_diag", &ntk_diag, py::arg("X").noconvert(), U, b, v, c, py::arg("activation"),
          py::arg("parametrization"), "The diagonal K_n(x_k, x_k) of the tangent Gram.");
    m.def("loss_grad", &loss_grad, py::arg("X").noconvert(), py::arg("y").noconvert(), U, b, v,
          c, py::arg("activation"), py::arg("parametrization"), py::arg("loss_scale"),
          "(loss, grad_U, grad_b, grad_v, grad_c) of loss_scale * |Phi(X) - y|^2.");
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
