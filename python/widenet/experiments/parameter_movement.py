"""Section 11.6: under LeCun initialization gradient descent moves mainly the output weights;
under the NTK parametrization every block moves comparably.

For each width and network, :func:`widenet.lazy_training.compare_parametrizations` trains a
LeCun network (11.5.1) with ``h = c/n`` and the NTK-parametrized network (11.6.1) of the same
standard draws (the same function at initialization) with ``h = c``, on the same data, and
reports per block ``B`` of ``w = (U, b, v, c)`` the movement ``abs(B_k - B_0)`` and the gradient
norm ``E abs(grad_B Phi(x, w0))`` (mean over the data points). The biases are initialized with
variance 1, as in (11.6.4) of Exercise 11.37, so that every block has a scale at
initialization (with the defaults ``b_0 = 0`` and ``c_0 = 0`` it would not).

The relative movement is taken against the scale of the initialization,
``sqrt(E abs(B_0)^2)`` (LeCun: ``sqrt(n)`` for ``U`` and ``b``, 1 for ``v`` and ``c``; NTK
parametrization: ``sqrt(n d)``, ``sqrt(n)``, ``sqrt(n)``, 1), not against the drawn
``abs(B_0)``: for the single number ``c`` the drawn ``abs(c_0)`` is sometimes close to 0, and
then ``abs(c_k - c_0) / abs(c_0)`` is large by chance (measured: for 3 of 20 data seeds of the
quick grid one LeCun network of the 9 had c moving more, relative to its own ``abs(c_0)``, than
``v``). For ``U``, ``b`` and ``v``, which have ``n`` or ``n d`` entries, the two denominators
agree to ``O(n^{-1/2})``; the library's ``abs(B_k - B_0) / abs(B_0)`` is kept in the data as
``*_drawn_relative_*``.

The chapter's gradient scalings under LeCun initialization: ``E abs(grad_U Phi)``,
``E abs(grad_b Phi) = O(1)``, ``abs(grad_c Phi) = 1`` and ``E abs(grad_v Phi) = E abs(sigma(Ux + b))
= O(n)``. The last is not tight: ``sigma(Ux + b)`` has ``n`` entries of size ``O(1)``, so its
norm grows like ``sqrt(n)``; the claim reports the measured exponent next to the chapter's
``O(n)`` and holds only in the sense that the bound ``O(n)`` holds. With ``h ~ 1/n``, ``v``
moves by ``O(n^{-1/2})`` relative to ``abs(v_0) = O(1)`` and ``U`` by ``O(n^{-1})`` relative to
``abs(U_0) ~ sqrt(n)``: the ratio of the relative movements of ``v`` and ``U`` grows like
``n``. Under the NTK parametrization (11.6.3) every gradient carries ``n^{-1/2}``, both move by
``O(1)`` against initial norms ``~ sqrt(n)``, and the ratio stays ``O(1)``. (The output bias
``c`` is the exception there: its gradient is 1 and ``h = O(1)``, so it moves by ``O(1)``
relative to ``abs(c_0) = O(1)``.)

With the unit-norm inputs of the data, ``abs(grad_U Phi) = abs(grad_b Phi) abs(x) = abs(grad_b Phi)``, and
the NTK parametrization's ``grad_U Phi`` is the LeCun one divided by ``sqrt(d)``: the fitted
exponents of these three coincide.

Tolerances: an exponent "is 0" (an ``O(1)`` quantity) when its 95% interval meets
``[-0.1, 0.1]``, the tolerance of the other rate experiments, for the pre-asymptotic approach
of ``E abs(.)`` to its limit (a norm of an average of ``n`` terms approaches its limit from below,
which tilts the fit slightly upwards at small widths).
"""

from __future__ import annotations

import numpy as np

from ..lazy_training import BLOCKS, DEFAULT_LR_CONSTANT, compare_parametrizations, lazy_training_data
from ..sweeps import fit_slope, sweep
from ._base import Claim, Experiment, ExperimentResult, Progress
from ._rates import TOLERANCE, as_fit, fit_record, interval_contains, interval_meets, network_seed, slope_text

