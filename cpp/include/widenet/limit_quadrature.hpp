// The limit kernels' expectations for any activation (limit_kernels.hpp): a tensor
// Gauss-Legendre rule over the two Gaussian pre-activations, its panels graded toward the
// activation's features (FEATURES in the numpy twin), with the scratch of one thread.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <utility>
#include <vector>

#include "widenet/activations.hpp"
#include "widenet/limit_common.hpp"
#include "widenet/types.hpp"
#include "widenet/vector_math_exp.hpp"

namespace widenet::limit {

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
    case Activation::leaky_relu:
    case Activation::abs: return {0.0, 0.0, 1.0};  // bends at 0 only, as relu
    case Activation::monomial2:
    case Activation::monomial3: return {inf, 0.0, 1.0};  // smooth polynomials, as identity
    case Activation::elu:
    case Activation::silu: return {1.0, 1.0, 1.0};  // e^{-|t|} from their asymptotes
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
  // G's feature scale; elu' bends at 0 (a kink that G smooths to width tau) besides changing
  // on the scale ell, so its panels are graded from the finer of the two (_smoothed_scale)
  const bool kinked = activation == Activation::elu && spread > 0;
  const double width = kinked ? std::min(f.scale, spread) : std::max(f.scale, spread);
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

}  // namespace widenet::limit
