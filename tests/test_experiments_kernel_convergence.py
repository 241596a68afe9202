"""The experiment ``kernel-convergence`` of ``widenet reproduce``: Theorems 11.16 and 11.30
and Lemma 11.19. Its numbers are recomputed here independently (the erf closed forms written
out, the numpy Jacobian, numpy.polyfit), its statistics are checked on data with a known
answer, and a 1% error in the limit kernels that widenet computes (patched in, the way a
bug would be) must make its claims fail."""

import math

import numpy as np
import pytest

import widenet
from widenet.app.experiments import kernel_convergence


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


def test_corrections_carry_their_evidence(results):
    result = results["kernel-convergence"]
    corrections = {correction.reference: correction for correction in result.corrections}
    assert set(corrections) == {"Section 11.6.2", "Lemma 11.19 (proof)", "Theorem 11.30 (proof)"}
    assert "Theorem 11.23" in corrections["Section 11.6.2"].printed
    assert "2 lmax_LC" in corrections["Lemma 11.19 (proof)"].corrected
    lemma = result.numbers["lemma_11_19"]
    assert lemma["lmax_LC"] + lemma["lmin_LC"] / 2 > lemma["lmax_LC"]  # the printed inequality is false
