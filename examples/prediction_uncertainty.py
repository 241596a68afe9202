"""The prediction of infinitely wide networks with its uncertainty, beside real trained networks
=============================================================================================

Eight noisy samples of sin on [-3, 3]; the infinite ensemble of erf networks (NTK
parametrization) trained by gradient descent on the mean loss for 200 steps and to
convergence: mean and two-standard-deviation band, from ``widenet.predict``; and 30 networks
of width 1024 trained by ``train`` for the same 200 steps, which fall inside the band.

Run: ``python examples/prediction_uncertainty.py [output.png]`` (needs matplotlib; the
default output is ``prediction-uncertainty.png`` in the working directory).
"""

from __future__ import annotations

import os
import sys
import tempfile

import numpy as np

import widenet
from widenet import predict

SETTINGS = dict(activation="erf", parametrization="ntk", bias_var=0.5, output_bias_var=0.1)
STEP, STEPS = 0.2, 200


def main(output: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(0)
    X = np.sort(rng.uniform(-3, 3, 8))[:, None]
    y = np.sin(X[:, 0]) + 0.05 * rng.standard_normal(8)
    grid = np.linspace(-5, 5, 300)[:, None]

    trained = predict.gradient_descent_mse_ensemble(widenet.LimitKernel(**SETTINGS), X, y, learning_rate=STEP,
                                                    loss="mean")
    after_steps = trained(X_test=grid, compute_cov=True, steps=STEPS)
    converged = trained(None, grid, compute_cov=True)
    networks = widenet.ShallowEnsemble(30, input_dim=1, width=1024, seed=1, **SETTINGS)
    networks.train(X, y, lr=STEP, steps=STEPS, loss="mean")

    figure, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    for axis, (mean, cov), title in zip(axes, (after_steps, converged),
                                        (f"after {STEPS} steps", "trained to convergence")):
        band = 2 * np.sqrt(np.diag(cov))
        axis.fill_between(grid[:, 0], mean - band, mean + band, color="tab:blue", alpha=0.2,
                          label="infinite ensemble, mean ± 2 sd")
        axis.plot(grid[:, 0], mean, color="tab:blue")
        if title.startswith("after"):
            axis.plot(grid[:, 0], networks.forward(grid).T, color="0.3", lw=0.5, alpha=0.5)
            axis.plot([], [], color="0.3", lw=0.5, label="30 trained networks, width 1024")
        axis.scatter(X[:, 0], y, color="tab:red", zorder=3, label="data")
        axis.set_title(title)
        axis.set_xlabel("x")
    axes[0].legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    # written next to the output and renamed into place: a reader never sees half a file
    directory = os.path.dirname(os.path.abspath(output))
    handle, temporary = tempfile.mkstemp(suffix=".png", dir=directory)
    os.close(handle)
    try:
        figure.savefig(temporary, dpi=110)
        os.chmod(temporary, 0o644)  # a temporary file is private; the figure is not
        os.replace(temporary, output)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "prediction-uncertainty.png")
