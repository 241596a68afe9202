"""The tangent kernel of a wide network converges to its infinite-width limit
=============================================================================

The empirical tangent kernel of a one-hidden-layer network at initialization, on 20 random
points, against the closed-form limit ``K_NTK`` (Proposition 11.28, NTK parametrization):
the relative distance falls like ``n^(-1/2)`` with the width ``n``, for relu and for erf.

Run: ``python examples/tangent_kernel_convergence.py`` (needs matplotlib).
"""

import numpy as np

import widenet

WIDTHS = [64, 256, 1024, 4096]
SEEDS = range(8)
X = np.random.default_rng(0).standard_normal((20, 3))


def distances(activation):
    """Return the mean relative distance of the empirical kernel to its limit, per width."""
    limit = widenet.limit_kernel(X, activation=activation, parametrization="ntk")
    means = []
    for width in WIDTHS:
        values = [np.linalg.norm(widenet.ShallowNetwork(3, width, activation, "ntk", seed=seed).ntk(X) - limit)
                  / np.linalg.norm(limit) for seed in SEEDS]
        means.append(np.mean(values))
    return np.array(means)


def main():
    """Print the distances and draw them against the width, on log scales."""
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(5.5, 3.8))
    for activation, color in (("relu", "tab:blue"), ("erf", "tab:orange")):
        values = distances(activation)
        slope = np.polyfit(np.log(WIDTHS), np.log(values), 1)[0]
        axis.loglog(WIDTHS, values, "o-", color=color, label=f"{activation}: slope {slope:.2f}")
        print(f"{activation}: relative distances {np.round(values, 4)}, fitted slope {slope:.2f}")
    reference = values[0] * (np.array(WIDTHS) / WIDTHS[0]) ** -0.5
    axis.loglog(WIDTHS, reference, "k--", lw=0.8, label="n^(-1/2)")
    axis.set_xlabel("width n")
    axis.set_ylabel("|K_n - K_NTK| / |K_NTK|")
    axis.legend()
    figure.tight_layout()
    plt.show()


if __name__ == "__main__":
    main()
