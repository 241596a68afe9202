# Stubs of the compiled module. Every function exists for float64 and float32 arrays;
# the dtype of the array arguments selects the overload, and nothing is converted.
from typing import Optional, TypedDict, Union

import numpy as np
from numpy.typing import NDArray

FloatArray = Union[NDArray[np.float64], NDArray[np.float32]]

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
              divergence_factor: float = 1e10) -> LinearRecords: ...
def train(X: FloatArray, y: FloatArray, U: FloatArray, b: FloatArray, v: FloatArray, c: float, U0: FloatArray,
          b0: FloatArray, v0: FloatArray, c0: float, activation: str, parametrization: str, lr: float, steps: int,
          record_every: int, X_test: Optional[FloatArray], loss_scale: float,
          divergence_factor: float = 1e10) -> TrainingRecords: ...
def train_ensemble(X: FloatArray, y: FloatArray, U: FloatArray, b: FloatArray, v: FloatArray, c: FloatArray,
                   U0: FloatArray, b0: FloatArray, v0: FloatArray, c0: FloatArray, activation: str,
                   parametrization: str, lr: float, steps: int, record_every: int, X_test: Optional[FloatArray],
                   loss_scale: float, divergence_factor: float = 1e10) -> TrainingRecords: ...
def kernel_gram(X1: FloatArray, X2: Optional[FloatArray], kind: str, gamma: float, degree: int,
                coef0: float) -> FloatArray: ...
def kernel_diag(X: FloatArray, kind: str, gamma: float, degree: int, coef0: float) -> FloatArray: ...
# float64 only
def limit_kernel(X1: NDArray[np.float64], X2: Optional[NDArray[np.float64]], activation: str, parametrization: str,
                 kind: str, weight_var: float, bias_var: float, output_var: float, output_bias_var: float,
                 method: str, legendre_nodes: NDArray[np.float64], legendre_weights: NDArray[np.float64],
                 mixture_variances: NDArray[np.float64],
                 mixture_weights: NDArray[np.float64]) -> NDArray[np.float64]: ...
def build_info() -> dict: ...
def set_num_threads(threads: int) -> None: ...
def max_threads() -> int: ...
def get_num_threads() -> int: ...
