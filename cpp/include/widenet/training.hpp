// Gradient descent w_{k+1} = w_k - h grad f(w_k) on the (scaled) square loss, entirely in
// C++ (docs/theory.md, sections 4 and 5). Every `record_every` steps, and at the last
// step, it records f(w_k), |w_k - w0| and optionally Phi(X_test, w_k). A run stops early
// when its loss diverges or when the caller asks it to (an interrupt), see StopRule.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <vector>

#include "widenet/gradient.hpp"
#include "widenet/outputs_gradient.hpp"
#include "widenet/interrupt.hpp"

namespace widenet {

struct TrainingSchedule {
  double step_size;  // h
  Index steps;       // k
  Index record_every;
  double loss_scale;  // 1 for the chapter's f, 1/m for the mean, 1/2 for half the sum

  // How many steps are recorded: 0, e, 2e, ... below `steps`, and `steps` itself. Computed
  // by division, so no step index is ever formed beyond `steps` (k + e may overflow).
  // Saturates at the largest Index (such counts are refused before anything is recorded).
  Index recorded_count() const {
    const Index intervals = steps / record_every;
    const Index extra = steps % record_every != 0 ? 2 : 1;
    return intervals > std::numeric_limits<Index>::max() - extra ? std::numeric_limits<Index>::max()
                                                                 : intervals + extra;
  }

  // Step indices 0, e, 2e, ... and always `steps` itself.
  std::vector<Index> recorded_steps() const {
    const Index count = recorded_count();
    std::vector<Index> out;
    out.reserve(std::size_t(count));
    for (Index i = 0; i + 1 < count; ++i) out.push_back(i * record_every);  // i e < steps
    out.push_back(steps);
    return out;
  }
};

// The divergence factor of every training run, in C++ and in Python (which reads it from
// the compiled module): a run diverges when its loss grows beyond this many times its
// reference loss, see StopRule.
constexpr double kDivergenceFactor = 1e10;

// When a run stops before its last step on divergence: the loss is not finite, or exceeds
// divergence_factor times a reference loss (f(w_0), or the loss of the zero predictor when
// that is larger); <= 0 disables. A run also stops when its StopToken (interrupt.hpp) is
// requested; the token is polled at every step, on whichever thread runs it.
struct StopRule {
  double divergence_factor = kDivergenceFactor;

