"""widenet's own exceptions (bad arguments raise the built-in ValueError and TypeError)."""

from __future__ import annotations

from typing import Optional


class DivergenceError(FloatingPointError):
    """Gradient descent diverged: at ``step`` the loss was not finite, or had grown beyond
    ``factor`` times its reference (the initial loss, or the zero predictor's if larger).

    Attributes
    ----------
    step : int
        The step whose loss diverged (for an ensemble: the earliest over the networks).
    loss : float
        The loss there (``inf`` or ``nan`` when it overflowed).
    initial_loss : float
        ``f(w_0)`` of the run.
    lr : float
        The step size used.
    admissible_lr : float or None
        ``1 / (s lambda_max)`` of the tangent Gram at the run's starting parameters (``s`` the
        loss scale): the largest step for which the linearized dynamics (11.5.9) do not grow;
        None when that Gram is zero or overflows.
    networks : tuple of int
        For an ensemble, the indices of the networks that diverged.
    result : TrainingResult
        The records up to the divergence (what ``on_divergence="return"`` gives).
    """

    def __init__(self, step: int, loss: float, initial_loss: float, lr: float, admissible_lr: Optional[float],
                 result, networks: tuple = ()):
        self.step, self.loss, self.initial_loss, self.lr = step, loss, initial_loss, lr
        self.admissible_lr, self.result, self.networks = admissible_lr, result, tuple(networks)
        which = f" (networks {', '.join(map(str, networks[:10]))}{', ...' if len(networks) > 10 else ''})" \
            if networks else ""
        advice = "" if admissible_lr is None else (
            f"; the tangent Gram at the start allows lr < {admissible_lr:.6g} = 1/(s lambda_max)")
        super().__init__(f"gradient descent diverged at step {step}{which}: loss {loss:.6g} from {initial_loss:.6g} "
                         f"with lr = {lr:.6g}{advice}. Pass on_divergence='return' to get the records up to "
                         f"that step instead of this error.")


class ConditioningWarning(RuntimeWarning):
    """A solve lost accuracy to an ill-conditioned matrix: the message gives its condition
    number on the directions kept (the minimum-norm answer treats the rest as zero)."""


ON_DIVERGENCE = ("raise", "return")


def divergence_error(result, gram_of, loss_scale: float, networks: tuple = ()) -> DivergenceError:
    """The error for a run that stopped at ``result.diverged_at``; ``gram_of(r)`` is the tangent
    Gram (on the training points) of network ``r`` (0 for a single one) where its run started."""
    import numpy as np

    stopped = np.atleast_1d(result.diverged_at)
    first = int(np.argmin(np.where(stopped >= 0, stopped, np.iinfo(np.int64).max)))
    losses = np.atleast_2d(result.losses)[first]
    # the diverged step is the row where it would be in the schedule (its last record)
    row = int(np.searchsorted(result.steps, stopped[first]))
    with np.errstate(over="ignore", invalid="ignore"):
        gram = np.asarray(gram_of(first), dtype=np.float64)
    # an overflowing Gram (inputs near the dtype's range) has no spectrum to advise from
    largest = float(np.linalg.eigvalsh(gram)[-1]) if np.isfinite(gram).all() else 0.0
    admissible = None if largest <= 0 else 1.0 / (loss_scale * largest)
    return DivergenceError(int(stopped[first]), float(losses[row]), float(losses[0]), result.lr, admissible, result,
                           networks)