ACTIVATION = "tanh"
STEPS = 300
BIAS_VAR = 1.0
OUTPUT_BIAS_VAR = 1.0
WIDTHS = (64, 256, 1024, 4096, 16384)
QUICK_WIDTHS = (64, 256, 1024)
SEEDS = 4
QUICK_SEEDS = 3
PARAMETRIZATIONS = ("lecun", "ntk")
NAMES = {"lecun": "LeCun", "ntk": "NTK parametrization"}

_NETWORK_STREAM = 1106


def initial_scale(parametrization: str, block: str, width: int, input_dim: int) -> float:
    """``sqrt(E abs(B_0)^2)`` for the initializations (11.5.3) and (11.6.2) with the default weight
    variances 1 and the bias variances of this experiment."""
    fan_in, fan_out = (input_dim, width) if parametrization == "lecun" else (1, 1)
    variance = {"U": width * input_dim / fan_in, "b": width * BIAS_VAR, "v": width / fan_out,
                "c": OUTPUT_BIAS_VAR}[block]
    return float(np.sqrt(variance))


def cell_seed(base: int, width: int, index: int) -> int:
    """The seed of the networks of cell (width, index) for the base seed ``base``."""
    return network_seed(base, _NETWORK_STREAM, width, index)


def movement_cell(width: int, seed: int, *, base: int, steps: int, data) -> dict:
    """Both parametrizations of one network: movement relative to the initialization's scale
    and gradient norm per block, the ratio of the relative movements of ``v`` and ``U``, and
    the final losses."""
    result = compare_parametrizations(width, cell_seed(base, width, seed), activation=ACTIVATION,
                                      steps=steps, data=data, bias_var=BIAS_VAR, output_bias_var=OUTPUT_BIAS_VAR)
    input_dim = data.X.shape[1]
    record = {}
    for parametrization, movement in result.items():
        relative = {block: movement.movement[block] / initial_scale(parametrization, block, width, input_dim)
                    for block in BLOCKS}
        for block in BLOCKS:
            record[f"{parametrization}_relative_{block}"] = relative[block]
            record[f"{parametrization}_drawn_relative_{block}"] = movement.relative_movement[block]
            record[f"{parametrization}_gradient_{block}"] = movement.output_gradient[block]
        record[f"{parametrization}_ratio"] = relative["v"] / relative["U"]
        record[f"{parametrization}_final_loss"] = movement.final_loss
        record[f"{parametrization}_initial_loss"] = movement.initial_loss
    return record


