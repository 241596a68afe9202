#include <cmath>
#include <optional>
#include <vector>

#include "common.hpp"
#include "interruptible.hpp"
#include "records.hpp"
#include "widenet/linear_dynamics.hpp"

namespace widenet::bindings {
namespace {

template <typename T>
struct LinearDynamicsBinder {
  using Matrix = MatrixRef<T>;
  using Vec = VectorRef<T>;

  static std::optional<TestPoints<T>> test_points(const std::optional<Matrix>& cross,
                                                  const std::optional<Vec>& test_initial,
                                                  Index m) {
    require(cross.has_value() == test_initial.has_value(),
            "cross, test_initial: expected both or neither, got only " +
                std::string(cross ? "cross" : "test_initial"));
    if (!cross) return std::nullopt;
    require(cross->cols() == m, "cross: expected shape (t, " + std::to_string(m) +
                                    ") (test points x training points), got " +
                                    shape_text(cross->rows(), cross->cols()));
    check_length<T>(*test_initial, cross->rows(), "test_initial", "one output per row of cross");
    return TestPoints<T>{*cross, *test_initial};
  }

  static py::dict linear_gd(const Matrix& theta, const Vec& residual, double lr, double loss_scale,
                            Index steps, Index record_every, const std::optional<Matrix>& cross,
                            const std::optional<Vec>& test_initial,
                            const std::optional<Vec>& offset_outputs, double offset_squared_norm,
                            double divergence_factor) {
    const StopRule rule = stop_rule(divergence_factor);
    const Index m = theta.rows();
    require(m >= 1 && theta.cols() == m,
            "theta: expected a non-empty square (m, m) matrix, got " + shape_text(m, theta.cols()));
    check_length<T>(residual, m, "residual", "the size of theta");
    const std::optional<TestPoints<T>> test = test_points(cross, test_initial, m);
    require(std::isfinite(offset_squared_norm) && offset_squared_norm >= 0,
            "offset_squared_norm: expected a finite non-negative number, got " +
                std::to_string(offset_squared_norm));
    std::optional<Offset<T>> offset;
    if (offset_outputs) {
      check_length<T>(*offset_outputs, m, "offset_outputs", "the size of theta");
      offset.emplace(Offset<T>{*offset_outputs, offset_squared_norm});
    }
    const TrainingSchedule schedule = schedule_from(lr, steps, record_every, loss_scale);
    // losses, distances, a residual of m and t test outputs at every recorded step
    const Index per_record = 2 + m + (test ? test->cross.rows() : 0);
    const Index records = checked_record_count<T>(schedule, per_record, 1);
    const std::vector<Index> recorded = schedule.recorded_steps();

    RecordArrays<T> arrays({}, records,
                           test ? std::optional<Index>(test->cross.rows()) : std::nullopt);
    CArray<T> residuals({records, m}), coefficients(m);
    const TrainingRecord<T> common = arrays.member(0, records);
    const LinearRecord<T> record{common.losses, common.distances, residuals.mutable_data(),
                                 common.test_outputs, coefficients.mutable_data()};
    // one symmetric matrix-vector product per step, and the test outputs at the records
    const double work = double(m) * double(m) * (double(steps) + 1.0) +
                        (test ? 2.0 * double(test->cross.size()) * double(records) : 0.0);
    const auto run = [&] {
      return widenet::linear_gd<T>(theta, residual, schedule, test, offset, record, rule);
    };
    const RunEnd end = run_interruptible(run, is_long_call(work));
    py::dict out;
    const std::vector<Index> done = steps_done(recorded, end);
    out["steps"] = py::array_t<Index>(py::ssize_t(done.size()), done.data());
    out["stopped_at"] = end.stopped_at;
    arrays.into(out);
    out["residuals"] = residuals;
    out["coefficients"] = coefficients;
    return out;
  }

  static void bind(py::module_& m) {
    m.def("linear_gd", &linear_gd, py::arg("theta").noconvert(), py::arg("residual").noconvert(),
          py::arg("lr"), py::arg("loss_scale"), py::arg("steps"), py::arg("record_every"),
          py::arg("cross").noconvert() = py::none(),
          py::arg("test_initial").noconvert() = py::none(),
          py::arg("offset_outputs").noconvert() = py::none(), py::arg("offset_squared_norm") = 0.0,
          py::arg("divergence_factor") = kDivergenceFactor,
          "Gradient descent on the linearized model in function space, from the tangent Gram "
          "theta (symmetric; its lower triangle is read) and the initial residual. Returns a "
          "dict of the recorded steps, losses, distances |p_k - w0|, residuals, test outputs "
          "(with cross = K_n(X_test, X) and test_initial = Phi(X_test, w0)) and the final "
          "coefficients a with p - p_0 = -J0^T a. A run that starts at p_0 = w0 + delta away from w0 "
          "passes offset_outputs = J0 delta and offset_squared_norm = |delta|^2 for its distances.");
  }
};

}  // namespace

void bind_linear_dynamics(py::module_& m) { bind_both_dtypes<LinearDynamicsBinder>(m); }

}  // namespace widenet::bindings
