// The gradient-descent schedule and the record arrays shared by the training bindings
// (the network, and the linearized model in function space).
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "common.hpp"
#include "widenet/training.hpp"

namespace widenet::bindings {

// The number of records of `schedule` for `networks` runs that keep `per_record` numbers of
// type T at each recorded step. Counts whose arrays could not exist (more bytes than an
// array can address) are refused by name instead of overflowing a size.
template <typename T>
Index checked_record_count(const TrainingSchedule& schedule, Index per_record, Index networks) {
  constexpr Index largest = std::numeric_limits<Index>::max() / Index(sizeof(T));
  per_record = std::max<Index>(per_record, 1);
  networks = std::max<Index>(networks, 1);
  // The count is at most steps / record_every + 2, which itself may not fit in an Index.
  const Index intervals = schedule.steps / schedule.record_every;
  const bool fits =
      per_record <= largest / networks && intervals <= largest / (per_record * networks) - 2;
  require(fits, "record_every: about " + std::to_string(intervals) + " recorded steps (steps = " +
                    std::to_string(schedule.steps) + ", record_every = " +
                    std::to_string(schedule.record_every) + ") of " +
                    std::to_string(per_record) + " numbers each, for " + std::to_string(networks) +
                    " run(s), cannot be allocated; expected a larger record_every");
  return schedule.recorded_count();
}

inline TrainingSchedule schedule_from(double lr, Index steps, Index record_every,
                                      double loss_scale) {
  require(std::isfinite(lr) && lr > 0, "lr: expected a finite positive step size, got " +
                                           std::to_string(lr));
  require(steps >= 0, "steps: expected a non-negative integer, got " + std::to_string(steps));
  require(record_every >= 1,
          "record_every: expected a positive integer, got " + std::to_string(record_every));
  require(std::isfinite(loss_scale) && loss_scale > 0,
          "loss_scale: expected a finite positive number, got " + std::to_string(loss_scale));
  const TrainingSchedule schedule{lr, steps, record_every, loss_scale};
  checked_record_count<Index>(schedule, 1, 1);  // the vector of recorded step indices
  return schedule;
}

// The arrays a run records into, allocated while the GIL is held. `leading` is the
// ensemble axis (empty for one network); `outputs` is k for a network of k outputs (the
// test outputs get a last axis of k), 0 for one output.
template <typename T>
struct RecordArrays {
  CArray<T> losses, distances;
  std::optional<CArray<T>> test_outputs;
  Index per_record = 0;  // numbers of a test-output record

  RecordArrays(std::vector<py::ssize_t> leading, Index records, std::optional<Index> m_test,
               Index outputs = 0) {
    leading.push_back(py::ssize_t(records));
    losses = CArray<T>(leading);
    distances = CArray<T>(leading);
    if (m_test) {
      leading.push_back(py::ssize_t(*m_test));
      if (outputs > 0) leading.push_back(py::ssize_t(outputs));
      test_outputs = CArray<T>(leading);
      per_record = *m_test * std::max<Index>(outputs, 1);
    }
    // Rows a run stops before writing (divergence) read as NaN, never as stale memory.
    for (CArray<T>* array : {&losses, &distances}) fill_nan(*array);
    if (test_outputs) fill_nan(*test_outputs);
  }

  static void fill_nan(CArray<T>& array) {
    std::fill_n(array.mutable_data(), array.size(), std::numeric_limits<T>::quiet_NaN());
  }

  // The record of member r of an ensemble with `records` rows each.
  TrainingRecord<T> member(Index r, Index records) {
    return TrainingRecord<T>{losses.mutable_data() + r * records,
                             distances.mutable_data() + r * records,
                             test_outputs ? test_outputs->mutable_data() + r * records * per_record
                                          : nullptr};
  }

  // The records into `out`; a run of one network that stopped early (divergence) wrote
  // `rows` of them: the arrays are cut there (views, no copy). An ensemble passes -1 (its
  // members' unwritten rows stay NaN).
  void into(py::dict& out, Index rows) const {
    out["losses"] = first_rows(losses, rows);
    out["distances"] = first_rows(distances, rows);
    out["test_outputs"] = test_outputs ? first_rows(*test_outputs, rows) : py::object(py::none());
  }

  // The first `rows` rows of a record array (its leading axis), a view; the whole array for
  // rows < 0 or when all its rows were written.
  static py::object first_rows(const CArray<T>& array, Index rows) {
    if (rows < 0 || rows >= Index(array.shape(0))) return array;
    return array[py::slice(0, py::ssize_t(rows), 1)];
  }
};

// The stop rule of a training call: divergence as the caller asks (factor <= 0: never).
// Ctrl-C reaches the run through its stop token (run_interruptible).
inline StopRule stop_rule(double divergence_factor) {
  require(!std::isnan(divergence_factor),
          "divergence_factor: expected a number (<= 0 disables the check), got nan");
  return StopRule{divergence_factor};
}

// The data of a run of networks of `input_dim` inputs.
template <typename T>
void check_training_data(const MatrixRef<T>& X, const VectorRef<T>& y, const std::optional<MatrixRef<T>>& X_test,
                         Index input_dim) {
  check_inputs<T>(X, input_dim);
  check_targets<T>(y, X.rows());
  if (X_test) check_inputs<T>(*X_test, input_dim, "X_test");
}

// The records of an ensemble into `out`: the whole schedule's steps, stopped_at per network
// (its last row is that step; its later rows are NaN) and the record arrays.
template <typename T>
void ensemble_records_into(py::dict& out, const RecordArrays<T>& arrays, const std::vector<Index>& recorded,
                           const std::vector<RunEnd>& ends) {
  CArray<Index> stopped_at(py::ssize_t(ends.size()));
  for (std::size_t r = 0; r < ends.size(); ++r) stopped_at.mutable_data()[r] = ends[r].stopped_at;
  out["steps"] = py::array_t<Index>(py::ssize_t(recorded.size()), recorded.data());
  out["stopped_at"] = stopped_at;
  arrays.into(out, -1);
}

// The recorded steps of a run that wrote `rows` records and diverged at `stopped_at` (or -1).
inline std::vector<Index> steps_done(const std::vector<Index>& recorded, const RunEnd& end) {
  std::vector<Index> out(recorded.begin(), recorded.begin() + end.rows);
  if (end.stopped_at >= 0 && !out.empty()) out.back() = end.stopped_at;
  return out;
}

}  // namespace widenet::bindings
