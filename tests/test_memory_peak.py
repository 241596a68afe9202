"""The memory guard counts the peak of each call: for every guarded entry point, the bytes
the guard counts (read with widenet._memory.estimate, the figure the check itself compares
with the limit) are within 1.3x of the peak resident memory the call adds, measured in a
child process at a size where its arrays dominate.

The measurement is conftest.peak_in_child's."""

import pytest

import widenet

from conftest import peak_in_child

pytestmark = pytest.mark.skipif(bool(widenet.build_info()["sanitizers"]),
                                reason="AddressSanitizer's shadow memory and quarantine are not the call's arrays")

TOLERANCE = 1.3

NETWORK = "X = rng.standard_normal((2000, 8)); y = X[:, 0].copy(); net = widenet.ShallowNetwork(8, 4000, '{}', seed=0)"
WIDE = "X = rng.standard_normal((8, 4)); y = X[:, 0].copy(); net = widenet.ShallowNetwork(4, 2**19, 'tanh', seed=0)"
RECORDS = ("X = rng.standard_normal((4, 2)); y = X[:, 0].copy(); Xt = rng.standard_normal((30, 2)); "
           "net = widenet.ShallowNetwork(2, 2, 'tanh', seed=0)")
POINTS = "X = rng.standard_normal((2000, 5)); y = X[:, 0].copy(); Z = rng.standard_normal((4000, 5))"
MATRIX = "A = rng.standard_normal((16000, 250)); b = rng.standard_normal(16000)"
LAZY = "from widenet.dynamics.lazy_training import lazy_training_cell, lazy_training_data, parameter_movement"
SMALL = "widenet.ShallowNetwork(2, 3, seed=0).train(np.ones((2, 2)), np.ones(2), 1e-3, 2)"

