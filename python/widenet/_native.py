"""Loads the compiled kernels.

The extension links the OpenBLAS of the ``scipy-openblas32`` package. Its run path
points at that package when both are installed side by side; loading the library here
first also covers other layouts (editable installs, relocated environments).
"""

import ctypes
import os

import scipy_openblas32

OPENBLAS_PATH = os.path.join(scipy_openblas32.get_lib_dir(), scipy_openblas32.get_library(fullname=True))
ctypes.CDLL(OPENBLAS_PATH, mode=ctypes.RTLD_GLOBAL)

from . import _core  # noqa: E402  (needs the library above)

__all__ = ["_core", "OPENBLAS_PATH"]
