# Stubs of the compiled module. Every function exists for float64 and float32 arrays;
# the dtype of the array arguments selects the overload, and nothing is converted.
from typing import Optional, TypedDict, Union

import numpy as np
from numpy.typing import NDArray

from widenet._types import Activation, ClassicKernelName, Kind, Method, Parametrization

FloatArray = Union[NDArray[np.float64], NDArray[np.float32]]

# Facts shared with the Python package, defined once in C++.
DIVERGENCE_FACTOR: float  # a run diverges when its loss exceeds this many times its reference
GRAM_BAND_ROWS: int  # rows of X1 X2^T that ntk_gram forms at once
# The name lists, typed by the Literal aliases of widenet._types (a test checks they agree).
ACTIVATIONS: tuple[Activation, ...]
PARAMETRIZATIONS: tuple[Parametrization, ...]
KERNELS: tuple[ClassicKernelName, ...]  # the classic kernels of kernel_gram and kernel_diag
LIMIT_KINDS: tuple[Kind, ...]
LIMIT_METHODS: tuple[Method, ...]  # the deterministic methods
CLOSED_FORMS: tuple[Activation, ...]  # activations with a closed-form limit kernel
SCALE_MIXTURES: tuple[Activation, ...]  # activations with a scale-mixture limit kernel
QUADRATURE_MAX_VARIANCE: dict[str, float]  # the graded quadrature's largest variance, where bounded
LIMIT_TOLERANCE: float  # accuracy of each expectation of the limit kernels, relative to its scale
LIMIT_ORDER: int  # Gauss-Legendre nodes per graded panel by default
LIMIT_MAX_ORDER: int
LOGISTIC_NODES: int  # nodes of the logistic mixing rule

class TrainingRecords(TypedDict):
    U: FloatArray
    b: FloatArray
    v: FloatArray
    c: Union[float, FloatArray]
    steps: NDArray[np.int64]
    losses: FloatArray
    distances: FloatArray
    test_outputs: Optional[FloatArray]
    stopped_at: Union[int, NDArray[np.int64]]  # the step where the loss diverged, -1 if none

class LinearRecords(TypedDict):
    steps: NDArray[np.int64]
    losses: FloatArray
    distances: FloatArray
    residuals: FloatArray
    test_outputs: Optional[FloatArray]
    coefficients: FloatArray
    stopped_at: int

def activation(z: FloatArray, activation: str) -> tuple[FloatArray, FloatArray]: ...
def forward(X: FloatArray, U: FloatArray, b: FloatArray, v: FloatArray, c: float, activation: str,
            parametrization: str) -> FloatArray: ...
def jacobian(X: FloatArray, U: FloatArray, b: FloatArray, v: FloatArray, c: float, activation: str,
             parametrization: str) -> FloatArray: ...
def ntk_gram(X1: FloatArray, X2: Optional[FloatArray], U: FloatArray, b: FloatArray, v: FloatArray, c: float,
             activation: str, parametrization: str, width_chunk: int = 0) -> FloatArray: ...
def ntk_diag(X: FloatArray, U: FloatArray, b: FloatArray, v: FloatArray, c: float, activation: str,
             parametrization: str) -> FloatArray: ...
def loss_grad(X: FloatArray, y: FloatArray, U: FloatArray, b: FloatArray, v: FloatArray, c: float,
              activation: str, parametrization: str,
              loss_scale: float) -> tuple[float, FloatArray, FloatArray, FloatArray, float]: ...
def jvp(X: FloatArray, U: FloatArray, b: FloatArray, v: FloatArray, c: float, dU: FloatArray, db: FloatArray,
        dv: FloatArray, dc: float, activation: str, parametrization: str) -> FloatArray: ...
def vjp(X: FloatArray, r: FloatArray, U: FloatArray, b: FloatArray, v: FloatArray, c: float, activation: str,
        parametrization: str) -> tuple[FloatArray, FloatArray, FloatArray, float]: ...
def linear_gd(theta: FloatArray, residual: FloatArray, lr: float, loss_scale: float, steps: int, record_every: int,
              cross: Optional[FloatArray] = None, test_initial: Optional[FloatArray] = None,
              offset_outputs: Optional[FloatArray] = None, offset_squared_norm: float = 0.0,
              divergence_factor: float = ...) -> LinearRecords: ...
def train(X: FloatArray, y: FloatArray, U: FloatArray, b: FloatArray, v: FloatArray, c: float, U0: FloatArray,
          b0: FloatArray, v0: FloatArray, c0: float, activation: str, parametrization: str, lr: float, steps: int,
          record_every: int, X_test: Optional[FloatArray], loss_scale: float,
          divergence_factor: float = ...) -> TrainingRecords: ...
def train_ensemble(X: FloatArray, y: FloatArray, U: FloatArray, b: FloatArray, v: FloatArray, c: FloatArray,
                   U0: FloatArray, b0: FloatArray, v0: FloatArray, c0: FloatArray, activation: str,
                   parametrization: str, lr: float, steps: int, record_every: int, X_test: Optional[FloatArray],
                   loss_scale: float, divergence_factor: float = ...) -> TrainingRecords: ...
def kernel_gram(X1: FloatArray, X2: Optional[FloatArray], kind: str, gamma: float, degree: int,
                coef0: float) -> FloatArray: ...
def kernel_diag(X: FloatArray, kind: str, gamma: float, degree: int, coef0: float) -> FloatArray: ...
# float64 only
def limit_kernel(X1: NDArray[np.float64], X2: Optional[NDArray[np.float64]], activation: str, parametrization: str,
                 kind: str, weight_var: float, bias_var: float, output_var: float, output_bias_var: float,
                 method: str, order: int = ...) -> NDArray[np.float64]: ...
def gauss_legendre(order: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]: ...
def logistic_mixing_rule() -> tuple[NDArray[np.float64], NDArray[np.float64]]: ...
def limit_point_floats(activation: str, method: str, largest: float, order: int) -> int: ...
def default_width_chunk(rows: int, width: int, itemsize: int) -> int: ...
def build_info() -> dict: ...
def set_num_threads(threads: int) -> None: ...
def max_threads() -> int: ...
def get_num_threads() -> int: ...
