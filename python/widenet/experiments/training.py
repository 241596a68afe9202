"""Theorem 11.23 and Theorem 11.13: gradient descent on a wide network drives the loss to
zero at a linear rate.

Part 1, Theorem 11.23 (LeCun initialization, the chapter's sum loss ``f`` of (11.0.1b)).
With ``lmin_LC, lmax_LC`` the extreme eigenvalues of the limit Gram ``K_LC(X, X)``
(Theorem 11.16) and a step ``h = c / n`` below ``2 / ((lmin_LC + 4 lmax_LC) n)``, the theorem
bounds ``f(w_k) <= C (1 - h n lmin_LC / 2)^{2k}`` (SPEC.md's corrected rate: the chapter
prints ``hn / (2 lmin_LC)``; the rate is Theorem 11.13's with ``lambda_min = n lmin_LC / 2``
from Lemma 11.19). Networks of several widths are trained from independent
initializations; the bound is drawn with ``C = f(w0)``, the constant Theorem 11.13 gives,
and each run's per-step decay factor of the residual ``sqrt(f(w_k))`` is fitted on the
tail of the run, where the slowest mode dominates.

What to expect: the bound is conservative by about a factor 4 in the exponent. For the
sum loss the gradient is ``2 J^T r``, so near the linearization the residual contracts by
``1 - 2 h lambda_min(Theta)`` per step, ``Theta = J J^T``; the theorem's factor is
``1 - h lambda_min`` (a factor 2) with ``lambda_min = n lmin_LC / 2`` (another factor 2,
while ``lambda_min(Theta) ~ n lmin_LC`` for wide networks). The fitted factors are compared
with both.

Part 2, Theorem 11.13 with :func:`widenet.check_convergence`: tanh, LeCun, the three
points ``e1, e2, e3`` of ``R^3``, width 1024, where Assumption 11.12 (c) holds on the
estimated constants (they are lower bounds of the suprema, see
:mod:`widenet.convergence`); GD at the admissible step ``1 / (lambda_min + lambda_max)``,
compared at every step with (11.4.6a) and (11.4.6b).
"""

from __future__ import annotations

import math

import numpy as np

from ..convergence import check_assumptions, check_convergence
from ..limit_kernels import limit_kernel
from ..network import ShallowNetwork
from ._base import Claim, Experiment, ExperimentResult, Progress

ACTIVATION = "tanh"
POINTS = 5
INPUT_DIM = 5
STEPS = 300
# h = STEP_FRACTION * 2 / ((lmin_LC + 4 lmax_LC) n): strictly below Theorem 11.23's limit.
STEP_FRACTION = 0.9
WIDTHS = (64, 256, 1024, 4096, 16384)
QUICK_WIDTHS = (64, 256, 1024)
SEEDS = 3
QUICK_SEEDS = 2
# The tail fit uses the records with f(w_k) above this fraction of f(w0): far above the
# rounding floor of the sum of squares in float64 (about 1e-30 relative).
FLOOR = 1e-20
# Comparisons of a loss with its bound allow rounding only.
ROUNDING = 1e-12

# Part 2: the configuration of tests/test_convergence.py where (c) holds on the estimates.
CHECK_WIDTH = 1024
CHECK_POINTS = np.eye(3)
CHECK_TARGETS = np.array([0.5, -0.5, 0.25])
CHECK_STEPS = 30

_DATA_STREAM = 1123
_NETWORK_STREAM = 1124
_CHECK_STREAM = 1113


def training_data(seed: int = 0) -> tuple:
    """``POINTS`` random points with ``abs(x)^2 = d`` and targets ``sin(pi a.x / sqrt(d))`` for a
    random unit vector ``a``. ``K_LC`` (tanh) is then regular and moderately conditioned
    (``lmax / lmin`` = 33 for seed 0, between 7 and 175 over seeds 0 to 19), so the slowest
    mode decays visibly within a few hundred steps."""
    rng = np.random.default_rng([_DATA_STREAM, seed])
    X = rng.standard_normal((POINTS, INPUT_DIM))
    X *= math.sqrt(INPUT_DIM) / np.linalg.norm(X, axis=1, keepdims=True)
    direction = rng.standard_normal(INPUT_DIM)
    direction /= np.linalg.norm(direction)
    return X, np.sin(math.pi * X @ direction / math.sqrt(INPUT_DIM))


