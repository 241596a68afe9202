#include "common.hpp"
#include "runtime.hpp"
#include "widenet/activations.hpp"
#include "widenet/bounded_products.hpp"
#include "widenet/parallel.hpp"

namespace widenet::bindings {

namespace {

// The most threads set_num_threads accepts: four per processor this process may run on.
// More only time-share the same cores, and each costs a stack in every OpenMP team and
// OpenBLAS pool, so that a mistyped count (1e9) would exhaust memory instead of running.
int max_threads() {
#ifdef _OPENMP
  return 4 * omp_get_num_procs();
#else
  return 4;
#endif
}

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
  info["max_threads"] = max_threads();
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

// `threads` may be any Python integer (also beyond the range of a C int): compared exactly.
void set_num_threads(const py::object& threads) {
  if (!PyIndex_Check(threads.ptr()) || PyBool_Check(threads.ptr())) {
    throw py::type_error("threads: expected an integer, got " +
                         std::string(py::str(py::type::of(threads).attr("__name__"))));
  }
  const py::int_ value = py::reinterpret_steal<py::int_>(PyNumber_Index(threads.ptr()));
  if (!value) throw py::error_already_set();
  int overflow = 0;
  const long long count = PyLong_AsLongLongAndOverflow(value.ptr(), &overflow);
  require(overflow > 0 || (overflow == 0 && count >= 1),
          "threads: expected a positive integer, got " + std::string(py::str(value)));
  require(overflow == 0 && count <= max_threads(),
          "threads: expected at most " + std::to_string(max_threads()) +
              " (4 per processor), got " + std::string(py::str(value)));
  int chosen = int(count);
#ifndef _OPENMP
  chosen = 1;
#endif
  thread_setting().store(chosen);
  scipy_openblas_set_num_threads(chosen);
}

}  // namespace

void bind_runtime(py::module_& m) {
  m.def("build_info", &build_info,
        "Version, Eigen version, SIMD instruction sets, BLAS configuration and thread counts.");
  m.def("set_num_threads", &set_num_threads, py::arg("threads"),
        "Sets the thread count of widenet's loops and of its BLAS, from 1 to max_threads().");
  m.def("max_threads", &max_threads,
        "The largest thread count set_num_threads accepts: 4 per processor available.");
  m.def("get_num_threads", &thread_count, "The thread count of widenet's own loops.");
  m.def(
      "_set_bounded_flops",
      [](double flops) {
        require(flops >= 1, "flops: expected a number >= 1");
        return bounded_flops_setting().exchange(flops);
      },
      py::arg("flops"),
      "Testing only: the work of one product call between stop polls (default 3e9 flops); "
      "returns the previous value.");
  m.def(
      "_set_float32_in_double",
      [](bool in_double) { return float32_in_double_setting().exchange(in_double); },
      py::arg("in_double"),
      "Benchmarks and tests only: float32 activations evaluated in double and rounded once "
      "(the evaluation before the float one) when True; returns the previous value.");
}

}  // namespace widenet::bindings
