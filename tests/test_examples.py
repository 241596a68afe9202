"""The example scripts run and write what they say, and README's first example runs as printed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_the_prediction_figure_is_drawn(tmp_path):
    pytest.importorskip("matplotlib")
    output = tmp_path / "figure.png"
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "prediction_uncertainty.py"), str(output)],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert output.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [path.name for path in tmp_path.iterdir()] == ["figure.png"]  # no temporary file left behind


def test_readme_s_first_example_runs_and_its_mean_fits_the_data():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## A first example", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    mean, band, y, X, grid = (scope[name] for name in ("mean", "band", "y", "X", "grid"))
    assert mean.shape == band.shape == (300,)
    near = np.abs(grid[:, 0][None, :] - X) < 0.02  # grid points next to a training point
    for row, target in zip(near, y):
        assert np.all(np.abs(mean[row] - target) < 0.2)
