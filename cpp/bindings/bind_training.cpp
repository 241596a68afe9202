#include <optional>
#include <vector>

#include "common.hpp"
#include "interruptible.hpp"
#include "records.hpp"
#include "runtime.hpp"
#include "widenet/training.hpp"

namespace widenet::bindings {
namespace {

template <typename T>
struct TrainingBinder {
  using Matrix = MatrixRef<T>;
  using Vec = VectorRef<T>;

  // Three hidden-layer products per step and network (forward, two for the gradient), and
  // the test outputs at the recorded steps.
  static double work(const TrainingSchedule& schedule, const Matrix& X,
                     const std::optional<Matrix>& X_test, Index width, Index input_dim,
                     Index networks) {
    const double per_point = 2.0 * double(width) * double(input_dim) * double(networks);
    // in double: steps + 1 overflows an Index at steps = 2^63 - 1
    const double records = double(schedule.recorded_count());
    return per_point * (3.0 * double(X.rows()) * (double(schedule.steps) + 1.0) +
                        (X_test ? double(X_test->rows()) * records : 0.0));
  }

  static py::dict train_one(const Matrix& X, const Vec& y, const Matrix& U, const Vec& b,
                            const Vec& v, T c, const Matrix& U0, const Vec& b0, const Vec& v0,
                            T c0, const std::string& activation,
                            const std::string& parametrization, double lr, Index steps,
                            Index record_every, const std::optional<Matrix>& X_test,
                            double loss_scale, double divergence_factor) {
    const Architecture arch = architecture(activation, parametrization);
    const StopRule rule = stop_rule(divergence_factor);
    check_params<T>(U, b, v);
    check_params<T>(U0, b0, v0, "0");
    require(U0.rows() == U.rows() && U0.cols() == U.cols(),
            "U0: expected the shape of U, " + shape_text(U.rows(), U.cols()));
    check_inputs<T>(X, U.cols());
    check_targets<T>(y, X.rows());
    if (X_test) check_inputs<T>(*X_test, U.cols(), "X_test");
    const TrainingSchedule schedule = schedule_from(lr, steps, record_every, loss_scale);
    const std::vector<Index> recorded = schedule.recorded_steps();
    const Index records = Index(recorded.size());

    RecordArrays<T> arrays({}, records,
                           X_test ? std::optional<Index>(X_test->rows()) : std::nullopt);
    Params<T> w{U, b, v, c};
    const Params<T> initial{U0, b0, v0, c0};
    const TrainingRecord<T> record = arrays.member(0, records);
    const RunEnd end = run_interruptible(
        [&] { return train_network<T>(arch, w, initial, X, y, schedule, X_test, record, rule); },
        is_long_call(work(schedule, X, X_test, U.rows(), U.cols(), 1)));
    py::dict out;
    out["U"] = std::move(w.U);
    out["b"] = std::move(w.b);
    out["v"] = std::move(w.v);
    out["c"] = w.c;
    const std::vector<Index> done = steps_done(recorded, end);
    out["steps"] = py::array_t<Index>(py::ssize_t(done.size()), done.data());
    out["stopped_at"] = end.stopped_at;
    arrays.into(out);
    return out;
  }

  // Stacked parameters (R, n, d), (R, n), (R, n), (R,) into one Params per network.
  static std::vector<Params<T>> unstack(const CArray<T>& U, const CArray<T>& b,
                                        const CArray<T>& v, const CArray<T>& c,
                                        const std::string& suffix) {
    require(U.ndim() == 3 && U.shape(0) >= 1 && U.shape(1) >= 1 && U.shape(2) >= 1,
            "U" + suffix + ": expected a non-empty (networks, width, input_dim) array");
    const Index R = U.shape(0), n = U.shape(1), d = U.shape(2);
    const auto stacked = [&](const CArray<T>& a, const std::string& name, bool per_unit) {
      const bool ok = per_unit ? (a.ndim() == 2 && a.shape(0) == R && a.shape(1) == n)
                               : (a.ndim() == 1 && a.shape(0) == R);
      require(ok, name + suffix + ": expected shape " +
                      (per_unit ? shape_text(R, n) : "(" + std::to_string(R) + ",)") +
                      " to match U" + suffix);
    };
    stacked(b, "b", true);
    stacked(v, "v", true);
    stacked(c, "c", false);
    std::vector<Params<T>> out(R);
    for (Index r = 0; r < R; ++r) {
      out[r].U = Eigen::Map<const RowMatrix<T>>(U.data() + r * n * d, n, d);
      out[r].b = Eigen::Map<const Vector<T>>(b.data() + r * n, n);
      out[r].v = Eigen::Map<const Vector<T>>(v.data() + r * n, n);
      out[r].c = c.data()[r];
    }
    return out;
  }

