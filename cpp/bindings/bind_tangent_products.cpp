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
  using Vec = VectorRef<T>;

  // A direction in parameter space in the layout of Network::layers, ((dU, db), (dv, dc)):
  // C-contiguous arrays of the network's dtype, held (not copied) for the call.
  struct Tangent {
    CArray<T> dU, db, dv;
    T dc;

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

    Tangent(const py::sequence& tangent, const ParamsView<T>& w) {
      if (py::len(tangent) != 2) {
        throw py::type_error("tangent: expected two layers ((dU, db), (dv, dc)), each a pair");
      }
      const py::sequence hidden = layer(tangent[0]), output = layer(tangent[1]);
      dU = array(hidden[0]);
      db = array(hidden[1]);
      dv = array(output[0]);
      dc = py::cast<T>(output[1]);
      require(dU.ndim() == 2 && dU.shape(0) == w.width() && dU.shape(1) == w.input_dim(),
              "dU: expected shape " + shape_text(w.width(), w.input_dim()) +
                  " (the shape of U), got " + array_shape(dU));
      for (const auto& [a, name] : {std::pair<const CArray<T>*, const char*>{&db, "db"},
                                    std::pair<const CArray<T>*, const char*>{&dv, "dv"}}) {
        require(a->ndim() == 1 && a->shape(0) == w.width(),
                std::string(name) + ": expected length " + std::to_string(w.width()) +
                    " (the width), got " +
                    (a->ndim() == 1 ? std::to_string(a->shape(0)) : array_shape(*a)));
      }
    }

    ParamsView<T> view() const {
      const Index n = dU.shape(0), d = dU.shape(1);
      return ParamsView<T>{Eigen::Map<const RowMatrix<T>>(dU.data(), n, d),
                           Eigen::Map<const Vector<T>>(db.data(), n),
                           Eigen::Map<const Vector<T>>(dv.data(), n), dc};
    }
  };

  // Two products of the hidden layer's size (m x n x d) and its activations.
  static double work(Index rows, const ParamsView<T>& w) {
    return double(rows) * double(w.width()) * (4.0 * double(w.input_dim()) + kActivationFlops);
  }

  static Vector<T> jvp(const Network& net, const Matrix& X, const py::sequence& tangent) {
    const ParamsView<T> w = net.params_for<T>("X");
    check_inputs<T>(X, w.input_dim());
    const Tangent held(tangent, w);
    const ParamsView<T> delta = held.view();
    const auto product = [&](Index row, Index rows) {
      return widenet::jvp<T>(net.arch(), w, delta, X.middleRows(row, rows));
    };
    return run_interruptible(
        [&] { return rows_by_bands<T>(X.rows(), work(1, w), current_stop_token(), product); },
        is_long_call(work(X.rows(), w)));
  }

  static py::tuple vjp(const Network& net, const Matrix& X, const Vec& r) {
    const ParamsView<T> w = net.params_for<T>("X");
    check_inputs<T>(X, w.input_dim());
    check_length<T>(r, X.rows(), "r", "one weight per row of X");
    Params<T> grad = run_interruptible(
        [&] { return widenet::vjp<T>(net.arch(), w, X, r); },
        is_long_call(X.rows() * gradient_flops_per_row(w.width(), w.input_dim())));
    return layers_of(std::move(grad));
  }

  static void bind(py::module_& m) {
    m.def("jvp", &jvp, py::arg("net"), py::arg("X").noconvert(), py::arg("tangent"),
          "J(X, w) delta for the direction delta = ((dU, db), (dv, dc)) in the layout of "
          "Network.layers, without forming the m x P Jacobian.");
    m.def("vjp", &vjp, py::arg("net"), py::arg("X").noconvert(), py::arg("r").noconvert(),
          "((gU, gb), (gv, gc)): J(X, w)^T r layer by layer, without forming the m x P "
          "Jacobian.");
  }
};

}  // namespace

void bind_tangent_products(py::module_& m) { bind_both_dtypes<TangentProductBinder>(m); }

}  // namespace widenet::bindings
