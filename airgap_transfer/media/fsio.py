"""Durable file operations: temp name, fsync, rename, fsync the folder; read-back.

Removable media lie (fake capacity, write caches), so nothing is final until
its bytes are on the medium and a re-read, with the page cache for that file
dropped, gives the digest we computed while writing.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from collections.abc import Callable, Iterable
from pathlib import Path

import blake3

BUFFER_SIZE = 8 * 2**20


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    except OSError:
        pass  # some FUSE file systems refuse fsync on directories; rename is still ordered
    finally:
        os.close(fd)


def temp_name(final: Path) -> Path:
    """A hidden sibling name that no reader ever mistakes for a finished file."""
    return final.with_name(f".{final.name}.tmp-{secrets.token_hex(4)}")


def atomic_write_bytes(final: Path, data: bytes) -> None:
    atomic_write_pieces(final, (data,))


def atomic_write_pieces(final: Path, pieces: Iterable[bytes]) -> None:
    """Write ``pieces`` to a temp name, fsync, rename over ``final``, fsync the folder."""
    tmp = temp_name(final)
    try:
        with open(tmp, "wb") as handle:
            handle.writelines(pieces)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(final.parent)


def drop_cache(fd: int) -> None:
    """Ask the kernel to forget this file's pages so the next read hits the medium."""
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    except (OSError, AttributeError):
        pass  # advisory only; FUSE file systems may not support it


def free_space(path: Path) -> int:
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize


def block_size(path: Path) -> int:
    """The file system's allocation unit: a file may take up to one more than its length."""
    return os.statvfs(path).f_frsize


def open_regular(path: Path) -> int:
    """Open a file from a drive for reading, only if it is (still) a regular file.

    Discovery already skipped symlinks and special files, but a drive can
    change underneath us: O_NOFOLLOW refuses a symlink, O_NONBLOCK keeps a FIFO
    swapped in since from blocking the open, and the check is made on the
    open descriptor itself.  Raises OSError.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
    except BaseException:
        os.close(fd)
        raise
    return fd


def hash_file_bounded(path: Path, expected_length: int, buffer: bytearray | memoryview,
                      also: Callable[[memoryview], object] | None = None) -> tuple[str, int]:
    """BLAKE3 of a regular file, reading at most expected_length + 1 bytes.

    Returns (hex digest, bytes seen); a file longer than expected reports
    expected_length + 1 so the caller can name it overlong without reading it all.
    ``also`` (e.g. a SHA-256's ``update``) is fed the same bytes, in the same pass.
    """
    hasher = blake3.blake3()
    view = memoryview(buffer)
    seen = 0
    fd = open_regular(path)
    try:
        drop_cache(fd)
        while seen <= expected_length:
            want = min(len(view), expected_length + 1 - seen)
            got = os.readv(fd, [view[:want]])
            if got == 0:
                break
            hasher.update(view[:got])
            if also is not None:
                also(view[:got])
            seen += got
    finally:
        os.close(fd)
    return hasher.hexdigest(), seen


def _libc_syncfs() -> Callable[[int], int] | None:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        syncfs: Callable[[int], int] = libc.syncfs
        return syncfs
    except (OSError, AttributeError):
        return None


_SYNCFS = _libc_syncfs()


FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE = 0x01, 0x02


def scrub_range(fd: int, offset: int, length: int, zeros: memoryview) -> None:
    """Leave nothing of an unproven copy in ``[offset, offset + length)``: a hole, or zeros written.

    An unpack that rejects a chunk copy has already written its bytes (forged
    by anyone who can make an age file for the recipient, say) into the hidden
    partial output; they are never adopted, but they should not sit there either.
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong]
        if libc.fallocate(fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE, offset, length) == 0:
            return
    except (OSError, AttributeError):
        pass
    end = min(offset + length, os.fstat(fd).st_size)   # exFAT, vfat: no holes, so zeros over what was written
    while offset < end:
        step = min(len(zeros), end - offset)
        pwrite_all(fd, zeros[:step], offset)
        offset += step


def sync_filesystem(path: Path) -> None:
    """Flush the file system holding ``path`` before a drive is declared removable.

    Every file was already fsynced; this also flushes metadata the file system
    keeps elsewhere.  syncfs touches only that file system, unlike sync(2).
    """
    if _SYNCFS is None:
        os.sync()
        return
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if _SYNCFS(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


def pwrite_all(fd: int, data: memoryview, offset: int) -> None:
    """pwrite until every byte is written: a filling disk may return a short count, not an error."""
    while data:
        written = os.pwrite(fd, data, offset)
        if written <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        data = data[written:]
        offset += written
