"""The experiments of ``widenet reproduce`` for the kernel at initialization: Theorems 11.16,
11.30 and Lemma 11.19 (``kernel-convergence``), and the closed forms of Examples 11.15,
11.17, 11.31 and Exercises 11.36, 11.37 (``kernel-closed-forms``).

Their numbers are recomputed here independently (the closed forms written out, the numpy
Jacobian, numpy.polyfit, exact values), their statistics are checked on data with a known
answer, and a 1% error in the limit kernels that widenet computes (patched in, the way a
bug would be) must make their claims fail."""

import math

import numpy as np
import pytest

import widenet
from widenet.experiments import kernel_closed_forms, kernel_convergence


@pytest.fixture
def results(quick_results):
    """Each experiment run once in quick mode, seed 0 (shared with the other experiment tests)."""
    return quick_results


def erf_expectations(X):
    """``E[erf(h_x) erf(h_z)]`` (arcsine kernel) and ``E[erf'(h_x) erf'(h_z)]`` for
    ``(h_x, h_z) ~ N(0, Sigma)``, ``Sigma = X X^T / d``: the latter is
    ``(4/pi) E[exp(-h_x^2 - h_z^2)] = (4/pi) det(I + 2 Sigma_2x2)^{-1/2}``."""
    S = X @ X.T / X.shape[1]
    diagonal = 1.0 + 2.0 * np.diag(S)
    E_ss = 2.0 / math.pi * np.arcsin(2.0 * S / np.sqrt(np.outer(diagonal, diagonal)))
    E_dd = 4.0 / math.pi / np.sqrt(np.outer(diagonal, diagonal) - 4.0 * S ** 2)
    return E_ss, E_dd


def relu_expectations(X, bias_var=0.0):
    """The arc-cosine expectations of relu for ``Sigma = X X^T / d + bias_var``:
    ``E[relu relu] = sqrt(S_xx S_zz) (sin t + (pi - t) cos t) / (2 pi)`` and
    ``E[relu' relu'] = (pi - t) / (2 pi)``, ``cos t = S_xz / sqrt(S_xx S_zz)``."""
    S = X @ X.T / X.shape[1] + bias_var
    scale = np.sqrt(np.outer(np.diag(S), np.diag(S)))
    t = np.arccos(np.clip(S / scale, -1.0, 1.0))
    return scale * (np.sin(t) + (math.pi - t) * np.cos(t)) / (2 * math.pi), (math.pi - t) / (2 * math.pi)


def polyfit_slope(widths, values) -> float:
    return float(np.polyfit(np.log(np.asarray(widths, dtype=float)), np.log(np.asarray(values, dtype=float)), 1)[0])


# -- kernel-convergence: the measurement ---------------------------------------------------
@pytest.mark.parametrize("parametrization", ["lecun", "ntk"])
def test_fluctuation_of_one_network_recomputed(results, parametrization):
    """The first network of the rate fit: its Gram from J J^T of the numpy Jacobian, its exact
    expectation from the erf closed forms above (LeCun: K_LC + ((1 + x.z) E_dd + 1)/n; NTK:
    (1 + x.z/d) E_dd + E_ss + 1)."""
    result = results["kernel-convergence"]
    X = np.asarray(result.data["points"])
    width = int(result.data[parametrization]["widths"][0])
    network = widenet.ShallowNetwork(X.shape[1], width, "erf", parametrization,
                                     seed=kernel_convergence.cell_seed(0, width, 0))
    J = network.jacobian(X, backend="numpy")
    E_ss, E_dd = erf_expectations(X)
    if parametrization == "lecun":
        gram, expected = J @ J.T / width, E_ss + ((1.0 + X @ X.T) * E_dd + 1.0) / width
    else:
        gram, expected = J @ J.T, (1.0 + X @ X.T / X.shape[1]) * E_dd + E_ss + 1.0
    assert result.data[parametrization]["error"][0] == pytest.approx(np.linalg.norm(gram - expected), rel=1e-9)


def test_finite_width_part_is_the_mean_of_the_other_blocks():
    """B of E[K_n/n] = K_LC + B/n against the closed form above, and against a Monte Carlo
    of n (K_n/n - sum of the v block / n) = x.z sum v~^2 s's'/n + sum v~^2 s's'/n + 1."""
    X = kernel_convergence.kernel_points(3)
    _, E_dd = erf_expectations(X)
    B = kernel_convergence.finite_width_part(X)
    np.testing.assert_allclose(B, (1.0 + X @ X.T) * E_dd + 1.0, rtol=1e-12)
    width, networks = 4096, 40
    samples = []
    for seed in range(networks):
        network = widenet.ShallowNetwork(X.shape[1], width, "erf", "lecun", seed=seed)
        values = widenet.reference.activations.activation("erf", X @ network.params.U.T)
        samples.append(network.ntk(X) - values @ values.T)  # the U, b and c blocks
    samples = np.array(samples)
    z = (samples.mean(axis=0) - B) / (samples.std(axis=0, ddof=1) / math.sqrt(networks))
    assert np.max(np.abs(z)) < 4.5  # 21 t statistics, 39 degrees of freedom


