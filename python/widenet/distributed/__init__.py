"""Scale-out on Dask (``dask.distributed``): sweeps on a cluster and tiled kernel matrices.

- :func:`widenet.sweep` (and every sweep inside the library) takes ``client=`` (a
  ``dask.distributed.Client`` or a scheduler address); :func:`sweeps_on` sets one for a
  whole block, as ``widenet reproduce --scheduler ADDRESS`` does.
- :func:`gram_tiled` gives a kernel matrix as a ``dask.array`` whose tiles the workers
  compute with widenet's compiled kernels; :func:`conjugate_gradient` and
  :class:`TiledKernelRegressor` solve kernel regression on it by tiles, never forming the
  matrix in one place.

Needs the optional extra ``distributed``: ``pip install "widenet[distributed]"``.
``import widenet`` never imports Dask; this module does.
"""

from __future__ import annotations

from widenet._optional import install_hint, optional_module_for
from widenet.kernels import LimitKernel
from widenet.sweeps import sweeps_on

INSTALL_HINT = install_hint("widenet.distributed", "dask")

with optional_module_for("widenet.distributed", "dask"):
    import dask.array  # noqa: F401
    import distributed  # noqa: F401

# after the check: these modules import Dask
from widenet.distributed.cg import CGResult, conjugate_gradient  # noqa: E402
from widenet.distributed.operators import gram_matvec  # noqa: E402
from widenet.distributed.regression import TiledKernelRegressor  # noqa: E402
from widenet.distributed.tiles import DEFAULT_TILE, gram_tiled  # noqa: E402

__all__ = ["CGResult", "DEFAULT_TILE", "LimitKernel", "TiledKernelRegressor", "conjugate_gradient", "gram_matvec",
           "gram_tiled", "sweeps_on"]
