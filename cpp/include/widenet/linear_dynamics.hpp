// Gradient descent on the linearized model (11.3.1), iterated in function space (docs/theory.md,
// section 3: (11.5.9), Remark 11.24 corrected). With step h on f = s |r|^2 the parameters
// move only along J0^T, so the m x m tangent Gram Theta = J0 J0^T carries everything:
//   r_{k+1} = r_k - 2hs Theta r_k,   a_0 = 0,  a_{k+1} = a_k + 2hs r_k   (p_k - w0 = -J0^T a_k),
//   |p_k - w0|^2 = a_k . Theta a_k,  outputs elsewhere Phi(X_test, w0) - K_n(X_test, X) a_k.
// A run may start away from w0, at p_0 = w0 + delta: then r_0 = Phi_lin(X, p_0) - y, the
// test outputs start at Phi_lin(X_test, p_0) and |p_k - w0|^2 = |delta|^2 - 2 (J0 delta) . a_k
// + a_k . Theta a_k (the run's Offset).
// A step costs one symmetric matrix-vector product and O(m) work, whatever the width.
#pragma once

#include <algorithm>
#include <cmath>
#include <optional>

#include "widenet/training.hpp"

namespace widenet {

// Where a run writes its records: rows of preallocated arrays, one per recorded step.
template <typename T>
struct LinearRecord {
  T* losses;        // [records]
  T* distances;     // [records]
  T* residuals;     // [records x m]
  T* test_outputs;  // [records x t], or null
  T* coefficients;  // [m], the final a
};

// The points off the training set: cross = K_n(X_test, X) (t x m), initial = Phi(X_test, w0).
template <typename T>
struct TestPoints {
  MatrixRef<T> cross;
  VectorRef<T> initial;
};

// Where the run starts relative to w0: J0 delta (m) and |delta|^2, for the distances.
template <typename T>
struct Offset {
  VectorRef<T> outputs;
  double squared_norm;
};

// Runs schedule.steps steps from the residual r_0; theta is symmetric and only its lower
// triangle is read.
// Stops like train() (training.hpp): on divergence (the diverged step is the last record)
// and, throwing Interrupted, when the current stop token is requested.
template <typename T>
RunEnd linear_gd(const MatrixRef<T>& theta, const VectorRef<T>& residual,
                 const TrainingSchedule& schedule, const std::optional<TestPoints<T>>& test,
                 const std::optional<Offset<T>>& offset, const LinearRecord<T>& record,
                 const StopRule& rule) {
  const Index m = theta.rows();
  const T loss_scale = T(schedule.loss_scale);
  const T rate = T(2) * T(schedule.step_size) * loss_scale;
  Vector<T> r = residual;
  Vector<T> a = Vector<T>::Zero(m);
  // Theta a, kept up to date from the product Theta r that each step needs anyway, so the
  // distance costs no second matrix-vector product.
  Vector<T> theta_a = Vector<T>::Zero(m);
  Vector<T> theta_r(m);
  // (J0 delta) . a, kept up to date like Theta a; zero when the run starts at w0.
  T offset_a = T(0);
  const T offset_norm = offset ? T(offset->squared_norm) : T(0);
  RunEnd end;
  Index& row = end.rows;
  const StopToken& stop = current_stop_token();
  double reference = 0;
  for (Index k = 0;; ++k) {
    stop.throw_if_requested();
    const T loss = loss_scale * r.squaredNorm();
    if (k == 0) reference = double(loss);
    const bool diverged = rule.diverged(double(loss), reference);
    if (diverged || k % schedule.record_every == 0 || k == schedule.steps) {
      record.losses[row] = loss;
      // a . Theta a >= 0 in exact arithmetic; rounding may take it just below.
      record.distances[row] = std::sqrt(std::max(T(0), offset_norm - T(2) * offset_a + a.dot(theta_a)));
      Eigen::Map<Vector<T>>(record.residuals + row * m, m) = r;
      if (test) {
        const Index t = test->cross.rows();
        Eigen::Map<Vector<T>> outputs(record.test_outputs + row * t, t);
        outputs = test->initial;
        outputs.noalias() -= test->cross * a;
      }
      ++row;
    }
    if (diverged) {
      end.stopped_at = k;
      break;
    }
    if (k == schedule.steps) break;
    // symv on the lower triangle: half the memory traffic of a general product
    theta_r.noalias() = theta.template selfadjointView<Eigen::Lower>() * r;
    if (offset) offset_a += rate * offset->outputs.dot(r);
    a += rate * r;
    theta_a += rate * theta_r;
    r -= rate * theta_r;
  }
  Eigen::Map<Vector<T>>(record.coefficients, m) = a;
  return end;
}

}  // namespace widenet
