// Infinite-width kernels of the shallow network (docs/theory.md, sections 5 and 6). With
// pre-activations (h_x, h_z) centred Gaussian of covariance
//   Sigma(x, z) = s_w^2 x.z / d + s_b^2,
// and the two expectations E_ss = E[sigma(h_x) sigma(h_z)], E_dd = E[sigma'(h_x) sigma'(h_z)]:
//   LeCun, kind ntk:   K_LC  = E_ss                                  (Theorem 11.16)
//   NTK,   kind ntk:   K_NTK = s_v^2 (x.z/d + 1) E_dd + E_ss + 1      (Theorem 11.30)
//   either, kind nngp: s_v^2 E_ss + s_c^2                            (Proposition 11.28)
// The expectations come from three methods, each accurate to 1e-9 of the expectation's
// scale sqrt(E[s(u)^2] E[s(v)^2]) at every variance (the derivations, the guarantee and
// the measurements are in the numpy twin, python/widenet/reference/limit_kernels.py,
// whose formulas and constants this file mirrors):
//   closed forms    relu, erf, identity, sin, gelu;
//   scale mixtures  tanh, sigmoid, softplus: sums of closed arcsine / arc-cosine kernels
//                   over a Gauss rule for the logistic mixing law (given by the caller);
//                   arctan: one integral per pair on a Gauss-Legendre rule graded toward
//                   the scale of the point of smaller variance (built once per point);
//   quadrature      any activation: a tensor Gauss-Legendre rule graded toward the
//                   activation's features.
// Everything is computed in double. Long calls poll the current StopToken once per pair.
#pragma once

#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "widenet/activations.hpp"
#include "widenet/interrupt.hpp"
#include "widenet/limit_rules.hpp"
#include "widenet/names.hpp"
#include "widenet/shallow_network.hpp"
#include "widenet/types.hpp"
#include "widenet/vector_math.hpp"

