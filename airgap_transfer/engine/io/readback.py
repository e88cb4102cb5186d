"""Reading a written file back from the medium, to prove the drive kept it.

``read_back`` reads at most the written length (plus one buffer, to notice a
longer file) from the medium itself, not the page cache (``direct``), and
compares its BLAKE3.  ``ReadBackQueue`` overlaps the read-back of chunk N with
the writing of chunk N+1; pack waits for it before any index names the chunk.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import blake3

from airgap_transfer.engine.io import direct, pipeline, samples
from airgap_transfer.errors import DriveIOError, IntegrityError


def read_back(path: Path, length: int, digest: str, ring: pipeline.Ring, *, what: str,
              stop: threading.Event | None = None, tap: samples.SampleTap | None = None) -> str:
    """Prove the medium returns exactly the bytes written; return how it was read (``direct``).

    The bytes come from the medium, not the page cache: ``O_DIRECT`` where the
    file system allows it, else with the file's cache dropped first (see
    direct.py).  At most ``length`` bytes (and one buffer more) are read.  It
    runs in the caller's thread, which for chunks is the read-back thread
    already overlapping the next chunk's writing.  When ``stop`` is set the
    read ends early with ``Stopped`` (the chunk is then simply not proven).
    ``tap`` keeps digests of sample blocks for the drive's last check.  A
    drive that stops answering is a DriveIOError naming ``what`` (and so the drive).
    """
    hasher = blake3.blake3()

    def hash_view(view: memoryview) -> None:
        hasher.update(view)
        if tap is not None:
            tap.update(view)

    try:
        seen, mode = direct.read_uncached(path, length, hash_view, ring.views[0], stop)
    except FileNotFoundError:
        raise IntegrityError(f"read-back of {what}: the file is gone",
                             hint="the drive may be failing; use another drive") from None
    except OSError as exc:
        raise DriveIOError(f"the drive stopped answering during the read-back of {what} "
                           f"({exc.strerror or exc})",
                           hint="reconnect or replace that drive, then run the same pack command to resume") from None
    if seen != length:
        raise IntegrityError(f"read-back of {what} gave {seen if seen <= length else 'more than ' + str(length)} "
                             f"bytes, {length} were written",
                             hint="the drive may be fake-capacity or failing; use another drive")
    if hasher.hexdigest() != digest:
        raise IntegrityError(f"read-back of {what} does not match what was written",
                             hint="the drive may be fake-capacity or failing; use another drive")
    return mode


def prove(path: Path, length: int, digest: str, ring: pipeline.Ring, *, what: str,
          stop: threading.Event | None = None, tap: samples.SampleTap | None = None) -> None:
    """``read_back``, and a chunk that fails it loses its final name: nothing known bad stays."""
    try:
        read_back(path, length, digest, ring, what=what, stop=stop, tap=tap)
    except IntegrityError:
        try:
            os.unlink(path)
        except OSError:
            pass
        raise


class ReadBackQueue:
    """Read chunk N back from the medium while chunk N+1 is being written.

    One read-back runs at a time, on its own small ring.  Its failure is an
    IntegrityError raised by the next ``submit`` or by ``wait``; pack calls
    ``wait`` before it writes any index, so an index never names a chunk that
    has not been read back.  A chunk that fits one buffer is read back at once
    in the caller's thread: starting a thread cost more than the read (a third
    of pack's time at 10^4 chunks of 4 KiB), and a drive serves one request
    at a time anyway.
    """

    def __init__(self) -> None:
        self.ring = pipeline.Ring(2)
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def submit(self, path: Path, length: int, digest: str, *, what: str,
               tap: samples.SampleTap | None = None) -> None:
        self.wait()
        if length <= len(self.ring.views[0]):
            prove(path, length, digest, self.ring, what=what, tap=tap)
            return

        def run() -> None:
            try:
                prove(path, length, digest, self.ring, what=what, tap=tap)
            except BaseException as exc:  # re-raised in pack's thread by wait()
                self.error = exc

        self.thread = threading.Thread(target=run, name="agt-readback", daemon=True)
        self.thread.start()

    def wait(self) -> None:
        if self.thread is not None:
            self.thread.join()
            self.thread = None
        if self.error is not None:
            error, self.error = self.error, None
            raise error
