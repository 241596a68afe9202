// Infinite-width kernels of the shallow network (docs/theory.md, sections 5 and 6). With
// pre-activations (h_x, h_z) centred Gaussian of covariance
//   Sigma(x, z) = s_w^2 x.z / d + s_b^2,
// and the two expectations E_ss = E[sigma(h_x) sigma(h_z)], E_dd = E[sigma'(h_x) sigma'(h_z)]:
//   LeCun, kind ntk:   K_LC  = E_ss                                  (Theorem 11.16)
//   NTK,   kind ntk:   K_NTK = s_v^2 (x.z/d + 1) E_dd + E_ss + 1      (Theorem 11.30)
//   either, kind nngp: s_v^2 E_ss + s_c^2                            (Proposition 11.28)
// The expectations come from three methods, each accurate to 1e-9 of the expectation's
// scale sqrt(E[s(u)^2] E[s(v)^2]) at every variance (the derivations, the guarantee and
// the measurements are in the numpy twin, python/widenet/reference/limit_kernels/,
// whose formulas and constants these headers mirror):
//   closed forms    relu, erf, identity, sin, gelu (limit_closed_forms.hpp); leaky_relu,
//                   abs, monomial2, monomial3 (limit_piecewise.hpp);
//   scale mixtures  tanh, sigmoid, softplus: sums of closed arcsine / arc-cosine kernels
//                   over a Gauss rule for the logistic mixing law (given by the caller;
//                   limit_mixtures.hpp);
//                   arctan: one integral per pair on a Gauss-Legendre rule graded toward
//                   the scale of the point of smaller variance (built once per point;
//                   limit_arctan.hpp);
//   quadrature      any activation: a tensor Gauss-Legendre rule graded toward the
//                   activation's features (limit_quadrature.hpp);
//   expansion       tanh, sigmoid, softplus, arctan, erf, gelu, silu, elu: Mehler's series in
//                   rho with each point's Hermite coefficients computed once, a pair's degree
//                   chosen by a bound on the rest; the pairs it cannot bound fall back on the
//                   activation's closed form or scale mixture, or on the quadrature for silu
//                   and elu, which have neither (limit_expansion.hpp).
// What the methods share is in limit_common.hpp; this header holds the options and the
// configuration, and assembles the kernel from the expectations of every pair.
// Everything is computed in double. Long calls poll the current StopToken once per pair.
#pragma once

#include <algorithm>
#include <iterator>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "widenet/activations.hpp"
#include "widenet/interrupt.hpp"
#include "widenet/limit_arctan.hpp"
#include "widenet/limit_closed_forms.hpp"
#include "widenet/limit_common.hpp"
#include "widenet/limit_expansion.hpp"
#include "widenet/limit_mixtures.hpp"
#include "widenet/limit_piecewise.hpp"
#include "widenet/limit_quadrature.hpp"
#include "widenet/limit_closed_form_rows.hpp"
#include "widenet/limit_rules.hpp"
#include "widenet/names.hpp"
#include "widenet/shallow_network.hpp"
#include "widenet/types.hpp"

