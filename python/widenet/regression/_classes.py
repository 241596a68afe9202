"""The public estimator classes: on scikit-learn's bases when it is installed, made on first use.

scikit-learn's users expect an estimator to be a ``sklearn.base.BaseEstimator`` (its
``get_params``, ``set_params``, ``repr``, cloning, tags and HTML display), a regressor to be
a ``RegressorMixin`` (its ``score``), and an unfitted estimator to raise
``sklearn.exceptions.NotFittedError``. widenet does not depend on scikit-learn, and
importing it takes about a second, which ``import widenet`` must not pay. So:

- Each class is written once, as a *body*: a plain class with everything that is
  widenet's (``__init__``, ``fit``, ``predict``, their checks, the docstring). The public
  class is ``type(name, (body, RegressorMixin, BaseEstimator), ...)`` with scikit-learn, or
  ``(body, PlainEstimator)`` without it, :class:`PlainEstimator` giving the same methods;
  ``NotFittedError`` subclasses scikit-learn's (itself a ValueError and an AttributeError)
  or those two.
- The public class is made on the first access of its name, through the module-level
  ``__getattr__`` (PEP 562) of the modules that export it, which call
  :func:`public_class`. So the import of a module costs nothing; the first class made
  imports scikit-learn, once, and decides for the process whether it is used.
- Every class is made once per process (under a lock) and stored in the globals of its
  *home*, the module it is documented in, so later reads are ordinary attribute reads; the
  other modules that export it (``widenet``, ``widenet.regression``) forward to the same
  object, so ``isinstance`` and ``except`` agree wherever it was imported from.
- Its ``__module__`` is the home and its ``__qualname__`` its name, so pickle finds it
  through the home's ``__getattr__``, in a new process too, where unpickling makes it.

The bodies raise ``NotFittedError`` by name through :func:`public_class`, which needs no
import of the modules that export it.
"""

from __future__ import annotations

import importlib
import inspect
import sys
import threading
from dataclasses import dataclass
from typing import Any, Collection, Dict, List, Optional, Tuple, TypeVar

import numpy as np

from widenet.regression._checks import check_y

_Self = TypeVar("_Self", bound="PlainEstimator")


class PlainEstimator:
    """What scikit-learn's ``BaseEstimator`` and ``RegressorMixin`` give the estimators, without scikit-learn.

    The hyper-parameters are the arguments of ``__init__``, stored under the same names.
    """

    predict: Any  # the body's

    @classmethod
    def _param_names(cls) -> List[str]:
        parameters = inspect.signature(cls.__init__).parameters.values()
        return sorted(p.name for p in parameters
                      if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))

    def get_params(self, deep: bool = True) -> Dict[str, Any]:
        """Return the hyper-parameters as a dict.

        ``deep`` is accepted for scikit-learn; no hyper-parameter is itself an estimator.
        """
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self: _Self, **params: Any) -> _Self:
        """Set hyper-parameters by name and return ``self``; values are checked by ``fit``."""
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"{name}: not a parameter of {type(self).__name__}; expected one of "
                                 f"{', '.join(valid)}")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        """Return ``Name(param=value, ...)``: the parameters that differ from their defaults, by name."""
        defaults = {p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values()}
        changed = [f"{name}={getattr(self, name)!r}" for name in self._param_names()
                   if not _is_default(getattr(self, name), defaults[name])]
        return f"{type(self).__name__}({', '.join(changed)})"

    def score(self, X: Any, y: Any) -> float:
        """Return the coefficient of determination ``R^2 = 1 - |y - y_hat|^2 / |y - mean(y)|^2`` of ``predict(X)``.

        It is averaged over target columns (1 for a perfect fit, 0 for a constant
        ``mean(y)``; a constant ``y`` scores 1 if predicted exactly, else 0).
        """
        prediction = np.asarray(self.predict(X))
        rows = prediction.shape[0]
        prediction = prediction.reshape(rows, -1)
        targets = check_y(y, rows, type(self).__name__).reshape(rows, -1)
        if targets.shape != prediction.shape:
            raise ValueError(f"y: expected {prediction.shape[1]} target column(s) like the fitted targets, got "
                             f"shape {targets.shape}")
        residual = np.sum((targets - prediction) ** 2, axis=0)
        total = np.sum((targets - targets.mean(axis=0)) ** 2, axis=0)
        safe = np.where(total > 0, total, 1.0)
        r2 = np.where(total > 0, 1.0 - residual / safe, np.where(residual == 0, 1.0, 0.0))
        return float(np.mean(r2))


def _is_default(value: object, default: object) -> bool:
    return value is default or (type(value) is type(default) and isinstance(value, (str, int, float))
                                and value == default)


@dataclass(frozen=True)
class _Recipe:
    home: str  # the module the class is documented in: its __module__
    body: type
    sklearn_bases: Tuple[str, ...]  # "module:name" of scikit-learn's bases
    plain_bases: Tuple[type, ...]  # their stand-ins without scikit-learn


REGRESSOR = (("sklearn.base:RegressorMixin", "sklearn.base:BaseEstimator"), (PlainEstimator,))
"""The bases of an estimator (:func:`register`'s ``bases``): scikit-learn's, and without it."""
ERROR = (("sklearn.exceptions:NotFittedError",), (ValueError, AttributeError))
"""The bases of ``NotFittedError``: scikit-learn's (a ValueError and an AttributeError), and without it."""

_RECIPES: Dict[str, _Recipe] = {}
_MADE: Dict[str, type] = {}
_LOCK = threading.Lock()
_WITH_SKLEARN: List[bool] = []  # decided at the first class made, then the same for the process


def register(home: str, name: str, body: type, bases: Tuple[Tuple[str, ...], Tuple[type, ...]]) -> None:
    """Say how the public class ``name`` of the module ``home`` is made: ``body`` on ``bases``."""
    _RECIPES[name] = _Recipe(home, body, *bases)


def _sklearn_base(path: str) -> type:
    module, _, name = path.partition(":")
    base: type = getattr(importlib.import_module(module), name)
    return base


def _bases(recipe: _Recipe) -> Tuple[type, ...]:
    if not _WITH_SKLEARN:
        try:
            importlib.import_module("sklearn.base")
        except ImportError:
            _WITH_SKLEARN.append(False)
        else:
            _WITH_SKLEARN.append(True)
    if not _WITH_SKLEARN[0]:
        return recipe.plain_bases
    return tuple(_sklearn_base(path) for path in recipe.sklearn_bases)


def public_class(name: str) -> type:
    """Return the public class ``name``, made on the first call (see the module's notes)."""
    made = _MADE.get(name)
    if made is not None:
        return made
    with _LOCK:
        if name not in _MADE:
            recipe = _RECIPES[name]
            namespace = {"__module__": recipe.home, "__qualname__": name, "__doc__": recipe.body.__doc__}
            _MADE[name] = type(name, (recipe.body, *_bases(recipe)), namespace)
            home: Optional[Any] = sys.modules.get(recipe.home)
            if home is not None:  # later reads of the home's attribute skip its __getattr__
                setattr(home, name, _MADE[name])
    return _MADE[name]


def exported(module: str, name: str, names: Collection[str]) -> type:
    """Return the public class ``name`` for the ``__getattr__`` of ``module``, which exports ``names``."""
    if name not in names:
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    return public_class(name)
