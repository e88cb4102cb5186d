"""Writing several drives at once, each its own planned chunks of the bundle.

Only for a plain regular file: each drive's writer reads its own byte ranges
with ``pread``, so no drive waits for another.  The whole-bundle BLAKE3 must
see the bytes in order, and blake3 cannot join the hashes of parts, so one
more thread reads the source from the start of the phase and hashes it; it
runs at the speed of the source disk and the hash, far ahead of removable
drives.  The source must not change meanwhile (pack compares its size and
times before and after).

Each writer proves its chunks itself (fsync, page cache dropped, read back)
before it reports them, so pack may journal a chunk the moment it arrives.
A drive that fills up although the plan said it would not (ENOSPC) stops, and
the chunks it did not write are handed back for pack to place elsewhere.  Any
other failure, or Ctrl-C, stops every writer at its next buffer, written or read
back; their temp files are removed, a chunk whose read-back was cut short is
left for resume to remove, and chunks finished by then are still handed to
pack.
"""

from __future__ import annotations

import errno
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airgap_transfer.engine.crypt.transfer import SealingKeys
from airgap_transfer.engine.io import chunk_io, pipeline, readback
from airgap_transfer.engine.io.digests import Hasher
from airgap_transfer.engine.io.samples import SampleTap
from airgap_transfer.engine.pack.drives import DriveSlot
from airgap_transfer.errors import DriveIOError, IntegrityError
from airgap_transfer.format import layout

# Each writer has a small ring of its own: a removable drive is not faster
# with larger buffers, and all the writers together keep to one budget, so
# pack's memory does not grow with the number of drives.
WRITER_BUFFERS = 2
WRITER_MEMORY = 8 * 2**20
WRITER_BUFFER_SIZE = (256 * 2**10, 2**20)  # smallest, largest
HASH_BUFFER_SIZE = 4 * 2**20
PROGRESS_INTERVAL = 0.25  # seconds between progress reports while no chunk finishes


@dataclass(frozen=True)
class Planned:
    """A chunk whose place in the bundle is fixed before it is written."""

    seq: int
    offset: int
    length: int


@dataclass
class Assignment:
    slot: DriveSlot
    chunks: list[Planned]  # in the order the writer takes them


@dataclass
class Written:
    slot: DriveSlot
    planned: Planned
    file: str
    stored: chunk_io.Stored
    samples: SampleTap | None = None  # digests of sample blocks taken by its read-back, for the last check


@dataclass
class Full:
    """A drive that filled up, and the chunks it did not get to."""

    slot: DriveSlot
    unwritten: list[Planned]


class _Discard:
    def update(self, data: bytes | bytearray | memoryview) -> None:
        pass


