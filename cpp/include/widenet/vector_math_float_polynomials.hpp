// The polynomials and constants of the float-precision functions of vector_math_float.hpp,
// lowest order first. Derived by tools/fit_vector_math_float.py (minimax fits for relative
// errors near 2e-9, then rounded to float: the rounding of the leading ones dominates).
#pragma once

namespace widenet::vmath::f32::detail {

// expm1(r) = r + r^2 Q(r), |r| <= ln(2)/2
constexpr float kExpm1[] = {0.4999999403953552f, 0.16666515171527863f, 0.04166845604777336f,
                            0.00836941134184599f, 0.0013813161058351398f};
// tanh(x) = x + x^3 T(x^2), |x| <= 0.55
constexpr float kTanh[] = {-0.33333316445350647f, 0.13332585990428925f, -0.05385230854153633f,
                           0.021071678027510643f, -0.006274237297475338f};
// log1p(g) = g - s (g - s^2 U(s^2)), s = g/(2 + g) <= 1/3
constexpr float kLog1p[] = {0.666664183139801f, 0.4002152681350708f, 0.28001803159713745f,
                            0.28011995553970337f};
// erf(x) = x + x R(x^2), |x| <= 1
constexpr float kErf[] = {0.12837916612625122f, -0.3761262595653534f, 0.1128358542919159f,
                          -0.026853812858462334f, 0.005188327748328447f, -0.0008010193705558777f,
                          7.853861461626366e-05f};
// erfc(x) = (2/sqrt(pi)) e^{-x^2} t P(t - kErfTailT0), t = kErfTailC/(x + kErfTailC), 1 <= x <= 4
constexpr float kErfTailC = 3.0f, kErfTailT0 = 0.6f, kErfTailEnd = 4.0f;  // erf rounds to 1 beyond
constexpr float kErfTail[] = {0.3772308826446533f, 0.6858082413673401f, 0.953924298286438f,
                              0.9841792583465576f, 0.6840781569480896f, 0.21416664123535156f,
                              -0.11326155811548233f, -0.1173802837729454f};
// Phi(z) = 1/2 + z S(z^2), -0.5 <= z <= 1
constexpr float kCdfTailBelow = -0.5f, kCdfTailAbove = 1.0f;
constexpr float kCdf[] = {0.3989422917366028f, -0.06649034470319748f, 0.009973235428333282f,
                          -0.0011861398816108704f, 0.00011330322013236582f, -7.589192136947531e-06f};
// Phi(-a)/phi(a) = t P(t - kMillsT0), t = kMillsC/(a + kMillsC), 0.5 <= a <= kGeluTailEnd
constexpr float kMillsC = 2.0f, kMillsT0 = 0.4f, kGeluTailEnd = 14.7f;  // gelu underflows below -14.7
constexpr float kMillsLo = 4.775674522505824e-09f;  // kMills[0] + this
constexpr float kMills[] = {0.7614757418632507f, 0.7909701466560364f, 0.2513532042503357f,
                            -0.3348860740661621f, -0.16136732697486877f, 0.32107722759246826f,
                            0.01282031275331974f, -0.3538609743118286f, 0.2428661435842514f,
                            0.21741646528244019f, -0.4457266330718994f, 0.21404477953910828f};
// arctan(u) = u + u s A(s), s = u^2 <= tan(pi/8)^2
constexpr float kArctan[] = {-0.3333333134651184f, 0.19999898970127106f, -0.14281874895095825f,
                             0.11042968183755875f, -0.08466237038373947f, 0.04722502827644348f};
// Taylor coefficients of sin and cos on |r| <= pi/4 (the first term left out is below 2e-9
// relative): (-1)^j/(2j+3)! and (-1)^j/(2j+4)!.
constexpr float kSinTaylor[] = {-1.0f / 6, 1.0f / 120, -1.0f / 5040, 1.0f / 362880};
constexpr float kCosTaylor[] = {1.0f / 24, -1.0f / 720, 1.0f / 40320, -1.0f / 3628800};

}  // namespace widenet::vmath::f32::detail