namespace widenet {

enum class LimitKind { ntk, nngp };
enum class LimitMethod { closed_form, scale_mixture, quadrature, expansion };

inline constexpr Named<LimitKind> kLimitKinds[] = {{LimitKind::ntk, "ntk"},
                                                  {LimitKind::nngp, "nngp"}};
inline constexpr Named<LimitMethod> kLimitMethods[] = {{LimitMethod::closed_form, "closed_form"},
                                                      {LimitMethod::scale_mixture, "scale_mixture"},
                                                      {LimitMethod::quadrature, "quadrature"},
                                                      {LimitMethod::expansion, "expansion"}};

inline LimitKind parse_limit_kind(const std::string& name) {
  return parse_name(kLimitKinds, name, "kind", alternatives(kLimitKinds));
}

inline LimitMethod parse_limit_method(const std::string& name) {
  return parse_name(kLimitMethods, name, "method", alternatives(kLimitMethods));
}

// The activations with a closed form, and those with a scale mixture (in this order).
inline constexpr Activation kClosedForms[] = {Activation::relu, Activation::erf,
                                              Activation::identity, Activation::sin,
                                              Activation::gelu, Activation::leaky_relu,
                                              Activation::abs, Activation::monomial2,
                                              Activation::monomial3};
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

inline bool has_closed_form(Activation a) {
  const auto end = std::end(kClosedForms);
  return std::find(std::begin(kClosedForms), end, a) != end;
}

inline bool has_scale_mixture(Activation a) {
  const auto end = std::end(kScaleMixtures);
  return std::find(std::begin(kScaleMixtures), end, a) != end;
}

inline bool has_expansion(Activation a) {
  const auto end = std::end(kExpansions);
  return std::find(std::begin(kExpansions), end, a) != end;
}

// The method "auto" takes (auto_method in the twin): the closed form where there is one, else
// the expansion (a polynomial per pair, against the scale mixture's sum of closed kernels).
inline LimitMethod auto_limit_method(Activation a) {
  if (has_closed_form(a)) return LimitMethod::closed_form;
  return has_expansion(a) ? LimitMethod::expansion : LimitMethod::scale_mixture;
}

// The method the expansion falls back on for the pairs it cannot bound.
inline LimitMethod expansion_fallback(Activation a) {
  if (has_closed_form(a)) return LimitMethod::closed_form;
  return has_scale_mixture(a) ? LimitMethod::scale_mixture : LimitMethod::quadrature;
}

// The rules for graded panels of `order` nodes (1 <= order <= kLimitMaxOrder).
inline LimitRules limit_rules(Index order) {
  const GaussRule& legendre = gauss_legendre(order);
  const GaussRule& mixture = logistic_mixing_rule();
  return LimitRules{legendre.nodes, legendre.weights, mixture.nodes, mixture.weights};
}

// The expectations E_ss, E_dd of every pair (k, j) of two sets of points with pre-activation
// variances s11(k) and s22(j) (the same set when symmetric), by one method. Each point's side
// of the scale mixtures' pair sums is made once, here (rows, then columns unless symmetric),
// polling `stop`; at() is then called for each pair, from any thread, with its own scratch.
class PairExpectations {
 public:
  PairExpectations(Activation activation, LimitMethod method, const Vector<double>& s11,
                   const Vector<double>& s22, bool symmetric, const LimitRules& rules,
                   const StopToken& stop)
      : activation_(activation), s11_(s11), s22_(s22), rules_(rules),
        expansion_(method == LimitMethod::expansion),
        other_(expansion_ ? expansion_fallback(activation) : method),
        mix_(limit::logistic_mixture(activation)),
        column_side_(symmetric ? 0 : s11.size()) {
    if (method == LimitMethod::closed_form && limit::has_closed_form_rows(activation)) {
      column_roots_ = s22.array().sqrt();
      return;
    }
    const Index points = symmetric ? s11.size() : s11.size() + s22.size();
    if (expansion_) {
      expansion_sides_.resize(points);
      for_each_point(points, stop, [&](Index i, double q) {
        expansion_sides_[i] = limit::expansion_side(activation, q);
      });
      if (!may_fall_back(symmetric)) return;
    }
    const bool arctan = other_ == LimitMethod::scale_mixture && activation == Activation::arctan;
    const bool logistic = other_ == LimitMethod::scale_mixture && !arctan;
    if (logistic) mixture_sides_.resize(points);
    if (arctan) arctan_sides_.resize(points);
    if (!logistic && !arctan) return;
    for_each_point(points, stop, [&](Index i, double q) {
      if (logistic) mixture_sides_[i] = limit::mixture_side(q, mix_.scale, rules.mixture_variances);
      if (arctan) arctan_sides_[i] = limit::arctan_side(q, rules);
    });
  }

  // The pair (k, j) at covariance s12.
  limit::Expectations at(Index k, Index j, double s12, limit::QuadratureScratch& scratch) const {
    const double root = limit::root_product(s11_(k), s22_(j));
    const double rho = root > 0 ? std::clamp(s12 / root, -1.0, 1.0) : 0.0;
    const limit::Pair pair{s11_(k), s22_(j), rho, (1 - rho) * (1 + rho)};
    if (expansion_) {
      limit::Expectations e;
      if (limit::expansion_expectations(expansion_sides_[k], expansion_sides_[column_side_ + j], pair, e)) return e;
    }
    if (other_ == LimitMethod::closed_form) {
      if (limit::has_piecewise_form(activation_)) return limit::piecewise_expectations(activation_, pair);
      return limit::closed_form_expectations(activation_, pair, s12);
    }
    if (!mixture_sides_.empty()) {
      return limit::mixture_expectations(mix_, mixture_sides_[k], mixture_sides_[column_side_ + j], rho,
                                         pair.one_minus_rho2, rules_.mixture_weights);
    }
    if (!arctan_sides_.empty()) {
      const bool row_first = s11_(k) <= s22_(j);  // the rule of the smaller variance
      return limit::arctan_expectations(arctan_sides_[row_first ? k : column_side_ + j],
                                        row_first ? s22_(j) : s11_(k), rho, pair.one_minus_rho2);
    }
    return limit::quadrature_expectations(activation_, pair, rules_, scratch);
  }

