// Run-time choice of the instruction set for loops over contiguous arrays. The library is
// built for the baseline x86-64 (SSE2); a kernel written as a struct with a static,
// always-inlined `run` is compiled three times, for the baseline, for AVX2 with FMA and for
// AVX-512, and each call takes the best copy the CPU runs. The copies differ only in the
// width of the vectors the compiler uses, never in the arithmetic written.
#pragma once

#include <cstdlib>
#include <string>
#include <utility>

namespace widenet {

enum class ElementwiseLevel { baseline, avx2, avx512 };

#if defined(__x86_64__) && defined(__GNUC__)
#define WIDENET_HAS_AVX2_PATH 1
#define WIDENET_TARGET_AVX2 __attribute__((target("avx2,fma")))
// GCC's tuning would otherwise keep 256-bit vectors on AVX-512 machines.
#define WIDENET_TARGET_AVX512 \
  __attribute__((target("avx512f,avx512dq,avx512vl,avx512bw,avx2,fma,prefer-vector-width=512")))

// The best level the CPU runs; WIDENET_ELEMENTWISE=baseline or avx2 in the environment caps
// it, to compare the paths on one machine.
inline ElementwiseLevel elementwise_level() {
  static const ElementwiseLevel level = [] {
    const char* cap = std::getenv("WIDENET_ELEMENTWISE");
    const std::string capped = cap ? cap : "";
    const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    const bool avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw");
    if (capped == "baseline" || !avx2) return ElementwiseLevel::baseline;
    if (capped == "avx2" || !avx512) return ElementwiseLevel::avx2;
    return ElementwiseLevel::avx512;
  }();
  return level;
}

namespace detail {

// The kernel's body inlined into a function compiled for the wider instruction set. Only
// called after the CPU has been checked.
template <typename Kernel, typename... Args>
WIDENET_TARGET_AVX2 void run_avx2(Args... args) {
  Kernel::run(args...);
}

template <typename Kernel, typename... Args>
WIDENET_TARGET_AVX512 void run_avx512(Args... args) {
  Kernel::run(args...);
}

}  // namespace detail
#else
#define WIDENET_HAS_AVX2_PATH 0
inline ElementwiseLevel elementwise_level() { return ElementwiseLevel::baseline; }
#endif

// AVX2 and FMA are there (AVX-512 implies them).
inline bool cpu_has_avx2() { return elementwise_level() != ElementwiseLevel::baseline; }

// The elementwise instruction set chosen at run time.
inline const char* elementwise_simd() {
  switch (elementwise_level()) {
    case ElementwiseLevel::avx512: return "avx512";
    case ElementwiseLevel::avx2: return "avx2+fma";
    default: return "baseline";
  }
}

// Kernel::run(args...) in the copy for the best level. Arguments are pointers, sizes and
// numbers, passed by value.
template <typename Kernel, typename... Args>
void run_on_best_path(Args... args) {
#if WIDENET_HAS_AVX2_PATH
  switch (elementwise_level()) {
    case ElementwiseLevel::avx512: return detail::run_avx512<Kernel, Args...>(args...);
    case ElementwiseLevel::avx2: return detail::run_avx2<Kernel, Args...>(args...);
    default: break;
  }
#endif
  Kernel::run(args...);
}

}  // namespace widenet
