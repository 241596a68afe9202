#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "common.hpp"
#include "interruptible.hpp"
#include "network.hpp"
#include "records.hpp"
#include "runtime.hpp"
#include "widenet/training.hpp"

namespace widenet::bindings {
namespace {

template <typename T>
struct TrainingBinder {
  using Matrix = MatrixRef<T>;

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

  static void check_initial(const Network& initial, const Network& net, const std::string& name) {
    if (!initial.holds<T>()) {
      throw py::type_error(name + ": expected a " + dtype_name<T>() + " network (the dtype of X), got " +
                           initial.dtype());
    }
    require(initial.same_shape(net), name + ": expected the shape of the network, " + net.shape() +
                                         ", got " + initial.shape());
  }

  // The parameters of `net` to train, copied: those of one output or of k outputs.
  template <typename P>
  static P copy_of(const Network& net) {
    if constexpr (std::is_same_v<P, Params<T>>) {
      return net.view<T>().copy();
    } else {
      return net.outputs_view<T>().copy();
    }
  }

  // The targets of `net` on the rows of X: y (m,) for one output, (m, k) for k outputs.
  static Matrix targets_of(const Network& net, const CArray<T>& y, const Matrix& X) {
    return matrix_view<T>(y, X.rows(), net.outputs(), "y",
                          "one row of targets per row of X, one per output");
  }

  // Runs `train` on `net` (checked: its dtype, shape, data) with parameters of type P and
  // targets of type Targets; `outputs` is the records' last axis (0 for one output).
  template <typename P, typename Targets>
  static py::dict train_checked(const Network& net, const Network& initial, const Matrix& X,
                                const Targets& y, const TrainingOptions& options,
                                const std::optional<Matrix>& X_test) {
    P w = copy_of<P>(net);
    const TrainingSchedule& schedule = options.schedule;
    const std::vector<Index> recorded = schedule.recorded_steps();
    const Index records = Index(recorded.size());

    RecordArrays<T> arrays({}, records, X_test ? std::optional<Index>(X_test->rows()) : std::nullopt,
                           net.several_outputs() ? net.outputs() : 0);
    const P start = copy_of<P>(initial);
    const TrainingRecord<T> record = arrays.member(0, records);
    const RunEnd end = run_interruptible(
        [&] {
          return train_network<T>(net.arch(), w, start, X, y, schedule, X_test, record,
                                  options.rule);
        },
        is_long_call(work(schedule, X, X_test, net.width(), net.input_dim(), 1)));
    py::dict out;
    out["layers"] = layers_of(std::move(w));
    const std::vector<Index> done = steps_done(recorded, end);
    out["steps"] = py::array_t<Index>(py::ssize_t(done.size()), done.data());
    out["stopped_at"] = end.stopped_at;
    arrays.into(out, end.rows);
    return out;
  }

  static py::dict train_one(const Network& net, const Network& initial, const Matrix& X,
                            const CArray<T>& y, const TrainingOptions& options,
                            const std::optional<Matrix>& X_test) {
    net.output_params_for<T>("X");  // the dtype of X
    check_initial(initial, net, "initial");
    check_inputs<T>(X, net.input_dim());
    if (net.several_outputs()) {
      const Matrix Y = targets_of(net, y, X);
      if (X_test) check_inputs<T>(*X_test, net.input_dim(), "X_test");
      return train_checked<OutputParams<T>>(net, initial, X, Y, options, X_test);
    }
    const VectorRef<T> targets = vector_view<T>(y, X.rows(), "y", "one target per row of X");
    if (X_test) check_inputs<T>(*X_test, net.input_dim(), "X_test");
    return train_checked<Params<T>>(net, initial, X, targets, options, X_test);
  }

