"""Overlapped read → hash → (compress →) write over a small ring of reused buffers.

Python is fast enough only when it is not the one doing the work: reads and
writes release the GIL in the kernel, blake3 (with ``max_threads``) and
zstandard release it while they crunch large buffers.  So one stream of bytes
runs through three threads at once:

    reader thread   fills a free buffer from ``fill`` (a file, stdin, a zstd decoder)
    caller thread   hashes the filled buffer (per-chunk and whole digests), reports progress
    writer thread   hands it to ``sink`` (write, pwrite, compress+write), then frees it

Memory is the ring (``RING_BUFFERS`` × ``RING_BUFFER_SIZE``), whatever the
size of the stream.  ``pump`` stops reading at exactly ``limit`` bytes, and it
returns only once both threads have finished, so a caller may seek the source
back or delete the output as soon as it returns or raises (pack's ENOSPC path
relies on this).  An error in any stage stops the others and is re-raised in
the caller's thread.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

RING_BUFFERS = 4
RING_BUFFER_SIZE = 2 * 2**20

Fill = Callable[[memoryview], int]      # read into the view, return bytes read (0 at the end)
Sink = Callable[[memoryview], None]     # consume the whole view before returning
Tap = Callable[[memoryview], None]      # look at each filled view in order, in the caller's thread

_STOP = None


class Ring:
    """Reusable buffers; one Ring serves many pumps (one at a time)."""

    def __init__(self, count: int | None = None, size: int | None = None) -> None:
        count, size = count or RING_BUFFERS, size or RING_BUFFER_SIZE
        # Between pumps the buffers are idle: callers may borrow one (read-back, metadata).
        self.buffers = [bytearray(size) for _ in range(count)]
        self.views = [memoryview(buffer) for buffer in self.buffers]


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def pump(fill: Fill, sink: Sink, tap: Tap, limit: int, ring: Ring,
         progress: Callable[[int], None] | None = None) -> int:
    """Move at most ``limit`` bytes from fill to sink through tap; return the count moved.

    ``limit`` may be -1 for "until fill returns 0".
    """
    free: queue.Queue[Any] = queue.Queue()
    filled: queue.Queue[Any] = queue.Queue()
    to_write: queue.Queue[Any] = queue.Queue()
    written: queue.Queue[Any] = queue.Queue()  # one entry per finished write, or a _Failure
    stop = threading.Event()
    for view in ring.views:
        free.put(view)

    def read_loop() -> None:
        done = 0
        try:
            while not stop.is_set() and (limit < 0 or done < limit):
                view = free.get()
                if view is _STOP:
                    return
                want = len(view) if limit < 0 else min(len(view), limit - done)
                got = fill(view[:want])
                if not got:
                    free.put(view)
                    break
                done += got
                filled.put((view, got))
        except BaseException as exc:  # handed to the caller, which re-raises it
            filled.put(_Failure(exc))
            return
        filled.put(_STOP)

    def write_loop() -> None:
        failed = False
        while True:
            item = to_write.get()
            if item is _STOP:
                return
            view, got = item
            if not failed:
                try:
                    sink(view[:got])
                except BaseException as exc:
                    failed = True
                    written.put(_Failure(exc))
            free.put(view)
            if not failed:
                written.put(got)

    reader = threading.Thread(target=read_loop, name="agt-read", daemon=True)
    writer = threading.Thread(target=write_loop, name="agt-write", daemon=True)
    reader.start()
    writer.start()
    moved = 0
    try:
        while True:
            _raise_failed_write(written, block=False)
            item = filled.get()
            if item is _STOP:
                break
            if isinstance(item, _Failure):
                raise item.error
            view, got = item
            tap(view[:got])
            to_write.put((view, got))
            moved += got
            if progress is not None:
                progress(moved)
        to_write.put(_STOP)
        writer.join()
        _raise_failed_write(written, block=False)
        return moved
    finally:
        stop.set()
        free.put(_STOP)          # wakes a reader waiting for a buffer
        to_write.put(_STOP)      # harmless if the writer already left
        join_through_interrupts(writer)
        join_through_interrupts(reader)


def join_through_interrupts(thread: threading.Thread) -> None:
    """Wait for a thread that is stopping, even through a second Ctrl-C.

    The caller is already unwinding; leaving before the thread has removed
    its half-written temp file would leave that file behind.  Stopping takes
    one buffer, so the wait is short.
    """
    while thread.is_alive():
        try:
            thread.join()
        except KeyboardInterrupt:
            continue


def _raise_failed_write(written: queue.Queue[Any], block: bool) -> None:
    while True:
        try:
            item = written.get(block=block)
        except queue.Empty:
            return
        if isinstance(item, _Failure):
            raise item.error
