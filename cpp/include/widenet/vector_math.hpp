// Elementary functions for the activations, written so that loops calling them
// auto-vectorise: no calls into libm, no branches (every choice is a select), powers of
// two assembled from the bits of a double. Everything computes in double; the template
// parameter Result (double or float) is the precision the caller rounds the result to,
// and picks polynomials of just enough degree for it (float results are then within
// about half an ulp). Coefficients and constants: tools/fit_vector_math.py.
//
// Largest errors on 10^6 points per function and seed, seeds 0 to 2 (portable: 0 to 3), in ulps of the exact
// result (long-double references; `python tests/test_vector_math.py --points 1000000 --seed S`),
// AVX2 and AVX-512 / portable path:
//                 float64 value   float64 derivative   float32 value / derivative
//   tanh           1.11 / 1.11      1.52 / 1.52            0.52 / 0.51
//   erf            1.05 / 1.31      1.06 / 1.02            0.52 / 0.50
//   sigmoid        1.31 / 1.33      1.49 / 1.49            0.50 / 0.50
//   softplus       1.57 / 1.64      1.31 / 1.33            0.52 / 0.50
//   gelu           2.27 / 2.39      2.75 / 2.83            0.51 / 0.51
//   sin            1.49 / 1.49      1.44 / 1.46            0.56 / 0.56
// (and arctan, activations.hpp: 1.95 / 2.08 and 1.49 / 2.14, float 0.50 / 0.50). The float32
// columns are this evaluation in double; float32 arrays of the activations that have one take
// the evaluation in float of vector_math_float.hpp instead (its own table). gelu'
// crosses 0 at z = -0.7518, where Phi + z phi cancels: between -1.5 and -0.25 its error is
// counted in ulps of max(|gelu'|, Phi) (any double evaluation of the sum errs by an ulp
// of Phi there; float results are within 0.51 true ulp everywhere).
// NaN propagates, +-inf saturate, the sign of zero is kept by odd functions.
//
// The pieces, one topic each: vector_math_exact.hpp (bits, powers of two, error-free
// products and sums), vector_math_polynomials.hpp (the coefficients and the evaluation
// schemes), vector_math_exp.hpp (exp, log1p, tanh, sigmoid, softplus),
// vector_math_normal.hpp (erf and the normal cdf, for gelu) and vector_math_trig.hpp
// (sin and cos). Including this header includes them all.
#pragma once

#include "widenet/vector_math_exp.hpp"
#include "widenet/vector_math_normal.hpp"
#include "widenet/vector_math_trig.hpp"
