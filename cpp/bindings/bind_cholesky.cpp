// The Cholesky factorization of a symmetric positive-definite matrix, its condition estimate
// and its solves: LAPACK's dpotrf, dpocon and dpotrs from the linked OpenBLAS. The GIL is
// released for the work; the Python side runs long calls on a worker thread so that Ctrl-C
// is answered at once (LAPACK cannot be stopped midway), which is why these functions read
// only their own copies of the inputs.
#include <cmath>
#include <cstring>
#include <vector>

#include "common.hpp"

extern "C" {
// Fortran LAPACK with the scipy_ prefix of scipy-openblas32 (32-bit integers); the trailing
// size_t is the hidden length of the character argument.
void scipy_dpotrf_(const char* uplo, const int* n, double* a, const int* lda, int* info,
                   std::size_t uplo_length);
void scipy_dpocon_(const char* uplo, const int* n, const double* a, const int* lda,
                   const double* anorm, double* rcond, double* work, int* iwork, int* info,
                   std::size_t uplo_length);
void scipy_dpotrs_(const char* uplo, const int* n, const int* nrhs, const double* a,
                   const int* lda, double* b, const int* ldb, int* info, std::size_t uplo_length);
}

namespace widenet::bindings {
namespace {

using FArray = py::array_t<double, py::array::f_style>;

// A C-ordered array read as column-major is its transpose: its upper triangle there is the
// lower triangle of the rows, the triangle numpy.linalg.eigh reads by default.
constexpr char kUpper = 'U';

int lapack_size(py::ssize_t size, const char* name) {
  require(size <= py::ssize_t(2147483647),
          std::string(name) + ": too large for 32-bit LAPACK integers");
  return int(size);
}

// The 1-norm of the symmetric matrix whose upper triangle (column-major) is stored in `a`.
double symmetric_one_norm(const double* a, int n) {
  std::vector<double> sums(std::size_t(n), 0.0);
  for (int column = 0; column < n; ++column) {
    const double* values = a + std::size_t(column) * std::size_t(n);
    for (int row = 0; row < column; ++row) {
      const double magnitude = std::abs(values[row]);
      sums[std::size_t(column)] += magnitude;
      sums[std::size_t(row)] += magnitude;
    }
    sums[std::size_t(column)] += std::abs(values[column]);
  }
  double largest = 0.0;
  for (double sum : sums) largest = std::isnan(sum) || sum > largest ? sum : largest;
  return largest;
}

// Returns (factor, rcond): the upper factor U of gram + shift I = U^T U (column-major, the
// strict lower triangle unused) and LAPACK's estimate of the reciprocal 1-norm condition
// number; (None, 0.0) when the factorization fails (the matrix is not numerically positive
// definite).
py::tuple cholesky_factor(const py::array_t<double, py::array::c_style | py::array::forcecast>& gram,
                          double shift) {
  require(gram.ndim() == 2 && gram.shape(0) == gram.shape(1) && gram.shape(0) >= 1,
          "gram: expected a non-empty square (m, m) matrix");
  const int n = lapack_size(gram.shape(0), "gram");
  FArray factor({py::ssize_t(n), py::ssize_t(n)});
  double* a = factor.mutable_data();
  std::memcpy(a, gram.data(), sizeof(double) * std::size_t(n) * std::size_t(n));
  int info = 0;
  double rcond = 0.0;
  {
    py::gil_scoped_release release;
    for (int i = 0; i < n; ++i) a[std::size_t(i) * std::size_t(n) + std::size_t(i)] += shift;
    const double norm = symmetric_one_norm(a, n);
    scipy_dpotrf_(&kUpper, &n, a, &n, &info, 1);
    if (info == 0) {
      std::vector<double> work(3 * std::size_t(n));
      std::vector<int> iwork(static_cast<std::size_t>(n));
      scipy_dpocon_(&kUpper, &n, a, &n, &norm, &rcond, work.data(), iwork.data(), &info, 1);
    }
  }
  if (info != 0) return py::make_tuple(py::none(), 0.0);
  return py::make_tuple(factor, rcond);
}

// Returns (U^T U)^{-1} rhs for the factor of cholesky_factor and rhs of shape (m,) or (m, k).
FArray cholesky_solve(const FArray& factor, const py::array_t<double, py::array::forcecast>& rhs) {
  require(factor.ndim() == 2 && factor.shape(0) == factor.shape(1) && factor.shape(0) >= 1,
          "factor: expected a non-empty square (m, m) matrix");
  const int n = lapack_size(factor.shape(0), "factor");
  require((rhs.ndim() == 1 || rhs.ndim() == 2) && rhs.shape(0) == n,
          "rhs: expected shape (m,) or (m, k), one row per row of the factor");
  const int columns = rhs.ndim() == 2 ? lapack_size(rhs.shape(1), "rhs") : 1;
  std::vector<py::ssize_t> shape(rhs.shape(), rhs.shape() + rhs.ndim());
  FArray solution(shape);
  double* b = solution.mutable_data();
  for (py::ssize_t column = 0; column < columns; ++column) {
    for (py::ssize_t row = 0; row < n; ++row) {
      b[column * n + row] = rhs.ndim() == 2 ? *rhs.data(row, column) : *rhs.data(row);
    }
  }
  int info = 0;
  if (columns > 0) {
    py::gil_scoped_release release;
    scipy_dpotrs_(&kUpper, &n, &columns, factor.data(), &n, b, &n, &info, 1);
  }
  require(info == 0, "cholesky_solve: LAPACK dpotrs reported argument " + std::to_string(-info));
  return solution;
}

}  // namespace

void bind_cholesky(py::module_& m) {
  m.def("cholesky_factor", &cholesky_factor, py::arg("gram"), py::arg("shift") = 0.0,
        "(U, rcond) with gram + shift I = U^T U, or (None, 0.0) when the factorization fails.");
  m.def("cholesky_solve", &cholesky_solve, py::arg("factor"), py::arg("rhs"),
        "(U^T U)^{-1} rhs for the factor U of cholesky_factor; rhs of shape (m,) or (m, k).");
}

}  // namespace widenet::bindings