def tail_factor(steps: np.ndarray, losses: np.ndarray) -> float:
    """The per-step decay factor of ``sqrt(f(w_k))``, fitted by least squares on ``log f`` over
    the second half of the records above ``FLOOR * f(w0)`` (the asymptotic, slowest rate)."""
    steps, losses = np.asarray(steps, dtype=float), np.asarray(losses, dtype=float)
    above = losses > FLOOR * losses[0]
    steps, losses = steps[above], losses[above]
    tail = steps >= steps[-1] / 2
    if np.count_nonzero(tail) < 3:
        tail = slice(None)
    slope = np.polyfit(steps[tail], np.log(losses[tail]), 1)[0]
    return float(math.exp(slope / 2))


def cell_seed(base: int, width: int, index: int) -> np.random.SeedSequence:
    """The seed of the network of run (width, index) for the base seed ``base``."""
    return np.random.SeedSequence([_NETWORK_STREAM, base, width, index])


def _train(X, y, width: int, index: int, seed: int, constant: float) -> dict:
    network = ShallowNetwork(X.shape[1], width, ACTIVATION, "lecun", seed=cell_seed(seed, width, index))
    theta = np.linalg.eigvalsh(network.ntk(X))
    lr = constant / width
    run = network.train(X, y, lr=lr, steps=STEPS, loss="sum")
    return {"width": width, "seed": index, "lr": lr, "theta_min": float(theta[0]), "theta_max": float(theta[-1]),
            "steps": run.steps, "losses": run.losses, "distances": run.distances,
            "tail_factor": tail_factor(run.steps, run.losses), "linear_factor": 1.0 - 2.0 * lr * float(theta[0])}


def check_network(seed: int) -> ShallowNetwork:
    """The network of the Theorem 11.13 run for the base seed ``seed``."""
    return ShallowNetwork(3, CHECK_WIDTH, ACTIVATION, "lecun", seed=np.random.SeedSequence([_CHECK_STREAM, seed]))


def _convergence_check(seed: int) -> dict:
    network = check_network(seed)
    report = check_assumptions(network, CHECK_POINTS, CHECK_TARGETS, seed=np.random.SeedSequence([_CHECK_STREAM,
                                                                                                    seed, 1]))
    check = check_convergence(network, CHECK_POINTS, CHECK_TARGETS, steps=CHECK_STEPS, assumptions=report)
    return {
        "lambda_min": report.lambda_min, "lambda_max": report.lambda_max, "f0": report.f0,
        "U_lower": report.U_lower, "L_lower": report.L_lower, "r": report.r,
        "condition_c_bound": report.condition_c_bound, "condition_c_held": bool(report.condition_c_held),
        "lr": check.lr, "lr_admissible": bool(check.lr_admissible),
        "loss_bound_held": bool(check.loss_bound_held), "distance_bound_held": bool(check.distance_bound_held),
        "largest_distance": float(np.max(check.distances)), "final_loss": float(check.losses[-1]),
        "reading": check.reading(),
        "steps": check.steps, "losses": check.losses, "loss_bounds": check.loss_bounds,
        "distances": check.distances,
    }


