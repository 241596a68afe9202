"""The squared loss of outputs against targets, the one formula every model's ``loss`` returns."""

from __future__ import annotations

import numpy as np


def squared_loss(outputs: np.ndarray, targets: np.ndarray, scale: float) -> float:
    """Return ``scale * sum (outputs - targets)^2`` over every entry, accumulated in float64.

    float32 models reach losses beyond float32's range (3.4e38) long before their outputs
    overflow: the residuals are therefore formed and summed in float64, and the loss is
    infinite only where it exceeds float64's range.
    """
    residual = np.subtract(outputs, targets, dtype=np.float64).ravel()
    return float(scale * np.dot(residual, residual))
