"""The public interface: a sorted ``__all__`` of classes and functions, and the modules of
widenet 0.1 reachable under their old names with a DeprecationWarning."""

import importlib
import importlib.util
import inspect
import types
import warnings

import pytest

import widenet

OLD_MODULES = {
    "convergence": "widenet.dynamics.convergence",
    "estimators": "widenet.regression.estimators",
    "feature_maps": "widenet.kernels.feature_maps",
    "lazy_training": "widenet.dynamics.lazy_training",
    "least_squares": "widenet.regression.least_squares",
    "limit_kernels": "widenet.kernels.limit",
    "models": "widenet.network.linear_models",
    "ntk_regression": "widenet.regression.ntk_regression",
    "persistence": "widenet.io",
}


# public names whose modules import an optional package (loaded on first use)
OPTIONAL_NAMES = {"GPKernel": "sklearn"}


def loadable():
    """The public names, less those whose optional package is not installed."""
    return [name for name in widenet.__all__
            if name not in OPTIONAL_NAMES or importlib.util.find_spec(OPTIONAL_NAMES[name]) is not None]


def test_all_is_sorted_and_holds_no_modules():
    assert widenet.__all__ == sorted(widenet.__all__)
    for name in loadable():
        assert not isinstance(getattr(widenet, name), types.ModuleType), name


def test_every_public_name_exists_and_dir_lists_them():
    for name in loadable():
        assert hasattr(widenet, name), name
    assert dir(widenet) == sorted(widenet.__all__)


def test_optional_names_are_public_and_load_on_first_use():
    assert set(OPTIONAL_NAMES) <= set(widenet.__all__)
    pytest.importorskip("sklearn", minversion="1.6")
    from widenet.gaussian_process import GPKernel

    assert widenet.GPKernel is GPKernel and inspect.isclass(GPKernel)


@pytest.mark.parametrize("old, new", sorted(OLD_MODULES.items()))
def test_old_module_names_warn_and_give_the_new_module(old, new):
    with pytest.warns(DeprecationWarning, match=new.replace(".", r"\.")):
        module = getattr(widenet, old)
    assert module is importlib.import_module(new)


def test_an_unknown_attribute_is_an_attribute_error():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(AttributeError, match="no_such_name"):
            widenet.no_such_name  # noqa: B018


def test_the_public_callables_keep_their_names_across_the_layers():
    """What widenet 0.1 exported at the top level is still there, as the same kind of object."""
    names = ["ShallowNetwork", "ShallowEnsemble", "StackedParameters", "Parameters", "TrainingState", "load",
             "TrainingResult", "LinearizedTrainingResult", "linearize", "LinearizedModel", "limit_kernel",
             "LimitKernel", "TangentKernel", "KernelLeastSquares", "MinNormLeastSquares", "NTKRegressor",
             "NotFittedError", "min_norm_solution", "sweep", "sweeps_on", "fit_slope", "SlopeFit", "SweepResult",
             "CellFailure", "check_assumptions", "check_convergence", "AssumptionReport", "ConvergenceCheck",
             "lazy_training_sweep", "parameter_movement", "compare_parametrizations", "example_11_5_datasets",
             "polynomial_features", "quadratic_features", "rbf_features", "separating_features", "FeatureModel",
             "LinearModel", "CallableKernel", "LaplaceKernel", "LinearKernel", "PolynomialKernel", "RBFKernel",
             "ConditioningWarning", "DivergenceError", "MemoryLimitError", "get_memory_limit", "set_memory_limit",
             "build_info", "get_num_threads", "set_num_threads", "ACTIVATIONS"]
    for name in names:
        value = getattr(widenet, name)
        assert name == "ACTIVATIONS" or inspect.isclass(value) or callable(value), name
