#include "common.hpp"
#include "interruptible.hpp"
#include "network.hpp"
#include "widenet/bounded_products.hpp"
#include "widenet/tangent_products.hpp"

namespace widenet::bindings {
namespace {

template <typename T>
struct TangentProductBinder {
  using Matrix = MatrixRef<T>;

  // A direction in parameter space in the layout of Network::layers, ((dU, db), (dv, dc)):
  // C-contiguous arrays of the network's dtype, held (not copied) for the call. For a
  // network of k outputs dv is (k, n) and dc an array of k entries, else dv is (n,) and dc
  // a number.
  struct Tangent {
    CArray<T> dU, db, dv, dc_array;
    T dc = T(0);

    static CArray<T> array(const py::handle& item) {
      if (!CArray<T>::check_(item)) {
        throw py::type_error(std::string("tangent: expected C-contiguous ") + dtype_name<T>() +
                             " arrays in ((dU, db), (dv, dc)), got " +
                             std::string(py::str(py::type::handle_of(item).attr("__name__"))) +
                             (py::isinstance<py::array>(item)
                                  ? " of dtype " + std::string(py::str(item.attr("dtype")))
                                  : std::string()));
      }
      return py::reinterpret_borrow<CArray<T>>(item);
    }

    static py::sequence layer(const py::handle& item) {
      if (!py::isinstance<py::sequence>(item) || py::len(item) != 2) {
        throw py::type_error("tangent: expected two layers ((dU, db), (dv, dc)), each a pair");
      }
      return py::reinterpret_borrow<py::sequence>(item);
    }

    Tangent(const py::sequence& tangent, const Network& net) {
      if (py::len(tangent) != 2) {
        throw py::type_error("tangent: expected two layers ((dU, db), (dv, dc)), each a pair");
      }
      const py::sequence hidden = layer(tangent[0]), output = layer(tangent[1]);
      const Index n = net.width(), k = net.outputs();
      dU = array(hidden[0]);
      db = array(hidden[1]);
      dv = array(output[0]);
      require(dU.ndim() == 2 && dU.shape(0) == n && dU.shape(1) == net.input_dim(),
              "dU: expected shape " + shape_text(n, net.input_dim()) + " (the shape of U), got " +
                  array_shape(dU));
      vector_view<T>(db, n, "db", "the width");
      if (net.several_outputs()) {
        matrix_view<T>(dv, k, n, "dv", "the shape of v");
        dc_array = array(output[1]);
        vector_view<T>(dc_array, k, "dc", "the outputs");
      } else {
        vector_view<T>(dv, n, "dv", "the width");
        dc = py::cast<T>(output[1]);
      }
    }

    ParamsView<T> view() const {
      const Index n = dU.shape(0), d = dU.shape(1);
      return ParamsView<T>{Eigen::Map<const RowMatrix<T>>(dU.data(), n, d),
                           Eigen::Map<const Vector<T>>(db.data(), n),
                           Eigen::Map<const Vector<T>>(dv.data(), n), dc};
    }

    OutputParamsView<T> outputs_view() const {
      const Index n = dU.shape(0), d = dU.shape(1), k = dv.shape(0);
      return OutputParamsView<T>{Eigen::Map<const RowMatrix<T>>(dU.data(), n, d),
                                 Eigen::Map<const Vector<T>>(db.data(), n),
                                 Eigen::Map<const RowMatrix<T>>(dv.data(), k, n),
                                 Eigen::Map<const Vector<T>>(dc_array.data(), k)};
    }
  };

  // Two products of the hidden layer's size (m x n x d) and its activations.
  template <typename P>
  static double work(Index rows, const P& w) {
    return double(rows) * double(w.width()) * (4.0 * double(w.input_dim()) + kActivationFlops);
  }

  // J delta: (m,), or (m, k) for a network of k outputs.
  static py::object jvp(const Network& net, const Matrix& X, const py::sequence& tangent) {
    if (net.several_outputs()) {
      const OutputParamsView<T> w = net.output_params_for<T>("X");
      check_inputs<T>(X, w.input_dim());
      const Tangent held(tangent, net);
      const OutputParamsView<T> delta = held.outputs_view();
      const auto product = [&](Index row, Index rows) {
        return jvp_outputs<T>(net.arch(), w, delta, X.middleRows(row, rows));
      };
      return py::cast(run_interruptible([&] {
        return rows_by_bands<T>(X.rows(), w.outputs(), work(1, w), current_stop_token(), product);
      }, is_long_call(work(X.rows(), w))));
    }
    const ParamsView<T> w = net.params_for<T>("X");
    check_inputs<T>(X, w.input_dim());
    const Tangent held(tangent, net);
    const ParamsView<T> delta = held.view();
    const auto product = [&](Index row, Index rows) {
      return widenet::jvp<T>(net.arch(), w, delta, X.middleRows(row, rows));
    };
    return py::cast(run_interruptible(
        [&] { return rows_by_bands<T>(X.rows(), work(1, w), current_stop_token(), product); },
        is_long_call(work(X.rows(), w))));
  }

  // J^T r for r (m,), or (m, k) for a network of k outputs.
  static py::tuple vjp(const Network& net, const Matrix& X, const CArray<T>& r) {
    if (net.several_outputs()) {
      const OutputParamsView<T> w = net.output_params_for<T>("X");
      check_inputs<T>(X, w.input_dim());
      const MatrixRef<T> R =
          matrix_view<T>(r, X.rows(), w.outputs(), "r", "a row of weights per row of X");
      const double flops =
          double(X.rows()) * gradient_flops_per_row(w.width(), w.input_dim(), w.outputs());
      OutputParams<T> grad = run_interruptible(
          [&] { return widenet::vjp<T>(net.arch(), w, X, R); }, is_long_call(flops));
      return layers_of(std::move(grad));
    }
    const ParamsView<T> w = net.params_for<T>("X");
    check_inputs<T>(X, w.input_dim());
    const VectorRef<T> weights = vector_view<T>(r, X.rows(), "r", "one weight per row of X");
    Params<T> grad = run_interruptible(
        [&] { return widenet::vjp<T>(net.arch(), w, X, weights); },
        is_long_call(X.rows() * gradient_flops_per_row(w.width(), w.input_dim())));
    return layers_of(std::move(grad));
  }

  static void bind(py::module_& m) {
    m.def("jvp", &jvp, py::arg("net"), py::arg("X").noconvert(), py::arg("tangent"),
          "J(X, w) delta for the direction delta = ((dU, db), (dv, dc)) in the layout of "
          "Network.layers, without forming the m x P Jacobian: (m,), or (m, k) for a network "
          "of k outputs.");
    m.def("vjp", &vjp, py::arg("net"), py::arg("X").noconvert(), py::arg("r").noconvert(),
          "((gU, gb), (gv, gc)): J(X, w)^T r layer by layer, without forming the m x P "
          "Jacobian; r is (m,), or (m, k) for a network of k outputs.");
  }
};

}  // namespace

void bind_tangent_products(py::module_& m) { bind_both_dtypes<TangentProductBinder>(m); }

}  // namespace widenet::bindings
