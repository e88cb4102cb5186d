"""Reading a file back from the medium itself, never from the page cache.

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
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Callable

from airgap_transfer.media import fsio

ALIGNMENT = 4096   # the largest logical block of the media we meet (4Kn disks); a page
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
