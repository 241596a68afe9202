"""The estimates of the network's entry points: its passes, the Jacobian, the tangent Gram, training."""

from __future__ import annotations

import math
from typing import Any, Callable, Optional, Sequence

import numpy as np
from numpy.typing import DTypeLike

from widenet._memory._guard import (
    Block,
    _block_bytes,
    _fitting,
    peak,
    require,
)
from widenet._native import _core
from widenet._types import Backend, PassKind

# and entries of ``itemsize`` bytes: ``default_width_chunk(rows, width, itemsize)``.
default_width_chunk = _core.default_width_chunk


# The numpy twin evaluates sigma and sigma' with temporaries beyond their result, per entry of
# the hidden layer: (arrays of the compute dtype, float64 arrays) for sigma, then for sigma',
# as measured on widenet.reference.activations (erf and gelu work in float64).
_TWIN_ACTIVATION_TEMPORARIES = {
    "relu": ((0, 0), (0, 0)), "tanh": ((0, 0), (2, 0)), "erf": ((0, 5), (1, 0)), "arctan": ((0, 0), (1, 0)),
    "sigmoid": ((2, 0), (4, 0)), "softplus": ((0, 0), (2, 0)), "gelu": ((0, 9), (0, 9)), "sin": ((0, 0), (0, 0)),
    "identity": ((0, 0), (0, 0)), "leaky_relu": ((0, 3), (1, 0)), "elu": ((0, 4), (0, 4)),
    "silu": ((0, 5), (0, 9)), "abs": ((0, 0), (2, 0)), "monomial2": ((0, 2), (0, 2)), "monomial3": ((0, 3), (0, 2))}

# m x n arrays that a pass over m points holds at once. C++: sigma(Z) for a forward pass and
# sigma'(Z) besides for a gradient (jvp and ntk_diag take the width in chunks). The numpy
# twin: the arrays of its formulas at their fullest, and the arrays alive while it evaluates
# sigma or sigma' (whose temporaries come on top).
_PASS_COPIES_CPP = {"forward": 1, "loss_grad": 2, "vjp": 2, "jvp": 3, "ntk_diag": 2}
# Parameter-sized arrays of a pass (C++, numpy twin): a gradient is formed in C++ from a
# transposed copy of the parameters and handed back as new arrays, which Parameters copies;
# a Jacobian-vector product takes its direction as Parameters made from a vector. (The twin's
# gradient comes after its hidden layer is gone.)
_PASS_PARAMETERS = {"forward": (0, 0), "loss_grad": (3, 0), "vjp": (3, 0), "jvp": (1, 1), "ntk_diag": (0, 0)}
_PASS_COPIES_TWIN = {"forward": (2, ((2, "sigma"),)), "loss_grad": (4, ((2, "sigma"), (3, "derivative"))),
                     "vjp": (4, ((2, "sigma"), (3, "derivative"))), "jvp": (3, ((3, "sigma"), (3, "derivative"))),
                     "ntk_diag": (4, ((2, "derivative"), (3, "sigma")))}


def _activation_temporaries(rows: int, width: int, dtype: DTypeLike, activation: str, function: str) -> list[Block]:
    """Return the numpy twin's temporaries while it evaluates ``sigma`` or its ``derivative`` on ``rows x width``."""
    same, wide = _TWIN_ACTIVATION_TEMPORARIES.get(activation, ((0, 0), (0, 0)))[function == "derivative"]
    return [("activation temporaries", (rows, width), dtype, same),
            ("float64 activation temporaries", (rows, width), np.float64, wide)]


def _twin_hidden(rows: int, width: int, dtype: DTypeLike, activation: str, copies: int,
                 phases: Sequence[tuple[int, str]]) -> list[Block]:
    """Return the numpy twin's hidden layers of ``rows x width`` at their fullest.

    That is ``copies`` hidden layers, or, if more, ``alive`` of them and the temporaries of
    the activation ``function`` for each of the ``phases`` ``(alive, function)``.
    """

    def hidden(count: int) -> Block:
        return ("hidden layer", (rows, width), dtype, count)

    return peak([hidden(copies)], *([hidden(alive), *_activation_temporaries(rows, width, dtype, activation, function)]
                                    for alive, function in phases))