  bool diverged(double loss, double reference) const {
    return !std::isfinite(loss) || (divergence_factor > 0 && loss > divergence_factor * reference);
  }
};

// How a run ended: `rows` records were written; `stopped_at` is the step of the last one.
struct RunEnd {
  Index rows = 0;
  Index stopped_at = -1;  // the step where the loss diverged, else -1
  bool interrupted = false;
};

// Where a run writes its records: rows of preallocated arrays, one per recorded step.
template <typename T>
struct TrainingRecord {
  T* losses;         // [records]
  T* distances;      // [records]
  T* test_outputs;   // [records x m_test] ([records x m_test x k] for k outputs), or null
};

namespace detail {

// |x|^2 of the output bias c: a number, or a vector.
inline float squared_norm(float x) { return x * x; }
inline double squared_norm(double x) { return x * x; }
template <typename Derived>
typename Derived::Scalar squared_norm(const Eigen::MatrixBase<Derived>& x) {
  return x.squaredNorm();
}

}  // namespace detail

// |w - w0| over all P parameters.
template <typename P>
typename Transposed<P>::Scalar distance(const Transposed<P>& w, const Transposed<P>& w0) {
  const typename Transposed<P>::Scalar squared =
      (w.Ut - w0.Ut).squaredNorm() + (w.b - w0.b).squaredNorm() + (w.v - w0.v).squaredNorm() +
      detail::squared_norm(w.c - w0.c);
  return std::sqrt(squared);
}

// Phi(X_test, w) into a record row: m_test numbers, or m_test x k for k outputs.
template <typename T>
void record_outputs(const Architecture& arch, const TransposedParams<T>& w, const MatrixRef<T>& X,
                    T* into) {
  Eigen::Map<Vector<T>>(into, X.rows()) = forward<T>(arch, w.params(), X);
}

template <typename T>
void record_outputs(const Architecture& arch, const TransposedOutputParams<T>& w,
                    const MatrixRef<T>& X, T* into) {
  Eigen::Map<RowMatrix<T>>(into, X.rows(), w.outputs()) = forward_outputs<T>(arch, w.params(), X);
}

// The gradient-descent loop of either network (one output: TransposedParams and targets y
// (m); k outputs: TransposedOutputParams and targets Y (m x k)), from `state`, which it
// moves. On divergence the step where it happened is recorded as the last row and `state`
// is left at the parameters of that step; once `stop` is requested it returns
// (end.interrupted) mid-run. Never throws on a stop, so that it can run inside a parallel
// region.
template <typename T, typename State, typename Targets>
RunEnd descend(const Architecture& arch, State& state, const State& start, const MatrixRef<T>& X,
               const Targets& y, const TrainingSchedule& schedule,
               const std::optional<MatrixRef<T>>& X_test, const TrainingRecord<T>& record,
               const StopRule& rule, const StopToken& stop) {
  const T h = T(schedule.step_size);
  const T loss_scale = T(schedule.loss_scale);
  State grad;
  typename WorkspaceFor<State>::type work;
  RunEnd end;
  Index& row = end.rows;
  double reference = double(loss_scale) * double(y.squaredNorm());  // the zero predictor's loss
  const Index per_record = X_test ? X_test->rows() * state.outputs() : 0;
  for (Index k = 0;; ++k) {
    if (stop.requested()) {
      end.interrupted = true;
      return end;
    }
    // The gradient pass also yields f(w_k), so the loss costs no extra forward pass.
    const T loss = loss_and_gradient<T>(arch, state, X, y, loss_scale, work, grad);
    if (k == 0) reference = std::max(reference, double(loss));
    const bool diverged = rule.diverged(double(loss), reference);
    if (diverged || k % schedule.record_every == 0 || k == schedule.steps) {
      record.losses[row] = loss;
      record.distances[row] = distance(state, start);
      if (X_test) record_outputs<T>(arch, state, *X_test, record.test_outputs + row * per_record);
      ++row;
    }
    if (diverged) {
      end.stopped_at = k;
      break;
    }
    if (k == schedule.steps) break;
    state.descend(grad, h);
  }
  return end;
}

// Trains `w` in place for schedule.steps steps (see descend). `initial` is w0 for the
// distances. Once `stop` is requested it returns (end.interrupted) with `w` unchanged.
template <typename T, typename P, typename Targets>
RunEnd train(const Architecture& arch, P& w, const P& initial, const MatrixRef<T>& X,
             const Targets& y, const TrainingSchedule& schedule,
             const std::optional<MatrixRef<T>>& X_test, const TrainingRecord<T>& record,
             const StopRule& rule, const StopToken& stop) {
  using State = Transposed<P>;
  State state = State::from(w);
  const State start = State::from(initial);
  const RunEnd end =
      descend<T>(arch, state, start, X, y, schedule, X_test, record, rule, stop);
  if (!end.interrupted) w = state.params();
  return end;
}

}  // namespace widenet

namespace widenet {

// One network: train() that throws Interrupted on a stop (`w` unchanged).
template <typename T, typename P, typename Targets>
RunEnd train_network(const Architecture& arch, P& w, const P& initial,
                     const MatrixRef<T>& X, const Targets& y, const TrainingSchedule& schedule,
                     const std::optional<MatrixRef<T>>& X_test, const TrainingRecord<T>& record,
                     const StopRule& rule) {
  const StopToken& stop = current_stop_token();
  const RunEnd end = train<T>(arch, w, initial, X, y, schedule, X_test, record, rule, stop);
  stop.throw_if_requested();
  return end;
}

// R independent networks on the same data (e.g. the 80 networks of Figure 11.3), one
// thread per network. Products inside stay single-threaded, so threads never nest.
// A network that diverges stops alone; a stop request reaches every thread and stops them
// all (Interrupted, thrown after the parallel region).
template <typename T, typename P, typename Targets>
std::vector<RunEnd> train_ensemble(const Architecture& arch, std::vector<P>& networks,
                                   const std::vector<P>& initial, const MatrixRef<T>& X,
                                   const Targets& y, const TrainingSchedule& schedule,
                                   const std::optional<MatrixRef<T>>& X_test,
                                   const std::vector<TrainingRecord<T>>& records,
                                   const StopRule& rule) {
  const Index count = Index(networks.size());
  std::vector<RunEnd> ends(count);
  // read on this thread: the region's threads have no current token of their own
  const StopToken& stop = current_stop_token();
#pragma omp parallel for schedule(dynamic) num_threads(thread_count())
  for (Index r = 0; r < count; ++r) {
    ends[r] = train<T>(arch, networks[r], initial[r], X, y, schedule, X_test, records[r], rule, stop);
  }
  stop.throw_if_requested();
  return ends;
}

}  // namespace widenet