namespace widenet {

enum class LimitKind { ntk, nngp };
enum class LimitMethod { closed_form, scale_mixture, quadrature };

inline constexpr Named<LimitKind> kLimitKinds[] = {{LimitKind::ntk, "ntk"},
                                                  {LimitKind::nngp, "nngp"}};
inline constexpr Named<LimitMethod> kLimitMethods[] = {{LimitMethod::closed_form, "closed_form"},
                                                      {LimitMethod::scale_mixture, "scale_mixture"},
                                                      {LimitMethod::quadrature, "quadrature"}};

inline LimitKind parse_limit_kind(const std::string& name) {
  return parse_name(kLimitKinds, name, "kind", alternatives(kLimitKinds));
}

inline LimitMethod parse_limit_method(const std::string& name) {
  return parse_name(kLimitMethods, name, "method", alternatives(kLimitMethods));
}

// The activations with a closed form, and those with a scale mixture (in this order).
inline constexpr Activation kClosedForms[] = {Activation::relu, Activation::erf,
                                              Activation::identity, Activation::sin,
                                              Activation::gelu};
inline constexpr Activation kScaleMixtures[] = {Activation::tanh, Activation::sigmoid,
                                                Activation::softplus, Activation::arctan};

// The largest pre-activation variance the graded quadrature takes for an activation (inf:
// no limit; the caller refuses larger ones): arctan's 1/t tail needs panels over every
// scale (cost ~ log(q)^2 per pair), sin's oscillations ~ q nodes.
inline double quadrature_max_variance(Activation a) {
  if (a == Activation::arctan) return 1e8;
  if (a == Activation::sin) return 8.0;
  return std::numeric_limits<double>::infinity();
}

struct LimitKernel {
  Architecture arch;
  LimitKind kind;
  LimitMethod method;
  double weight_var, bias_var, output_var, output_bias_var;
};

// The 1-D rules (limit_rules.hpp): Gauss-Legendre on [-1, 1] (`order` nodes, for the graded
// panels) and the Gauss rule of the logistic mixing law (variances, weights).
struct LimitRules {
  Vector<double> legendre_nodes, legendre_weights;
  Vector<double> mixture_variances, mixture_weights;
};

inline bool has_closed_form(Activation a) {
  const auto end = std::end(kClosedForms);
  return std::find(std::begin(kClosedForms), end, a) != end;
}

inline bool has_scale_mixture(Activation a) {
  const auto end = std::end(kScaleMixtures);
  return std::find(std::begin(kScaleMixtures), end, a) != end;
}

// The rules for graded panels of `order` nodes (1 <= order <= kLimitMaxOrder).
inline LimitRules limit_rules(Index order) {
  const GaussRule& legendre = gauss_legendre(order);
  const GaussRule& mixture = logistic_mixing_rule();
  return LimitRules{legendre.nodes, legendre.weights, mixture.nodes, mixture.weights};
}

namespace limit {

constexpr double kPi = 3.14159265358979323846;
constexpr double kSqrtPi = 1.77245385090551602730;
constexpr double kSqrtTwoPi = 2.50662827463100050242;

// One pair: variances, correlation and 1 - rho^2 = (1 - rho)(1 + rho).
struct Pair {
  double q1, q2, rho, one_minus_rho2;
};

struct Expectations {
  double ss, dd;
};

// sqrt(a b): a itself for a = b (a point's correlation with itself is then exactly 1),
// else sqrt(a) sqrt(b) where a b would overflow or fall below the normal range.
inline double root_product(double a, double b) {
  if (a == b) return a;
  const double product = a * b;
  if (std::isfinite(product) && product >= std::numeric_limits<double>::min()) {
    return std::sqrt(product);
  }
  return std::sqrt(a) * std::sqrt(b);
}

// -- closed forms -------------------------------------------------------------------------
// x = c / sqrt(P1 P2), 1 - x^2 = (1 - rho^2) r1 r2 + e1 + r1 e2 (no cancellation) and
// sqrt(P1) sqrt(P2), for the variances P = q + v, r = q / P, e = v / P.
struct ArcsineTerms {
  double x, one_minus_x2, root;
};

inline ArcsineTerms arcsine_terms(const Pair& p, double v1, double v2) {
  const double P1 = p.q1 + v1, P2 = p.q2 + v2;
  const double r1 = p.q1 / P1, r2 = p.q2 / P2;
  return {p.rho * std::sqrt(r1) * std::sqrt(r2),
          p.one_minus_rho2 * r1 * r2 + v1 / P1 + r1 * (v2 / P2), std::sqrt(P1) * std::sqrt(P2)};
}

inline Expectations relu_expectations(const Pair& p) {
  const double root = std::sqrt(p.q1) * std::sqrt(p.q2), sine = std::sqrt(p.one_minus_rho2);
  const double angle = 0.5 * kPi + std::atan2(p.rho, sine);  // pi - arccos(rho)
  return {root / (2 * kPi) * (sine + angle * p.rho), root > 0 ? angle / (2 * kPi) : 0.0};
}

inline Expectations erf_expectations(const Pair& p) {
  const ArcsineTerms a = arcsine_terms(p, 0.5, 0.5);
  return {(2 / kPi) * std::atan2(a.x, std::sqrt(a.one_minus_x2)),
          (2 / kPi) / (a.root * std::sqrt(a.one_minus_x2))};
}

// (E cos(u - v) -+ E cos(u + v)) / 2 with the smaller half variance g written without
// cancellation.
inline Expectations sin_expectations(const Pair& p) {
  const double r1 = std::sqrt(p.q1), r2 = std::sqrt(p.q2), size = std::abs(p.rho) * r1 * r2;
  const double near = std::exp(-(0.5 * (r1 - r2) * (r1 - r2) + (1 - std::abs(p.rho)) * r1 * r2));
  const double sign = p.rho > 0 ? 1.0 : (p.rho < 0 ? -1.0 : 0.0);
  return {sign * near * (-std::expm1(-2 * size)) / 2, near * (1 + std::exp(-2 * size)) / 2};
}

inline Expectations gelu_expectations(const Pair& p) {
  const ArcsineTerms a = arcsine_terms(p, 1.0, 1.0);
  const double e1 = 1 / (p.q1 + 1), e2 = 1 / (p.q2 + 1);
  const double bracket = (p.q1 * e1) * (p.q2 * e2) * (p.one_minus_rho2 + p.rho * p.rho * (e1 + e2));
  const double sine = std::sqrt(a.one_minus_x2), angle = std::atan2(a.x, sine);
  return {a.root * (a.x / 4 + a.x * angle / (2 * kPi) + bracket / (2 * kPi * sine)),
          0.25 + angle / (2 * kPi) +
              a.x * (e1 + e2 + e2 * (e1 / a.one_minus_x2)) / (2 * kPi * sine)};
}

inline Expectations closed_form_expectations(Activation activation, const Pair& p,
                                             double covariance) {
  switch (activation) {
    case Activation::relu: return relu_expectations(p);
    case Activation::erf: return erf_expectations(p);
    case Activation::sin: return sin_expectations(p);
    case Activation::gelu: return gelu_expectations(p);
    default: return {covariance, 1.0};  // identity
  }
}

// -- the logistic scale mixtures ------------------------------------------------------------
// sigmoid, tanh and softplus as mixtures over the variance V of the logistic law:
// P = q + scale V per node, and E_ss = a + b A + c C, E_dd = d + e B + f A with the sums
// over node pairs (weights w_k w_l) A = arcsin(x), B = 1/(sqrt(P1 P2) sqrt(1 - x^2)),
// C = sqrt(P1 P2) (sqrt(1 - x^2) + (pi/2 + arcsin x) x).
struct LogisticMixture {
  double scale;
  double a, b, c, d, e, f;
};

inline LogisticMixture logistic_mixture(Activation activation) {
  const double over_two_pi = 1 / (2 * kPi);
  if (activation == Activation::sigmoid) return {1.0, 0.25, over_two_pi, 0, 0, over_two_pi, 0};
  if (activation == Activation::tanh) return {0.25, 0, 2 / kPi, 0, 0, 2 / kPi, 0};
  return {1.0, 0, 0, over_two_pi, 0.25, 0, over_two_pi};  // softplus
}

// A point's side of the mixture sums, per node: r = q / P, e = scale V / P, sqrt(r), sqrt(P).
struct MixtureSide {
  std::vector<double> r, e, root_r, root_P;
};

inline MixtureSide mixture_side(double q, double scale, const Vector<double>& variances) {
  const Index n = variances.size();
  MixtureSide side{std::vector<double>(n), std::vector<double>(n), std::vector<double>(n),
                   std::vector<double>(n)};
  for (Index k = 0; k < n; ++k) {
    const double v = scale * variances(k), P = q + v;
    side.r[k] = q / P;
    side.e[k] = v / P;
    side.root_r[k] = std::sqrt(side.r[k]);
    side.root_P[k] = std::sqrt(P);
  }
  return side;
}

inline Expectations mixture_expectations(const LogisticMixture& mix, const MixtureSide& one,
                                         const MixtureSide& two, double rho, double one_minus_rho2,
                                         const Vector<double>& weights) {
  const Index n = weights.size();
  const bool needs_C = mix.c != 0;
  double A = 0, B = 0, C = 0;
  for (Index k = 0; k < n; ++k) {
    double row_A = 0, row_B = 0, row_C = 0;
    const double rho_k = rho * one.root_r[k], om_k = one_minus_rho2 * one.r[k];
    for (Index l = 0; l < n; ++l) {
      const double x = rho_k * two.root_r[l];
      const double sine = std::sqrt(om_k * two.r[l] + one.e[k] + one.r[k] * two.e[l]);
      const double angle = scalar::arctan(x / sine);  // arcsin(x); sine >= sqrt(e) > 0
      const double root = one.root_P[k] * two.root_P[l];
      row_A += weights(l) * angle;
      if (needs_C) {
        row_C += weights(l) * root * (sine + (0.5 * kPi + angle) * x);
      } else {
        row_B += weights(l) / (root * sine);
      }
    }
    A += weights(k) * row_A;
    B += weights(k) * row_B;
    C += weights(k) * row_C;
  }
  return {mix.a + mix.b * A + mix.c * C, mix.d + mix.e * B + mix.f * A};
}

// -- arctan ---------------------------------------------------------------------------------
constexpr double kGrading = 3.0;  // ratio of successive graded panels (GRADING)
constexpr double kArctanReach = 6.5, kArctanSsReach = 1e13, kArctanDdStart = 1e-7;
constexpr double kArctanBreaks[] = {1.0, 2.5, 4.5};

// e^{z^2} erfc(z) for z >= 0: z^2 split exactly (fma) below 26, the asymptotic series above.
inline double erfcx(double z) {
  if (z < 26.0) {
    const double square = z * z;
    return std::exp(square) * (1.0 + std::fma(z, z, -square)) * std::erfc(z);
  }
  const double inverse = (0.5 / z) / z;  // 1 / (2 z^2) without overflow
  double series = 1.0, term = 1.0;
  for (int k = 1; k <= 10; ++k) {
    term = -term * (2 * k - 1) * inverse;
    series += term;
  }
  return series / (z * kSqrtPi);
}

// start, start r, ... up to the first point >= stop, or to the first whose next step would
// be wider than `width` (nothing unless 0 < start < inf); appended.
inline void graded_points(double start, double stop, std::vector<double>& points,
                          double width = std::numeric_limits<double>::infinity()) {
  if (!(start > 0 && start < std::numeric_limits<double>::infinity())) return;
  for (double point = start;; point *= kGrading) {
    points.push_back(point);
    if (point >= stop || point * (kGrading - 1) >= width) return;
  }
}

// Gauss-Legendre nodes and weights on the panel [low, high], appended.
inline void panel_rule(double low, double high, const LimitRules& rules, std::vector<double>& nodes,
                       std::vector<double>& weights) {
  const double middle = 0.5 * (low + high), half = 0.5 * (high - low);
  const Index n = rules.legendre_nodes.size();
  const std::size_t start = nodes.size();
  nodes.resize(start + n);
  weights.resize(start + n);
  for (Index i = 0; i < n; ++i) {
    nodes[start + i] = middle + half * rules.legendre_nodes(i);
    weights[start + i] = half * rules.legendre_weights(i);
  }
}

inline void sort_unique(std::vector<double>& points) {
  std::sort(points.begin(), points.end());
  points.erase(std::unique(points.begin(), points.end()), points.end());
}

// The rule of arctan's two integrals for a point of variance q (arctan_rule in the twin),
// with the per-node weights of E_ss and E_dd: t, w erfc(eta)/(1 + t^2), (w delta) eta e^{-eta^2}.
struct ArctanSide {
  double q = 0;
  std::vector<double> t, ss_weights, dd_weights;
};

// The panels (low, high) in t of arctan's rule for a point of variance q > 0.
inline std::vector<std::pair<double, double>> arctan_panels(double q) {
  const double delta = 1 / std::sqrt(2 * q);
  std::vector<double> breaks{0.0}, graded;
  graded_points(1.0, 1.0 / delta, graded);
  for (const double point : graded) {
    if (point * delta < 1.0) breaks.push_back(point);
  }
  for (const double eta : kArctanBreaks) breaks.push_back(eta / delta);
  breaks.push_back(kArctanReach / delta);
  sort_unique(breaks);
  std::vector<std::pair<double, double>> panels;
  for (std::size_t i = 0; i + 1 < breaks.size(); ++i) {
    const double low = breaks[i], high = breaks[i + 1];
    if (low < kArctanSsReach || high * delta > kArctanDdStart) panels.emplace_back(low, high);
  }
  return panels;
}

inline ArctanSide arctan_side(double q, const LimitRules& rules) {
  ArctanSide side;
  side.q = q;
  if (q == 0) return side;
  const double delta = 1 / std::sqrt(2 * q);
  std::vector<double> weights;
  for (const auto& [low, high] : arctan_panels(q)) panel_rule(low, high, rules, side.t, weights);
  for (std::size_t k = 0; k < side.t.size(); ++k) {
    const double t = side.t[k], eta = delta * t, inverse = 1 / t;
    const double lorentz = t <= 1 ? 1 / (1 + t * t) : inverse * inverse / (1 + inverse * inverse);
    side.ss_weights.push_back(weights[k] * std::erfc(eta) * lorentz);
    side.dd_weights.push_back((weights[k] * delta) * eta * std::exp(-eta * eta));
  }
  return side;
}

// arctan's E_ss, E_dd of a pair on the rule of its point of smaller variance (`first`);
// q2 >= first.q is the other point's variance.
inline Expectations arctan_expectations(const ArctanSide& first, double q2, double rho,
                                        double one_minus_rho2) {
  const double delta2 = 1 / std::sqrt(2 * q2);
  if (first.q == 0) return {0.0, q2 > 0 ? kSqrtPi * delta2 * erfcx(delta2) : 1.0};
  double S = 0, D = 0;
  for (std::size_t k = 0; k < first.t.size(); ++k) {
    const double t = first.t[k], inverse = 1 / t;
    double inverse_h, g;
    if (t <= 1) {
      inverse_h = 1 / std::sqrt(1 + one_minus_rho2 * (t * t));
      g = std::sqrt(1 + t * t) * inverse_h;
    } else {
      const double denominator = std::sqrt(one_minus_rho2 + inverse * inverse);
      inverse_h = inverse / denominator;
      g = std::sqrt(1 + inverse * inverse) / denominator;
    }
    const double X = erfcx(delta2 * g) * inverse_h;
    S += first.ss_weights[k] * X;
    D += first.dd_weights[k] * X;
  }
  return {0.5 * kPi * rho * S, 2 * kSqrtPi * delta2 * D};
}

// -- the graded quadrature ------------------------------------------------------------------
constexpr double kHalfWidth = 8.0, kPanelWidthPerNode = 0.25, kAsymptoteGap = 1e-17;

// (scale ell, decay rate, power) of FEATURES in the twin.
struct Features {
  double scale, rate, power;
};

inline Features features(Activation activation) {
  const double inf = std::numeric_limits<double>::infinity();
  switch (activation) {
    case Activation::relu: return {0.0, 0.0, 1.0};
    case Activation::identity: return {inf, 0.0, 1.0};
    case Activation::tanh: return {1.0, 2.0, 1.0};
    case Activation::erf: return {1.0, 1.0, 2.0};
    case Activation::sigmoid:
    case Activation::softplus: return {1.0, 1.0, 1.0};
    case Activation::gelu: return {1.0, 0.5, 2.0};
    default: return {1.0, 0.0, 1.0};  // arctan, sin
  }
}

inline double asymptote_radius(const Features& f, double stretch) {
  if (f.rate == 0) return std::numeric_limits<double>::infinity();
  const double exponent = std::log(1 / kAsymptoteGap) + std::log(std::max(1.0, stretch));
  return std::pow(exponent / f.rate, 1 / f.power);
}

struct Range {
  double start, stop;
};

struct Panel {
  double low, high;
};

// The grid around a feature at 0 on the offsets |t| < reach (feature_grid in the twin):
// panel ends +-points (points[0] = 0, then the graded points of the merged feature ranges
// below reach), each gap cut evenly into panels at most `width` wide, and beyond
// +-points.back() panels of `width` at fixed places.
struct FeatureGrid {
  std::vector<double> points;
  double width = 0;

