"""What every experiment of ``widenet reproduce`` must do: be registered under its name,
make claims that hold in quick mode, give results that survive the trip through
``results.json``, and draw readable figures from a result read back from it."""

import json

import pytest

from widenet.app.experiments import EXPERIMENTS, Claim, ExperimentResult, run_experiment
from widenet.app.report import _jsonable


def round_trip(result: ExperimentResult) -> ExperimentResult:
    """The result as read back from results.json: what the report writer stores, loaded."""
    loaded = {part: json.loads(json.dumps(_jsonable(getattr(result, part)), allow_nan=False))
              for part in ("settings", "numbers", "data")}
    return ExperimentResult(name=result.name, claims=result.claims, **loaded)


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_registered_under_its_name(name):
    experiment = EXPERIMENTS[name]
    assert experiment.name == name
    assert experiment.title and experiment.reference
    assert callable(experiment.run) and callable(experiment.plot)


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_quick_run_claims_hold(quick_results, name):
    result = quick_results[name]
    assert result.name == name and result.settings["quick"] is True
    assert result.claims and all(isinstance(claim, Claim) for claim in result.claims)
    for claim in result.claims:
        assert claim.reference and claim.statement and claim.predicted and claim.measured
        assert isinstance(claim.holds, bool)
    assert not [claim for claim in result.claims if not claim.holds]
    assert result.holds


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_results_survive_json(quick_results, name):
    result = quick_results[name]
    loaded = round_trip(result)
    assert set(loaded.numbers) == set(result.numbers) and loaded.numbers


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_figures_are_drawn_from_the_json_record(quick_results, name, tmp_path):
    pytest.importorskip("matplotlib")
    from matplotlib.image import imread

    files = EXPERIMENTS[name].plot(round_trip(quick_results[name]), tmp_path)
    assert files and all(file.endswith(".png") for file in files)
    for file in files:
        assert (tmp_path / file).stat().st_size > 10_000
        height, width = imread(tmp_path / file).shape[:2]
        assert height >= 400 and width >= 500


def test_run_experiment_checks_its_arguments():
    with pytest.raises(ValueError, match="name"):
        run_experiment("figure-11-4")
    with pytest.raises(ValueError, match="seed"):
        run_experiment("least-squares", seed=-1)
    assert run_experiment("least-squares", quick=True, seed=1).holds
