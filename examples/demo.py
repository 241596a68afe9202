"""widenet in one minute: the chapter's Figure 11.3 experiment, in numbers
=======================================================================

Eighty networks of width n = 250 (arctan, the chapter's initialization) are trained by
gradient descent on three points. The demo prints what the theory says next to what
happened: the step size that keeps GD stable (from the tangent kernel's spectrum), the
loss before and after, how little the weights moved, and that the compiled and the
numpy implementations agree.

    python examples/demo.py
"""

# sphinx_gallery_thumbnail_path = "figure-11-3.png"

import time

import numpy as np

import widenet

WIDTH, STEPS, NETWORKS = 250, 1000, 80
CONFIG = dict(activation="arctan", weight_var=3.0, output_var=3.0, bias_var=2.0, output_bias_var=2.0)
X = np.array([[-1.0], [0.5], [1.5]])
y = np.array([0.6, -0.4, 0.9])
lr = 1.0 / WIDTH


def stability_report():
    """GD on f = sum (Phi - y)^2 is stable for h < 1 / lambda_max(K_n) (the gradient is
    2 J^T r, so the linearized residual contracts by 1 - 2 h lambda); the mean loss f/m
    rescales the condition to h < m / lambda_max."""
    net = widenet.ShallowNetwork(1, WIDTH, seed=0, **CONFIG)
    lam_max = np.linalg.eigvalsh(net.ntk(X))[-1]
    m = len(X)
    print(f"Tangent kernel at initialization: lambda_max = {lam_max:.1f}")
    print(f"  largest stable step, loss='sum' : {1 / lam_max:.5f}   (h = 1/n = {lr:.5f}: diverges)")
    print(f"  largest stable step, loss='mean': {m / lam_max:.5f}   (h = 1/n: converges)")


def train_ensemble():
    ensemble = widenet.ShallowEnsemble(NETWORKS, 1, WIDTH, seed=0, **CONFIG)
    w0_norm = np.sqrt(sum(np.sum(p**2, axis=tuple(range(1, p.ndim))) for p in ensemble.initial_params))
    start = time.perf_counter()
    result = ensemble.train(X, y, lr=lr, steps=STEPS, record_every=100, loss="mean")
    seconds = time.perf_counter() - start
    print(f"\nTrained {NETWORKS} networks x {STEPS} GD steps in {seconds:.2f} s (C++, "
          f"{widenet.get_num_threads()} threads)")
    print(f"  mean loss: {result.losses[:, 0].mean():.3e} at k=0 -> {result.losses[:, -1].mean():.3e} at k={STEPS}")
    relative_move = result.distances[:, -1] / w0_norm
    print(f"  |w_k - w0| / |w0| after training: median {np.median(relative_move):.3f} "
          f"(lazy training: the weights barely move)")
    return ensemble


def backends_agree(ensemble):
    net = ensemble.member(0).reset()
    cpp = net.train(X, y, lr=lr, steps=200, loss="mean")
    net.reset()
    ref = net.train(X, y, lr=lr, steps=200, loss="mean", backend="numpy")
    gap = np.max(np.abs(cpp.losses - ref.losses) / np.maximum(ref.losses, 1e-300))
    print(f"\nC++ and numpy reference, 200 steps of one network: largest relative loss gap {gap:.1e}")


if __name__ == "__main__":
    print(f"widenet {widenet.__version__}: Figure 11.3 setting (arctan, d=1, n={WIDTH}, m=3, h=1/n)\n")
    stability_report()
    backends_agree(train_ensemble())
