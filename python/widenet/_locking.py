"""One lock per trainable object, so that training it from several threads serialises.

Training reads the parameters, runs (without the GIL) and writes the trained ones back. Two
threads doing that at once would both start from the same parameters and the second write
would drop the first run. Every method that changes the parameters holds the object's
lock; methods that only read them need none, because the parameters are replaced as a
whole (one attribute assignment), never modified in place: a reader sees the parameters
before a run or after it, never half of each.
"""

from __future__ import annotations

import threading
from typing import Any, Optional

_LOCK_ATTRIBUTE = "_training_lock"


class TrainingLock:
    """Mixin giving ``self._lock``, a re-entrant lock made on first use.

    Copies and pickles get a lock of their own (a lock cannot be copied or pickled, and a
    copy trains independently of its original).
    """

    @property
    def _lock(self) -> threading.RLock:
        """The object's re-entrant training lock."""
        lock: Optional[threading.RLock] = self.__dict__.get(_LOCK_ATTRIBUTE)
        if lock is None:
            # setdefault is atomic: two threads asking at once get the same lock
            lock = self.__dict__.setdefault(_LOCK_ATTRIBUTE, threading.RLock())
        return lock

    def training(self) -> threading.RLock:
        """Return the object's training lock, a context manager.

        ``with obj.training(): ...`` runs its block between runs of :meth:`train` (and other
        changes of the parameters), never during one; runs from other threads wait for it.
        Re-entrant: the block may train.
        """
        return self._lock

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop(_LOCK_ATTRIBUTE, None)
        return state
