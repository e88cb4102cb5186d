"""Overlapped read → hash → (compress →) write over a small ring of reused buffers.

Python is fast enough only when it is not the one doing the work: reads and
writes release the GIL in the kernel, blake3 (single-threaded, see digests) and
zstandard release it while they crunch large buffers.  So one stream of bytes
runs through two threads at once:

    reader thread   fills a free buffer from ``fill`` (a file, stdin, a zstd decoder),
                    then hands it to ``tap`` (per-chunk and whole digests), in order
    caller thread   hands it to ``sink`` (write, pwrite, compress+write), reports
                    progress, frees the buffer (or hands it on, below)

Two threads, not three, for BLAKE3: a separate hashing thread cost a GIL
hand-off per buffer (``strace -f -c`` counted ~25 futex calls per 2 MiB buffer
with three) for work that takes half a millisecond.  SHA-256 is slower (0.7 ms
a MiB with SHA-NI), and run in the writing thread it made unpack twice the
time of ``cat``; it runs in a third, trailing thread (``trailing_tap``) that
frees each buffer once it has hashed it.  A stream that fits in one buffer
(small chunks: optical media, parity shards, 10^5 chunks) starts no thread at
all: it is read, hashed and written in the caller's thread.

Memory is the ring (``RING_BUFFERS`` × ``RING_BUFFER_SIZE``), whatever the
size of the stream.  ``pump`` stops reading at exactly ``limit`` bytes, and it
returns only once its thread has finished, so a caller may seek the source
back or delete the output as soon as it returns or raises (pack's ENOSPC path
relies on this).  An error in any stage stops the others and is re-raised in
the caller's thread.
"""

from __future__ import annotations

import mmap
import queue
import threading
from collections.abc import Callable
from typing import Any

# Eight buffers of 1 MiB, not four of 2 MiB (or 8 MiB): a buffer small enough to stay in a core's
# cache between being filled, hashed and written halves the system time of copying it in and out.
# Measured here, 1 GB alternating runs: pack --no-readback 1.06 s against 1.92 s, unpack 1.6-1.7 s
# against 2.1-2.4 s (8 MiB buffers: 2.6 s); the hand-offs per byte double and cost less than that.
RING_BUFFERS = 8
RING_BUFFER_SIZE = 2**20

Fill = Callable[[memoryview], int]      # read into the view, return bytes read (0 at the end)
Sink = Callable[[memoryview], None]     # consume the whole view before returning
Tap = Callable[[memoryview], None]      # look at each filled view in order, in the caller's thread

_STOP = None


class Ring:
    """Reusable buffers; one Ring serves many pumps (one at a time)."""

    def __init__(self, count: int | None = None, size: int | None = None) -> None:
        count, size = count or RING_BUFFERS, size or RING_BUFFER_SIZE
        # Between pumps the buffers are idle: callers may borrow one (read-back, metadata).
        # Anonymous maps are page-aligned, as O_DIRECT reads need (direct.py).
        self.buffers = [mmap.mmap(-1, size) for _ in range(count)]
        self.views = [memoryview(buffer) for buffer in self.buffers]


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def pump(fill: Fill, sink: Sink, tap: Tap, limit: int, ring: Ring,
         progress: Callable[[int], None] | None = None, trailing_tap: Tap | None = None) -> int:
    """Move at most ``limit`` bytes from fill to sink through tap; return the count moved.

    ``limit`` may be -1 for "until fill returns 0".  ``trailing_tap`` also
    sees every view in order, in a third thread that takes each buffer after
    ``sink`` is done with it and frees it: work too long to share a thread
    (unpack's SHA-256 of the whole, 0.7 CPU-s/GB with SHA-NI, would double
    the writer's time) overlaps both the read and the next write.  Every tap
    has seen every byte when this returns.
    """
    if 0 <= limit <= len(ring.views[0]):
        return _pump_inline(fill, sink, tap, limit, ring.views[0], progress, trailing_tap)
    free: queue.Queue[Any] = queue.Queue()
    filled: queue.Queue[Any] = queue.Queue()
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
                tap(view[:got])
                done += got
                filled.put((view, got))
        except BaseException as exc:  # handed to the caller, which re-raises it
            filled.put(_Failure(exc))
            return
        filled.put(_STOP)

    reader = threading.Thread(target=read_loop, name="agt-read", daemon=True)
    trailer = _Trailer(trailing_tap, free) if trailing_tap is not None else None
    reader.start()
    moved = 0
    try:
        while True:
            item = filled.get()
            if item is _STOP:
                break
            if isinstance(item, _Failure):
                raise item.error
            view, got = item
            sink(view[:got])
            if trailer is not None:
                trailer.hand(view, got)
            else:
                free.put(view)
            moved += got
            if progress is not None:
                progress(moved)
        if trailer is not None:
            trailer.finish()
        return moved
    finally:
        stop.set()
        free.put(_STOP)          # wakes a reader waiting for a buffer
        if trailer is not None:
            trailer.close()
        join_through_interrupts(reader)


class _Trailer:
    """The third stage: ``tap`` over each buffer after the sink, then the buffer back to ``free``.

    A failing tap stops tapping but keeps returning buffers, so the reader
    never waits forever; the failure is raised by ``finish``.
    """

    def __init__(self, tap: Tap, free: queue.Queue[Any]) -> None:
        self.tap, self.free = tap, free
        self.queue: queue.Queue[Any] = queue.Queue()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._loop, name="agt-trail", daemon=True)
        self.thread.start()

    def hand(self, view: memoryview, got: int) -> None:
        self.queue.put((view, got))

    def finish(self) -> None:
        """Wait until every handed buffer is tapped; raise what the tap raised."""
        self.close()
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        if self.thread.is_alive():
            self.queue.put(_STOP)
            join_through_interrupts(self.thread)

    def _loop(self) -> None:
        while True:
            item = self.queue.get()
            if item is _STOP:
                return
            view, got = item
            if self.error is None:
                try:
                    self.tap(view[:got])
                except BaseException as exc:  # raised in the caller's thread by finish
                    self.error = exc
            self.free.put(view)


def _pump_inline(fill: Fill, sink: Sink, tap: Tap, limit: int, view: memoryview,
                 progress: Callable[[int], None] | None, trailing_tap: Tap | None) -> int:
    """``pump`` for a stream that fits one buffer: no thread to start or hand off to."""
    got = 0
    while got < limit:
        step = fill(view[got:limit])
        if not step:
            break
        got += step
    if got:
        tap(view[:got])
        sink(view[:got])
        if trailing_tap is not None:
            trailing_tap(view[:got])
        if progress is not None:
            progress(got)
    return got


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
