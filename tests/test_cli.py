"""The ``widenet`` command: ``reproduce`` writes every file of the report, the measured
slopes lie where the theory puts them, and bad arguments exit with code 2."""

import json
import subprocess
import sys

import pytest

import widenet
from widenet.app.cli import main
from widenet.app.experiments import EXPERIMENTS


def run_module(*arguments, cwd=None):
    return subprocess.run([sys.executable, "-m", "widenet", *arguments], capture_output=True, text=True, cwd=cwd,
                          timeout=600)


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory):
    """``widenet reproduce --quick`` once for the module, as a user runs it."""
    pytest.importorskip("matplotlib")
    out = tmp_path_factory.mktemp("report")
    completed = run_module("reproduce", "--quick", "--out", str(out), "--no-progress", "--seed", "3")
    assert completed.returncode == 0, completed.stderr
    return out, completed


def test_reproduce_quick_writes_every_file(quick_report):
    out, completed = quick_report
    results = json.loads((out / "results.json").read_text())
    assert set(results["experiments"]) == set(EXPERIMENTS)
    assert results["settings"] == {"mode": "quick", "seed": 3, "threads": results["settings"]["threads"],
                                   "only": list(EXPERIMENTS)}
    assert results["widenet_version"]
    report = (out / "report.md").read_text()
    for name, entry in results["experiments"].items():
        assert entry["figures"], name
        for figure in entry["figures"]:
            assert (out / figure).stat().st_size > 10_000, figure  # a real PNG, not an empty canvas
            assert f"({figure})" in report
        assert entry["claims"], name
        assert EXPERIMENTS[name].title in report
    assert f"{results['claims_held']} of {results['claims_total']} claims held" in completed.stdout


def test_every_claim_of_the_quick_report_holds(quick_report):
    out, _ = quick_report
    results = json.loads((out / "results.json").read_text())
    failed = [(name, claim["reference"], claim["statement"], claim["measured"])
              for name, entry in results["experiments"].items() for claim in entry["claims"] if not claim["holds"]]
    assert not failed
    assert results["claims_held"] == results["claims_total"] > 0


def test_measured_slopes_are_where_the_theory_puts_them(quick_report):
    """Independently of the claims' own verdicts: the fitted exponents recorded in
    results.json, read back and compared with the theory's -1/2."""
    out, _ = quick_report
    results = json.loads((out / "results.json").read_text())
    slopes = {}

    def collect(prefix, value):
        if isinstance(value, dict):
            if {"slope", "interval"} <= set(value):
                slopes[prefix] = value
            for key, item in value.items():
                collect(f"{prefix}/{key}", item)

    for name, entry in results["experiments"].items():
        collect(name, entry["numbers"])
    assert slopes, "results.json records no fitted slopes"
    # Theorems 11.16 and 11.30: the scaled empirical Gram converges at the Monte Carlo rate
    for parametrization in ("lecun", "ntk"):
        assert -0.65 <= slopes[f"kernel-convergence/{parametrization}/fit"]["slope"] <= -0.35
    # Theorem 11.23: |w_k - w0| (LeCun) and |w_k - w0| / |w0| (NTK parametrization) ~ n^-1/2
    for parametrization in ("lecun", "ntk"):
        assert -0.65 <= slopes[f"lazy-training/{parametrization}/fits/distance"]["slope"] <= -0.35
    # Propositions 11.25 and 11.26: bounded by C n^-1/2, so falling at least that fast
    for parametrization in ("lecun", "ntk"):
        for quantity in ("gap", "kernel"):
            assert slopes[f"lazy-training/{parametrization}/fits/{quantity}"]["slope"] <= -0.35
    # Section 11.6: under LeCun v's movement over U's grows with the width, under NTK it does not
    assert slopes["parameter-movement/fits/lecun_v_over_U"]["slope"] > 0.5
    assert abs(slopes["parameter-movement/fits/ntk_v_over_U"]["slope"]) < 0.2


def test_experiments_lists_every_experiment(capsys):
    assert main(["experiments"]) == 0
    listing = capsys.readouterr().out
    for name, experiment in EXPERIMENTS.items():
        assert name in listing and experiment.reference in listing


def test_python_dash_m_widenet_works():
    completed = run_module("experiments")
    assert completed.returncode == 0, completed.stderr
    assert all(name in completed.stdout for name in EXPERIMENTS)
    completed = run_module("--help")
    assert completed.returncode == 0 and "reproduce" in completed.stdout and "experiments" in completed.stdout


@pytest.mark.parametrize("arguments, mentions", [
    ([], "COMMAND"),
    (["frobnicate"], "frobnicate"),
    (["reproduce", "--only", "figure-11-4"], "figure-11-4"),
    (["reproduce", "--seed", "-1"], "--seed"),
    (["reproduce", "--threads", "0"], "--threads"),
    (["reproduce", "--threads", "two"], "--threads"),
    (["reproduce", "--bogus"], "--bogus"),
])
def test_bad_arguments_exit_2_with_one_line(arguments, mentions, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(arguments)
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith("widenet") and mentions in error, error


def test_a_missing_matplotlib_says_how_to_install_it(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    assert main(["reproduce", "--quick", "--out", str(tmp_path), "--only", "least-squares"]) == 1
    assert 'pip install "widenet[plot]"' in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_no_figures_needs_no_matplotlib(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert main(["reproduce", "--quick", "--out", str(tmp_path), "--only", "least-squares", "--no-figures",
                 "--no-progress"]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert list(results["experiments"]) == ["least-squares"]
    assert results["experiments"]["least-squares"]["figures"] == []
    assert (tmp_path / "report.md").exists()


def test_version_prints_the_installed_version(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"widenet {widenet.__version__}"
