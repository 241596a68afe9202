#include "common.hpp"
#include "interruptible.hpp"
#include "widenet/bounded_products.hpp"
#include "widenet/tangent_products.hpp"

namespace widenet::bindings {
namespace {

template <typename T>
struct TangentProductBinder {
  using Matrix = MatrixRef<T>;
  using Vec = VectorRef<T>;

  static Vector<T> jvp(const Matrix& X, const Matrix& U, const Vec& b, const Vec& v, T c,
                       const Matrix& dU, const Vec& db, const Vec& dv, T dc,
                       const std::string& activation, const std::string& parametrization) {
    const Architecture arch = architecture(activation, parametrization);
    check_params<T>(U, b, v);
    check_inputs<T>(X, U.cols());
    require(dU.rows() == U.rows() && dU.cols() == U.cols(),
            "dU: expected shape " + shape_text(U.rows(), U.cols()) + " (the shape of U), got " +
                shape_text(dU.rows(), dU.cols()));
    check_length<T>(db, U.rows(), "db", "the width");
    check_length<T>(dv, U.rows(), "dv", "the width");
    const ParamsView<T> w{U, b, v, c};
    const ParamsView<T> delta{dU, db, dv, dc};
    const auto product = [&](Index row, Index rows) {
      return widenet::jvp<T>(arch, w, delta, X.middleRows(row, rows));
    };
    return run_interruptible(
        [&] { return rows_by_bands<T>(X.rows(), work(1, U), current_stop_token(), product); },
        is_long_call(work(X.rows(), U)));
  }

  // Two products of the hidden layer's size (m x n x d) and its activations.
  static double work(Index rows, const Matrix& U) {
    return double(rows) * double(U.rows()) * (4.0 * double(U.cols()) + kActivationFlops);
  }

  static py::tuple vjp(const Matrix& X, const Vec& r, const Matrix& U, const Vec& b, const Vec& v,
                       T c, const std::string& activation, const std::string& parametrization) {
    const Architecture arch = architecture(activation, parametrization);
    check_params<T>(U, b, v);
    check_inputs<T>(X, U.cols());
    check_length<T>(r, X.rows(), "r", "one weight per row of X");
    const ParamsView<T> w{U, b, v, c};
    Params<T> grad = run_interruptible(
        [&] { return widenet::vjp<T>(arch, w, X, r); },
        is_long_call(X.rows() * gradient_flops_per_row(U.rows(), U.cols())));
    return py::make_tuple(std::move(grad.U), std::move(grad.b), std::move(grad.v), grad.c);
  }

  static void bind(py::module_& m) {
    m.def("jvp", &jvp, py::arg("X").noconvert(), py::arg("U").noconvert(),
          py::arg("b").noconvert(), py::arg("v").noconvert(), py::arg("c"),
          py::arg("dU").noconvert(), py::arg("db").noconvert(), py::arg("dv").noconvert(),
          py::arg("dc"), py::arg("activation"), py::arg("parametrization"),
          "J(X, w) delta for delta = (dU, db, dv, dc) in the parameter layout, without "
          "forming the m x P Jacobian.");
    m.def("vjp", &vjp, py::arg("X").noconvert(), py::arg("r").noconvert(),
          py::arg("U").noconvert(), py::arg("b").noconvert(), py::arg("v").noconvert(),
          py::arg("c"), py::arg("activation"), py::arg("parametrization"),
          "(gU, gb, gv, gc): the blocks of J(X, w)^T r, without forming the m x P Jacobian.");
  }
};

}  // namespace

void bind_tangent_products(py::module_& m) { bind_both_dtypes<TangentProductBinder>(m); }

}  // namespace widenet::bindings
