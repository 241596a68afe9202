"""``eigenvalues_`` and ``eigenvectors_`` made on first use, for a fit that solved without them (by Cholesky)."""

from __future__ import annotations

from typing import Any, Optional

from widenet import _memory, _solve
from widenet import _validation as check
from widenet._types import FloatArray


class LazySpectrum:
    """Gives ``eigenvalues_`` and ``eigenvectors_`` of the Gram kept in ``_unfactored_gram`` when first read.

    A fit that set them itself leaves ``_unfactored_gram`` None; they are then ordinary attributes.
    """

    _unfactored_gram: Optional[FloatArray]

    def __getattr__(self, name: str) -> Any:
        gram = self.__dict__.get("_unfactored_gram")  # not getattr: no recursion before fit
        if name not in ("eigenvalues_", "eigenvectors_") or gram is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        _memory.check_kernel_eigh(f"{type(self).__name__}.{name}", gram.shape[0])
        spectrum = _solve.symmetric(gram, _solve.rank_tolerance(check.float_dtype_of(gram), gram.shape[0]))
        self.eigenvalues_, self.eigenvectors_ = spectrum.unshifted, spectrum.right
        self._unfactored_gram = None
        return getattr(self, name)
