// Ensembles of deep networks trained in one call: the deep overload of train_ensemble.
#include <optional>
#include <string>
#include <vector>

#include "common.hpp"
#include "deep_network.hpp"
#include "interruptible.hpp"
#include "records.hpp"
#include "runtime.hpp"
#include "widenet/deep_training.hpp"

namespace widenet::bindings {
namespace {

// What must agree between the members of an ensemble, for the messages that refuse them.
std::string architecture_text(const DeepNetwork& net) {
  std::string widths;
  for (const Index width : net.widths()) widths += (widths.empty() ? "" : ", ") + std::to_string(width);
  return "input_dim " + std::to_string(net.input_dim()) + ", widths [" + widths + "], " + net.activation() +
         ", bias=" + (net.bias() ? "True" : "False") +
         (net.several_outputs() ? ", outputs " + std::to_string(net.outputs()) : std::string());
}

bool same_architecture(const DeepNetwork& a, const DeepNetwork& b) {
  return a.input_dim() == b.input_dim() && a.widths() == b.widths() && a.bias() == b.bias() &&
         a.several_outputs() == b.several_outputs() && a.outputs() == b.outputs() &&
         a.activation() == b.activation() && a.arch().scales == b.arch().scales;
}

template <typename T>
struct DeepEnsembleBinder {
  using Matrix = MatrixRef<T>;
  using Vec = VectorRef<T>;

  // Copies of the `count` networks of `name`, each a DeepNetwork of dtype T with the
  // architecture of `first` (networks[0]); a TypeError or ValueError names the one that is not.
  // The parameters of a member: one output's, or k outputs'.
  static DeepParams<T> copy_of(const DeepNetwork& net, const DeepParams<T>*) { return owned_params(net.params_for<T>("X")); }
  static DeepOutputParams<T> copy_of(const DeepNetwork& net, const DeepOutputParams<T>*) {
    return owned_params(net.outputs_for<T>("X"));
  }

  template <typename P>
  static std::vector<P> members(const py::sequence& networks, const std::string& name,
                                const DeepNetwork& first, Index count) {
    const Index given = Index(py::len(networks));
    require(given == count, name + ": expected " + std::to_string(count) +
                                " networks (one per network trained), got " + std::to_string(given));
    std::vector<P> out;
    for (Index r = 0; r < given; ++r) {
      const py::object item = networks[r];
      const std::string label = name + "[" + std::to_string(r) + "]";
      if (!py::isinstance<DeepNetwork>(item)) {
        throw py::type_error(label + ": expected a DeepNetwork, got a " +
                             std::string(py::str(py::type::handle_of(item).attr("__name__"))));
      }
      const DeepNetwork& net = item.cast<const DeepNetwork&>();
      if (!net.holds<T>()) {
        throw py::type_error(label + ": expected a " + dtype_name<T>() + " network (the dtype of X), got " +
                             net.dtype());
      }
      require(same_architecture(net, first),
              label + ": expected the architecture of networks[0] (" + architecture_text(first) +
                  " and its layer scales), got (" + architecture_text(net) +
                  (net.arch().scales == first.arch().scales ? ")" : ", other layer scales)"));
      out.push_back(copy_of(net, static_cast<const P*>(nullptr)));
    }
    return out;
  }

  // The hidden layers of trained networks stacked per layer: (W^l (R, n_l, fan_in), b^l (R, n_l)).
  template <typename P>
  static py::list stacked_hidden(const std::vector<P>& trained, const DeepNetwork& first) {
    const Index R = Index(trained.size());
    py::list out;
    Index fan_in = first.input_dim();
    for (std::size_t l = 0; l < first.widths().size(); ++l) {
      const Index n = first.widths()[l];
      CArray<T> W({R, n, fan_in});
      for (Index r = 0; r < R; ++r) {
        Eigen::Map<RowMatrix<T>>(W.mutable_data() + r * n * fan_in, n, fan_in) = hidden_of(trained[r]).W[l];
      }
      py::object b = py::none();
      if (first.bias()) {
        CArray<T> bias({R, n});
        for (Index r = 0; r < R; ++r) Eigen::Map<Vector<T>>(bias.mutable_data() + r * n, n) = hidden_of(trained[r]).b[l];
        b = bias;
      }
      out.append(py::make_tuple(W, b));
      fan_in = n;
    }
    return out;
  }
  static const DeepParams<T>& hidden_of(const DeepParams<T>& p) { return p; }
  static const DeepParams<T>& hidden_of(const DeepOutputParams<T>& p) { return p.hidden; }

