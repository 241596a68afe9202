"""Examples 11.15, 11.17 and 11.31, Exercises 11.36 and 11.37: the limit kernels' closed forms.

The closed forms are checked against the hidden units of wide networks.

Every limit kernel is an expectation over one hidden unit, and at initialization the hidden
units of a network are i.i.d. draws of it (proofs of Theorems 11.16 and 11.30). So the
average over the units of many wide networks estimates each expectation, with a standard
error from the same sample, and each closed form is checked entry by entry with a z-test.
The units are those widenet draws for networks in NTK parametrization (11.6.1)-(11.6.2),
whose pre-activations ``h_i(x) = d^-1/2 u_i.x + b_i`` have the law of ``u.x + b`` with
``u ~ D(0, 1/d)`` as in (11.5.3); each network is used with its biases ``b_i, c ~ N(0, 1)``
(Exercise 11.37) and with them set to zero:

- ``relu(h_i(x)) relu(h_i(z))``: Example 11.17, ``K_LC = E[relu(u.x) relu(u.z)]``
  ``= abs(x) abs(z) / (2 pi d) (sin t + (pi - t) cos t)``, ``t`` the angle of ``x`` and ``z``;
- ``relu'(h_i(x)) relu'(h_i(z))``: Exercise 11.36 (Example 11.31),
  ``E[relu'(u.x) relu'(u.z)] = (pi - t) / (2 pi)``;
- the unit's share of ``K_n`` by (11.6.3), ``(x.z/d + 1) v_i^2 relu'relu' + relu relu``
  (``K_n`` is their mean plus 1, from ``c``): Example 11.31 with Theorem 11.30,
  ``K_NTK = (1 + x.z/d) (pi - t)/(2 pi) + K_LC + 1``;
- with the biases (Exercise 11.37): the same formulas with ``Sigma(x, z) = x.z/d + 1`` in
  place of ``x.z/d``.

Example 11.15 / Assumption 11.14: with the uniform law on ``[-sqrt 3, sqrt 3]`` no closed
form applies; LeCun networks initialized with it are compared with widenet's Monte Carlo
limit under that law at ``x = e1, z = e2`` in ``R^2`` (where ``K_LC = 3/32`` against
``1/(4 pi) = 0.0796`` for the normal law), and the Gaussian closed form must be rejected.

Negative controls: every relu closed form off by 1%; the bias variance in ``Sigma`` 10% low;
the uniform Monte Carlo limit off by 1%.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from widenet.app.experiments._base import (
    SILENT,
    Claim,
    Control,
    Correction,
    Experiment,
    ExperimentResult,
    Perturbation,
    Progress,
    factor_of,
)
from widenet.app.experiments._statistics import FloatArray
from widenet.app.experiments.kernel_closed_forms._claims import (
    _RELU_HYPOTHESIS,
    _closed_form_claim,
    _largest,
    z_threshold,
)
from widenet.app.experiments.kernel_closed_forms._figure import plot
from widenet.app.experiments.kernel_closed_forms._measure import (
    Sample,
    _sample,
    measure_units,
    relu_cell,
    relu_points,
    uniform_cell,
    unit_moments,
)
from widenet.app.experiments.kernel_closed_forms._setup import (
    _UNIFORM_STREAM,
    ACTIVATION,
    BIAS_CONTROL,
    BIAS_VARIANCE,
    CONTROL_ERROR,
    EXPERIMENT_NAME,
    FULL,
    INPUT_DIM,
    LEVEL,
    POINTS,
    QUANTITIES,
    QUICK,
    UNIFORM_POINTS,
    WIDTH,
    Design,
)
from widenet.kernels import limit_kernel
from widenet.reference.limit_kernels import closed_form_expectations, covariances
from widenet.sweeps import sweep

# The code that calls widenet's limit kernels stays in this module: they are looked up here,
# where a test can patch them in to see the claims fail.


# -- the predictions -----------------------------------------------------------------------
def closed_forms(X: FloatArray, bias_var: float = 0.0) -> dict[str, FloatArray]:
    """Return Example 11.17's ``K_LC``, Exercise 11.36's ``E[relu' relu']`` and Example 11.31's ``K_NTK``.

    All with ``Sigma = x.z/d + bias_var`` (Exercise 11.37).
    """
    S11, S22, S12 = covariances(X, X, 1.0, bias_var)
    E_dd = closed_form_expectations(S11, S22, S12, ACTIVATION)[1]
    options: dict[str, Any] = dict(activation=ACTIVATION, bias_var=bias_var, output_bias_var=bias_var)
    return {"ss": limit_kernel(X, parametrization="lecun", **options), "dd": E_dd,
            "ntk": limit_kernel(X, parametrization="ntk", **options)}


# -- the claims ----------------------------------------------------------------------------
def relu_claims(design: Design, plain: dict[str, Sample], biased: dict[str, Sample], forms: dict[str, FloatArray],
                biased_forms: dict[str, FloatArray], X: FloatArray) -> tuple[list[Claim], dict[str, Any]]:
    """Return the claims of Examples 11.17, 11.31 and Exercises 11.36, 11.37, and their numbers.

    They test the units' averages (``plain``, ``biased``) against the closed forms
    (``forms``, ``biased_forms``).
    """
    def with_control(samples: dict[str, Sample], predictions: dict[str, FloatArray],
                     names: Sequence[str]) -> list[tuple[Sample, FloatArray, FloatArray]]:
        return [(samples[name], predictions[name], (1 + CONTROL_ERROR) * predictions[name]) for name in names]

    specifications = [
        ("example-11-17", "Example 11.17", "K_LC for relu: E[relu(u.x) relu(u.z)], u ~ N(0, I/d)",
         "abs(x) abs(z) / (2 pi d) (sin t + (pi - t) cos t), t = angle(x, z)", ("ss",)),
        ("exercise-11-36", "Exercise 11.36", "E[relu'(u.x) relu'(u.z)] (also Example 11.31)", "(pi - t) / (2 pi)",
         ("dd",)),
        ("example-11-31", "Example 11.31", "K_NTK for relu: the mean of K_n (Theorem 11.30)",
         "(1 + x.z/d) (pi - t)/(2 pi) + K_LC + 1", ("ntk",)),
    ]
    claims: list[Claim] = []
    numbers: dict[str, Any] = {}
    for key, reference, what, formula, names in specifications:
        claim, numbers[key] = _closed_form_claim(
            key, reference, f"{what} ({POINTS} points in R^{INPUT_DIM}) equals the closed form", formula,
            with_control(plain, forms, names), design, _RELU_HYPOTHESIS)
        claims.append(claim)
    # the bias variance 10% low in Sigma (the control), or left out
    bias_z = {label: max(_largest(biased[name].z(values[name])) for name in ("ss", "ntk"))
              for label, values in (("low", closed_forms(X, BIAS_CONTROL * BIAS_VARIANCE)),
                                    ("left out", closed_forms(X)))}
    claim, numbers["exercise-11-37"] = _closed_form_claim(
        "exercise-11-37", "Exercise 11.37",
        (f"with biases b_i, c ~ N(0, {BIAS_VARIANCE:g}): K_LC = E[relu(u.x + b) relu(u.z + b)] and the mean of K_n "
         f"(NTK parametrization) are the closed forms with Sigma(x, z) = x.z/d + {BIAS_VARIANCE:g}"),
        "Examples 11.17 and 11.31 with Sigma = x.z/d + 1", with_control(biased, biased_forms, ("ss", "ntk")),
        design, _RELU_HYPOTHESIS.replace("yes; points", "yes; b_i, c ~ N(0, 1) as in (11.6.4): yes; points"),
        extra_control=(f"; with the bias variance {BIAS_CONTROL:g} instead of {BIAS_VARIANCE:g} in Sigma: "
                       f"{bias_z['low']:.1f}; with it left out: {bias_z['left out']:.0f}"))
    numbers["exercise-11-37"]["bias_control_largest_abs_z"] = bias_z["low"]
    claims.append(claim)
    return claims, numbers


def uniform_claim(design: Design, base: int, perturbation: Optional[Perturbation],
                  progress: Progress) -> tuple[Claim, dict[str, Any]]:
    """Return the claim of Example 11.15 and its numbers.

    Networks initialized with the uniform law against widenet's Monte Carlo limit under that
    law; the Gaussian closed form rejected.
    """
    X = UNIFORM_POINTS
    table = sweep(uniform_cell, (WIDTH,), range(design.uniform_networks), progress=progress.enabled, base=base,
                  X=X).table()
    units = design.uniform_networks * WIDTH
    networks = _sample(table, "ss", len(X), units)
    limit, limit_error = limit_kernel(X, activation=ACTIVATION, parametrization="lecun", method="monte_carlo",
                                      distribution="uniform", samples=design.samples, return_std=True,
                                      seed=np.random.SeedSequence([_UNIFORM_STREAM, base, 1 << 20]))
    limit = factor_of(perturbation, "uniform K_LC") * limit
    rows, columns = np.triu_indices(len(X))
    z = networks.z(limit, limit_error[rows, columns])
    control = networks.z((1 + CONTROL_ERROR) * limit, limit_error[rows, columns])
    gaussian = limit_kernel(X, activation=ACTIVATION, parametrization="lecun")
    gaussian_z = float(networks.z(gaussian)[1])  # the entry (e1, e2); the diagonal is 1/4 under both laws
    threshold = z_threshold(z.size)
    numbers = {"units": units, "mean": networks.mean, "standard_error": networks.standard_error,
               "monte_carlo_limit": limit[rows, columns], "monte_carlo_error": limit_error[rows, columns],
               "exact_off_diagonal": 3.0 / 32.0, "gaussian_closed_form": gaussian[rows, columns], "z": z,
               "gaussian_z": gaussian_z, "control_largest_abs_z": _largest(control), "threshold": threshold}
    claim = Claim(
        key="example-11-15", reference="Example 11.15",
        statement=("LeCun networks initialized with D uniform on [-sqrt 3, sqrt 3] (Assumption 11.14): their K_LC at "
                   "x = e1, z = e2 in R^2 is widenet's Monte Carlo limit under that law, not the Gaussian closed form"),
        predicted=(f"K_LC(e1, e2) = {limit[0, 1]:.5f} +- {limit_error[0, 1]:.5f} (Monte Carlo, {design.samples} "
                   f"draws; exactly (E relu(u_1))^2 = 3/32 = 0.09375), Gaussian closed form {gaussian[0, 1]:.5f}"),
        measured=(f"{networks.mean[1]:.5f} +- {networks.standard_error[1]:.5f} over {units} hidden units; max abs(z) "
                  f"= {_largest(z):.2f} against the Monte Carlo limit (3 entries), z = {gaussian_z:.0f} against the "
                  f"Gaussian closed form (rejected). With the limit off by 1%: max abs(z) = {_largest(control):.1f}"),
        holds=bool(_largest(z) <= threshold and abs(gaussian_z) > threshold),
        hypothesis=("uniform law: mean 0, variance 1, finite moments of every order (Assumption 11.14): yes; relu "
                    "satisfies Theorem 11.16's growth bounds with R = 1: yes"),
        hypothesis_holds=True,
        criterion=(f"abs(z) <= {threshold:.2f} for the 3 entries, z from both samples' standard errors (Bonferroni at "
                   f"level {LEVEL:g}), and abs(z) > {threshold:.2f} against the Gaussian closed form (a control built "
                   f"in)"))
    return claim, numbers


# -- the chapter's misprints ---------------------------------------------------------------
def _corrections(X: FloatArray, plain: dict[str, Sample], biased: dict[str, Sample],
                 forms: dict[str, FloatArray]) -> list[Correction]:
    """Return the chapter's misprints this experiment shows, with this run's numbers."""
    d = X.shape[1]
    printed = _largest(plain["ss"].z(d * forms["ss"]))  # u ~ N(0, I): Sigma = x.z, d times K_LC
    as_derived = _largest(plain["ss"].z(forms["ss"]))
    theorem_11_16 = _largest(biased["ss"].z(closed_forms(X, BIAS_VARIANCE)["ss"]))
    angle = _largest(plain["dd"].z(forms["dd"]))
    return [
        Correction(
            reference="Example 11.17",
            printed="u_i ~ D(0, 1), i = 1, ..., d, with the formula abs(x) abs(z) / (2 pi d) (...)",
            corrected="u_i ~ D(0, 1/d) as in Theorem 11.16 (with u_i ~ N(0, 1) the factor 1/d is absent)",
            evidence=(f"the hidden units (u ~ N(0, I/d)) match the formula with 1/d: max abs(z) = {as_derived:.2f}; "
                      f"the formula for u ~ N(0, I) (d = {d} times larger) gives max abs(z) = {printed:.0f}")),
        Correction(
            reference="Exercise 11.36",
            printed="theta = arccos(x z^T / (abs(x) abs(z)))",
            corrected="theta = arccos(x^T z / (abs(x) abs(z))), the angle between x and z (x z^T is a d x d matrix)",
            evidence=f"(pi - theta)/(2 pi) with the angle matches the units' relu' products: max abs(z) = {angle:.2f}"),
        Correction(
            reference="Exercise 11.37",
            printed="Compute the corresponding NTK as in Theorem 11.23",
            corrected="as in Theorem 11.16 (the LeCun kernel; Theorem 11.23 is about gradient descent)",
            evidence=(f"Theorem 11.16's K_LC with Sigma = x.z/d + 1 matches the hidden units of networks with "
                      f"biases: max abs(z) = {theorem_11_16:.2f}")),
    ]


# -- the experiment ------------------------------------------------------------------------
def run(quick: bool = False, seed: int = 0, progress: Progress = SILENT,
        perturbation: Optional[Perturbation] = None) -> ExperimentResult:
    """Test the relu closed forms and the uniform law's limit against the hidden units of wide networks.

    See the module docstring.

    Parameters
    ----------
    quick : bool
        24 networks of width ``2^16`` for the relu closed forms, 48 with the uniform law and
        ``2^21`` Monte Carlo draws, instead of 64, 64 and ``2^22``.
    seed : int
        Base seed of the points and of every network.
    progress : Progress
    perturbation : Perturbation, optional
        A negative control: ``"relu closed forms"`` scales every closed form, ``"bias
        variance"`` the bias variance in ``Sigma``, ``"uniform K_LC"`` the Monte Carlo limit.
    """
    design = QUICK if quick else FULL
    X = relu_points(seed)
    scale = factor_of(perturbation, "relu closed forms")
    forms = {name: scale * value for name, value in closed_forms(X).items()}
    biased_forms = {name: scale * value for name, value in
                    closed_forms(X, factor_of(perturbation, "bias variance") * BIAS_VARIANCE).items()}
    plain, biased = measure_units(design, seed, X, progress)
    claims, numbers = relu_claims(design, plain, biased, forms, biased_forms, X)
    uniform, numbers["example-11-15"] = uniform_claim(design, seed, perturbation, progress)
    claims.insert(0, uniform)
    settings = {"activation": ACTIVATION, "points": POINTS, "input_dim": INPUT_DIM, "width": WIDTH,
                "networks": design.networks, "uniform_networks": design.uniform_networks,
                "monte_carlo_samples": design.samples, "bias_variance": BIAS_VARIANCE, "base_seed": seed,
                "level": LEVEL, "quick": quick,
                "perturbation": None if perturbation is None else [perturbation.quantity, perturbation.factor]}
    data = {"points": X, "z": {key: numbers[key]["z"] for key in numbers}}
    return ExperimentResult(EXPERIMENT_NAME, settings, numbers, claims, data, _corrections(X, plain, biased, forms))


EXPERIMENT = Experiment(
    name=EXPERIMENT_NAME,
    title="Closed forms of the limit kernels against wide networks",
    reference="Examples 11.15, 11.17, 11.31; Exercises 11.36, 11.37",
    run=run,
    plot=plot,
    controls={
        "relu closed forms off by 1%": Control(
            Perturbation("relu closed forms", 1.0 + CONTROL_ERROR),
            ("example-11-17", "exercise-11-36", "example-11-31", "exercise-11-37"),
            "every relu closed form scaled by 1.01"),
        "bias variance 10% low": Control(Perturbation("bias variance", BIAS_CONTROL), ("exercise-11-37",),
                                         "the bias variance in Sigma = x.z/d + s_b^2 taken as 0.9"),
        "uniform limit off by 1%": Control(Perturbation("uniform K_LC", 1.0 + CONTROL_ERROR), ("example-11-15",),
                                           "widenet's Monte Carlo limit under the uniform law scaled by 1.01"),
    },
)


__all__ = ["ACTIVATION", "BIAS_CONTROL", "BIAS_VARIANCE", "closed_forms", "CONTROL_ERROR", "Design", "EXPERIMENT",
           "EXPERIMENT_NAME", "FULL", "INPUT_DIM", "LEVEL", "measure_units", "plot", "POINTS", "QUANTITIES", "QUICK",
           "relu_cell", "relu_claims", "relu_points", "run", "Sample", "uniform_cell", "uniform_claim",
           "UNIFORM_POINTS", "unit_moments", "WIDTH", "z_threshold"]
