"""The experiment ``kernel-closed-forms`` of ``widenet reproduce``: Examples 11.15, 11.17,
11.31 and Exercises 11.36, 11.37. The per-unit sums it uses are widenet's own tangent
features and kernel, its closed forms are the arc-cosine formulas written out here, the
uniform law's limit has an exact value at e1, e2, and a 1% error in the limit kernels that
widenet computes (patched in, the way a bug would be) must make its claims fail."""

import math

import numpy as np
import pytest

import widenet
from widenet.app.experiments import kernel_closed_forms


@pytest.fixture
def results(quick_results):
    """Each experiment run once in quick mode, seed 0 (shared with the other experiment tests)."""
    return quick_results


def relu_expectations(X, bias_var=0.0):
    """The arc-cosine expectations of relu for ``Sigma = X X^T / d + bias_var``:
    ``E[relu relu] = sqrt(S_xx S_zz) (sin t + (pi - t) cos t) / (2 pi)`` and
    ``E[relu' relu'] = (pi - t) / (2 pi)``, ``cos t = S_xz / sqrt(S_xx S_zz)``."""
    S = X @ X.T / X.shape[1] + bias_var
    scale = np.sqrt(np.outer(np.diag(S), np.diag(S)))
    t = np.arccos(np.clip(S / scale, -1.0, 1.0))
    return scale * (np.sin(t) + (math.pi - t) * np.cos(t)) / (2 * math.pi), (math.pi - t) / (2 * math.pi)


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
    corrections = {correction.reference: correction for correction in results["kernel-closed-forms"].corrections}
    assert set(corrections) == {"Example 11.17", "Exercise 11.36", "Exercise 11.37"}
    assert "D(0, 1/d)" in corrections["Example 11.17"].corrected
    assert "Theorem 11.16" in corrections["Exercise 11.37"].corrected