def run(quick: bool = False, seed: int = 0, progress: Progress = Progress(False)) -> ExperimentResult:
    """Per-block movement and gradient norms at several widths for both parametrizations, the
    fitted exponents of the ratio ``v/U`` and of the gradient norms, and the claims of
    Section 11.6 (see the module docstring).

    Parameters
    ----------
    quick : bool
        Widths 64, 256, 1024 with 3 networks each instead of 64 .. 16384 with 4.
    seed : int
        Seed of the data (:func:`widenet.lazy_training.lazy_training_data`) and base seed of
        the networks.
    progress : Progress
    """
    widths = QUICK_WIDTHS if quick else WIDTHS
    seeds = tuple(range(QUICK_SEEDS if quick else SEEDS))
    data_set = lazy_training_data(seed=seed)
    result = sweep(movement_cell, widths, seeds, progress=progress.enabled, base=seed, steps=STEPS, data=data_set)
    table = result.table()
    cell_widths = table["width"]

    def fit(name: str):
        return fit_slope(cell_widths, np.abs(table[name]), name)

    def medians(name: str) -> np.ndarray:
        return np.median(table[name].reshape(len(widths), len(seeds)), axis=1)

    fits = {f"{p}_ratio": fit(f"{p}_ratio") for p in PARAMETRIZATIONS}
    fits.update({f"{p}_gradient_{block}": fit(f"{p}_gradient_{block}") for p in PARAMETRIZATIONS
                 for block in ("U", "b", "v")})
    numbers = {
        "fits": {name: fit_record(value) for name, value in fits.items()},
        "median_relative_movement": {p: {block: medians(f"{p}_relative_{block}") for block in BLOCKS}
                                     for p in PARAMETRIZATIONS},
        "median_gradient": {p: {block: medians(f"{p}_gradient_{block}") for block in BLOCKS}
                            for p in PARAMETRIZATIONS},
        "median_ratio": {p: medians(f"{p}_ratio") for p in PARAMETRIZATIONS},
        "largest_final_loss": {p: float(np.max(table[f"{p}_final_loss"])) for p in PARAMETRIZATIONS},
    }
    data = {"widths": cell_widths, **{name: table[name] for name in result.quantities}}

    relative = {block: table[f"lecun_relative_{block}"] for block in BLOCKS}
    others = np.max([relative[block] for block in BLOCKS if block != "v"], axis=0)
    dominance = relative["v"] / others
    at_largest = {block: float(numbers["median_relative_movement"]["lecun"][block][-1]) for block in BLOCKS}
    lecun_ratio, ntk_ratio = fits["lecun_ratio"], fits["ntk_ratio"]
    gradient_v = fits["lecun_gradient_v"]
    gradient_c = np.concatenate([table[f"{p}_gradient_c"] for p in PARAMETRIZATIONS])
    band = f"[{-TOLERANCE:.1f}, {TOLERANCE:.1f}]"
    ntk_ratio_medians = numbers["median_ratio"]["ntk"]
    claims = [
        Claim(
            reference="Section 11.6",
            statement=(f"LeCun, h = {DEFAULT_LR_CONSTANT['lecun']}/n: gradient descent moves mainly v; in every "
                       f"network the movement of v relative to its initial scale exceeds that of U, b and c"),
            predicted="v moves most",
            measured=(f"held in {int(np.sum(dominance > 1))} of {dominance.size} networks; smallest factor "
                      f"{dominance.min():.3g}; medians at n = {widths[-1]}: "
                      + ", ".join(f"{block} {value:.2g}" for block, value in at_largest.items())),
            holds=bool(np.all(dominance > 1))),
        Claim(
            reference="Section 11.6",
            statement=("LeCun: the ratio of the relative movements of v and U grows with the width (from the "
                       "gradient scalings: like n); holds when the slope's interval lies above 0"),
            predicted="slope > 0 (about 1)",
            measured=(f"slope {slope_text(lecun_ratio)} (interval "
                      f"{'contains' if interval_contains(lecun_ratio, 1.0) else 'misses'} 1); median ratio "
                      f"{numbers['median_ratio']['lecun'][0]:.3g} at n = {widths[0]}, "
                      f"{numbers['median_ratio']['lecun'][-1]:.3g} at n = {widths[-1]}"),
            holds=bool(lecun_ratio.interval[0] > 0)),
        Claim(
            reference="Section 11.6.1",
            statement=(f"NTK parametrization, h = {DEFAULT_LR_CONSTANT['ntk']}: U and v move comparably; the "
                       f"ratio of their relative movements stays O(1): the slope's interval meets {band}"),
            predicted="slope 0",
            measured=(f"slope {slope_text(ntk_ratio)}; median ratio {ntk_ratio_medians.min():.3g} .. "
                      f"{ntk_ratio_medians.max():.3g} over n = {widths[0]} .. {widths[-1]}"),
            holds=interval_meets(ntk_ratio, 0.0)),
        Claim(
            reference="Section 11.6",
            statement=("LeCun: E abs(grad_v Phi(x, w0)) = E abs(sigma(Ux + b)) is O(n); the bound holds, but it "
                       "is not tight: the norm of n entries of size O(1) grows like n^1/2"),
            predicted="chapter: O(n) (slope <= 1)",
            measured=f"n^{gradient_v.slope:.2f}, slope {slope_text(gradient_v)}",
            holds=bool(gradient_v.interval[0] <= 1.0)),
        Claim(
            reference="Section 11.6",
            statement=(f"LeCun: E abs(grad_U Phi) and E abs(grad_b Phi) are O(1) (slope interval meets {band}) "
                       f"and abs(grad_c Phi) = 1"),
            predicted="slopes 0; grad_c = 1",
            measured=(f"U: {slope_text(fits['lecun_gradient_U'])}, b: {slope_text(fits['lecun_gradient_b'])}; "
                      f"abs(grad_c Phi) - 1 at most {np.max(np.abs(gradient_c - 1.0)):.1g}"),
            holds=bool(interval_meets(fits["lecun_gradient_U"], 0.0) and interval_meets(fits["lecun_gradient_b"], 0.0)
                       and np.all(np.abs(gradient_c - 1.0) <= 1e-12))),
        Claim(
            reference="(11.6.3)",
            statement=(f"NTK parametrization: the factor n^-1/2 makes E abs(grad_B Phi) O(1) for U, b and v "
                       f"(slope intervals meet {band})"),
            predicted="slopes 0",
            measured=", ".join(f"{block}: {slope_text(fits[f'ntk_gradient_{block}'])}" for block in ("U", "b", "v")),
            holds=all(interval_meets(fits[f"ntk_gradient_{block}"], 0.0) for block in ("U", "b", "v"))),
    ]
    settings = {"activation": ACTIVATION, "steps": STEPS, "loss": "mean", "lr_constant": dict(DEFAULT_LR_CONSTANT),
                "bias_var": BIAS_VAR, "output_bias_var": OUTPUT_BIAS_VAR, "widths": list(widths),
                "seeds_per_width": len(seeds), "data_seed": seed, "tolerance": TOLERANCE, "quick": quick}
    return ExperimentResult(EXPERIMENT_NAME, settings, numbers, claims, data)