  // The networks of an ensemble: one architecture, shape and dtype; copied to be trained.
  template <typename P>
  static std::vector<P> members(const py::sequence& networks, const std::string& name,
                                const Network* like, Index count) {
    std::vector<P> out;
    const Index given = Index(py::len(networks));
    require(given >= 1, name + ": expected at least one network");
    require(count < 0 || given == count, name + ": expected " + std::to_string(count) +
                                             " networks (one per network trained), got " +
                                             std::to_string(given));
    for (Index r = 0; r < given; ++r) {
      const py::object item = networks[r];
      if (!py::isinstance<Network>(item)) {
        throw py::type_error(name + ": expected a sequence of Network, got a " +
                             std::string(py::str(py::type::handle_of(item).attr("__name__"))) +
                             " at index " + std::to_string(r));
      }
      const Network& net = item.cast<const Network&>();
      const Network& first = like ? *like : networks[0].cast<const Network&>();
      if (r == 0 && !like) {
        net.output_params_for<T>("X");
      } else {
        check_initial(net, first, name + "[" + std::to_string(r) + "]");
        require(like || (net.activation() == first.activation() &&
                         net.parametrization() == first.parametrization()),
                name + "[" + std::to_string(r) + "]: expected the architecture of " + name +
                    "[0] (" + first.activation() + ", " + first.parametrization() + "), got (" +
                    net.activation() + ", " + net.parametrization() + ")");
      }
      out.push_back(copy_of<P>(net));
    }
    return out;
  }

  // The trained parameters of R networks stacked on a leading axis, in the layout of
  // Network.layers.
  static py::tuple stacked_layers(const std::vector<Params<T>>& trained, Index n, Index d) {
    const Index R = Index(trained.size());
    CArray<T> U_out({R, n, d}), b_out({R, n}), v_out({R, n}), c_out(R);
    for (Index r = 0; r < R; ++r) {
      Eigen::Map<RowMatrix<T>>(U_out.mutable_data() + r * n * d, n, d) = trained[r].U;
      Eigen::Map<Vector<T>>(b_out.mutable_data() + r * n, n) = trained[r].b;
      Eigen::Map<Vector<T>>(v_out.mutable_data() + r * n, n) = trained[r].v;
      c_out.mutable_data()[r] = trained[r].c;
    }
    return py::make_tuple(py::make_tuple(U_out, b_out), py::make_tuple(v_out, c_out));
  }

  static py::tuple stacked_layers(const std::vector<OutputParams<T>>& trained, Index n, Index d) {
    const Index R = Index(trained.size()), k = trained[0].outputs();
    CArray<T> U_out({R, n, d}), b_out({R, n}), v_out({R, k, n}), c_out({R, k});
    for (Index r = 0; r < R; ++r) {
      Eigen::Map<RowMatrix<T>>(U_out.mutable_data() + r * n * d, n, d) = trained[r].U;
      Eigen::Map<Vector<T>>(b_out.mutable_data() + r * n, n) = trained[r].b;
      Eigen::Map<RowMatrix<T>>(v_out.mutable_data() + r * k * n, k, n) = trained[r].v;
      Eigen::Map<Vector<T>>(c_out.mutable_data() + r * k, k) = trained[r].c;
    }
    return py::make_tuple(py::make_tuple(U_out, b_out), py::make_tuple(v_out, c_out));
  }

  // Trains the checked members in parallel.
  template <typename P, typename Targets>
  static py::dict run_members(const Network& first, std::vector<P>& trained,
                              const std::vector<P>& starts, const Matrix& X, const Targets& y,
                              const TrainingOptions& options, const std::optional<Matrix>& X_test) {
    const Index R = Index(trained.size()), n = first.width(), d = first.input_dim();
    const TrainingSchedule& schedule = options.schedule;
    const std::vector<Index> recorded = schedule.recorded_steps();
    const Index records = Index(recorded.size());

    RecordArrays<T> arrays({py::ssize_t(R)}, records,
                           X_test ? std::optional<Index>(X_test->rows()) : std::nullopt,
                           first.several_outputs() ? first.outputs() : 0);
    std::vector<TrainingRecord<T>> member_records;
    for (Index r = 0; r < R; ++r) member_records.push_back(arrays.member(r, records));
    const std::vector<RunEnd> ends = run_interruptible([&] {
      SingleThreadedBlas guard(R > 1);
      return train_ensemble<T>(first.arch(), trained, starts, X, y, schedule, X_test,
                               member_records, options.rule);
    }, is_long_call(work(schedule, X, X_test, n, d, R)));
    py::dict out;
    out["layers"] = stacked_layers(trained, n, d);
    ensemble_records_into(out, arrays, recorded, ends);
    return out;
  }