def pass_blocks(kind: PassKind, m: int, width: int, dtype: DTypeLike, backend: Backend, activation: str,
                num_params: int = 0, outputs: int = 1) -> list[Block]:
    """Return the arrays of a pass of ``kind`` over ``m`` points, with its ``m`` outputs.

    ``kind`` is ``forward``, ``loss_grad``, ``vjp``, ``jvp`` or ``ntk_diag``, of a network
    of ``num_params`` parameters and ``outputs`` outputs (``k > 1``: ``m k`` outputs, and a
    gradient forms one more ``m x n`` array, ``(G V) * sigma'(Z)``).
    """
    cpp = backend == "cpp"
    fixed: list[Block] = [("outputs", (m,) if outputs == 1 else (m, outputs), dtype, 1),
                          ("parameter-sized arrays", (num_params,), dtype, _PASS_PARAMETERS[kind][0 if cpp else 1])]
    several = int(outputs > 1 and kind in ("loss_grad", "vjp"))
    if not cpp:
        copies, phases = _PASS_COPIES_TWIN[kind]
        return [*_twin_hidden(m, width, dtype, activation, copies + several, phases), *fixed]
    if kind in ("jvp", "ntk_diag"):
        width = default_width_chunk(2 * m if kind == "jvp" else m, width, np.dtype(dtype).itemsize)
    return [("hidden layer", (m, width), dtype, _PASS_COPIES_CPP[kind] + several), *fixed]


def _batches(width: int, dtype: DTypeLike, copies: int) -> Callable[[], str]:
    """Return the advice to pass the rows in batches, written when needed."""
    return lambda: (f"Pass the rows of X in batches (at most about {_fitting(_block_bytes((width,), dtype, copies))} "
                    f"rows fit).")


def check_hidden(where: str, m: int, width: int, dtype: DTypeLike, copies: int = 2, outputs: Sequence[Block] = (),
                 backend: Backend = "cpp", activation: str = "", kind: Optional[PassKind] = None,
                 num_params: int = 0, network_outputs: int = 1) -> None:
    """Guard a call that forms the ``m x n`` hidden layer of a batch.

    The call holds a pass of ``kind`` (see :func:`pass_blocks`, of a network of
    ``network_outputs`` outputs), or ``copies`` hidden-layer arrays, besides ``outputs``.
    """
    blocks = pass_blocks(kind, m, width, dtype, backend, activation, num_params, network_outputs) if kind else \
        [("hidden layer", (m, width), dtype, copies)]
    require(where, [*blocks, *outputs], _batches(width, dtype, max(copies, 2)))


def check_initialization(where: str, input_dim: int, width: int, dtype: DTypeLike, networks: int = 1,
                         outputs: int = 1) -> None:
    """Guard the drawing of ``networks`` shallow networks of ``outputs`` outputs.

    The draws are made in float64 and scaled (two float64 arrays of the largest block), then
    each network keeps its parameters and their initial copy; an ensemble stacks them while
    its members still hold theirs.
    """
    size = width * (input_dim + 1) + outputs * (width + 1)
    draws: Block = ("float64 draws and the parameters made from them", (size,), np.float64, 2)
    blocks: list[Block]
    if networks == 1:
        blocks = [draws]
    else:
        members: Block = ("members' parameters and initial parameters", (networks, size), dtype, 2)
        stacked: Block = ("stacked parameters", (networks, size), dtype, 1)
        blocks = peak([members, stacked], [members, draws])
    require(where, blocks, "Pass a smaller width (or fewer networks): the parameters alone exceed the limit.")



def check_jacobian(where: str, m: int, width: int, num_params: int, dtype: DTypeLike, backend: Backend = "cpp",
                   activation: str = "") -> None:
    """Guard ``ShallowNetwork.jacobian``: the ``m x P`` Jacobian and the hidden layer.

    The numpy twin forms the blocks of the Jacobian before joining them: about a second
    Jacobian.
    """
    jacobian: Block = ("Jacobian", (m, num_params), dtype, 1)
    if backend == "cpp":
        blocks = [jacobian, ("hidden layer", (m, width), dtype, 2)]
    else:  # its blocks (about one more Jacobian) are joined into one; sigma' and sigma come first
        blocks = peak([jacobian, jacobian, ("hidden layer", (m, width), dtype, 1)],
                      _twin_hidden(m, width, dtype, activation, 2, ((2, "derivative"),)),
                      [jacobian, *_twin_hidden(m, width, dtype, activation, 2, ((2, "sigma"),))])
    require(where, blocks,
            lambda: f"Use jacobian_chunks(X, rows={_fitting(_block_bytes((num_params + 2 * width,), dtype))}) to "
                    f"stream it by rows, or ntk(X1, X2), which computes J1 J2^T without ever forming the Jacobian.")


