"""Holding Ctrl-C (and SIGTERM) back for the few lines that must not be cut in two.

An interrupt is an exception raised between any two steps of the main
thread.  Where a record is added to a list in memory and then appended to a
file, one arriving in between leaves the two disagreeing, and the next record
then leaves a hole in a hash-chained log.  Inside ``held()`` a signal is only
noted; it takes effect, with its usual handler, as soon as the block ends.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

_Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None

SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def held() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield  # signals are handled in the main thread only: nothing to hold here
        return
    arrived: list[int] = []

    def note(signum: int, _frame: FrameType | None) -> None:
        arrived.append(signum)

    previous = {signum: signal.signal(signum, note) for signum in SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if arrived:
            _deliver(arrived[0], previous[signal.Signals(arrived[0])])


def _deliver(signum: int, handler: _Handler) -> None:
    if callable(handler):
        handler(signum, None)  # Python's own SIGINT handler raises KeyboardInterrupt here
    elif handler == signal.SIG_DFL:
        os.kill(os.getpid(), signum)