  // The trained parameters stacked per layer: ((W^1 (R, n_1, d), b^1 (R, n_1)), ..., (v (R, n_L), c (R,))),
  // the readout (V (R, k, n_L), c (R, k)) for k outputs.
  static py::tuple stacked_layers(const std::vector<DeepParams<T>>& trained, const DeepNetwork& first) {
    const Index R = Index(trained.size()), n = first.widths().back();
    py::list out = stacked_hidden(trained, first);
    CArray<T> v({R, n});
    for (Index r = 0; r < R; ++r) Eigen::Map<Vector<T>>(v.mutable_data() + r * n, n) = trained[r].v;
    py::object c = py::none();
    if (first.bias()) {
      CArray<T> readout_bias(R);
      for (Index r = 0; r < R; ++r) readout_bias.mutable_data()[r] = trained[r].c;
      c = readout_bias;
    }
    out.append(py::make_tuple(v, c));
    return py::tuple(out);
  }

  static py::tuple stacked_layers(const std::vector<DeepOutputParams<T>>& trained, const DeepNetwork& first) {
    const Index R = Index(trained.size()), n = first.widths().back(), k = first.outputs();
    py::list out = stacked_hidden(trained, first);
    CArray<T> V({R, k, n});
    for (Index r = 0; r < R; ++r) Eigen::Map<RowMatrix<T>>(V.mutable_data() + r * k * n, k, n) = trained[r].V;
    py::object c = py::none();
    if (first.bias()) {
      CArray<T> readout_bias({R, k});
      for (Index r = 0; r < R; ++r) Eigen::Map<Vector<T>>(readout_bias.mutable_data() + r * k, k) = trained[r].c;
      c = readout_bias;
    }
    out.append(py::make_tuple(V, c));
    return py::tuple(out);
  }

  template <typename P, typename Targets>
  static py::dict run_members(const DeepNetworkSequence& networks, const py::sequence& initial, const Matrix& X,
                              const Targets& y, const TrainingOptions& options, const std::optional<Matrix>& X_test) {
    const DeepNetwork& first = networks.items[0].cast<const DeepNetwork&>();
    const Index R = Index(py::len(networks.items));
    std::vector<P> trained = members<P>(networks.items, "networks", first, R);
    const std::vector<P> starts = members<P>(initial, "initial", first, R);
    if (X_test) check_inputs<T>(*X_test, first.input_dim(), "X_test");
    const TrainingSchedule& schedule = options.schedule;
    const std::vector<Index> recorded = schedule.recorded_steps();
    const Index records = Index(recorded.size());
    RecordArrays<T> arrays({py::ssize_t(R)}, records, X_test ? std::optional<Index>(X_test->rows()) : std::nullopt,
                           first.several_outputs() ? first.outputs() : 0);
    std::vector<TrainingRecord<T>> member_records;
    for (Index r = 0; r < R; ++r) member_records.push_back(arrays.member(r, records));
    const double steps = double(schedule.steps) + 1.0;  // in double: steps + 1 may overflow an Index
    const std::vector<RunEnd> ends = run_interruptible([&] {
      SingleThreadedBlas guard(R > 1);
      return train_deep_ensemble<T>(first.arch(), trained, starts, X, y, schedule, X_test, member_records,
                                    options.rule);
    }, is_long_call(1.5 * deep_pass_work(first, X.rows()) * double(first.outputs()) * steps * double(R)));
    py::dict out;
    out["layers"] = stacked_layers(trained, first);
    ensemble_records_into(out, arrays, recorded, ends);
    return out;
  }

  static py::dict train_many(const DeepNetworkSequence& networks, const py::sequence& initial, const Matrix& X,
                             const CArray<T>& y, const TrainingOptions& options, const std::optional<Matrix>& X_test) {
    const DeepNetwork& first = networks.items[0].cast<const DeepNetwork&>();
    check_inputs<T>(X, first.input_dim());
    if (first.several_outputs()) {
      const Matrix Y = matrix_view<T>(y, X.rows(), first.outputs(), "y",
                                      "one row per row of X, one entry per output");
      return run_members<DeepOutputParams<T>>(networks, initial, X, Y, options, X_test);
    }
    const VectorRef<T> targets = vector_view<T>(y, X.rows(), "y", "one target per row of X");
    return run_members<DeepParams<T>>(networks, initial, X, targets, options, X_test);
  }

  static void bind(py::module_& m) {
    m.def("train_ensemble", &train_many, py::arg("networks"), py::arg("initial"), py::arg("X").noconvert(),
          py::arg("y").noconvert(), py::arg("options"), py::arg("X_test").noconvert() = py::none(),
          "Trains R independent deep networks of one architecture (activation, layer scales, shapes, "
          "biases; and initial, R networks of distance references) in parallel over networks. The final "
          "parameters are stacked per layer ((W1 (R, n1, d), b1 (R, n1)), ..., (v (R, nL), c (R,))), biases "
          "None without them. A network whose loss diverges stops alone (stopped_at per network; its later "
          "records are NaN); Ctrl-C raises KeyboardInterrupt.");
  }
};

}  // namespace

void bind_deep_training(py::module_& m) { bind_both_dtypes<DeepEnsembleBinder>(m); }

}  // namespace widenet::bindings