# Entries of a records x m block of the closed-form linearized records formed at once: the
# temporaries of a block (about ten arrays) stay near 2 MB each, whatever the number of records.
RECORD_BLOCK = 2**18

GRAM_BAND_ROWS = _core.GRAM_BAND_ROWS  # rows of X1 X2^T formed at once by the C++ Gram


def ntk_blocks(m1: int, m2: Optional[int], width: int, dtype: DTypeLike, backend: Backend, activation: str = "",
               width_chunk: int = 0) -> list[Block]:
    """Return the arrays of the tangent Gram ``K_n(X1, X2)`` (``m2`` None: the symmetric ``K_n(X1, X1)``).

    In C++ the output, its second accumulator, a band of ``X1 X2^T`` and the hidden-layer
    blocks of one width chunk; in the numpy twin the whole hidden layers of both inputs
    (three arrays each while ``sigma(Z1) sigma(Z2)^T`` is formed), then the Gram and the
    products that make it.
    """
    columns = m1 if m2 is None else m2
    gram = (m1, columns)
    if backend == "cpp":
        points = m1 + (0 if m2 is None else m2)
        chunk = width_chunk or default_width_chunk(points, width, np.dtype(dtype).itemsize)
        return [("width-chunk blocks", (points, min(chunk, width)), dtype, 2),
                ("Gram and its accumulators", gram, dtype, 2),
                ("band of X1 X2^T", (min(m1, GRAM_BAND_ROWS), columns), dtype, 1)]
    points = m1 + columns  # the twin forms the hidden layer of X2 = X1 a second time

    def hidden(copies: int) -> Block:
        return ("hidden layer", (points, width), dtype, copies)

    rows = max(m1, columns)  # sigma and sigma' of one input at a time
    return peak([hidden(3), ("Gram", gram, dtype, 1)], [hidden(2), ("Gram and its products", gram, dtype, 3)],
                [hidden(3), *_activation_temporaries(rows, width, dtype, activation, "sigma")],
                [hidden(2), *_activation_temporaries(rows, width, dtype, activation, "derivative")])


def output_ntk_blocks(m1: int, m2: Optional[int], outputs: int, width: int, dtype: DTypeLike, backend: Backend,
                      activation: str = "", width_chunk: int = 0) -> list[Block]:
    """Return the arrays of every block of the tangent kernel of ``outputs = k`` outputs, ``(m1 k) x (m2 k)``.

    In C++ the kernel, the ``m1 x m2`` activation part, a band of ``X1 X2^T`` and the blocks
    of one width chunk (``k + 2`` rows per point); in the numpy twin the kernel and its
    product, the factors ``sigma'(Z) v_i`` of both inputs and their hidden layers.
    """
    columns = m1 if m2 is None else m2
    kernel = (m1 * outputs, columns * outputs)
    points = m1 + (0 if m2 is None else m2)
    if backend == "cpp":
        chunk = width_chunk or default_width_chunk(points * (outputs + 2), width, np.dtype(dtype).itemsize)
        return [("width-chunk blocks", (points * (outputs + 2), min(chunk, width)), dtype, 1),
                ("kernel", kernel, dtype, 1), ("activation part", (m1, columns), dtype, 1),
                ("band of X1 X2^T", (min(m1, GRAM_BAND_ROWS), columns), dtype, 1)]
    points = m1 + columns
    return [("kernel and its product", kernel, dtype, 2), ("factors", (points * outputs, width), dtype, 1),
            ("hidden layer", (points, width), dtype, 3),
            *_activation_temporaries(max(m1, columns), width, dtype, activation, "derivative")]


