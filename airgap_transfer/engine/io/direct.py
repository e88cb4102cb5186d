"""Around the page cache: chunks written straight to the medium, and read back from it.

A read-back proves the drive kept what was written only if the bytes come from
the drive.  Where the file system sits on a block device (ext4, exFAT and FAT
in the kernel, xfs...) the file is opened with ``O_DIRECT``: every read goes
to the device, whatever the cache holds, and nothing is copied through the
cache on the way (less system time, no cache to evict afterwards).  Where
``O_DIRECT`` is refused (tmpfs, most FUSE file systems) the file's cached
pages are dropped first and it is read normally, as before.

``O_DIRECT`` needs buffers, offsets and lengths aligned to the device's
logical block: the ring's buffers are page-aligned (``pipeline.Ring``) and
every read asks for a whole buffer, so only the last, short read at the end of
the file is unaligned in length, which the kernel allows.

Plain chunks are written with ``O_DIRECT`` too, where the file system takes
it (``create``, ``Writer``).  A buffered write copies every byte into a page
cache page that must be allocated, written back at fsync, then dropped; on
this 2-core virtual machine that copy was half of pack's system time, and it
varied 3x from run to run with the host's memory (1 GB in 1 MiB writes,
alternating: buffered 1.39-3.46 s wall and 1.4-3.6 s system, direct
1.25-1.67 s and 0.6-0.7 s).  Direct writes also make progress and fsync
honest: nothing is left in the cache to flush at the end of a chunk.  The
ring's buffers are page-aligned and a file source fills them whole, so every
write but a chunk's last is aligned; the first write that is not (the short
last one, a pipe's short read, a file system that refuses) turns the file
back into an ordinary buffered one for the rest, which the fsync after it
covers.  FAT and exFAT accept ``O_DIRECT`` but quietly buffer writes that
extend a file, so there nothing changes.
"""

from __future__ import annotations

import errno
import fcntl
import os
import threading
from collections.abc import Callable
from pathlib import Path

from airgap_transfer.media import fsio

ALIGNMENT = 4096   # the largest logical block of the media we meet (4Kn disks); a page
DROP_BEHIND = 16 * 2**20   # written pages older than this are let go
DIRECT = "direct"
CACHE_DROPPED = "cache-dropped"


class Stopped(Exception):
    """A read was told to stop (another drive failed, or Ctrl-C)."""


def _open(path: str | os.PathLike[str], direct: bool) -> int:
    flags = os.O_RDONLY | os.O_NOFOLLOW | (os.O_DIRECT if direct else 0)
    fd = os.open(path, flags)
    if not direct:
        fsio.drop_cache(fd)
    return fd


def read_uncached(path: str | os.PathLike[str], limit: int, consume: Callable[[memoryview], object],
                  view: memoryview,
                  stop: threading.Event | None = None) -> tuple[int, str]:
    """Feed ``consume`` the file's bytes from the medium, at most ``limit`` of them.

    Returns (bytes seen, how they were read: ``DIRECT`` or ``CACHE_DROPPED``).
    The count may exceed ``limit`` (by less than one buffer) when the file is
    longer; the bytes past ``limit`` are not consumed.  ``view`` must be
    page-aligned (a ``pipeline.Ring`` buffer); only whole blocks of it are used.
    """
    aligned = len(view) - len(view) % ALIGNMENT
    direct = hasattr(os, "O_DIRECT") and aligned > 0
    if direct:
        view = view[:aligned]
    try:
        fd = _open(path, direct)
    except OSError as exc:
        if not direct or exc.errno != errno.EINVAL:
            raise
        direct = False
        fd = _open(path, direct)
    try:
        try:
            return _read(fd, limit, consume, view, stop), DIRECT if direct else CACHE_DROPPED
        except OSError as exc:
            # Some file systems accept the open and refuse the first direct read.
            if not direct or exc.errno != errno.EINVAL:
                raise
    finally:
        os.close(fd)
    fd = _open(path, direct=False)
    try:
        return _read(fd, limit, consume, view, stop), CACHE_DROPPED
    finally:
        os.close(fd)


def _read(fd: int, limit: int, consume: Callable[[memoryview], object], view: memoryview,
          stop: threading.Event | None) -> int:
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
    except OSError:
        pass
    seen = 0
    while seen <= limit:
        if stop is not None and stop.is_set():
            raise Stopped()
        got = os.readv(fd, [view])
        if got == 0:
            break
        if seen < limit:
            consume(view[:min(got, limit - seen)])
        seen += got
    return seen


def create(path: Path, direct: bool) -> int:
    """Create ``path`` (it must not exist) for writing, with ``O_DIRECT`` if asked and allowed.

    Direct I/O is switched on after the file exists: a file system without it
    refuses ``O_DIRECT`` only once the open has already created the file.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    if direct and hasattr(os, "O_DIRECT"):
        try:
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_DIRECT)
        except OSError as exc:
            if exc.errno != errno.EINVAL:  # EINVAL: this file system has no direct I/O
                os.close(fd)
                raise
    return fd


class Writer:
    """Sequential writes into a new file: direct while they are aligned, buffered after.

    A buffered file's pages far behind the write head are let go as it goes:
    a chunk of 4 GiB must not fill the cache with pages waiting for the fsync.
    """

    def __init__(self, fd: int) -> None:
        self.fd, self.written, self.dropped = fd, 0, 0
        self.direct = bool(hasattr(os, "O_DIRECT") and fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT)

    def write(self, view: memoryview) -> None:
        while view:
            if self.direct and (len(view) % ALIGNMENT or self.written % ALIGNMENT):
                self._buffered()
            try:
                n = os.write(self.fd, view)
            except OSError as exc:
                if not self.direct or exc.errno != errno.EINVAL:
                    raise
                self._buffered()  # an unaligned buffer, or a file system that refuses after the open
                continue
            if n <= 0:  # a full medium may report no progress rather than ENOSPC
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            view = view[n:]
            self.written += n
        # Clean pages far behind the write head are useless to us; dirty ones stay until written back.
        if self.written - self.dropped > 2 * DROP_BEHIND:
            fsio.drop_range(self.fd, self.dropped, self.written - DROP_BEHIND - self.dropped)
            self.dropped = self.written - DROP_BEHIND

    def _buffered(self) -> None:
        fcntl.fcntl(self.fd, fcntl.F_SETFL, fcntl.fcntl(self.fd, fcntl.F_GETFL) & ~os.O_DIRECT)
        self.direct = False
