// Gradient descent on the square loss for a deep network: the loop of training.hpp (the same
// schedule, records and divergence rule) with the deep network's loss gradient; one loop for
// one output (DeepParams, targets y (m)) and k outputs (DeepOutputParams, targets Y (m x k)).
#pragma once

#include <algorithm>
#include <cmath>
#include <exception>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "widenet/deep_network.hpp"
#include "widenet/deep_outputs.hpp"
#include "widenet/training.hpp"

namespace widenet {

// |w - w0| over all parameters.
template <typename T>
T deep_distance(const DeepParams<T>& w, const DeepParams<T>& w0) {
  T squared = (w.v - w0.v).squaredNorm() + (w.c - w0.c) * (w.c - w0.c);
  for (std::size_t l = 0; l < w.W.size(); ++l) {
    squared += (w.W[l] - w0.W[l]).squaredNorm();
    if (!w.b.empty()) squared += (w.b[l] - w0.b[l]).squaredNorm();
  }
  return std::sqrt(squared);
}

// w -= h grad, block by block.
template <typename T>
void deep_step(DeepParams<T>& w, const DeepParams<T>& grad, T h) {
  for (std::size_t l = 0; l < w.W.size(); ++l) {
    w.W[l] -= h * grad.W[l];
    if (!w.b.empty()) w.b[l] -= h * grad.b[l];
  }
  w.v -= h * grad.v;
  w.c -= h * grad.c;
}

// |W - W0| and |c - c0| added to the hidden layers' distance.
template <typename T>
T deep_distance(const DeepOutputParams<T>& w, const DeepOutputParams<T>& w0) {
  const T hidden = deep_distance(w.hidden, w0.hidden);
  return std::sqrt(hidden * hidden + (w.V - w0.V).squaredNorm() + (w.c - w0.c).squaredNorm());
}

template <typename T>
void deep_step(DeepOutputParams<T>& w, const DeepOutputParams<T>& grad, T h) {
  deep_step(w.hidden, grad.hidden, h);
  w.V -= h * grad.V;
  w.c -= h * grad.c;
}

// Phi(X_test) of either network into a record row (m_test numbers, or m_test x k).
template <typename T>
void deep_record_outputs(const DeepArchitecture& arch, const DeepParams<T>& w, const MatrixRef<T>& X_test,
                         const StopToken& stop, DeepPass<T>& pass, T* into) {
  deep_forward_pass_into<T>(arch, w, X_test, false, stop, pass);
  Eigen::Map<Vector<T>> outputs(into, X_test.rows());
  deep_readout_into<T>(arch, w, pass, outputs);
}

template <typename T>
void deep_record_outputs(const DeepArchitecture& arch, const DeepOutputParams<T>& w, const MatrixRef<T>& X_test,
                         const StopToken& stop, DeepPass<T>& pass, T* into) {
  deep_forward_pass_into<T>(arch, w.hidden, X_test, false, stop, pass);
  Eigen::Map<RowMatrix<T>>(into, X_test.rows(), w.outputs()) = deep_readout_outputs<T>(arch, w, pass);
}

template <typename T>
Index deep_outputs_of(const DeepParams<T>&) { return 1; }
template <typename T>
Index deep_outputs_of(const DeepOutputParams<T>& w) { return w.outputs(); }

// The loss gradient's buffers of one output (DeepParams) or of k (DeepOutputParams); declared
// only, for their type.
template <typename T>
DeepGradientWorkspace<T> gradient_workspace_of(const DeepParams<T>&);
template <typename T>
DeepOutputGradientWorkspace<T> gradient_workspace_of(const DeepOutputParams<T>&);

// The buffers of a run, allocated by its first step and reused by every later one.
template <typename T, typename P>
struct DeepTrainingWorkspace {
  decltype(gradient_workspace_of(std::declval<const P&>())) gradient;
  DeepPass<T> test_pass;  // for the outputs at X_test
};

// Trains `w` in place (see train() in training.hpp for the records and the divergence
// rule), polling `stop`. A stop request throws Interrupted from inside a step, with `w`
// unchanged: the run works on a copy, assigned at the end.
template <typename T, typename P, typename Targets>
RunEnd deep_gradient_descent(const DeepArchitecture& arch, P& w, const P& initial,
                             const MatrixRef<T>& X, const Targets& y, const TrainingSchedule& schedule,
                             const std::optional<MatrixRef<T>>& X_test, const TrainingRecord<T>& record,
                             const StopRule& rule, const StopToken& stop) {
  const T h = T(schedule.step_size), loss_scale = T(schedule.loss_scale);
  P state = w;
  DeepTrainingWorkspace<T, P> work;
  const Index per_record = X_test ? X_test->rows() * deep_outputs_of(w) : 0;
  RunEnd end;
  Index& row = end.rows;
  double reference = double(loss_scale) * double(y.squaredNorm());  // the zero predictor's loss
  for (Index k = 0;; ++k) {
    stop.throw_if_requested();
    // The loss in the network's dtype, as the shallow loop and the twin take it: a float32 loss
    // beyond float32's range is Inf, and the run diverged, rather than an Inf record of a run
    // that goes on.
    const T loss = T(deep_loss_and_gradient<T>(arch, state, X, y, loss_scale, work.gradient, stop));
    if (k == 0) reference = std::max(reference, double(loss));
    const bool diverged = rule.diverged(double(loss), reference);
    if (diverged || k % schedule.record_every == 0 || k == schedule.steps) {
      record.losses[row] = loss;
      record.distances[row] = deep_distance(state, initial);
      if (X_test) deep_record_outputs<T>(arch, state, *X_test, stop, work.test_pass, record.test_outputs + row * per_record);
      ++row;
    }
    if (diverged) {
      end.stopped_at = k;
      break;
    }
    if (k == schedule.steps) break;
    deep_step(state, work.gradient.grad, h);
  }
  w = std::move(state);
  return end;
}

// One network, stopped by the current thread's token.
template <typename T, typename P, typename Targets>
RunEnd train_deep_network(const DeepArchitecture& arch, P& w, const P& initial,
                          const MatrixRef<T>& X, const Targets& y, const TrainingSchedule& schedule,
                          const std::optional<MatrixRef<T>>& X_test, const TrainingRecord<T>& record,
                          const StopRule& rule) {
  return deep_gradient_descent<T>(arch, w, initial, X, y, schedule, X_test, record, rule,
                                  current_stop_token());
}

// R independent deep networks on the same data, one thread per network, each with its own
// workspace; products inside stay single-threaded, so threads never nest. A network that
// diverges stops alone; a stop request reaches every thread and stops them all
// (Interrupted, thrown after the parallel region, as is any other failure of a member).
template <typename T, typename P, typename Targets>
std::vector<RunEnd> train_deep_ensemble(const DeepArchitecture& arch, std::vector<P>& networks,
                                        const std::vector<P>& initial, const MatrixRef<T>& X,
                                        const Targets& y, const TrainingSchedule& schedule,
                                        const std::optional<MatrixRef<T>>& X_test,
                                        const std::vector<TrainingRecord<T>>& records, const StopRule& rule) {
  const Index count = Index(networks.size());
  std::vector<RunEnd> ends(count);
  // read on this thread: the region's threads have no current token of their own
  const StopToken& stop = current_stop_token();
  std::exception_ptr failure;
  std::mutex failure_mutex;
#pragma omp parallel for schedule(dynamic) num_threads(thread_count())
  for (Index r = 0; r < count; ++r) {
    try {
      ends[r] = deep_gradient_descent<T>(arch, networks[r], initial[r], X, y, schedule, X_test, records[r], rule,
                                         stop);
    } catch (const Interrupted&) {
      ends[r].interrupted = true;  // thrown below, once every thread has left the region
    } catch (...) {
      const std::lock_guard<std::mutex> lock(failure_mutex);
      if (!failure) failure = std::current_exception();
    }
  }
  stop.throw_if_requested();
  if (failure) std::rethrow_exception(failure);
  return ends;
}

}  // namespace widenet
