"""The estimates of the linear runs, the kernels, the least-squares solves and the lazy-training measurements."""

from __future__ import annotations

import math
from typing import Any, Callable, Optional, Sequence

import numpy as np
from numpy.typing import DTypeLike, NDArray

from widenet._memory._guard import (
    Block,
    _fitting,
    peak,
    require,
)
from widenet._memory._passes import (
    RECORD_BLOCK,
    advice_blocks,
    pass_blocks,
)
from widenet._types import Backend, LinearMethod

# numpy.linalg.eigh of an m x m matrix holds a copy of it, LAPACK's workspace (syevd: 2 m^2)
# and the eigenvectors: four m x m float64 arrays besides its input.
EIGH_COPIES = 4


def check_linear_run(where: str, m: int, m_test: int, records: int, method: LinearMethod, dtype: DTypeLike,
                     gram: Sequence[Block], cross: Sequence[Block], passes: Sequence[Block],
                     pullback: Sequence[Block]) -> None:
    """Guard linearized training (``method`` ``closed_form``, ``iterate`` or ``flow``), phase by phase.

    The run is on ``m`` points with ``m_test`` test points and ``records`` records. Its
    phases: the tangent Gram ``theta`` (``gram``: what forming it holds), the cross Gram
    (``cross``) and the outputs (``passes``) beside it; then either the eigendecomposition
    of ``theta`` and the float64 records formed from it block by block, or the C++
    iteration's records in the compute dtype and the float64 outputs made from them; last,
    the step to the final parameters (``pullback``) beside the records.
    """
    square, across = (m, m), (m_test, m)
    theta: list[Block] = [("tangent Gram", square, dtype, 1), ("cross Gram", across, dtype, 1)]
    kept: list[Block] = [("train-output and test-output records", (records, m + m_test), np.float64, 1),
            ("loss, distance and step records", (records,), np.float64, 3)]
    if method == "iterate":
        converted = 1 if np.dtype(dtype).itemsize < 8 else 0
        run: list[Block] = [*theta, ("records of the iteration", (records, m + m_test + 2), dtype, 1),
               ("float64 records made from them", (records, m + m_test), np.float64, converted)]
        solve = run
    else:
        in_float64 = 1 if np.dtype(dtype).itemsize < 8 else 0
        solve = [*theta, ("float64 Gram and eigh's copy, workspace and eigenvectors", square, np.float64,
                          EIGH_COPIES + in_float64)]
        block = (min(records, max(1, RECORD_BLOCK // max(m, 1))), m)
        run = [*theta, ("eigenvectors", square, np.float64, 1), *kept,
               ("temporaries of a block of records", block, np.float64, 10)]
    blocks = peak(gram, [theta[0], *cross], [*theta, *passes], solve, run,
                  [theta[0], *kept, *peak(pullback, advice_blocks(m))])
    require(where, blocks, "Record fewer steps (a larger record_every, or fewer times) or pass fewer X_test "
                           "points; the records of one step need m + m_test numbers.")


def check_gram(where: str, X1: NDArray[Any], X2: Optional[NDArray[Any]], dtype: DTypeLike, copies: int = 3) -> None:
    """Guard a kernel Gram ``m1 x m2`` (``X2`` None: ``m1 x m1``) with ``copies`` arrays of its size."""
    m1, m2 = X1.shape[0], (X1 if X2 is None else X2).shape[0]
    require(where, [("Gram", (m1, m2), dtype, copies)],
            lambda: f"Compute the Gram in tiles, K(X1[i:i + t], X2[j:j + t]) with t about "
                    f"{max(1, math.isqrt(_fitting(copies * np.dtype(dtype).itemsize)))}.")


def check_limit_kernel(where: str, m1: int, m2: int, point_floats: int, backend: Backend) -> None:
    """Guard ``limit_kernel`` (deterministic methods).

    It holds the ``m1 x m2`` kernel, computed in place of ``X1 X2^T`` in C++ and through
    about ten arrays of its size in the numpy twin, and each point's table of the scale
    mixtures or of the expansion's coefficients (``point_floats`` floats, C++).
    """
    copies = 1 if backend == "cpp" else 10
    tables = (m1 + m2) * point_floats if backend == "cpp" else 0
    require(where, [("kernel and its working arrays", (m1, m2), np.float64, copies),
                    ("tables of the points", (tables,), np.float64, 1)],
            lambda: f"Compute the kernel in tiles, limit_kernel(X1[i:i + t], X2[j:j + t]) with t about "
                    f"{max(1, math.isqrt(_fitting(copies * 8)))}.")


# The numpy twins of the classic kernels (widenet.reference.kernels) hold this many arrays of
# the Gram's size at once (float64 counted; boolean masks in eighths): the product X1 X2^T and
# its scaled copy and power; for the distance kernels the squared distances, the sum of the
# norms, the kernel, the error allowance of each entry and its tests (laplace: the roots too).
TWIN_KERNEL_COPIES = {"linear": 1, "polynomial": 3, "rbf": 6, "laplace": 8}


def _tiles(copies: int) -> Callable[[], str]:
    """Return the advice to fit on fewer points, written when needed."""
    return lambda: (f"Fit on fewer points (a Gram of m x m float64 and its eigendecomposition need about "
                    f"{copies} m^2 numbers; m about {max(1, math.isqrt(_fitting(8 * copies, 1.0)))} fit).")


def _eigh_blocks(m: int) -> list[Block]:
    return [("Gram", (m, m), np.float64, 1),
            ("eigh's copy, workspace and eigenvectors", (m, m), np.float64, EIGH_COPIES)]


def check_kernel_fit(where: str, m: int, gram_copies: int, cholesky: bool = True,
                     gram_dtype: DTypeLike = np.float64) -> None:
    """Guard kernel least squares on ``m`` points.

    It holds the kernel's Gram (``gram_copies`` arrays of it while it is formed), then the
    Gram and its Cholesky factor (with a float64 copy of a float32 Gram, which the
    factorization takes), or (without ``cholesky``) its eigendecomposition
    (numpy.linalg.eigh), whose eigenvectors are kept. A fit whose factorization is refused
    checks :func:`check_kernel_eigh` before it eigendecomposes.
    """
    gram: list[Block] = [("Gram while it is formed", (m, m), np.float64, gram_copies)]
    if not cholesky:
        require(where, peak(gram, _eigh_blocks(m)), _tiles(1 + EIGH_COPIES))
        return
    float64_copies = 2 if np.dtype(gram_dtype) == np.float64 else 3
    solve: list[Block] = [("Gram and its Cholesky factor", (m, m), np.float64, 2)]
    if float64_copies == 3:
        solve = [("Gram", (m, m), gram_dtype, 1), ("its float64 copy and Cholesky factor", (m, m), np.float64, 2)]
    require(where, peak(gram, solve), _tiles(float64_copies))


def check_kernel_eigh(where: str, m: int) -> None:
    """Guard the eigendecomposition of an ``m x m`` Gram held already."""
    require(where, _eigh_blocks(m), _tiles(1 + EIGH_COPIES))


def check_kernel_prediction(where: str, m_test: int, m: int, copies: int = 1) -> None:
    """Guard a prediction from the ``m_test x m`` cross Gram (``copies`` arrays of its size)."""
    require(where, [("cross Gram", (m_test, m), np.float64, copies)],
            lambda: f"Predict in batches of rows (about {_fitting(8 * copies * m)} rows fit).")


def svd_blocks(m: int, n: int) -> list[Block]:
    """Return the arrays of ``numpy.linalg.svd(A, full_matrices=False)`` of an ``m x n`` float64 matrix.

    LAPACK's gesdd holds a copy, the singular vectors ``U`` and ``V^T`` and the workspace
    (about one more ``m x n`` matrix and ``4 k^2``, ``k = min(m, n)``).
    """
    k = min(m, n)
    return [("copy of the matrix and LAPACK's workspace", (m, n), np.float64, 2),
            ("singular vectors U and V^T", (m + n, k), np.float64, 1), ("LAPACK's workspace", (k, k), np.float64, 4)]


def check_normal_equations(where: str, m: int, n: int, copies: int = 0) -> None:
    """Guard a least-squares solve by the Cholesky factorization of the smaller Gram of the ``m x n`` matrix ``A``.

    ``copies`` more copies of ``A`` are held, and one scaled to unit size, the Gram and its
    factor. A solve whose factorization is refused checks :func:`check_least_squares`
    before its SVD.
    """
    k = min(m, n)
    require(where, [("copies of A, one scaled to unit size", (m, n), np.float64, copies + 1),
                    ("Gram and its Cholesky factor", (k, k), np.float64, 2)],
            "Pass fewer rows or columns: the solve needs about 2 copies of A.")


def check_least_squares(where: str, m: int, n: int, copies: int = 0, outputs: Sequence[Block] = ()) -> None:
    """Guard a least-squares solve by the SVD of the ``m x n`` matrix ``A``.

    ``copies`` more copies of ``A`` are held, such as its bias augmentation. The solve holds
    the SVD, then the singular vectors and the copies kept of those above the rank
    tolerance, besides ``outputs``.
    """
    k = min(m, n)
    held: list[Block] = [("copies of A", (m, n), np.float64, copies), *outputs]
    vectors: Block = ("singular vectors and the kept ones", (m + n, k), np.float64, 2)
    require(where, peak([*held, *svd_blocks(m, n)], [*held, vectors]),
            "Pass fewer rows or columns: the SVD of A needs about 3 copies of it.")




def lazy_training_blocks(input_dim: int, widths: tuple[int, ...], m: int, m_test: int, records: int,
                         held: tuple[int, int], linearized: bool) -> list[Block]:
    """Return the arrays of a measurement of lazy training at its peak.

    The measurement is on one float64 network of hidden ``widths`` with biases (``m``
    training and ``m_test`` test points, ``records`` records), phase by phase: drawing the
    network; its Jacobian with the hidden layers, or the temporary of the norms of its
    largest block, beside ``held[0]`` parameter vectors (the network's, its initial ones,
    copies); the network's training in C++ (records of its outputs at ``m + m_test``
    points, the hidden layers, the parameters it copies) beside ``held[1]`` parameter
    vectors; with ``linearized``, the linearization's records, the pullback to its
    parameters and the differences of the two runs' outputs.
    """
    fan_ins = (input_dim, *widths)
    size = sum(n * (fan_in + 1) for n, fan_in in zip((*widths, 1), fan_ins))
    hidden, largest = sum(widths), max(n * fan_in for n, fan_in in zip(widths, fan_ins))
    before, after = (("parameter vectors kept", (size,), np.float64, count) for count in held)
    jacobian: list[Block] = [before, ("Jacobian", (m, size), np.float64, 1),
                *peak([("hidden layers", (m, hidden), np.float64, 2)],
                      [("temporary of the Jacobian's block norms", (m, largest), np.float64, 1)])]
    network_records: Block = ("records of the network", (records, m + m_test + 2), np.float64, 1)
    training: list[Block] = [after, network_records, ("hidden layers", (3 * m + m_test, hidden), np.float64, 1),
                ("parameters copied in and out, state, start and gradient", (size,), np.float64, 6)]
    phases: list[list[Block]] = [[("float64 draws", (size,), np.float64, 2)], jacobian, training]
    if linearized:
        linear_records: Block = ("records of the linearization", (records, m + m_test + 3), np.float64, 1)
        pullback = pass_blocks("vjp", m, hidden, np.float64, "cpp", "", size)
        phases += [[after, network_records, linear_records, *pullback],
                   [after, network_records, linear_records, ("differences of the outputs", (records, max(m, m_test)),
                                                             np.float64, 2)]]
    return peak(*phases)