def check_ntk(where: str, m1: int, m2: Optional[int], width: int, dtype: DTypeLike, backend: Backend,
              width_chunk: int = 0, diagonal: bool = False, activation: str = "", blocks_of: int = 0) -> None:
    """Guard ``ntk`` (see :func:`ntk_blocks`) and ``ntk_diag``.

    With ``diagonal=True``: a pass over the points, the width in chunks in C++. With
    ``blocks_of = k``: every block of the kernel of ``k`` outputs (:func:`output_ntk_blocks`).
    """
    itemsize = np.dtype(dtype).itemsize
    if diagonal:
        require(where, pass_blocks("ntk_diag", m1, width, dtype, backend, activation),
                "Pass the rows of X in batches, or use backend='cpp' with its width chunks.")
        return

    def alternative() -> str:
        tile = max(1, math.isqrt(_fitting(3 * itemsize)))
        return (f"Compute the Gram in tiles, ntk(X1[i:i + t], X2[j:j + t]) with t about {tile}, and bound the "
                f"hidden-layer blocks with width_chunk= (backend='cpp').")
    blocks = output_ntk_blocks(m1, m2, blocks_of, width, dtype, backend, activation, width_chunk) if blocks_of else \
        ntk_blocks(m1, m2, width, dtype, backend, activation, width_chunk)
    require(where, blocks, alternative)


def recorded_count(steps: int, record_every: int) -> int:
    """Return how many records a run of ``steps`` steps keeps: ``k = 0, record_every, ...`` and ``steps``."""
    return int(_core.recorded_count(steps, record_every))


TRAINING_ALTERNATIVE = ("Record less often (a larger record_every), pass fewer X_test points, or train in pieces: "
                        "train continues from where it stopped (TrainingState keeps the records).")


def check_training(where: str, *args: Any, **kwargs: Any) -> None:
    """Guard gradient descent (see :func:`training_blocks` for the arguments)."""
    require(where, training_blocks(*args, **kwargs), TRAINING_ALTERNATIVE)


def advice_blocks(m: int) -> list[Block]:
    """Return the vectors of the admissible step a DivergenceError estimates.

    The estimate (errors.largest_eigenvalue) holds the Lanczos basis on the ``m`` training
    points and its products.
    """
    from widenet.errors import LANCZOS_STEPS

    return [("Lanczos vectors of the divergence advice", (2 * LANCZOS_STEPS, m), np.float64, 1)]


def training_blocks(m: int, m_test: int, width: int, steps: int, record_every: int, dtype: DTypeLike,
                    networks: int = 1, workers: int = 1, backend: Backend = "cpp", activation: str = "",
                    num_params: int = 0) -> list[Block]:
    """Return the arrays of gradient descent at its peak.

    They are the records (losses, distances and ``records x m_test`` test outputs, for each
    of ``networks``; the numpy twin stacks the records of an ensemble's members at the end),
    the trained parameters with their copies, and the hidden layer of each worker (C++:
    ``sigma(Z)`` and ``sigma'(Z)`` on the training points and ``sigma(Z)`` on the test
    points; the twin: its gradient pass, or its forward pass on the test points).
    """
    records = recorded_count(steps, record_every)
    stacked = 2 if backend == "numpy" and networks > 1 else 1
    blocks: list[Block] = [("test-output records", (networks, records, m_test), dtype, stacked),
              ("loss and distance records", (networks, records), np.float64, 2 * stacked)]
    if backend == "cpp":
        # C++ copies the parameters and the initial ones in and the trained ones out; each run
        # in flight holds the state, the start and the gradient, transposed
        blocks += [("hidden layer", (workers, 2 * m + m_test, width), dtype, 1),
                   ("parameters in and out", (networks, num_params), dtype, 3),
                   ("state, start and gradient of each run", (workers, num_params), dtype, 3)]
    else:  # the twin's state, gradient and next state; the stacked parameters of an ensemble
        blocks += [*peak(pass_blocks("loss_grad", m, width, dtype, backend, activation),
                         pass_blocks("forward", m_test, width, dtype, backend, activation)),
                   ("parameters, gradient and the next parameters", (num_params,), dtype, 3),
                   ("stacked parameters", (networks, num_params), dtype, stacked - 1)]
    return [*blocks, *advice_blocks(m)]


# numpy.linalg.eigh of an m x m matrix holds a copy of it, LAPACK's workspace (syevd: 2 m^2)