@pytest.mark.parametrize("parametrization", ["lecun", "ntk"])
def test_rate_slope_is_the_polyfit_of_the_recorded_errors(results, parametrization):
    result = results["kernel-convergence"]
    data, fit = result.data[parametrization], result.numbers[parametrization]["fit"]
    assert fit["slope"] == pytest.approx(polyfit_slope(data["widths"], data["error"]), rel=1e-10)
    assert fit["points"] == len(data["error"])
    # the control's limit is off by 1%: its error stops decaying, the fit flattens
    assert polyfit_slope(data["widths"], data["control_error"]) > fit["slope"] + 0.03


def test_the_controls_are_many_standard_errors_away(results):
    """The power of every claim against its control, as recorded by the unperturbed run."""
    numbers = results["kernel-convergence"].numbers
    for parametrization in ("lecun", "ntk"):
        mean = numbers[parametrization]["mean"]
        assert np.max(np.abs(mean["control_z"][1])) > 3 * mean["threshold"][1]  # wide width
        assert abs(numbers[parametrization]["control_z"]) > 5  # the slope's t statistic
    assert np.max(np.abs(numbers["lecun"]["mean"]["without_finite_width_part_z"])) > 20
    lemma = numbers["lemma_11_19"]
    assert max(abs(value) for value in lemma["control_rayleigh_z"]) > 2 * lemma["threshold"]


# -- kernel-convergence: the statistics on data with a known answer ------------------------
def test_mean_z_and_rayleigh_z_are_standard_normal_under_the_null():
    """Grams drawn around a known expectation: the t statistics of the mean and of the
    Rayleigh quotients are centred with unit spread, and shift by the injected error."""
    rng = np.random.default_rng(0)
    expected = np.array([[2.0, 0.5, 0.1], [0.5, 1.0, 0.2], [0.1, 0.2, 0.5]])
    noise = rng.standard_normal((400, 200, 3, 3))
    grams = expected + 0.1 * (noise + noise.transpose(0, 1, 3, 2))
    z = np.array([kernel_convergence.mean_z(sample, expected) for sample in grams])
    assert abs(z.mean()) < 0.05 and abs(z.std() - 1.0) < 0.05
    rayleigh = np.array([kernel_convergence.rayleigh_z(sample, expected) for sample in grams])
    assert abs(rayleigh.mean()) < 0.1 and abs(rayleigh.std() - 1.0) < 0.1
    shifted = kernel_convergence.mean_z(grams[0], 1.01 * expected)
    standard_error = 0.1 * math.sqrt(2.0) / math.sqrt(200)  # of each off-diagonal entry
    assert shifted[1] == pytest.approx(kernel_convergence.mean_z(grams[0], expected)[1] - 0.005 / standard_error,
                                       abs=0.5)


def test_t_threshold_is_the_bonferroni_t_quantile():
    scipy_stats = pytest.importorskip("scipy.stats")
    assert kernel_convergence.t_threshold(42, 64) == pytest.approx(scipy_stats.t.ppf(1 - 1e-3 / 84, 63), rel=1e-8)


def test_band_counts():
    """Lemma 11.19's band and the proof's condition on Grams with known spectra."""
    limit = np.diag([0.1, 1.0, 2.0])
    grams = np.array([limit, 1.02 * limit, 0.4 * limit, 2.1 * limit, limit + np.diag([0.06, 0.0, 0.0])])
    counts = kernel_convergence.band_counts(grams, limit)
    assert counts["inside_band"] == 3  # 0.4 limit falls below lmin/2, 2.1 limit above 2 lmax
    assert counts["proof_condition_held"] == 2  # abs(G - K)_2 <= 0.05: only the first two
    assert counts["smallest_over_lmin"] == pytest.approx([0.4, 2.1])


def test_a_one_percent_error_in_widenets_limit_kernel_makes_the_claims_fail(monkeypatch):
    """A bug that scales the limit kernels widenet computes by 1.01, patched in where the
    experiment calls them: every claim that checks a limit must fail."""
    original = kernel_convergence.limit_kernel
    monkeypatch.setattr(kernel_convergence, "limit_kernel", lambda *args, **kwargs: 1.01 * original(*args, **kwargs))
    result = kernel_convergence.run(quick=True)
    holding = [claim.statement for claim in result.claims if claim.holds]
    assert not holding, holding