class Phase:
    """Write ``assignments`` at once; hash ``hash_range`` of the source into ``whole`` meanwhile."""

    def __init__(self, source_fd: int, assignments: list[Assignment], *, transfer_id: str,
                 readback: bool, sha256: bool, hash_range: tuple[int, int] | None = None,
                 whole: Hasher | None = None,
                 after_chunk_written: Callable[[Path], None] | None = None,
                 sealing: SealingKeys | None = None) -> None:
        self.source_fd = source_fd
        self.sealing = sealing  # pack's keys: chunks are age files (encoding "age"), or None
        self.assignments = assignments
        self.transfer_id = transfer_id
        self.readback = readback
        self.sha256 = sha256
        self.hash_range = hash_range
        self.whole = whole
        self.after_chunk_written = after_chunk_written
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.stop = threading.Event()
        self.done = [0] * len(assignments)  # bytes written per writer, read by the caller for progress

    def run(self, on_written: Callable[[Written], None], on_progress: Callable[[int], None]) -> list[Full]:
        """Returns the drives that filled up early; raises the first failure of any writer."""
        threads = [threading.Thread(target=self._write_drive, args=(n, a), name=f"agt-drive-{n + 1}", daemon=True)
                   for n, a in enumerate(self.assignments)]
        if self.hash_range is not None:
            threads.append(threading.Thread(target=self._hash, args=(*self.hash_range, self.whole or _Discard()),
                                            name="agt-whole-hash", daemon=True))
        full: list[Full] = []
        try:
            for thread in threads:
                thread.start()
            running = len(threads)
            while running:
                try:
                    kind, payload = self.events.get(timeout=PROGRESS_INTERVAL)
                except queue.Empty:
                    on_progress(sum(self.done))
                    continue
                if kind == "finished":
                    running -= 1
                elif kind == "failed":
                    raise payload
                else:
                    self._deliver(kind, payload, on_written, full)
                    on_progress(sum(self.done))
            return full
        except BaseException:
            self.stop.set()
            for thread in threads:
                if thread.ident is not None:  # Ctrl-C may come while they are being started
                    pipeline.join_through_interrupts(thread)
            self._drain(on_written, full)  # what finished meanwhile is proven: let pack keep it
            raise

    def _deliver(self, kind: str, payload: Any, on_written: Callable[[Written], None], full: list[Full]) -> None:
        if kind == "written":
            on_written(payload)
        elif kind == "full":
            full.append(payload)

    def _drain(self, on_written: Callable[[Written], None], full: list[Full]) -> None:
        while True:
            try:
                kind, payload = self.events.get_nowait()
            except queue.Empty:
                return
            if kind in ("written", "full"):
                self._deliver(kind, payload, on_written, full)

    def _reopen_source(self) -> int:
        """A descriptor of its own per thread: the kernel's read-ahead follows one stream per open file."""
        fd = os.open(f"/proc/self/fd/{self.source_fd}", os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
        except OSError:
            pass
        return fd

    def _write_drive(self, number: int, assignment: Assignment) -> None:
        ring = pipeline.Ring(WRITER_BUFFERS, writer_buffer_size(len(self.assignments)))
        source = None
        try:
            source = self._reopen_source()
            for position, planned in enumerate(assignment.chunks):
                if self.stop.is_set():
                    return
                try:
                    written = self._write_one(number, source, assignment.slot, planned, ring)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise DriveIOError(f"chunk {planned.seq} could not be written to {assignment.slot.root}: "
                                           f"{exc.strerror}", hint="check or replace the drive, then run the "
                                           "same pack command to resume") from None
                    self.events.put(("full", Full(assignment.slot, assignment.chunks[position:])))
                    return
                self.events.put(("written", written))
        except chunk_io.Stopped:
            pass
        except BaseException as exc:  # re-raised in pack's thread by run()
            self.events.put(("failed", exc))
        finally:
            if source is not None:
                os.close(source)
            self.events.put(("finished", None))

    def _write_one(self, number: int, source: int, slot: DriveSlot, planned: Planned,
                   ring: pipeline.Ring) -> Written:
        encoding = "age" if self.sealing is not None else "none"
        name = layout.chunk_file_name(self.transfer_id, planned.seq, encoding)
        cap = self.sealing.stored_size(planned.length) if self.sealing is not None else planned.length
        final = slot.folder / name
        position = planned.offset
        before = self.done[number]

        def fill(view: memoryview) -> int:
            nonlocal position
            if self.stop.is_set():
                raise chunk_io.Stopped()
            got = os.preadv(source, [view], position)
            position += got
            return got

        def progress(done: int) -> None:
            self.done[number] = before + done

        try:
            stored = chunk_io.write_chunk_file(final, fill, planned.length, _Discard(), ring, encoding, cap, progress,
                                               sha256=self.sha256,
                                               seal=self.sealing.start_sealer if self.sealing is not None else None)
            if stored.length != planned.length:
                final.unlink(missing_ok=True)
                raise _source_changed()
            if self.after_chunk_written:
                self.after_chunk_written(final)
            tap = SampleTap(stored.stored_length) if self.readback else None
            if self.readback:  # a read-back cut short leaves the chunk unproven: resume removes it
                readback.prove(final, stored.stored_length, stored.stored_blake3, ring,
                               what=f"chunk {planned.seq} on {slot.root}", stop=self.stop, tap=tap)
        except BaseException:
            self.done[number] = before  # not written after all
            raise
        return Written(slot, planned, name, stored, tap)

    def _hash(self, start: int, end: int, whole: Hasher) -> None:
        view = memoryview(bytearray(HASH_BUFFER_SIZE))
        source = None
        try:
            source = self._reopen_source()
            position = start
            while position < end and not self.stop.is_set():
                got = os.preadv(source, [view[:min(len(view), end - position)]], position)
                if not got:
                    raise _source_changed()
                whole.update(view[:got])
                position += got
        except BaseException as exc:
            self.events.put(("failed", exc))
        finally:
            if source is not None:
                os.close(source)
            self.events.put(("finished", None))


def writer_buffer_size(writers: int) -> int:
    smallest, largest = WRITER_BUFFER_SIZE
    share = WRITER_MEMORY // (WRITER_BUFFERS * max(writers, 1)) // (64 * 2**10) * (64 * 2**10)
    return max(smallest, min(largest, share))


def _source_changed() -> IntegrityError:
    return IntegrityError("the source became shorter while it was packed",
                          hint="pack a source that is not being written to, with --restart")