def run(quick: bool = False, seed: int = 0, progress: Progress = Progress(False)) -> ExperimentResult:
    """Loss curves of wide LeCun networks against Theorem 11.23's rate, and one run checked
    against Theorem 11.13 (see the module docstring).

    Parameters
    ----------
    quick : bool
        Widths 64, 256, 1024 with 2 networks each instead of 64 .. 16384 with 3.
    seed : int
        Base seed of the data and of every network.
    progress : Progress
    """
    widths = QUICK_WIDTHS if quick else WIDTHS
    seeds = range(QUICK_SEEDS if quick else SEEDS)
    X, y = training_data(seed)
    eigenvalues = np.linalg.eigvalsh(limit_kernel(X, activation=ACTIVATION, parametrization="lecun", kind="ntk"))
    lmin, lmax = float(eigenvalues[0]), float(eigenvalues[-1])
    constant = STEP_FRACTION * 2.0 / (lmin + 4.0 * lmax)
    bound_factor = 1.0 - constant * lmin / 2.0  # 1 - h n lmin_LC / 2, the same at every width

    cells = [(width, index) for width in widths for index in seeds]
    runs = [_train(X, y, width, index, seed, constant)
            for width, index in progress.steps(cells, total=len(cells), description="training")]
    steps = runs[0]["steps"]
    losses = np.array([run["losses"] for run in runs])
    initial = losses[:, 0]
    bounds = initial[:, None] * bound_factor ** (2.0 * steps[None, :])
    ratio = losses / bounds
    below = losses <= bounds * (1.0 + ROUNDING)
    bound_held = bool(np.all(below))
    runs_held = int(np.sum(np.all(below, axis=1)))
    tails = np.array([run["tail_factor"] for run in runs])
    linear = np.array([run["linear_factor"] for run in runs])
    run_widths = np.array([run["width"] for run in runs])
    theta_min = np.array([run["theta_min"] for run in runs])
    theta_max = np.array([run["theta_max"] for run in runs])
    distances = np.array([float(np.max(run["distances"])) for run in runs])

    check = _convergence_check(seed)

    numbers = {
        "lmin_LC": lmin, "lmax_LC": lmax, "step_constant": constant,
        "step_limit_constant": 2.0 / (lmin + 4.0 * lmax),
        "bound_factor": bound_factor,
        "tail_factor": tails, "largest_tail_factor": float(tails.max()),
        "linearized_factor": linear,
        "largest_loss_to_bound_ratio": float(ratio[:, 1:].max()),
        "final_loss": losses[:, -1], "initial_loss": initial,
        "largest_distance": distances,
        "theta_min_over_n_lmin": theta_min / (run_widths * lmin),
        "theta_max_over_n_lmax": theta_max / (run_widths * lmax),
        "lemma_11_19_held": bool(np.all(theta_min >= run_widths * lmin / 2)
                                 and np.all(theta_max <= 2 * run_widths * lmax)),
        "convergence_check": {key: value for key, value in check.items()
                              if key not in ("steps", "losses", "loss_bounds", "distances")},
    }
    data = {
        "steps": steps, "widths": run_widths, "seeds": np.array([run["seed"] for run in runs]), "losses": losses,
        "bound_factor": bound_factor,
        "check_steps": check["steps"], "check_losses": check["losses"], "check_loss_bounds": check["loss_bounds"],
        "check_distances": check["distances"], "check_distance_bound": check["r"],
    }
    worst = int(np.argmax(tails))
    claims = [
        Claim(
            reference="Theorem 11.23",
            statement=(f"LeCun, {ACTIVATION}, sum loss, h = {STEP_FRACTION} x 2/((lmin_LC + 4 lmax_LC) n): "
                       f"f(w_k) <= C (1 - h n lmin_LC/2)^(2k) with C = f(w0), at every step of every run"),
            predicted=f"f(w_k)/f(w0) <= {bound_factor:.4f}^(2k)",
            measured=(f"held at all {steps.size} steps in {runs_held} of {len(runs)} runs (widths "
                      f"{widths[0]}..{widths[-1]}); largest f(w_k)/bound over k >= 1: {ratio[:, 1:].max():.3g}, at "
                      f"the last step {ratio[:, -1].max():.2g}"),
            holds=bound_held),
        Claim(
            reference="Theorem 11.23",
            statement=("the loss decays at least at the predicted rate: the per-step factor of sqrt(f(w_k)), "
                       "fitted on the tail of each run, is at most 1 - h n lmin_LC/2"),
            predicted=f"factor <= {bound_factor:.4f}",
            measured=(f"{tails.min():.4f} .. {tails.max():.4f} over {len(runs)} runs (largest at width "
                      f"{runs[worst]['width']}); linearized rate 1 - 2 h lambda_min(Theta) "
                      f"{linear.min():.4f} .. {linear.max():.4f}; log(measured)/log(bound) at least "
                      f"{math.log(tails.max()) / math.log(bound_factor):.1f}: the bound is conservative"),
            holds=bool(np.all(tails <= bound_factor))),
        Claim(
            reference="Assumption 11.12",
            statement=(f"(c) L <= lambda_min^2/(12 m^(3/2) U^2 sqrt(f(w0))) for {ACTIVATION}, LeCun, X = e1, e2, e3, "
                       f"n = {CHECK_WIDTH} (U, L estimated: lower bounds of the suprema, so this finds no violation "
                       f"rather than proving (c))"),
            predicted="(c) holds for wide networks (proof of Theorem 11.23)",
            measured=(f"L >= {check['L_lower']:.3g} against {check['condition_c_bound']:.3g}; U >= "
                      f"{check['U_lower']:.3g}, lambda_min = {check['lambda_min']:.4g}, r = {check['r']:.3g}"),
            holds=check["condition_c_held"]),
        Claim(
            reference="Theorem 11.13",
            statement=(f"GD at h = 1/(lambda_min + lambda_max) for {CHECK_STEPS} steps on the same configuration: "
                       f"(11.4.6a) and (11.4.6b) hold at every step (rounding slack only)"),
            predicted="abs(w_k - w0) <= r and f(w_k) <= (1 - h lambda_min)^(2k) f(w0)",
            measured=(f"(11.4.6a) {'held' if check['distance_bound_held'] else 'FAILED'} (largest distance "
                      f"{check['largest_distance']:.3g}, r = {check['r']:.3g}); (11.4.6b) "
                      f"{'held' if check['loss_bound_held'] else 'FAILED'} (final loss {check['final_loss']:.2g}); "
                      f"step {'admissible' if check['lr_admissible'] else 'NOT admissible'}"),
            holds=check["loss_bound_held"] and check["distance_bound_held"] and check["lr_admissible"]),
    ]
    settings = {"activation": ACTIVATION, "parametrization": "lecun", "loss": "sum", "points": POINTS,
                "input_dim": INPUT_DIM, "steps": STEPS, "step_fraction": STEP_FRACTION, "widths": list(widths),
                "seeds_per_width": len(seeds), "base_seed": seed, "floor": FLOOR, "check_width": CHECK_WIDTH,
                "check_steps": CHECK_STEPS, "quick": quick}
    return ExperimentResult(EXPERIMENT_NAME, settings, numbers, claims, data)