  // The pairs (k, j), j < count, at the covariances s12[j]: their E_ss and E_dd into ss and
  // dd. relu's and erf's closed forms take a whole row in vectors; the others go pair by pair.
  void row(Index k, const double* s12, Index count, double* ss, double* dd,
           limit::QuadratureScratch& scratch) const {
    if (column_roots_.size() > 0) {
      limit::closed_form_row(activation_, s11_(k), s22_.data(), column_roots_.data(), s12, count, ss, dd);
      return;
    }
    for (Index j = 0; j < count; ++j) {
      const limit::Expectations e = at(k, j, s12[j], scratch);
      ss[j] = e.ss;
      dd[j] = e.dd;
    }
  }

 private:
  // f(i, q) for every point i of variance q (rows, then columns unless symmetric), on the
  // threads, polling `stop`.
  template <typename F>
  void for_each_point(Index points, const StopToken& stop, F&& f) const {
#pragma omp parallel for schedule(dynamic, 16) num_threads(thread_count()) if (points > 64)
    for (Index i = 0; i < points; ++i) {
      if (stop.requested()) continue;
      f(i, i < s11_.size() ? s11_(i) : s22_(i - s11_.size()));
    }
    stop.throw_if_requested();
  }

  // Whether some pair may miss the series' bound: even at |rho| = 1 it is met at the
  // largest degree when the product of the two points' last tail roots is small enough.
  bool may_fall_back(bool symmetric) const {
    double rows = 0, columns = 0;
    for (std::size_t i = 0; i < expansion_sides_.size(); ++i) {
      double& largest = Index(i) < s11_.size() ? rows : columns;
      largest = std::max(largest, expansion_sides_[i].tail_roots.back());
    }
    if (symmetric) columns = rows;
    return rows * columns > limit::kExpansionTolerance;
  }