# (entry point the estimate comes from, setup, call, warm-up call)
CASES = {
    "network": ("ShallowNetwork", "", "widenet.ShallowNetwork(1000, 10000, seed=0)", SMALL),
    "network-float32": ("ShallowNetwork", "", "widenet.ShallowNetwork(1000, 10000, seed=0, dtype=np.float32)",
                        SMALL),
    "ensemble": ("ShallowEnsemble", "", "widenet.ShallowEnsemble(8, 100, 10000, seed=0)", SMALL),
    "forward": ("ShallowNetwork.forward", NETWORK.format("tanh"), "net.forward(X)", "net.forward(X[:3])"),
    "forward-numpy-erf": ("ShallowNetwork.forward", NETWORK.format("erf"), "net.forward(X, backend='numpy')",
                          "net.forward(X[:3])"),
    "jacobian": ("ShallowNetwork.jacobian", NETWORK.format("tanh"), "net.jacobian(X[:400])", "net.jacobian(X[:3])"),
    "jacobian-numpy": ("ShallowNetwork.jacobian", NETWORK.format("relu"), "net.jacobian(X[:400], backend='numpy')",
                       "net.jacobian(X[:3])"),
    "ntk": ("ShallowNetwork.ntk", NETWORK.format("tanh"), "net.ntk(X)", "net.ntk(X[:3])"),
    "ntk-cross": ("ShallowNetwork.ntk", NETWORK.format("tanh"), "net.ntk(X, X[:1000])", "net.ntk(X[:3])"),
    "ntk-numpy-gelu": ("ShallowNetwork.ntk", NETWORK.format("gelu"), "net.ntk(X[:1000], backend='numpy')",
                       "net.ntk(X[:3])"),
    "ntk_diag": ("ShallowNetwork.ntk_diag", NETWORK.format("tanh"), "net.ntk_diag(X)", "net.ntk_diag(X[:3])"),
    "loss": ("ShallowNetwork.loss", NETWORK.format("tanh"), "net.loss(X, y)", "net.loss(X[:3], y[:3])"),
    "loss_grad": ("ShallowNetwork.loss_grad", NETWORK.format("tanh"), "net.loss_grad(X, y)",
                  "net.loss_grad(X[:3], y[:3])"),
    "loss_grad-numpy-sigmoid": ("ShallowNetwork.loss_grad", NETWORK.format("sigmoid"),
                                "net.loss_grad(X, y, backend='numpy')", "net.loss_grad(X[:3], y[:3])"),
    "loss_grad-wide": ("ShallowNetwork.loss_grad", WIDE, "net.loss_grad(X, y)", "net.loss_grad(X[:3], y[:3])"),
    "train": ("ShallowNetwork.train", NETWORK.format("tanh"), "net.train(X, y, 1e-6, 2)", SMALL),
    "train-wide": ("ShallowNetwork.train", WIDE, "net.train(X, y, 1e-6, 2)", SMALL),
    "train-records": ("ShallowNetwork.train", RECORDS, "net.train(X, y, 1e-6, 4 * 10**5, X_test=Xt)", SMALL),
    "train-numpy-tanh": ("ShallowNetwork.train", NETWORK.format("tanh"), "net.train(X, y, 1e-6, 1, backend='numpy')",
                         SMALL),
    "ensemble-forward": ("ShallowEnsemble.forward", "X = rng.standard_normal((2000, 8)); "
                         "ens = widenet.ShallowEnsemble(3, 8, 4000, seed=0)", "ens.forward(X)", "ens.forward(X[:3])"),
    "ensemble-train": ("ShallowEnsemble.train", "X = rng.standard_normal((8, 4)); y = X[:, 0].copy(); "
                       "ens = widenet.ShallowEnsemble(4, 4, 2**17, seed=0)", "ens.train(X, y, 1e-6, 2)", SMALL),
    "linearize": ("linearize", WIDE, "widenet.linearize(net)", SMALL),
    "linearized-forward": ("LinearizedModel.forward", WIDE + "; lin = widenet.linearize(net); "
                           "p = net.params.copy(); p.c += 1.0; lin.params = p", "lin.forward(X)", SMALL),
    "linearized-ntk": ("LinearizedModel.ntk", NETWORK.format("tanh") + "; lin = widenet.linearize(net)",
                       "lin.ntk(X)", SMALL),
    "linearized-train-gram": ("LinearizedModel.train", POINTS + "; lin = widenet.linearize("
                              "widenet.ShallowNetwork(5, 8, 'tanh', seed=0))", "lin.train(X, y, 1e-6, 10, X_test=Z[:30])",
                              SMALL),
    "linearized-train-records": ("LinearizedModel.train", RECORDS + "; lin = widenet.linearize(net)",
                                 "lin.train(X, y, 1e-6, 4 * 10**5, X_test=Xt)", SMALL),
    "linearized-iterate": ("LinearizedModel.train", RECORDS + "; lin = widenet.linearize(net)",
                           "lin.train(X, y, 1e-6, 4 * 10**5, X_test=Xt, method='iterate')", SMALL),
    "linearized-flow": ("LinearizedModel.flow", POINTS + "; lin = widenet.linearize("
                        "widenet.ShallowNetwork(5, 8, 'tanh', seed=0))", "lin.flow(X, y, [1.0, 2.0])", SMALL),
    "rbf-kernel": ("RBFKernel", POINTS, "widenet.RBFKernel()(Z)", "widenet.RBFKernel()(X[:3])"),
    "rbf-kernel-numpy": ("RBFKernel", POINTS, "widenet.RBFKernel()(X, Z, backend='numpy')",
                         "widenet.RBFKernel()(X[:3])"),
    "polynomial-kernel-numpy": ("PolynomialKernel", POINTS, "widenet.PolynomialKernel()(Z, backend='numpy')",
                                "widenet.RBFKernel()(X[:3])"),
    "laplace-kernel-numpy": ("LaplaceKernel", POINTS, "widenet.LaplaceKernel()(X, Z, backend='numpy')",
                             "widenet.RBFKernel()(X[:3])"),
    "linear-kernel-numpy": ("LinearKernel", POINTS, "widenet.LinearKernel()(Z, backend='numpy')",
                            "widenet.RBFKernel()(X[:3])"),
    "kernel-least-squares": ("KernelLeastSquares.fit", POINTS, "widenet.KernelLeastSquares(ridge=1e-3).fit(X, y)",
                             "widenet.KernelLeastSquares().fit(X[:3], y[:3])"),
    "min-norm-least-squares": ("MinNormLeastSquares.fit", MATRIX,
                               "widenet.MinNormLeastSquares(fit_intercept=True).fit(A, b)",
                               "widenet.MinNormLeastSquares().fit(A[:3, :2], b[:3])"),
    "ntk-regressor": ("NTKRegressor.fit", POINTS, "widenet.NTKRegressor().fit(X, y)",
                      "widenet.NTKRegressor().fit(X[:3], y[:3])"),
    "ntk-regressor-predict": ("NTKRegressor.predict", POINTS + "; fit = widenet.NTKRegressor(kernel='nngp')"
                              ".fit(X[:1000], y[:1000])", "fit.predict(Z, return_std=True)", "fit.predict(X[:3])"),
    "ntk-regressor-cov": ("NTKRegressor.predict", POINTS + "; fit = widenet.NTKRegressor(time=1.0)"
                          ".fit(X[:1000], np.column_stack([y[:1000]] * 2))", "fit.predict(Z[:2000], return_cov=True)",
                          "fit.predict(X[:3])"),
    "ntk-regressor-sample": ("NTKRegressor.predict", POINTS + "; fit = widenet.NTKRegressor(kernel='nngp', steps=5, "
                             "lr=1e-3).fit(X[:500], y[:500])", "fit.sample_y(Z[:500], 20000)", "fit.predict(X[:3])"),
    "min_norm_solution": ("min_norm_solution", MATRIX, "widenet.min_norm_solution(A, b)",
                          "widenet.min_norm_solution(A[:3, :2], b[:3])"),
    "max_step": ("max_step", MATRIX, "widenet.regression.least_squares.max_step(A)", "widenet.regression.least_squares.max_step(A[:3])"),
    "kernel_projector": ("kernel_projector", "A = rng.standard_normal((3, 3000))",
                         "widenet.regression.least_squares.kernel_projector(A)", "widenet.regression.least_squares.max_step(A[:, :3])"),
    "gradient_descent": ("gradient_descent", "A = rng.standard_normal((40, 30)); b = rng.standard_normal(40)",
                         "widenet.regression.least_squares.gradient_descent(A, b, np.zeros(30), 1e-4, 2 * 10**5)",
                         "widenet.regression.least_squares.max_step(A)"),
    "polynomial_features": ("polynomial_features", POINTS, "widenet.polynomial_features(Z, 7)",
                            "widenet.polynomial_features(X[:3], 2)"),
    "rbf_features": ("rbf_features", POINTS, "widenet.rbf_features(Z, 0.5, 6)", "widenet.rbf_features(X[:3], 0.5, 2)"),
    "separating_features": ("separating_features", POINTS, "widenet.separating_features(Z)",
                            "widenet.separating_features(X[:3])"),
    "example_11_5_datasets": ("example_11_5_datasets", "", "widenet.example_11_5_datasets(10**6, seed=0)",
                              "widenet.example_11_5_datasets(10, seed=0)"),
    "linear-model-ntk": ("LinearModel.ntk", POINTS, "widenet.LinearModel(5).ntk(Z)", "widenet.LinearModel(5).ntk(X[:3])"),
    "lazy_training_data": ("lazy_training_data", LAZY, "lazy_training_data(points=10**6, input_dim=8, "
                           "test_points=10**6)", SMALL),
    "lazy_training_cell": ("lazy_training_cell", LAZY, "lazy_training_cell(2**18, 0, steps=2)", SMALL),
    "lazy_training_sweep": ("lazy_training_sweep", "", "widenet.lazy_training_sweep([2**18], [0], threads=1, "
                            "progress=False, steps=2)", SMALL),
    "parameter_movement": ("parameter_movement", LAZY + "; " + WIDE, "parameter_movement(net, X, y, 1e-6, 2)", SMALL),
    "check_assumptions": ("check_assumptions", LAZY + "; data = lazy_training_data(points=4); "
                          "net = widenet.ShallowNetwork(4, 2**16, 'tanh', seed=0)",
                          "widenet.check_assumptions(net, data.X, data.y, seed=0, path_steps=2, samples=2, "
                          "lanczos_steps=2, refinements=0)", SMALL),
    "check_convergence": ("check_convergence", LAZY + "; data = lazy_training_data(); "
                          "net = widenet.ShallowNetwork(4, 8, 'tanh', seed=0); "
                          "report = widenet.check_assumptions(net, data.X, data.y, seed=0)",
                          "widenet.check_convergence(net, data.X, data.y, 4 * 10**5, assumptions=report)", SMALL),
    "training-state": ("TrainingState.train", RECORDS + "; state = widenet.TrainingState(net, 1e-6); "
                       "state.train(X, y, 2 * 10**5, X_test=Xt)", "state.train(X, y, 2 * 10**5, X_test=Xt)", SMALL),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_guard_counts_the_peak_of_the_call(case):
    where, setup, call, warm = CASES[case]
    found = peak_in_child(setup, call, warm)
    assert found["where"] == where
    estimate, added = found["estimate"], found["added"]
    assert added > 30 * 2**20, f"{case}: the call added only {added / 1e6:.1f} MB; too small to measure"
    assert added / TOLERANCE <= estimate <= TOLERANCE * added, (
        f"{case}: the guard counts {estimate / 1e6:.1f} MB, the call's peak added {added / 1e6:.1f} MB")
