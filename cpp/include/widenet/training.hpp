// Gradient descent w_{k+1} = w_k - h grad f(w_k) on the (scaled) square loss, entirely in
// C++ (SPEC.md section 4 and Figure 11.3). Every `record_every` steps, and at the last
// step, it records f(w_k), |w_k - w0| and optionally Phi(X_test, w_k).
#pragma once

#include <cmath>
#include <optional>
#include <vector>

#include "widenet/gradient.hpp"

namespace widenet {

struct TrainingSchedule {
  double step_size;  // h
  Index steps;       // k
  Index record_every;
  double loss_scale;  // 1 for the chapter's f, 1/m for the mean, 1/2 for half the sum

  // Step indices 0, e, 2e, ... and always `steps` itself.
  std::vector<Index> recorded_steps() const {
    std::vector<Index> out;
    for (Index k = 0; k < steps; k += record_every) out.push_back(k);
    out.push_back(steps);
    return out;
  }
};

// Where a run writes its records: rows of preallocated arrays, one per recorded step.
template <typename T>
struct TrainingRecord {
  T* losses;         // [records]
  T* distances;      // [records]
  T* test_outputs;   // [records x m_test], or null
};

// |w - w0| over all P parameters.
template <typename T>
T distance(const TransposedParams<T>& w, const TransposedParams<T>& w0) {
  const T squared = (w.Ut - w0.Ut).squaredNorm() + (w.b - w0.b).squaredNorm() +
                    (w.v - w0.v).squaredNorm() + (w.c - w0.c) * (w.c - w0.c);
  return std::sqrt(squared);
}

// Trains `w` in place for schedule.steps steps. `initial` is w0 for the distances.
template <typename T>
void train(const Architecture& arch, Params<T>& w, const Params<T>& initial, const MatrixRef<T>& X,
           const VectorRef<T>& y, const TrainingSchedule& schedule,
           const std::optional<MatrixRef<T>>& X_test, const TrainingRecord<T>& record) {
  const T h = T(schedule.step_size);
  const T loss_scale = T(schedule.loss_scale);
  TransposedParams<T> state = TransposedParams<T>::from(w);
  const TransposedParams<T> start = TransposedParams<T>::from(initial);
  TransposedParams<T> grad;
  GradientWorkspace<T> work;
  Index row = 0;
  for (Index k = 0;; ++k) {
    // The gradient pass also yields f(w_k), so the loss costs no extra forward pass.
    const T loss = loss_and_gradient<T>(arch, state, X, y, loss_scale, work, grad);
    if (k % schedule.record_every == 0 || k == schedule.steps) {
      record.losses[row] = loss;
      record.distances[row] = distance(state, start);
      if (X_test) {
        const Index m_test = X_test->rows();
        Eigen::Map<Vector<T>>(record.test_outputs + row * m_test, m_test) =
            forward<T>(arch, state.params(), *X_test);
      }
      ++row;
    }
    if (k == schedule.steps) break;
    state.Ut -= h * grad.Ut;
    state.b -= h * grad.b;
    state.v -= h * grad.v;
    state.c -= h * grad.c;
  }
  w = state.params();
}

}  // namespace widenet

namespace widenet {

// R independent networks on the same data (e.g. the 80 networks of Figure 11.3), one
// thread per network. Products inside stay single-threaded, so threads never nest.
template <typename T>
void train_ensemble(const Architecture& arch, std::vector<Params<T>>& networks,
                    const std::vector<Params<T>>& initial, const MatrixRef<T>& X,
                    const VectorRef<T>& y, const TrainingSchedule& schedule,
                    const std::optional<MatrixRef<T>>& X_test,
                    const std::vector<TrainingRecord<T>>& records) {
  const Index count = Index(networks.size());
#pragma omp parallel for schedule(dynamic) num_threads(thread_count())
  for (Index r = 0; r < count; ++r) {
    train<T>(arch, networks[r], initial[r], X, y, schedule, X_test, records[r]);
  }
}

}  // namespace widenet
