// The OpenBLAS that Eigen's products call (scipy-openblas32, symbols prefixed scipy_).
#pragma once

extern "C" {
void scipy_openblas_set_num_threads(int);
int scipy_openblas_get_num_threads(void);
char* scipy_openblas_get_config(void);
char* scipy_openblas_get_corename(void);
}

namespace widenet::bindings {

// Runs BLAS on one thread while in scope, for loops that are parallel themselves
// (an ensemble trains one network per thread), so threads never nest.
class SingleThreadedBlas {
 public:
  explicit SingleThreadedBlas(bool active)
      : previous_(active ? scipy_openblas_get_num_threads() : 0) {
    if (previous_ > 1) scipy_openblas_set_num_threads(1);
  }
  ~SingleThreadedBlas() {
    if (previous_ > 1) scipy_openblas_set_num_threads(previous_);
  }
  SingleThreadedBlas(const SingleThreadedBlas&) = delete;
  SingleThreadedBlas& operator=(const SingleThreadedBlas&) = delete;

 private:
  int previous_;
};

}  // namespace widenet::bindings