  // The members (parameters of type P), then the data, checked; then the run.
  template <typename P>
  static py::dict train_members(const py::sequence& networks, const py::sequence& initial,
                                const Matrix& X, const CArray<T>& y,
                                const TrainingOptions& options,
                                const std::optional<Matrix>& X_test) {
    std::vector<P> trained = members<P>(networks, "networks", nullptr, -1);
    const Network& first = networks[0].cast<const Network&>();
    const std::vector<P> starts = members<P>(initial, "initial", &first, Index(trained.size()));
    check_inputs<T>(X, first.input_dim());
    if constexpr (std::is_same_v<P, Params<T>>) {
      const VectorRef<T> targets = vector_view<T>(y, X.rows(), "y", "one target per row of X");
      if (X_test) check_inputs<T>(*X_test, first.input_dim(), "X_test");
      return run_members(first, trained, starts, X, targets, options, X_test);
    } else {
      const Matrix targets = targets_of(first, y, X);
      if (X_test) check_inputs<T>(*X_test, first.input_dim(), "X_test");
      return run_members(first, trained, starts, X, targets, options, X_test);
    }
  }

  static py::dict train_many(const py::sequence& networks, const py::sequence& initial,
                             const Matrix& X, const CArray<T>& y, const TrainingOptions& options,
                             const std::optional<Matrix>& X_test) {
    // the layout of the first network decides; the members' checks hold the others to it
    const bool several = py::len(networks) >= 1 && py::isinstance<Network>(networks[0]) &&
                         networks[0].cast<const Network&>().several_outputs();
    if (several) return train_members<OutputParams<T>>(networks, initial, X, y, options, X_test);
    return train_members<Params<T>>(networks, initial, X, y, options, X_test);
  }

  static void bind(py::module_& m) {
    m.def("train", &train_one, py::arg("net"), py::arg("initial"), py::arg("X").noconvert(),
          py::arg("y").noconvert(), py::arg("options"),
          py::arg("X_test").noconvert() = py::none(),
          "Gradient descent from the parameters of net; distances are measured from those of "
          "initial. y is (m,), or (m, k) for a network of k outputs (test outputs then have a "
          "last axis of k). Returns a dict of the final parameters (layers, in the layout of "
          "Network.layers) and the records. Stops at the first step whose loss is not finite or "
          "exceeds options.divergence_factor times the reference loss (stopped_at, the last "
          "record; -1 when it ran to the end); Ctrl-C raises KeyboardInterrupt.");
    m.def("train_ensemble", &train_many, py::arg("networks"), py::arg("initial"),
          py::arg("X").noconvert(), py::arg("y").noconvert(), py::arg("options"),
          py::arg("X_test").noconvert() = py::none(),
          "Trains R independent networks of one architecture and shape (and initial, R "
          "networks of distance references) in parallel over networks. The final parameters "
          "are stacked layers ((U (R, n, d), b (R, n)), (v (R, n), c (R,))), v (R, k, n) and c "
          "(R, k) for networks of k outputs (y (m, k)). A network whose loss "
          "diverges stops alone (stopped_at per network; its later records are NaN); Ctrl-C "
          "raises KeyboardInterrupt.");
  }
};

}  // namespace

void bind_training(py::module_& m) {
  bind_both_dtypes<TrainingBinder>(m);
  m.attr("DIVERGENCE_FACTOR") = kDivergenceFactor;
  m.def(
      "recorded_count",
      [](Index steps, Index record_every) {
        require(steps >= 0, "steps: expected a non-negative integer, got " + std::to_string(steps));
        require(record_every >= 1, "record_every: expected a positive integer, got " +
                                       std::to_string(record_every));
        return TrainingSchedule{1.0, steps, record_every, 1.0}.recorded_count();
      },
      py::arg("steps"), py::arg("record_every"),
      "How many steps a run records: 0, record_every, 2 record_every, ... below steps, and "
      "steps itself (saturating at the largest int64).");
  m.def(
      "recorded_steps",
      [](Index steps, Index record_every) {
        const std::vector<Index> recorded =
            schedule_from(1.0, steps, record_every, 1.0).recorded_steps();
        CArray<std::int64_t> out({py::ssize_t(recorded.size())});
        std::copy(recorded.begin(), recorded.end(), out.mutable_data());
        return out;
      },
      py::arg("steps"), py::arg("record_every"),
      "The steps a run records (int64): 0, record_every, 2 record_every, ... below steps, and "
      "steps itself. A count whose array could not be addressed raises ValueError naming "
      "record_every.");
}

}  // namespace widenet::bindings
