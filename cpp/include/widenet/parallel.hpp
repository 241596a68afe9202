// widenet's own thread count for its OpenMP loops. It is a process-wide setting, read by
// every parallel loop, so that Python threads other than the one that set it see it too
// (omp_set_num_threads would only affect the calling thread).
#pragma once

#include <atomic>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace widenet {

inline std::atomic<int>& thread_setting() {
#ifdef _OPENMP
  static std::atomic<int> threads{omp_get_num_procs()};
#else
  static std::atomic<int> threads{1};
#endif
  return threads;
}

inline int thread_count() { return thread_setting().load(std::memory_order_relaxed); }

}  // namespace widenet