  Activation activation_;
  const Vector<double>& s11_;
  const Vector<double>& s22_;
  const LimitRules& rules_;
  bool expansion_;
  LimitMethod other_;  // the method itself, or the expansion's fallback
  limit::LogisticMixture mix_;
  Index column_side_;  // index of column j's side: column_side_ + j
  std::vector<limit::ExpansionSide> expansion_sides_;
  std::vector<limit::MixtureSide> mixture_sides_;
  std::vector<limit::ArctanSide> arctan_sides_;
  Vector<double> column_roots_;  // closed forms by rows: sqrt of each column's variance
};

// Per-thread rows of a limit kernel's loop: the covariances of a row's pairs and their two
// expectations.
struct PairRows {
  explicit PairRows(Index columns) : covariance(columns), ss(columns), dd(columns) {}
  Vector<double> covariance, ss, dd;
  limit::QuadratureScratch scratch;
};

namespace detail {

// X1 Z^T in bands of rows of about 1e9 flops each, so that a stop is seen between them. When
// symmetric (Z is X1) only the lower triangle is made, by symmetric rank updates on the
// diagonal blocks (half the flops); the kernels read no other entry, then mirror theirs.
inline RowMatrix<double> inner_products(const MatrixRef<double>& X1, const MatrixRef<double>& Z,
                                        const StopToken& stop, bool symmetric = false) {
  const Index m1 = X1.rows(), m2 = Z.rows(), d = X1.cols();
  RowMatrix<double> inner(m1, m2);
  const Index band = std::max<Index>(1, Index(5e8) / std::max<Index>(1, m2 * d));
  for (Index start = 0; start < m1; start += band) {
    stop.throw_if_requested();
    const Index rows = std::min(band, m1 - start);
    if (!symmetric) {
      inner.middleRows(start, rows).noalias() = X1.middleRows(start, rows) * Z.transpose();
      continue;
    }
    if (start > 0) inner.block(start, 0, rows, start).noalias() = X1.middleRows(start, rows) * X1.topRows(start).transpose();
    auto diagonal = inner.block(start, start, rows, rows);
    diagonal.triangularView<Eigen::Lower>().setZero();
    diagonal.selfadjointView<Eigen::Lower>().rankUpdate(X1.middleRows(start, rows));
  }
  return inner;
}

// The first layer's pre-activation variances s_w2 |x|^2 + s_b2 of the rows of X1 and Z. When
// symmetric they are the diagonal's own covariances, so that a point's correlation with itself
// is exactly 1 (arccos is steep there).
inline std::pair<Vector<double>, Vector<double>> point_variances(const MatrixRef<double>& X1,
                                                                 const MatrixRef<double>& Z,
                                                                 const RowMatrix<double>& inner,
                                                                 bool symmetric, double sw, double sb) {
  const Vector<double> norms1 =
      symmetric ? Vector<double>(inner.diagonal()) : Vector<double>(X1.rowwise().squaredNorm());
  Vector<double> s11 = (sw * norms1).array() + sb;
  Vector<double> s22 = symmetric ? s11 : Vector<double>((sw * Z.rowwise().squaredNorm()).array() + sb);
  return {std::move(s11), std::move(s22)};
}

}  // namespace detail

// The limit kernel between X1 and X2 (X2 == nullptr: X1 with itself, symmetric; the
// lower triangle is computed and mirrored). With `nngp`, config.kind is the tangent kernel's
// and the NNGP of the same pairs is written there too: both from one pass. The caller has
// checked that the method applies to the activation and, for the quadrature, the variances
// it accepts.
inline RowMatrix<double> limit_kernel(const LimitKernel& config, const MatrixRef<double>& X1,
                                      const MatrixRef<double>* X2, const LimitRules& rules,
                                      RowMatrix<double>* nngp = nullptr) {
  const bool symmetric = X2 == nullptr;
  const MatrixRef<double>& Z = symmetric ? X1 : *X2;
  const Index m1 = X1.rows(), m2 = Z.rows(), d = X1.cols();
  const double sw = config.weight_var / double(d), sb = config.bias_var;
  const StopToken& stop = current_stop_token();
  RowMatrix<double> inner = detail::inner_products(X1, Z, stop, symmetric);
  const auto [s11, s22] = detail::point_variances(X1, Z, inner, symmetric, sw, sb);
  const PairExpectations pairs(config.arch.activation, config.method, s11, s22, symmetric, rules, stop);
  if (nngp) nngp->resize(m1, m2);
  const bool tangent = config.kind == LimitKind::ntk, lecun = config.arch.parametrization == Parametrization::lecun;

#pragma omp parallel num_threads(thread_count()) if (m1 * m2 > 64)
  {
    PairRows row(m2);
#pragma omp for schedule(dynamic, 1)
    for (Index k = 0; k < m1; ++k) {
      if (stop.requested()) continue;
      const Index end = symmetric ? k + 1 : m2;
      double* out = inner.row(k).data();
      for (Index j = 0; j < end; ++j) row.covariance(j) = sw * out[j] + sb;
      pairs.row(k, row.covariance.data(), end, row.ss.data(), row.dd.data(), row.scratch);
      if (nngp) {
        double* second = nngp->row(k).data();
        for (Index j = 0; j < end; ++j) second[j] = config.output_var * row.ss(j) + config.output_bias_var;
      }
      for (Index j = 0; j < end; ++j) {
        if (!tangent) {
          out[j] = config.output_var * row.ss(j) + config.output_bias_var;
        } else if (lecun) {
          out[j] = row.ss(j);
        } else {
          // (x.z/d + 1) E_dd first: it is finite where the kernel is (E_dd <= 1.3), and
          // s_v^2 = 0 gives 0, not 0 * inf.
          const double tangent_term = (out[j] / double(d) + 1) * row.dd(j);
          out[j] = (config.output_var == 0 ? 0.0 : config.output_var * tangent_term) + row.ss(j) + 1;
        }
      }
    }
  }
  stop.throw_if_requested();
  if (symmetric) mirror_lower_to_upper(inner);
  if (symmetric && nngp) mirror_lower_to_upper(*nngp);
  return inner;
}

// Floats of each point's table in limit_kernel, at most, for points whose pre-activation
// variances reach `largest`: the scale mixtures' (arctan: t and two weights per node of its
// rule; the logistic mixtures: four per node of the mixing rule), the expansion's (its three
// arrays, four moments, and its fallback's table); none for the others.
inline Index limit_point_floats(Activation activation, LimitMethod method, double largest,
                                Index order) {
  if (method == LimitMethod::expansion) {
    const Index side = Index(sizeof(limit::ExpansionSide) / sizeof(double));
    return side + limit_point_floats(activation, expansion_fallback(activation), largest, order);
  }
  if (method != LimitMethod::scale_mixture) return 0;
  if (activation == Activation::arctan) {
    return largest > 0 ? 3 * Index(limit::arctan_panels(largest).size()) * order : 0;
  }
  return 4 * kLogisticNodes;
}

}  // namespace widenet