def plot(result: ExperimentResult, directory) -> list:
    """Two figures: the normalised loss ``f(w_k)/f(w0)`` against the step (semilog, one line per
    width, the first network of each; the bound dashed), and the Theorem 11.13 run (loss and
    distance against their bounds)."""
    from ._plotting import figure, save

    data = result.data
    steps = np.asarray(data["steps"], dtype=float)
    losses = np.asarray(data["losses"], dtype=float)
    widths, seeds = np.asarray(data["widths"]), np.asarray(data["seeds"])
    fig, axes = figure()
    ax = axes[0, 0]
    shown = np.flatnonzero(seeds == seeds.min())
    for color, index in enumerate(shown):
        normalised = losses[index] / losses[index, 0]
        positive = normalised > 0
        ax.semilogy(steps[positive], normalised[positive], color=f"C{color}", linewidth=1.2,
                    label=f"n = {int(widths[index])}")
    ax.semilogy(steps, data["bound_factor"] ** (2 * steps), "k--", linewidth=1.2,
                label=f"bound (1 - h n lmin_LC/2)^(2k), factor {data['bound_factor']:.4f}")
    ax.set_xlabel("step k")
    ax.set_ylabel("f(w_k) / f(w0)")
    ax.set_title(f"Theorem 11.23: LeCun, {result.settings['activation']}, sum loss, h = c/n", fontsize=10)
    ax.legend(fontsize=8)
    files = [save(fig, directory, "training-loss")]

    fig, axes = figure(columns=2)
    steps = np.asarray(data["check_steps"], dtype=float)
    check_losses = np.asarray(data["check_losses"], dtype=float)
    positive = check_losses > 0
    ax = axes[0, 0]
    ax.semilogy(steps[positive], check_losses[positive], "C0", label="f(w_k)")
    ax.semilogy(steps, np.asarray(data["check_loss_bounds"], dtype=float), "k--",
                label="(1 - h lambda_min)^(2k) f(w0)")
    ax.set_xlabel("step k")
    ax.set_title("Theorem 11.13 (11.4.6b)", fontsize=10)
    ax.legend(fontsize=8)
    ax = axes[0, 1]
    ax.plot(steps, np.asarray(data["check_distances"], dtype=float), "C1", label="abs(w_k - w0)")
    ax.axhline(data["check_distance_bound"], color="k", linestyle="--", label="r (11.4.6a)")
    ax.set_xlabel("step k")
    ax.set_title("Theorem 11.13 (11.4.6a)", fontsize=10)
    ax.legend(fontsize=8)
    check = result.numbers["convergence_check"]
    fig.suptitle(f"check_convergence: {result.settings['activation']}, LeCun, X = e1, e2, e3, "
                 f"n = {result.settings['check_width']}; Assumption 11.12 (c) "
                 f"{'holds' if check['condition_c_held'] else 'FAILS'} on the estimates", fontsize=10)
    files.append(save(fig, directory, "training-theorem-11-13"))
    return files


EXPERIMENT_NAME = "training"
EXPERIMENT = Experiment(
    name=EXPERIMENT_NAME,
    title="Gradient descent on wide networks: the loss against the rate bound",
    reference="Theorems 11.23 and 11.13",
    run=run,
    plot=plot,
)
