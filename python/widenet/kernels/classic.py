"""Kernels as objects: ``kernel(X1, X2=None)`` gives the Gram matrix, ``kernel.diag(X)`` its diagonal.

See docs/theory.md, section 2.

The classic kernels of Example 11.10 are assembled in C++ (one GEMM or symmetric rank
update, then one fused elementwise pass), with numpy twins in
:mod:`widenet.reference.kernels`. A user callable, the tangent kernel of a model and the
infinite-width kernels plug into the same interface.

Accuracy of the classic kernels, at every scale of the inputs (``eps`` of their dtype, ``d``
the number of features): the inner product of the linear and polynomial kernels is within
``(d + 2) eps |x| |z|`` of ``x.z`` and overflows only where ``gamma x.z`` does; the rbf and
laplace kernels are within ``16 (d + 2) eps`` of their exact value (entries that
``|x|^2 + |z|^2 - 2 x.z`` cannot give that accurately, such as points close together far
from the origin, are recomputed from ``x - z``).
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar, Optional, Union

import numpy as np
from numpy.typing import ArrayLike, NDArray

from widenet import _memory, reference
from widenet import _validation as check
from widenet._native import _core
from widenet._types import Backend, ClassicKernelName, FloatArray, KernelName
from widenet.kernels.base import Kernel
from widenet.kernels.tangent import TangentKernel, TangentModel

# A user's kernel function: ``function(X1, X2)`` gives the (m1, m2) Gram matrix.
KernelFunction = Callable[[FloatArray, FloatArray], ArrayLike]


class _ClassicKernel(Kernel):
    """A kernel of Example 11.10, assembled in C++ (or by its numpy twin)."""

    kind: ClassVar[ClassicKernelName]  # set by each kernel

    def __init__(self, gamma: float = 1.0, degree: int = 3, coef0: float = 1.0) -> None:
        self.gamma = check.positive_real(gamma, "gamma") if self.kind != "linear" else 1.0
        self.degree = check.integer(degree, "degree", 1, maximum=2**31 - 1)  # an int in the core
        self.coef0 = check.non_negative_real(coef0, "coef0")

    def _hyper(self, dtype: np.dtype[Any]) -> tuple[ClassicKernelName, float, int, float]:
        """Return the hyper-parameters ``(kind, gamma, degree, coef0)`` for inputs of ``dtype``.

        Gamma and coef0 are used in ``dtype``: a gamma below its smallest normal number or
        beyond its range (1e-50 or 1e50 in float32), or a coef0 beyond its range, is refused
        by name rather than silently becoming 0 or inf.
        """
        check.normal_in(self.gamma, "gamma", dtype)
        check.as_real(self.coef0, "coef0", dtype)
        return self.kind, self.gamma, self.degree, self.coef0

    def gram_copies(self, backend: Backend) -> int:
        """Return how many arrays of the Gram's size forming it holds at once (the numpy twin: several)."""
        return 1 if backend == "cpp" else _memory.TWIN_KERNEL_COPIES[self.kind]

    def gram(self, X1: FloatArray, X2: Optional[FloatArray], backend: Backend) -> FloatArray:
        """Return the Gram matrix of validated points (``X2`` None: of ``X1`` with itself)."""
        if backend == "cpp":
            return _core.kernel_gram(X1, X2, *self._hyper(X1.dtype))
        return reference.kernel_gram(X1, X1 if X2 is None else X2, *self._hyper(X1.dtype))

    def diagonal(self, X: FloatArray, backend: Backend) -> FloatArray:
        """Return the diagonal ``K(x_i, x_i)`` of validated points."""
        if backend == "cpp":
            return _core.kernel_diag(X, *self._hyper(X.dtype))
        return reference.kernel_diag(X, *self._hyper(X.dtype))


class LinearKernel(_ClassicKernel):
    """The linear kernel ``K(x, z) = x.z``.

    Within ``(d + 2) eps |x| |z|``; inf only where ``|x.z|`` exceeds the dtype's range.

    Examples
    --------
    >>> import numpy as np, widenet
    >>> widenet.LinearKernel()(np.array([[1.0, 2.0]]), np.array([[3.0, 4.0]]))
    array([[11.]])
    """

    kind = "linear"

    def __init__(self) -> None:
        super().__init__()

    def __repr__(self) -> str:
        return "LinearKernel()"


class PolynomialKernel(_ClassicKernel):
    """The polynomial kernel ``K(x, z) = (gamma x.z + coef0)^degree``.

    The chapter's ``(x.z + c)^r`` is ``gamma = 1, coef0 = c, degree = r``.

    The base is within ``(d + 3) eps (gamma |x| |z| + coef0)`` of ``gamma x.z + coef0`` and
    the power adds at most ``2 degree eps`` relative; inf only where that power exceeds the
    dtype's range. ``gamma`` and ``coef0`` must be within the range of the inputs' dtype.

    Parameters
    ----------
    degree : int, default 3
        The power ``r``, at least 1.
    coef0 : float, default 1
        The offset ``c``.
    gamma : float, default 1
        The scale of the inner product.

    Examples
    --------
    >>> import numpy as np, widenet
    >>> widenet.PolynomialKernel(degree=2, coef0=1.0)(np.array([[1.0, 2.0]]))  # (1 + 5)^2
    array([[36.]])
    """

    kind = "polynomial"

    def __init__(self, degree: int = 3, coef0: float = 1.0, gamma: float = 1.0) -> None:
        super().__init__(gamma=gamma, degree=degree, coef0=coef0)

    def __repr__(self) -> str:
        return f"PolynomialKernel(degree={self.degree}, coef0={self.coef0}, gamma={self.gamma})"