  void build(std::vector<Range> ranges, double reach, Index order) {
    width = kPanelWidthPerNode * double(order);
    const auto absent = [](const Range& r) {
      return !(r.start > 0 && r.start < std::numeric_limits<double>::infinity());
    };
    ranges.erase(std::remove_if(ranges.begin(), ranges.end(), absent), ranges.end());
    std::sort(ranges.begin(), ranges.end(), [](const Range& x, const Range& y) {
      return x.start < y.start || (x.start == y.start && x.stop < y.stop);
    });
    points.assign(1, 0.0);
    std::vector<double> graded;
    for (std::size_t i = 0; i < ranges.size();) {
      const double start = ranges[i].start;
      double stop = ranges[i].stop;
      for (++i; i < ranges.size() && ranges[i].start <= stop * kGrading; ++i) {
        stop = std::max(stop, ranges[i].stop);
      }
      graded.clear();
      graded_points(start, stop, graded, width);
      for (const double point : graded) {
        if (points.back() < point && point < reach) points.push_back(point);
      }
    }
  }

  // The panels that meet (low, high), in increasing order (window_panels in the twin).
  void window(double low, double high, std::vector<Panel>& panels) const {
    panels.clear();
    // j in [floor(from), ceil(to)) within [0, cap], clipped before the conversion (a
    // window far from a tiny segment gives |from| ~ 1e100)
    const auto span = [](double from, double to, double cap) {
      return std::pair<long, long>{static_cast<long>(std::clamp(std::floor(from), 0.0, cap)),
                                   static_cast<long>(std::clamp(std::ceil(to), 0.0, cap))};
    };
    constexpr double kFar = 1e18;
    const double last = points.back();
    {  // left tail: -last - (j + 1) width .. -last - j width
      const double b = -last;
      const auto [first, end] = span((b - high) / width, (b - low) / width, kFar);
      for (long j = end - 1; j >= first; --j) {
        panels.push_back({b - (j + 1) * width, b - j * width});
      }
    }
    const auto segment = [&](double a, double b) {
      const double pieces = std::ceil((b - a) / width);
      const double step = (b - a) / pieces;
      const auto [first, end] = span((low - a) / step, (high - a) / step, pieces);
      for (long j = first; j < end; ++j) {
        const bool final_piece = j + 1 == static_cast<long>(pieces);
        panels.push_back({a + j * step, final_piece ? b : a + (j + 1) * step});
      }
    };
    for (std::size_t i = points.size() - 1; i >= 1; --i) segment(-points[i], -points[i - 1]);
    for (std::size_t i = 0; i + 1 < points.size(); ++i) segment(points[i], points[i + 1]);
    {  // right tail: last + j width .. last + (j + 1) width
      const auto [first, end] = span((low - last) / width, (high - last) / width, kFar);
      for (long j = first; j < end; ++j) {
        panels.push_back({last + j * width, last + (j + 1) * width});
      }
    }
    panels.erase(std::remove_if(panels.begin(), panels.end(),
                                [&](const Panel& x) { return !(x.high > low && x.low < high); }),
                 panels.end());
  }
};

// Scratch of one thread: the grids, panels, rules and activation values of a pair.
struct QuadratureScratch {
  FeatureGrid outer_grid, inner_grid;
  std::vector<Panel> panels, near_panels;
  std::vector<double> a, outer_weights, u, f_slopes, G, G_slope;             // outer nodes
  std::vector<double> t, legendre_weights, values, slopes, weights;          // near windows
  std::vector<double> plain_b, plain_weights, far_values, far_slopes;        // far windows
};

// Gauss-Legendre nodes and weights on `panels`.
inline void panel_nodes(const std::vector<Panel>& panels, const LimitRules& rules,
                        std::vector<double>& nodes, std::vector<double>& weights) {
  nodes.clear();
  weights.clear();
  for (const Panel& panel : panels) panel_rule(panel.low, panel.high, rules, nodes, weights);
}

// weights[k] * phi(centre + t[k]) for k in [begin, end): the standard normal density.
inline void gaussian_weights(double centre, const double* t, const double* legendre, double* out,
                             Index count) {
  for (Index k = 0; k < count; ++k) {  // vectorises: vmath::exp has no branches
    const double b = centre + t[k];
    out[k] = legendre[k] * (vmath::exp(-0.5 * b * b) * (1 / kSqrtTwoPi));
  }
}

// sigma and sigma' of `values` (resized to n), without threads of its own.
inline void evaluate(Activation activation, std::vector<double>& values,
                     std::vector<double>& slopes) {
  slopes.resize(values.size());
  with_activation(activation, [&](auto act) {
    constexpr Activation A = decltype(act)::value;
    activate_block<A, false>(values.data(), slopes.data(), static_cast<Index>(values.size()), 1.0,
                             static_cast<const double*>(nullptr));
  });
}

// The far end of the grid's graded panels narrower than its width (0 if none).
inline double fine_reach(const FeatureGrid& grid) {
  double fine = 0;
  for (std::size_t i = 1; i < grid.points.size(); ++i) {
    if (grid.points[i] - grid.points[i - 1] < grid.width) fine = grid.points[i];
  }
  return fine;
}

// [-kHalfWidth, kHalfWidth] cut evenly into panels at most `width` wide (plain_panels).
inline void plain_panels(double width, std::vector<Panel>& panels) {
  const int pieces = static_cast<int>(std::ceil(2 * kHalfWidth / width));
  panels.clear();
  const double step = 2 * kHalfWidth / pieces;
  for (int k = 0; k < pieces; ++k) {
    const double high = k + 1 == pieces ? kHalfWidth : -kHalfWidth + (k + 1) * step;
    panels.push_back({-kHalfWidth + k * step, high});
  }
}

// The inner integrals G(a) = E_b[g(h_z)], G'(a) = E_b[g'(h_z)] for every outer node over
// |b| < kHalfWidth, b = centre + t, centre = -rho a / s (_gaussian_rule in the twin):
// windows that meet the inner grid's fine panels take the grid's panels, and g, g' are
// evaluated once on their union; the others take the plain panels in b, whose Gaussian
// weights are computed once.
inline void inner_integrals(Activation activation, const Pair& p, double sine, double spread,
                            const LimitRules& rules, QuadratureScratch& s) {
  const std::size_t outer = s.a.size();
  const Index order = rules.legendre_nodes.size();
  const double fine = fine_reach(s.inner_grid);
  s.G.assign(outer, 0.0);
  s.G_slope.assign(outer, 0.0);
  const auto centre = [&](std::size_t q) { return -p.rho * s.a[q] / sine; };
  const auto near = [&](double c) { return -kHalfWidth - c <= fine && kHalfWidth - c >= -fine; };
  double union_low = std::numeric_limits<double>::infinity(), union_high = -union_low;
  for (std::size_t q = 0; q < outer; ++q) {
    const double c = centre(q);
    if (near(c)) {
      union_low = std::min(union_low, -kHalfWidth - c);
      union_high = std::max(union_high, kHalfWidth - c);
    }
  }
  std::vector<Panel>& near_panels = s.near_panels;
  near_panels.clear();
  if (union_low < union_high) {  // g and g' on the union of the near windows, once
    s.inner_grid.window(union_low, union_high, near_panels);
    panel_nodes(near_panels, rules, s.t, s.legendre_weights);
    s.values.resize(s.t.size());
    for (std::size_t k = 0; k < s.t.size(); ++k) s.values[k] = spread * s.t[k];
    evaluate(activation, s.values, s.slopes);
  }
  std::vector<double>&plain_b = s.plain_b, &plain_weights = s.plain_weights;
  plain_panels(s.inner_grid.width, s.panels);
  panel_nodes(s.panels, rules, plain_b, plain_weights);
  gaussian_weights(0.0, plain_b.data(), plain_weights.data(), plain_weights.data(),
                   Index(plain_b.size()));
  for (std::size_t q = 0; q < outer; ++q) {
    const double c = centre(q);
    double sum = 0, sum_slope = 0;
    if (near(c)) {  // the window's panels are a run of the union's
      const double low = -kHalfWidth - c, high = kHalfWidth - c;
      const auto first = std::partition_point(near_panels.begin(), near_panels.end(),
                                              [&](const Panel& x) { return !(x.high > low); });
      const auto last = std::partition_point(first, near_panels.end(),
                                             [&](const Panel& x) { return x.low < high; });
      const Index begin = Index(first - near_panels.begin()) * order;
      const Index end = Index(last - near_panels.begin()) * order;
      s.weights.resize(std::size_t(end - begin));
      gaussian_weights(c, s.t.data() + begin, s.legendre_weights.data() + begin, s.weights.data(),
                       end - begin);
      for (Index k = begin; k < end; ++k) {
        sum += s.weights[std::size_t(k - begin)] * s.values[std::size_t(k)];
        sum_slope += s.weights[std::size_t(k - begin)] * s.slopes[std::size_t(k)];
      }
    } else {
      s.far_values.resize(plain_b.size());
      for (std::size_t k = 0; k < plain_b.size(); ++k) s.far_values[k] = spread * (plain_b[k] - c);
      evaluate(activation, s.far_values, s.far_slopes);
      for (std::size_t k = 0; k < plain_b.size(); ++k) {
        sum += plain_weights[k] * s.far_values[k];
        sum_slope += plain_weights[k] * s.far_slopes[k];
      }
    }
    s.G[q] = sum;
    s.G_slope[q] = sum_slope;
  }
}

inline Expectations quadrature_expectations(Activation activation, const Pair& p,
                                            const LimitRules& rules, QuadratureScratch& s) {
  const Features f = features(activation);
  const Index order = rules.legendre_nodes.size();
  const double sine = std::sqrt(p.one_minus_rho2), root1 = std::sqrt(p.q1), root2 = std::sqrt(p.q2);
  const double spread = root2 * sine, along = root2 * std::abs(p.rho);
  const double reach = f.scale > 0 ? asymptote_radius(f, std::max(root1, root2)) : 0.0;
  const double width = std::max(f.scale, spread);
  const Range of_f = root1 > 0 ? Range{f.scale / root1, reach / root1} : Range{0.0, 0.0};
  const Range of_G =
      along > 0 ? Range{width / along, (reach + kHalfWidth * spread) / along} : Range{0.0, 0.0};
  s.outer_grid.build({of_f, of_G}, kHalfWidth, order);
  s.outer_grid.window(-kHalfWidth, kHalfWidth, s.panels);
  panel_nodes(s.panels, rules, s.a, s.outer_weights);
  gaussian_weights(0.0, s.a.data(), s.outer_weights.data(), s.outer_weights.data(),
                   Index(s.a.size()));
  s.u.resize(s.a.size());
  for (std::size_t q = 0; q < s.a.size(); ++q) s.u[q] = root1 * s.a[q];
  evaluate(activation, s.u, s.f_slopes);  // u now holds sigma(u)
  if (spread == 0) {  // rho = +-1 or q2 = 0: h_z = sqrt(q2) rho a exactly
    s.G.resize(s.a.size());
    for (std::size_t q = 0; q < s.a.size(); ++q) s.G[q] = root2 * p.rho * s.a[q];
    evaluate(activation, s.G, s.G_slope);  // G now holds sigma(h_z)
  } else {
    // the windows |b| < kHalfWidth, b = -rho a / s + t, span |t| < kHalfWidth + max |rho a / s|
    double centres = 0;
    for (const double a : s.a) centres = std::max(centres, std::abs(p.rho * a / sine));
    s.inner_grid.build({Range{f.scale / spread, reach / spread}}, kHalfWidth + centres, order);
    inner_integrals(activation, p, sine, spread, rules, s);
  }
  double sum_ss = 0, sum_dd = 0;
  for (std::size_t q = 0; q < s.a.size(); ++q) {
    sum_ss += s.outer_weights[q] * s.u[q] * s.G[q];
    sum_dd += s.outer_weights[q] * s.f_slopes[q] * s.G_slope[q];
  }
  return {sum_ss, sum_dd};
}

}  // namespace limit

// The limit kernel between X1 and X2 (X2 == nullptr: X1 with itself, symmetric; the
// lower triangle is computed and mirrored). The caller has checked that the method
// applies to the activation and, for the quadrature, the variances it accepts.
inline RowMatrix<double> limit_kernel(const LimitKernel& config, const MatrixRef<double>& X1,
                                      const MatrixRef<double>* X2, const LimitRules& rules) {
  const bool symmetric = X2 == nullptr;
  const MatrixRef<double>& Z = symmetric ? X1 : *X2;
  const Index m1 = X1.rows(), m2 = Z.rows(), d = X1.cols();
  const double sw = config.weight_var / double(d), sb = config.bias_var;
  const StopToken& stop = current_stop_token();
  RowMatrix<double> inner(m1, m2);
  // X1 Z^T in bands of rows of about 1e9 flops each, so that a stop is seen between them
  const Index band = std::max<Index>(1, Index(5e8) / std::max<Index>(1, m2 * d));
  for (Index start = 0; start < m1; start += band) {
    stop.throw_if_requested();
    const Index rows = std::min(band, m1 - start);
    inner.middleRows(start, rows).noalias() = X1.middleRows(start, rows) * Z.transpose();
  }
  // In the symmetric case the variances are the diagonal's own covariances, so that a
  // point's correlation with itself is exactly 1 (arccos is steep there).
  const Vector<double> norms1 =
      symmetric ? Vector<double>(inner.diagonal()) : Vector<double>(X1.rowwise().squaredNorm());
  const Vector<double> s11 = (sw * norms1).array() + sb;
  const Vector<double> s22 =
      symmetric ? s11 : Vector<double>((sw * Z.rowwise().squaredNorm()).array() + sb);
  const Activation activation = config.arch.activation;
  const bool mixture = config.method == LimitMethod::scale_mixture;
  const bool arctan = mixture && activation == Activation::arctan;
  const bool logistic = mixture && !arctan;
  const limit::LogisticMixture mix = limit::logistic_mixture(activation);

  // Each point's side of the pair sums, once (rows, then columns unless symmetric).
  std::vector<limit::MixtureSide> mixture_sides;
  std::vector<limit::ArctanSide> arctan_sides;
  const Index points = symmetric ? m1 : m1 + m2;
  if (logistic) mixture_sides.resize(points);
  if (arctan) arctan_sides.resize(points);
  if (logistic || arctan) {
#pragma omp parallel for schedule(dynamic, 16) num_threads(thread_count()) if (points > 64)
    for (Index i = 0; i < points; ++i) {
      if (stop.requested()) continue;
      const double q = i < m1 ? s11(i) : s22(i - m1);
      if (logistic) mixture_sides[i] = limit::mixture_side(q, mix.scale, rules.mixture_variances);
      if (arctan) arctan_sides[i] = limit::arctan_side(q, rules);
    }
    stop.throw_if_requested();
  }
  const Index column_side = symmetric ? 0 : m1;  // index of column j's side: column_side + j

#pragma omp parallel num_threads(thread_count()) if (m1 * m2 > 64)
  {
    limit::QuadratureScratch scratch;
#pragma omp for schedule(dynamic, 1)
    for (Index k = 0; k < m1; ++k) {
      const Index end = symmetric ? k + 1 : m2;
      for (Index j = 0; j < end; ++j) {
        if (stop.requested()) break;
        const double s12 = sw * inner(k, j) + sb;
        const double root = limit::root_product(s11(k), s22(j));
        const double rho = root > 0 ? std::clamp(s12 / root, -1.0, 1.0) : 0.0;
        const limit::Pair pair{s11(k), s22(j), rho, (1 - rho) * (1 + rho)};
        limit::Expectations e;
        if (config.method == LimitMethod::closed_form) {
          e = limit::closed_form_expectations(activation, pair, s12);
        } else if (logistic) {
          e = limit::mixture_expectations(mix, mixture_sides[k], mixture_sides[column_side + j],
                                          rho, pair.one_minus_rho2, rules.mixture_weights);
        } else if (arctan) {
          const bool row_first = s11(k) <= s22(j);  // the rule of the smaller variance
          e = limit::arctan_expectations(arctan_sides[row_first ? k : column_side + j],
                                         row_first ? s22(j) : s11(k), rho, pair.one_minus_rho2);
        } else {
          e = limit::quadrature_expectations(activation, pair, rules, scratch);
        }
        double value;
        if (config.kind == LimitKind::nngp) {
          value = config.output_var * e.ss + config.output_bias_var;
        } else if (config.arch.parametrization == Parametrization::lecun) {
          value = e.ss;
        } else {
          // (x.z/d + 1) E_dd first: it is finite where the kernel is (E_dd <= 1.3), and
          // s_v^2 = 0 gives 0, not 0 * inf.
          const double tangent = (inner(k, j) / double(d) + 1) * e.dd;
          value = (config.output_var == 0 ? 0.0 : config.output_var * tangent) + e.ss + 1;
        }
        inner(k, j) = value;
      }
    }
  }
  stop.throw_if_requested();
  if (symmetric) mirror_lower_to_upper(inner);
  return inner;
}

// Floats of each point's table in limit_kernel, at most, for points whose pre-activation
// variances reach `largest`: the scale mixtures' (arctan: t and two weights per node of its
// rule; the logistic mixtures: four per node of the mixing rule); none for the others.
inline Index limit_point_floats(Activation activation, LimitMethod method, double largest,
                                Index order) {
  if (method != LimitMethod::scale_mixture) return 0;
  if (activation == Activation::arctan) {
    return largest > 0 ? 3 * Index(limit::arctan_panels(largest).size()) * order : 0;
  }
  return 4 * kLogisticNodes;
}

}  // namespace widenet
