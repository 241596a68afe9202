"""The estimator classes: scikit-learn's BaseEstimator and RegressorMixin when it is installed,
plain classes with the same methods otherwise, made on first access so that importing widenet
does not import scikit-learn; one class object per process, picklable, found by isinstance
from every module that exports it."""

import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import widenet
import widenet.regression
import widenet.regression.estimators as estimators
import widenet.regression.ntk_regression as ntk_regression

ESTIMATOR_NAMES = ("KernelLeastSquares", "MinNormLeastSquares", "NTKRegressor")
HOMES = {"KernelLeastSquares": estimators, "MinNormLeastSquares": estimators, "NotFittedError": estimators,
         "NTKRegressor": ntk_regression}


def run_python(code):
    """Run ``code`` in a fresh interpreter; return its standard output (it must succeed)."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def data(seed=0, m=9, d=2):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, d))
    return X, np.sin(X.sum(axis=1))


def test_importing_widenet_leaves_sklearn_out_until_an_estimator_class_is_used():
    found = run_python("""
        import sys
        import widenet, widenet.regression, widenet.regression.estimators, widenet.regression.ntk_regression
        print('sklearn' in sys.modules)
        widenet.KernelLeastSquares  # the first use makes the class, on scikit-learn's bases
        print('sklearn' in sys.modules)
    """).split()
    assert found == ["False", "True"]  # the second line shows that the first could see an import


@pytest.mark.parametrize("name", sorted(HOMES))
def test_one_class_object_from_every_module_that_exports_it(name):
    cls = getattr(widenet, name)
    assert getattr(widenet.regression, name) is cls and getattr(HOMES[name], name) is cls
    assert cls.__module__ == HOMES[name].__name__ and cls.__qualname__ == name
    assert name in dir(HOMES[name]) and name in dir(widenet.regression) and name in dir(widenet)
    with pytest.raises(AttributeError, match="NTKRegressor"):
        estimators.NTKRegressor  # noqa: B018  (exported by ntk_regression only)


def test_the_classes_are_sklearn_estimators():
    base = pytest.importorskip("sklearn.base")
    exceptions = pytest.importorskip("sklearn.exceptions")
    for name in ESTIMATOR_NAMES:
        cls = getattr(widenet, name)
        assert issubclass(cls, base.BaseEstimator) and issubclass(cls, base.RegressorMixin), name
        assert base.is_regressor(cls())
        mro = cls.__mro__
        assert mro.index(base.RegressorMixin) < mro.index(base.BaseEstimator)  # scikit-learn's mixin order
    assert issubclass(widenet.NotFittedError, exceptions.NotFittedError)
    assert issubclass(widenet.NotFittedError, ValueError) and issubclass(widenet.NotFittedError, AttributeError)
    X, _ = data()
    with pytest.raises(exceptions.NotFittedError, match="fit"):
        widenet.KernelLeastSquares().predict(X)


def test_sklearn_sees_fitted_state_and_the_pairwise_tag():
    validation = pytest.importorskip("sklearn.utils.validation")
    from sklearn.exceptions import NotFittedError
    from sklearn.utils import get_tags

    X, y = data(1)
    model = widenet.NTKRegressor(kernel="nngp")
    with pytest.raises(NotFittedError):
        validation.check_is_fitted(model)
    validation.check_is_fitted(model.fit(X, y))
    for cls in (widenet.KernelLeastSquares, widenet.NTKRegressor):
        assert get_tags(cls(kernel="precomputed")).input_tags.pairwise is True
        assert get_tags(cls()).input_tags.pairwise is False
        assert get_tags(cls()).target_tags.multi_output is True
    assert get_tags(widenet.MinNormLeastSquares()).input_tags.pairwise is False


@pytest.mark.parametrize("make", [lambda: widenet.MinNormLeastSquares(fit_intercept=True),
                                  lambda: widenet.KernelLeastSquares(kernel="polynomial", degree=2, ridge=0.1),
                                  lambda: widenet.NTKRegressor(activation="erf", kernel="nngp", ridge=0.01)],
                         ids=["min_norm", "kernel", "ntk"])
def test_fitted_estimators_pickle_to_the_same_class(make):
    X, y = data(2)
    model = make().fit(X, y)
    again = pickle.loads(pickle.dumps(model))
    assert type(again) is type(model) and again.get_params() == model.get_params()
    np.testing.assert_array_equal(again.predict(X), model.predict(X))


def test_unpickling_in_a_new_process_makes_the_class_there():
    X, y = data(3)
    model = widenet.KernelLeastSquares(ridge=0.1).fit(X, y)
    expected = model.predict(X)
    found = run_python(f"""
        import pickle, sys
        import numpy as np
        model = pickle.loads({pickle.dumps(model)!r})
        import widenet
        print(type(model) is widenet.KernelLeastSquares)
        print(np.array_equal(model.predict(np.array({X.tolist()!r})), np.array({expected.tolist()!r})))
    """).split()
    assert found == ["True", "True"]


def test_without_sklearn_the_plain_classes_have_the_same_methods():
    """scikit-learn made unimportable: the classes are plain, and get_params, set_params, repr,
    score, pickling and NotFittedError work as with it (the values checked against numpy)."""
    found = run_python("""
        import pickle, sys
        sys.modules['sklearn'] = None
        import numpy as np
        import widenet
        from widenet.regression.estimators import KernelLeastSquares, MinNormLeastSquares, NotFittedError
        X = np.arange(12.0).reshape(6, 2) ** 0.5
        y = np.cos(X[:, 0]) + X[:, 1]
        print([c.__name__ for c in KernelLeastSquares.__mro__])
        model = KernelLeastSquares(kernel='polynomial', degree=2)
        print(repr(model.set_params(ridge=0.5, gamma=0.3)), sorted(model.get_params().items()))
        prediction = model.fit(X, y).predict(X)
        r2 = 1 - np.sum((y - prediction) ** 2) / np.sum((y - y.mean()) ** 2)
        print(abs(model.score(X, y) - r2) < 1e-14, r2 < 0.999)
        again = pickle.loads(pickle.dumps(model))
        print(type(again) is KernelLeastSquares, np.array_equal(again.predict(X), prediction))
        print([c.__name__ for c in NotFittedError.__mro__[:4]])
        try:
            widenet.NTKRegressor().predict(X)
        except NotFittedError as error:
            print(isinstance(error, ValueError) and isinstance(error, AttributeError))
        try:
            model.set_params(alpha=1.0)
        except ValueError as error:
            print(str(error).startswith('alpha: not a parameter'))
        print('sklearn' in sys.modules and sys.modules['sklearn'] is not None)
    """).splitlines()
    assert found == [
        "['KernelLeastSquares', '_KernelLeastSquaresBody', 'EstimatorBody', 'PlainEstimator', 'object']",
        "KernelLeastSquares(degree=2, gamma=0.3, kernel='polynomial', ridge=0.5) [('coef0', 1.0), ('degree', 2), "
        "('gamma', 0.3), ('kernel', 'polynomial'), ('ridge', 0.5)]",
        "True True",
        "True True",
        "['NotFittedError', '_NotFittedErrorBody', 'ValueError', 'AttributeError']",
        "True",
        "True",
        "False",
    ]