class _DistanceKernel(_ClassicKernel):
    """A kernel of the distance ``|x - z|`` with one scale ``gamma``."""

    def __init__(self, gamma: float = 1.0) -> None:
        super().__init__(gamma=gamma)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(gamma={self.gamma})"


class RBFKernel(_DistanceKernel):
    """The RBF kernel ``K(x, z) = exp(-gamma |x - z|^2)``.

    Within ``16 (d + 2) eps`` at every scale of the inputs. ``gamma`` must be a normal
    number of the inputs' dtype.

    Parameters
    ----------
    gamma : float, default 1
        The inverse squared length scale, in inverse units of ``|x - z|^2``; positive.

    Examples
    --------
    >>> import numpy as np, widenet
    >>> widenet.RBFKernel(gamma=np.log(2))(np.array([[0.0], [1.0]]))
    array([[1. , 0.5],
           [0.5, 1. ]])
    """

    kind = "rbf"


class LaplaceKernel(_DistanceKernel):
    """The Laplace kernel ``K(x, z) = exp(-gamma |x - z|)``.

    Within ``16 (d + 2) eps`` at every scale of the inputs. ``gamma`` must be a normal
    number of the inputs' dtype.

    Parameters
    ----------
    gamma : float, default 1
        The inverse length scale, in inverse units of ``|x - z|``; positive.

    Examples
    --------
    >>> import numpy as np, widenet
    >>> widenet.LaplaceKernel(gamma=np.log(2))(np.array([[0.0], [1.0]]))
    array([[1. , 0.5],
           [0.5, 1. ]])
    """

    kind = "laplace"


class CallableKernel(Kernel):
    """A user function ``function(X1, X2) -> (m1, m2) array`` as a kernel.

    Its diagonal is evaluated point by point, so ``function`` needs nothing beyond the Gram.

    Parameters
    ----------
    function : callable
        ``function(X1, X2)`` returns the Gram ``K(X1, X2)``, an array of shape (m1, m2), for
        points ``X1`` of shape (m1, d) and ``X2`` of shape (m2, d).

    Examples
    --------
    >>> import numpy as np, widenet
    >>> cosine = widenet.CallableKernel(lambda A, B: np.cos(A @ B.T))
    >>> cosine(np.eye(3)).shape
    (3, 3)
    """

    def __init__(self, function: KernelFunction) -> None:
        if not callable(function):
            raise TypeError(f"function: expected a callable K(X1, X2), got {type(function).__name__}")
        self.function = function

    def gram(self, X1: FloatArray, X2: Optional[FloatArray], backend: Backend) -> FloatArray:
        """Return the function's Gram matrix, checked (``X2`` None: of ``X1`` with itself)."""
        other = X1 if X2 is None else X2
        K: NDArray[Any] = np.asarray(self.function(X1, other))
        if K.shape != (X1.shape[0], other.shape[0]):
            raise ValueError(f"kernel: the callable returned shape {K.shape}, expected "
                             f"{(X1.shape[0], other.shape[0])}")
        return check.as_array(K, "kernel output", X1.dtype, 2)

    def diagonal(self, X: FloatArray, backend: Backend) -> FloatArray:
        """Return the diagonal ``K(x_i, x_i)``, one point at a time."""
        return np.array([self.gram(x[None], x[None], backend)[0, 0] for x in X], dtype=X.dtype)

    def __repr__(self) -> str:
        return f"CallableKernel({self.function!r})"


_BY_NAME = {"linear": LinearKernel, "polynomial": PolynomialKernel, "poly": PolynomialKernel,
            "rbf": RBFKernel, "laplace": LaplaceKernel}


def as_kernel(kernel: Union[KernelName, Kernel, TangentModel, KernelFunction], gamma: Optional[float] = None,
              degree: int = 3, coef0: float = 1.0, n_features: Optional[int] = None) -> Kernel:
    """Return a :class:`Kernel` from a name, a callable or a kernel object.

    For a name, ``gamma=None`` means ``1 / n_features`` for ``rbf`` and ``laplace`` (as in
    scikit-learn) and ``1`` for ``polynomial`` (the chapter's ``(x.z + coef0)^degree``).
    """
    if isinstance(kernel, Kernel):
        return kernel
    if isinstance(kernel, str):
        name = check.choice(kernel, "kernel", tuple(_BY_NAME))
        cls = _BY_NAME[name]
        if cls is LinearKernel:
            return LinearKernel()
        if cls is PolynomialKernel:
            return PolynomialKernel(degree=degree, coef0=coef0, gamma=1.0 if gamma is None else gamma)
        if gamma is None:
            if n_features is None:
                raise ValueError("gamma: needed (or n_features) for the rbf and laplace kernels")
            gamma = 1.0 / n_features
        return cls(gamma=gamma)
    # A network is callable too: its tangent kernel is what it means as a kernel.
    if hasattr(kernel, "ntk") and hasattr(kernel, "ntk_diag"):
        return TangentKernel(kernel)
    if callable(kernel):
        return CallableKernel(kernel)
    raise TypeError(f"kernel: expected a name ({', '.join(_BY_NAME)}), a callable K(X1, X2) or a "
                    f"widenet kernel, got {type(kernel).__name__}")