# -- kernel-closed-forms -------------------------------------------------------------------
@pytest.mark.parametrize("bias_var", [0.0, 1.0])
def test_unit_moments_are_widenets_tangent_features(bias_var):
    """The per-unit products the experiment sums, against widenet's own Jacobian and NTK: the
    v block is relu(h)/sqrt(n), the b block v relu'(h)/sqrt(n), and the mean of the units'
    shares plus 1 is K_n (NTK parametrization)."""
    X = kernel_closed_forms.relu_points(1)
    width, d = 1000, X.shape[1]
    network = widenet.ShallowNetwork(d, width, "relu", "ntk", bias_var=bias_var, output_bias_var=bias_var, seed=5)
    params = network.params
    moments = kernel_closed_forms.unit_moments(X, X @ params.U.T / math.sqrt(d) + params.b, params.v)
    J = network.jacobian(X) * math.sqrt(width)
    weights = J[:, :width * d].reshape(len(X), width, d)  # U row-major: unit by unit
    bias, values = J[:, width * d:width * d + width], J[:, width * d + width:width * d + 2 * width]
    K = network.ntk(X)
    for i, j in zip(*np.triu_indices(len(X))):
        products = values[i] * values[j]
        slopes = bias[i] * bias[j] / params.v ** 2
        shares = np.sum(weights[i] * weights[j], axis=1) + bias[i] * bias[j] + products
        for name, sample in (("ss", products), ("dd", slopes), ("ntk", shares)):
            assert moments[f"{name}{i}_{j}"] == pytest.approx(sample.sum(), rel=1e-9), name
            assert moments[f"{name}2_{i}_{j}"] == pytest.approx((sample ** 2).sum(), rel=1e-9), name
        assert moments[f"ntk{i}_{j}"] / width + 1.0 == pytest.approx(K[i, j], rel=1e-10)


def test_closed_forms_are_the_arc_cosine_formulas():
    X = kernel_closed_forms.relu_points(2)
    for bias_var in (0.0, 1.0, 0.9):
        forms = kernel_closed_forms.closed_forms(X, bias_var)
        E_ss, E_dd = relu_expectations(X, bias_var)
        np.testing.assert_allclose(forms["ss"], E_ss, rtol=1e-10)
        np.testing.assert_allclose(forms["dd"], E_dd, rtol=1e-10)
        np.testing.assert_allclose(forms["ntk"], (1.0 + X @ X.T / X.shape[1]) * E_dd + E_ss + 1.0, rtol=1e-10)
    # special values: for orthogonal points t = pi/2
    forms = kernel_closed_forms.closed_forms(np.eye(2))
    assert forms["dd"][0, 1] == pytest.approx(0.25) and forms["ss"][0, 1] == pytest.approx(1 / (4 * math.pi))


def test_uniform_law_against_the_exact_value(results):
    """Example 11.15: for x = e1, z = e2 in R^2 and u uniform with variance 1/2 per coordinate,
    K_LC = (E relu(u_1))^2 = 3/32 and K_LC(e_i, e_i) = 1/4, independently of widenet's Monte
    Carlo; the networks' mean and that Monte Carlo both agree with them."""
    numbers = results["kernel-closed-forms"].numbers["example-11-15"]
    exact = np.array([0.25, 3.0 / 32.0, 0.25])
    for mean, error in (("mean", "standard_error"), ("monte_carlo_limit", "monte_carlo_error")):
        z = (np.asarray(numbers[mean]) - exact) / np.asarray(numbers[error])
        assert np.max(np.abs(z)) < 4.0, (mean, z)
    assert numbers["gaussian_closed_form"][1] == pytest.approx(1 / (4 * math.pi))


def test_closed_form_controls_are_many_standard_errors_away(results):
    numbers = results["kernel-closed-forms"].numbers
    for key, value in numbers.items():
        assert value["control_largest_abs_z"] > 1.3 * value["threshold"], key
    assert numbers["exercise-11-37"]["bias_control_largest_abs_z"] > 5 * numbers["exercise-11-37"]["threshold"]
    assert numbers["example-11-15"]["gaussian_z"] > 10 * numbers["example-11-15"]["threshold"]


def test_a_one_percent_error_in_widenets_closed_forms_makes_the_claims_fail(monkeypatch):
    """widenet's limit kernels (K_LC, K_NTK and the Monte Carlo limit) scaled by 1.01 where the
    experiment calls them: the claims that check them must fail."""
    original = kernel_closed_forms.limit_kernel

    def off_by_one_percent(*args, **kwargs):
        value = original(*args, **kwargs)
        return (1.01 * value[0], value[1]) if isinstance(value, tuple) else 1.01 * value

    monkeypatch.setattr(kernel_closed_forms, "limit_kernel", off_by_one_percent)
    result = kernel_closed_forms.run(quick=True)
    for key in ("example-11-15", "example-11-17", "example-11-31", "exercise-11-37"):
        assert not result.claim(key).holds, key


def test_corrections_carry_their_evidence(results):
    corrections = {correction.reference: correction for name in ("kernel-convergence", "kernel-closed-forms")
                   for correction in results[name].corrections}
    assert {"Section 11.6.2", "Lemma 11.19 (proof)", "Theorem 11.30 (proof)", "Example 11.17", "Exercise 11.36",
            "Exercise 11.37"} <= set(corrections)
    assert "Theorem 11.23" in corrections["Section 11.6.2"].printed
    assert "2 lmax_LC" in corrections["Lemma 11.19 (proof)"].corrected
    lemma = results["kernel-convergence"].numbers["lemma_11_19"]
    assert lemma["lmax_LC"] + lemma["lmin_LC"] / 2 > lemma["lmax_LC"]  # the printed inequality is false
