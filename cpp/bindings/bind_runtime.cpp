#include "common.hpp"
#include "runtime.hpp"
#include "widenet/activations.hpp"
#include "widenet/parallel.hpp"

namespace widenet::bindings {

namespace {

py::dict build_info() {
  py::dict info;
  info["version"] = WIDENET_VERSION;
  info["eigen"] = std::to_string(EIGEN_WORLD_VERSION) + "." + std::to_string(EIGEN_MAJOR_VERSION) +
                  "." + std::to_string(EIGEN_MINOR_VERSION);
  info["simd"] = std::string(Eigen::SimdInstructionSetsInUse());
  info["elementwise_simd"] = std::string(elementwise_simd());
  info["blas"] = std::string(scipy_openblas_get_config());
  info["blas_core"] = std::string(scipy_openblas_get_corename());
  info["blas_threads"] = scipy_openblas_get_num_threads();
  info["threads"] = thread_count();
#ifdef _OPENMP
  info["openmp"] = true;
#else
  info["openmp"] = false;
#endif
  info["compiler"] = std::string(__VERSION__);
#ifdef WIDENET_SANITIZERS
  info["sanitizers"] = std::string(WIDENET_SANITIZERS);
#else
  info["sanitizers"] = std::string();
#endif
  return info;
}

void set_num_threads(int threads) {
  require(threads >= 1, "threads: expected a positive integer, got " + std::to_string(threads));
#ifndef _OPENMP
  threads = 1;
#endif
  thread_setting().store(threads);
  scipy_openblas_set_num_threads(threads);
}

}  // namespace

void bind_runtime(py::module_& m) {
  m.def("build_info", &build_info,
        "Version, Eigen version, SIMD instruction sets, BLAS configuration and thread counts.");
  m.def("set_num_threads", &set_num_threads, py::arg("threads"),
        "Sets the thread count of widenet's loops and of its BLAS.");
  m.def("get_num_threads", &thread_count, "The thread count of widenet's own loops.");
}

}  // namespace widenet::bindings
