"""Every claim of ``widenet reproduce`` can fail: each experiment's negative controls inject a
small, realistic error into the quantity a claim checks (a limit kernel off by 1%, a step or
a gradient off by a factor 2, an NNGP variance scaled by 0.9, ...), and the claims that
check it must then fail, while the unperturbed run holds on several seeds."""

import pytest

from widenet.app.experiments import EXPERIMENTS, Perturbation, run_experiment

CONTROLS = [(name, key) for name, experiment in EXPERIMENTS.items() for key in experiment.controls]
SEEDS = range(1, 5)  # seed 0 is checked by test_experiments.py (shared quick results)


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_claim_has_a_key_a_criterion_and_its_hypotheses(quick_results, name):
    result = quick_results[name]
    keys = [claim.key for claim in result.claims]
    assert all(keys) and len(set(keys)) == len(keys), keys
    for claim in result.claims:
        assert claim.criterion, claim.key
        assert claim.hypothesis_holds is None or claim.hypothesis, claim.key


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_claim_is_checked_by_a_control(quick_results, name):
    """Each claim is named by at least one control, so none is left unable to fail."""
    experiment = EXPERIMENTS[name]
    broken = {key for control in experiment.controls.values() for key in control.breaks}
    result_keys = {claim.key for claim in quick_results[name].claims}
    assert result_keys <= broken, f"claims no control breaks: {sorted(result_keys - broken)}"


@pytest.mark.parametrize("name, control", CONTROLS)
def test_a_small_error_makes_the_claims_fail(name, control):
    experiment = EXPERIMENTS[name]
    spec = experiment.controls[control]
    result = run_experiment(name, quick=True, seed=0, perturbation=spec.perturbation)
    still_holding = [key for key in spec.breaks if result.claim(key).holds]
    assert not still_holding, f"{spec.description}: these claims still hold: {still_holding}"


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", EXPERIMENTS)
def test_the_unperturbed_claims_hold_on_other_seeds(name, seed):
    result = run_experiment(name, quick=True, seed=seed)
    assert result.holds, [(claim.key, claim.measured) for claim in result.claims if not claim.holds]


def test_a_perturbation_of_an_unchecked_quantity_is_refused():
    with pytest.raises(ValueError, match="perturbation"):
        run_experiment("least-squares", quick=True, perturbation=Perturbation("no such quantity", 2.0))
    with pytest.raises(TypeError, match="perturbation"):
        run_experiment("least-squares", quick=True, perturbation=("step", 2.0))
