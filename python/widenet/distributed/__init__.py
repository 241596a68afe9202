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

INSTALL_HINT = 'widenet.distributed needs Dask: pip install "widenet[distributed]"'

try:
    import dask.array  # noqa: F401
    import distributed  # noqa: F401
except ImportError as _error:  # pragma: no cover - exercised without dask installed
    raise ImportError(f"{INSTALL_HINT} ({_error})") from _error

# After the check above, so that a missing Dask is reported with the extra to install.
from widenet.distributed.cg import CGResult, conjugate_gradient  # noqa: E402
from widenet.distributed.operators import gram_matvec  # noqa: E402
from widenet.distributed.regression import TiledKernelRegressor  # noqa: E402
from widenet.distributed.tiles import DEFAULT_TILE, gram_tiled  # noqa: E402
from widenet.kernels import LimitKernel  # noqa: E402
from widenet.sweeps import sweeps_on  # noqa: E402

__all__ = ["CGResult", "DEFAULT_TILE", "LimitKernel", "TiledKernelRegressor", "conjugate_gradient", "gram_matvec",
           "gram_tiled", "sweeps_on"]