def plot(result: ExperimentResult, directory) -> list:
    """One figure: grouped bars of the median relative movement per block (both
    parametrizations, smallest and largest width, log scale), the ratio ``v/U`` against the
    width, and the gradient norms against the width with the chapter's orders as guides."""
    from ._plotting import figure, power_law_panel, save

    fig, axes = figure(columns=3, width=4.8, height=3.8)
    widths = result.settings["widths"]
    movement = result.numbers["median_relative_movement"]
    ax = axes[0, 0]
    positions = np.arange(len(BLOCKS))
    bars = [(p, index) for p in PARAMETRIZATIONS for index in (0, len(widths) - 1)]
    span = 0.8 / len(bars)
    for offset, (p, index) in enumerate(bars):
        heights = [float(np.asarray(movement[p][block])[index]) for block in BLOCKS]
        ax.bar(positions + (offset - (len(bars) - 1) / 2) * span, heights, span, log=True,
               color="C0" if p == "lecun" else "C1", alpha=0.45 if index == 0 else 0.95,
               label=f"{NAMES[p]}, n = {widths[index]}")
    ax.set_xticks(positions, BLOCKS)
    low, high = ax.get_ylim()
    ax.set_ylim(low, high * 1e3)  # room for the legend above the bars
    ax.set_ylabel("abs(B_k - B_0) / sqrt(E abs(B_0)^2), median")
    ax.set_title("relative movement per block", fontsize=10)
    ax.legend(fontsize=7, ncol=2, loc="upper left")

    data, fits = result.data, result.numbers["fits"]
    ax = axes[0, 1]
    for color, p, reference in (("C0", "lecun", 1.0), ("C1", "ntk", 0.0)):
        power_law_panel(ax, data["widths"], np.abs(np.asarray(data[f"{p}_ratio"], dtype=float)),
                        as_fit(fits[f"{p}_ratio"]), NAMES[p], color=color, reference_slope=reference)
    ax.set_title("ratio of relative movements v / U (dashed: n^1, n^0)", fontsize=10)
    ax.legend(fontsize=7)

    ax = axes[0, 2]
    for color, name, reference, label in (("C0", "lecun_gradient_v", 1.0, "LeCun v"),
                                          ("C2", "lecun_gradient_U", 0.0, "LeCun U"),
                                          ("C1", "ntk_gradient_v", 0.0, "NTK v")):
        power_law_panel(ax, data["widths"], data[name], as_fit(fits[name]), label, color=color,
                        reference_slope=reference)
    ax.set_title("E abs(grad_B Phi) at init (dashed: chapter's O(n), O(1))", fontsize=10)
    ax.legend(fontsize=7)
    fig.suptitle(f"Section 11.6: {result.settings['activation']}, {result.settings['steps']} GD steps, "
                 f"biases of variance 1 (11.6.4)", fontsize=10)
    return [save(fig, directory, "parameter-movement")]


EXPERIMENT_NAME = "parameter-movement"
EXPERIMENT = Experiment(
    name=EXPERIMENT_NAME,
    title="Which parameters move: LeCun against the NTK parametrization",
    reference="Section 11.6",
    run=run,
    plot=plot,
)