  static py::dict train_many(const Matrix& X, const Vec& y, const CArray<T>& U,
                             const CArray<T>& b, const CArray<T>& v, const CArray<T>& c,
                             const CArray<T>& U0, const CArray<T>& b0, const CArray<T>& v0,
                             const CArray<T>& c0, const std::string& activation,
                             const std::string& parametrization, double lr, Index steps,
                             Index record_every, const std::optional<Matrix>& X_test,
                             double loss_scale, double divergence_factor) {
    const Architecture arch = architecture(activation, parametrization);
    const StopRule rule = stop_rule(divergence_factor);
    std::vector<Params<T>> networks = unstack(U, b, v, c, "");
    const std::vector<Params<T>> initial = unstack(U0, b0, v0, c0, "0");
    require(U0.shape(0) == U.shape(0) && U0.shape(1) == U.shape(1) && U0.shape(2) == U.shape(2),
            "U0: expected the shape of U");
    const Index R = Index(networks.size()), n = U.shape(1), d = U.shape(2);
    check_inputs<T>(X, d);
    check_targets<T>(y, X.rows());
    if (X_test) check_inputs<T>(*X_test, d, "X_test");
    const TrainingSchedule schedule = schedule_from(lr, steps, record_every, loss_scale);
    const std::vector<Index> recorded = schedule.recorded_steps();
    const Index records = Index(recorded.size());

    RecordArrays<T> arrays({py::ssize_t(R)}, records,
                           X_test ? std::optional<Index>(X_test->rows()) : std::nullopt);
    std::vector<TrainingRecord<T>> members;
    for (Index r = 0; r < R; ++r) members.push_back(arrays.member(r, records));
    const std::vector<RunEnd> ends = run_interruptible([&] {
      SingleThreadedBlas guard(R > 1);
      return train_ensemble<T>(arch, networks, initial, X, y, schedule, X_test, members, rule);
    }, is_long_call(work(schedule, X, X_test, n, d, R)));
    CArray<Index> stopped_at(R);
    for (Index r = 0; r < R; ++r) stopped_at.mutable_data()[r] = ends[r].stopped_at;
    CArray<T> U_out({R, n, d}), b_out({R, n}), v_out({R, n}), c_out(R);
    for (Index r = 0; r < R; ++r) {
      Eigen::Map<RowMatrix<T>>(U_out.mutable_data() + r * n * d, n, d) = networks[r].U;
      Eigen::Map<Vector<T>>(b_out.mutable_data() + r * n, n) = networks[r].b;
      Eigen::Map<Vector<T>>(v_out.mutable_data() + r * n, n) = networks[r].v;
      c_out.mutable_data()[r] = networks[r].c;
    }
    py::dict out;
    out["U"] = U_out;
    out["b"] = b_out;
    out["v"] = v_out;
    out["c"] = c_out;
    out["steps"] = py::array_t<Index>(py::ssize_t(records), recorded.data());
    out["stopped_at"] = stopped_at;  // per network: its last row is that step; later rows NaN
    arrays.into(out);
    return out;
  }

  static void bind(py::module_& m) {
    m.def("train", &train_one, py::arg("X").noconvert(), py::arg("y").noconvert(),
          py::arg("U").noconvert(), py::arg("b").noconvert(), py::arg("v").noconvert(),
          py::arg("c"), py::arg("U0").noconvert(), py::arg("b0").noconvert(),
          py::arg("v0").noconvert(), py::arg("c0"), py::arg("activation"),
          py::arg("parametrization"), py::arg("lr"), py::arg("steps"), py::arg("record_every"),
          py::arg("X_test").noconvert(), py::arg("loss_scale"),
          py::arg("divergence_factor") = kDivergenceFactor,
          "Gradient descent from (U, b, v, c); distances are measured from (U0, b0, v0, c0). "
          "Returns a dict of the final parameters and the records. Stops at the first step whose "
          "loss is not finite or exceeds divergence_factor times the reference loss "
          "(stopped_at; -1 when it ran to the end); Ctrl-C raises KeyboardInterrupt.");
    m.def("train_ensemble", &train_many, py::arg("X").noconvert(), py::arg("y").noconvert(),
          py::arg("U").noconvert(), py::arg("b").noconvert(), py::arg("v").noconvert(),
          py::arg("c").noconvert(), py::arg("U0").noconvert(), py::arg("b0").noconvert(),
          py::arg("v0").noconvert(), py::arg("c0").noconvert(), py::arg("activation"),
          py::arg("parametrization"), py::arg("lr"), py::arg("steps"), py::arg("record_every"),
          py::arg("X_test").noconvert(), py::arg("loss_scale"),
          py::arg("divergence_factor") = kDivergenceFactor,
          "Trains R independent networks with stacked parameters (R, n, d), (R, n), (R, n), "
          "(R,), in parallel over networks. A network whose loss diverges stops alone "
          "(stopped_at per network); Ctrl-C raises KeyboardInterrupt.");
  }
};

}  // namespace

void bind_training(py::module_& m) {
  bind_both_dtypes<TrainingBinder>(m);
  m.attr("DIVERGENCE_FACTOR") = kDivergenceFactor;
}

}  // namespace widenet::bindings
