"""Loads the compiled kernels.

The extension links the OpenBLAS of the ``scipy-openblas32`` package. Its run path
points at that package when both are installed side by side; loading the library here
first also covers other layouts (editable installs, relocated environments).
"""

import ctypes
import os

# widenet alternates BLAS products (OpenBLAS's threads) with its own OpenMP loops on the
# same cores. Threads that spin while idle steal those cores from the other pool (measured:
# a quarter of a large GD step), so unless the user chose otherwise, idle threads sleep.
# Both are read once, when each library starts: hence before the loads below.
THREAD_DEFAULTS = {"OPENBLAS_THREAD_TIMEOUT": "4", "OMP_WAIT_POLICY": "PASSIVE"}
for _name, _value in THREAD_DEFAULTS.items():
    os.environ.setdefault(_name, _value)

import scipy_openblas32  # noqa: E402

OPENBLAS_PATH = os.path.join(scipy_openblas32.get_lib_dir(), scipy_openblas32.get_library(fullname=True))
ctypes.CDLL(OPENBLAS_PATH, mode=ctypes.RTLD_GLOBAL)

import widenet._core as _core  # noqa: E402  (needs the library above)

__all__ = ["_core", "OPENBLAS_PATH"]
